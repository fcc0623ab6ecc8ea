/**
 * A person's own fields, both directions, shared by Patient and Person (docs/fhir-mapping.md "Patient",
 * "Person"): names, addresses, gender, birth date, death and person attributes, from the REST v1 person
 * representation to the FHIR elements fhir2's PatientTranslatorImpl / PersonTranslatorImpl write, and back to
 * the REST person body with the original uuids. Voided names and addresses are skipped.
 *
 * Person (REST v1 `person?v=full` <-> FHIR R4 Person) is a person who is not a patient (a relative): fhir2's
 * Person has no death (R4 Person has no deceased element) and no attribute uuids, and its PUT adds names and
 * addresses, so the pack reads and writes persons through REST v1 and carries the death in its own
 * extension `http://fhir.openmrs.org/ext/person/deceased` (valueDateTime, or valueBoolean when there is no
 * date). A patient's person is the patient's record: the patient feed carries it.
 */
import { openmrsToFhirDate, openmrsToFhirDateTime, fhirToOpenmrsDateTime } from "../dates";
import { attributesToFhir, attributesToRest } from "./person-attributes";
import {
  compact,
  isVoided,
  metaOf,
  objects,
  preferredFromUse,
  refUuid,
  requireFhirId,
  requireUuid,
  restDateTime,
  str,
  type ConvertOptions,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";

/** The pack's: a person's death (R4 Person has no deceased element). */
export const PERSON_DECEASED_URL = "http://fhir.openmrs.org/ext/person/deceased";

const GENDER_TO_FHIR = new Map(Object.entries({ M: "male", F: "female", O: "other", U: "unknown" }));
const GENDER_TO_REST = new Map(Object.entries({ male: "M", female: "F", other: "O", unknown: "U" }));

// REST v1 shapes we read. Every field is optional and unknown until checked.

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

export interface RestPerson {
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
  voided?: unknown;
}

// FHIR R4 shapes we produce.

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

/** The FHIR elements of a REST person: names, addresses, gender, birthDate, death (as Patient has it), attributes. */
export function personToFhirFields(person: RestPerson & Json, options: ConvertOptions) {
  const preferredNameUuid = refUuid(person.preferredName);
  const preferredAddressUuid = refUuid(person.preferredAddress);
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
  return {
    extension,
    name,
    gender: gender ? GENDER_TO_FHIR.get(gender.toUpperCase()) : undefined,
    birthDate: birthdate ? openmrsToFhirDate(birthdate) : undefined,
    deceasedDateTime: deathDate ? openmrsToFhirDateTime(deathDate) : undefined,
    deceasedBoolean: !deathDate && typeof person.dead === "boolean" ? person.dead : undefined,
    address,
    telecom,
  };
}

/**
 * The REST person body (with uuids) of a FHIR Patient or Person; `death` is where the resource says it
 * (a Patient's deceased[x], a Person's extension). Attributes the target cannot hold go to `warnings`.
 */
export function personToRestFields(
  r: FhirInput,
  uuid: string,
  death: { deceasedDateTime?: unknown; deceasedBoolean?: unknown },
  options: ConvertOptions,
  warnings: string[],
  what: string,
): Json {
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

  const gender = str(r.gender);
  const birthDate = str(r.birthDate);
  const deathDate = restDateTime(death.deceasedDateTime);
  const dead = deathDate ? true : typeof death.deceasedBoolean === "boolean" ? death.deceasedBoolean : undefined;
  const { attributes, warnings: left } = attributesToRest(r.telecom, r.extension, options);
  warnings.push(...left.map((w) => `${what} ${uuid}: ${w}`));
  return compact({
    uuid,
    gender: gender ? GENDER_TO_REST.get(gender) : undefined,
    birthdate: birthDate ? fhirToOpenmrsDateTime(birthDate) : undefined,
    dead,
    deathDate,
    names,
    addresses,
    attributes,
  });
}

// ---------------------------------------------------------------------------------------------
// Person (a person who is not a patient)

function personToFhir(rep: RestPerson & Json, options: ConvertOptions): FhirResource {
  const id = requireUuid(rep, "person");
  const { deceasedDateTime, deceasedBoolean, extension, ...fields } = personToFhirFields(rep, options);
  const death =
    deceasedDateTime !== undefined
      ? { url: PERSON_DECEASED_URL, valueDateTime: deceasedDateTime }
      : deceasedBoolean === true
        ? { url: PERSON_DECEASED_URL, valueBoolean: true }
        : undefined;
  return compact<FhirResource>({
    resourceType: "Person",
    id,
    extension: [...(extension ?? []), ...(death ? [death] : [])],
    meta: metaOf(rep.auditInfo),
    active: true,
    ...fields,
  });
}

function personToRest(r: FhirInput, options: ConvertOptions, warnings: string[]): Json {
  const uuid = requireFhirId(r, "Person");
  const death = objects(r.extension).find((e) => e.url === PERSON_DECEASED_URL);
  return personToRestFields(r, uuid, { deceasedDateTime: death?.valueDateTime, deceasedBoolean: death?.valueBoolean }, options, warnings, "Person");
}

export const person: TypeConverter = { kind: "person", toFhir: personToFhir, toRest: personToRest };
