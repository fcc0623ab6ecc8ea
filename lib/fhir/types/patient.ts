/**
 * Patient, both directions (docs/fhir-mapping.md "Patient"): REST v1 `patient?v=full` -> FHIR R4
 * Patient as fhir2's PatientTranslatorImpl serves it, and FHIR Patient -> the REST v1 create body
 * with the original uuids. Voided names, identifiers and addresses are skipped.
 */
import { openmrsToFhirDate, openmrsToFhirDateTime, fhirToOpenmrsDateTime } from "../dates";
import { attributesToFhir, attributesToRest } from "./person-attributes";
import {
  compact,
  isVoided,
  metaOf,
  objects,
  preferredFromUse,
  refDisplay,
  reference,
  referenceId,
  refUuid,
  requireFhirId,
  requireUuid,
  restDateTime,
  str,
  typeCode,
  asObject,
  type CodeableConcept,
  type ConvertOptions,
  type FhirInput,
  type FhirResource,
  type Json,
  type Reference,
  type TypeConverter,
} from "./shared";

export const IDENTIFIER_LOCATION_URL = "http://fhir.openmrs.org/ext/patient/identifier#location";

const GENDER_TO_FHIR = new Map(Object.entries({ M: "male", F: "female", O: "other", U: "unknown" }));
const GENDER_TO_REST = new Map(Object.entries({ male: "M", female: "F", other: "O", unknown: "U" }));

// REST v1 shapes we read. Every field is optional and unknown until checked.

interface RestIdentifier {
  uuid?: unknown;
  identifier?: unknown;
  identifierType?: unknown;
  location?: unknown;
  preferred?: unknown;
  voided?: unknown;
}

interface RestName {
  uuid?: unknown;
  givenName?: unknown;
  middleName?: unknown;
  familyName?: unknown;
  preferred?: unknown;
  voided?: unknown;
}

interface RestAddress {
  uuid?: unknown;
  address1?: unknown;
  address2?: unknown;
  cityVillage?: unknown;
  countyDistrict?: unknown;
  stateProvince?: unknown;
  postalCode?: unknown;
  country?: unknown;
  preferred?: unknown;
  voided?: unknown;
}

interface RestPerson {
  uuid?: unknown;
  gender?: unknown;
  birthdate?: unknown;
  dead?: unknown;
  deathDate?: unknown;
  names?: unknown;
  addresses?: unknown;
  preferredName?: unknown;
  preferredAddress?: unknown;
  attributes?: unknown;
  auditInfo?: unknown;
}

interface RestPatient {
  uuid?: unknown;
  voided?: unknown;
  identifiers?: unknown;
  person?: unknown;
  auditInfo?: unknown;
}

// FHIR R4 shapes we produce.

interface Extension {
  url: string;
  valueReference?: Reference;
}

interface Identifier {
  id?: string;
  extension?: Extension[];
  use?: string;
  type?: CodeableConcept;
  value?: string;
}

interface HumanName {
  id?: string;
  use?: string;
  family?: string;
  given?: string[];
}

interface Address {
  id?: string;
  use?: string;
  line?: string[];
  city?: string;
  district?: string;
  state?: string;
  postalCode?: string;
  country?: string;
}

// ---------------------------------------------------------------------------------------------
// REST -> FHIR

