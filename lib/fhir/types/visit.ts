/**
 * Visit, both directions (docs/fhir-mapping.md "Visit"): REST v1 `visit?v=full` -> FHIR R4 Encounter
 * tagged `visit`, as fhir2's VisitTranslatorImpl serves it, and back to the REST v1 create body.
 */
import {
  ambulatoryClass,
  compact,
  encounterTag,
  fhirDateTime,
  firstLocation,
  locationOf,
  metaOf,
  reference,
  requireFhirId,
  requirePatientRef,
  requireRef,
  requireUuid,
  restDateTime,
  str,
  typeCode,
  typeOf,
  asObject,
  type FhirInput,
  type FhirResource,
  type Json,
  type Period,
  type TypeConverter,
} from "./shared";

export const VISIT_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/visit-type";

interface RestVisit {
  uuid?: unknown;
  patient?: unknown;
  visitType?: unknown;
  startDatetime?: unknown;
  stopDatetime?: unknown;
  location?: unknown;
  auditInfo?: unknown;
}

function visitToFhir(rep: RestVisit & Json): FhirResource {
  const id = requireUuid(rep, "visit");
  const patient = requireRef(rep.patient, `visit ${id}`, "patient");
  const period = compact<Period>({ start: fhirDateTime(rep.startDatetime), end: fhirDateTime(rep.stopDatetime) });
  return compact<FhirResource>({
    resourceType: "Encounter",
    id,
    meta: metaOf(rep.auditInfo, encounterTag("visit")),
    status: str(rep.stopDatetime) ? "finished" : "in-progress",
    class: ambulatoryClass(),
    type: typeOf(VISIT_TYPE_SYSTEM, rep.visitType),
    subject: reference("Patient", patient),
    period,
    location: locationOf(rep.location),
  });
}

function visitToRest(r: FhirInput): Json {
  const uuid = requireFhirId(r, "Encounter (visit)");
  const period = asObject(r.period);
  return compact({
    uuid,
    patient: requirePatientRef(r, `visit ${uuid}`),
    visitType: typeCode(r.type, VISIT_TYPE_SYSTEM),
    startDatetime: restDateTime(period?.start),
    stopDatetime: restDateTime(period?.end),
    location: firstLocation(r.location),
  });
}

export const visit: TypeConverter = { kind: "visit", toFhir: visitToFhir, toRest: visitToRest };
