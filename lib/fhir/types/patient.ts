/**
 * Patient, both directions (docs/fhir-mapping.md "Patient"): REST v1 `patient?v=full` -> FHIR R4
 * Patient as fhir2's PatientTranslatorImpl serves it, and FHIR Patient -> the REST v1 create body
 * with the original uuids. Voided names, identifiers and addresses are skipped.
 */
import { personToFhirFields, personToRestFields, type RestPerson } from "./person";
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

// REST v1 shapes we read. Every field is optional and unknown until checked.

interface RestIdentifier {
  uuid?: unknown;
  identifier?: unknown;
  identifierType?: unknown;
  location?: unknown;
  preferred?: unknown;
  voided?: unknown;
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

// ---------------------------------------------------------------------------------------------
// REST -> FHIR

function patientToFhir(rep: RestPatient & Json, options: ConvertOptions): FhirResource {
  const id = requireUuid(rep, "patient");
  const person = (asObject(rep.person) ?? {}) as RestPerson & Json;

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

  const fields = personToFhirFields(person, options);
  return compact<FhirResource>({
    resourceType: "Patient",
    id,
    extension: fields.extension,
    meta: metaOf(rep.auditInfo ?? person.auditInfo),
    active: rep.voided !== true,
    identifier,
    name: fields.name,
    gender: fields.gender,
    birthDate: fields.birthDate,
    deceasedDateTime: fields.deceasedDateTime,
    deceasedBoolean: fields.deceasedBoolean,
    address: fields.address,
    telecom: fields.telecom,
  });
}

// ---------------------------------------------------------------------------------------------
// FHIR -> REST create body

function patientToRest(r: FhirInput, options: ConvertOptions, warnings: string[]): Json {
  const uuid = requireFhirId(r, "Patient");

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

  const person = personToRestFields(r, uuid, r, options, warnings, "Patient");
  return compact({ uuid, person, identifiers });
}

export const patient: TypeConverter = { kind: "patient", toFhir: patientToFhir, toRest: patientToRest };
