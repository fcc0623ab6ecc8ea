/**
 * Encounter, both directions (docs/fhir-mapping.md "Encounter"): REST v1 `encounter?v=full` -> FHIR
 * R4 Encounter tagged `encounter`, as fhir2's EncounterTranslatorImpl serves it, and back to the
 * REST v1 create body.
 */
import {
  ambulatoryClass,
  compact,
  encounterTag,
  fhirDateTime,
  firstLocation,
  locationOf,
  metaOf,
  optionalReference,
  reference,
  referenceId,
  requireFhirId,
  requirePatientRef,
  requireRef,
  requireUuid,
  restDateTime,
  typeCode,
  typeOf,
  asObject,
  type FhirInput,
  type FhirResource,
  type Json,
  type Period,
  type TypeConverter,
} from "./shared";

export const ENCOUNTER_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/encounter-type";

interface RestEncounter {
  uuid?: unknown;
  patient?: unknown;
  encounterType?: unknown;
  encounterDatetime?: unknown;
  location?: unknown;
  visit?: unknown;
  auditInfo?: unknown;
}

function encounterToFhir(rep: RestEncounter & Json): FhirResource {
  const id = requireUuid(rep, "encounter");
  const patient = requireRef(rep.patient, `encounter ${id}`, "patient");
  return compact<FhirResource>({
    resourceType: "Encounter",
    id,
    meta: metaOf(rep.auditInfo, encounterTag("encounter")),
    status: "unknown",
    class: ambulatoryClass(),
    type: typeOf(ENCOUNTER_TYPE_SYSTEM, rep.encounterType),
    subject: reference("Patient", patient),
    period: compact<Period>({ start: fhirDateTime(rep.encounterDatetime) }),
    location: locationOf(rep.location),
    partOf: optionalReference("Encounter", rep.visit),
  });
}

function encounterToRest(r: FhirInput): Json {
  const uuid = requireFhirId(r, "Encounter");
  const period = asObject(r.period);
  return compact({
    uuid,
    patient: requirePatientRef(r, `encounter ${uuid}`),
    encounterType: typeCode(r.type, ENCOUNTER_TYPE_SYSTEM),
    encounterDatetime: restDateTime(period?.start),
    location: firstLocation(r.location),
    visit: referenceId(r.partOf, "Encounter"),
  });
}

export const encounter: TypeConverter = { kind: "encounter", toFhir: encounterToFhir, toRest: encounterToRest };