function patientToFhir(rep: RestPatient & Json, options: ConvertOptions): FhirResource {
  const id = requireUuid(rep, "patient");
  const person = (asObject(rep.person) ?? {}) as RestPerson & Json;
  const preferredNameUuid = refUuid(person.preferredName);
  const preferredAddressUuid = refUuid(person.preferredAddress);

  const identifier: Identifier[] = objects(rep.identifiers)
    .filter((i) => !isVoided(i))
    .map((i: RestIdentifier) => {
      const locationUuid = refUuid(i.location);
      const typeUuid = refUuid(i.identifierType);
      const type = compact<CodeableConcept>({
        coding: typeUuid ? [{ code: typeUuid }] : undefined,
        text: refDisplay(i.identifierType),
      });
      return compact<Identifier>({
        id: str(i.uuid),
        extension: locationUuid ? [{ url: IDENTIFIER_LOCATION_URL, valueReference: reference("Location", locationUuid) }] : undefined,
        use: i.preferred === true ? "official" : "usual",
        type: Object.keys(type).length > 0 ? type : undefined,
        value: str(i.identifier),
      });
    });

  const name: HumanName[] = objects(person.names)
    .filter((n) => !isVoided(n))
    .map((n: RestName) => {
      const preferred = typeof n.preferred === "boolean" ? n.preferred : preferredNameUuid !== undefined && str(n.uuid) === preferredNameUuid;
      return compact<HumanName>({
        id: str(n.uuid),
        use: preferred ? "official" : "usual",
        family: str(n.familyName),
        given: [str(n.givenName), str(n.middleName)].filter((g): g is string => g !== undefined),
      });
    });

  const address: Address[] = objects(person.addresses)
    .filter((a) => !isVoided(a))
    .map((a: RestAddress) => {
      const preferred = typeof a.preferred === "boolean" ? a.preferred : preferredAddressUuid !== undefined && str(a.uuid) === preferredAddressUuid;
      return compact<Address>({
        id: str(a.uuid),
        use: preferred ? "home" : "old",
        line: [str(a.address1), str(a.address2)].filter((l): l is string => l !== undefined),
        city: str(a.cityVillage),
        district: str(a.countyDistrict),
        state: str(a.stateProvince),
        postalCode: str(a.postalCode),
        country: str(a.country),
      });
    });

  const gender = str(person.gender);
  const birthdate = str(person.birthdate);
  const deathDate = str(person.deathDate);
  const { telecom, extension } = attributesToFhir(person.attributes, options);
  return compact<FhirResource>({
    resourceType: "Patient",
    id,
    extension,
    meta: metaOf(rep.auditInfo ?? person.auditInfo),
    active: rep.voided !== true,
    identifier,
    name,
    gender: gender ? GENDER_TO_FHIR.get(gender.toUpperCase()) : undefined,
    birthDate: birthdate ? openmrsToFhirDate(birthdate) : undefined,
    deceasedDateTime: deathDate ? openmrsToFhirDateTime(deathDate) : undefined,
    deceasedBoolean: !deathDate && typeof person.dead === "boolean" ? person.dead : undefined,
    address,
    telecom,
  });
}

// ---------------------------------------------------------------------------------------------
// FHIR -> REST create body

function patientToRest(r: FhirInput, options: ConvertOptions, warnings: string[]): Json {
  const uuid = requireFhirId(r, "Patient");

  const names = objects(r.name).map((n) => {
    const given = Array.isArray(n.given) ? n.given.map(str) : [];
    return compact({
      uuid: str(n.id),
      givenName: given[0],
      middleName: given[1],
      familyName: str(n.family),
      preferred: preferredFromUse(n.use, "official"),
    });
  });

  const addresses = objects(r.address).map((a) => {
    const line = Array.isArray(a.line) ? a.line.map(str) : [];
    return compact({
      uuid: str(a.id),
      address1: line[0],
      address2: line[1],
      cityVillage: str(a.city),
      countyDistrict: str(a.district),
      stateProvince: str(a.state),
      postalCode: str(a.postalCode),
      country: str(a.country),
      preferred: preferredFromUse(a.use, "home"),
    });
  });

  const identifiers = objects(r.identifier).map((i) => {
    const locationExt = objects(i.extension).find((e) => e.url === IDENTIFIER_LOCATION_URL);
    return compact({
      uuid: str(i.id),
      identifier: str(i.value),
      identifierType: typeCode(i.type),
      location: locationExt ? referenceId(locationExt.valueReference, "Location") : undefined,
      preferred: preferredFromUse(i.use, "official"),
    });
  });

  const gender = str(r.gender);
  const birthDate = str(r.birthDate);
  const deathDate = restDateTime(r.deceasedDateTime);
  const dead = deathDate ? true : typeof r.deceasedBoolean === "boolean" ? r.deceasedBoolean : undefined;
  const { attributes, warnings: left } = attributesToRest(r.telecom, r.extension, options);
  warnings.push(...left.map((w) => `Patient ${uuid}: ${w}`));
  const person = compact({
    uuid,
    gender: gender ? GENDER_TO_REST.get(gender) : undefined,
    birthdate: birthDate ? fhirToOpenmrsDateTime(birthDate) : undefined,
    dead,
    deathDate,
    names,
    addresses,
    attributes,
  });
  return compact({ uuid, person, identifiers });
}

export const patient: TypeConverter = { kind: "patient", toFhir: patientToFhir, toRest: patientToRest };
