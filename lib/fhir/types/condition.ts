/**
 * Condition, both directions (docs/fhir-mapping.md "Condition"): REST v1 `condition?v=full`
 * (webservices.rest ConditionResource2_2, openmrs-core 2.2+) -> FHIR R4 Condition as fhir2's
 * ConditionTranslatorImpl serves it, and back to the REST v1 create body.
 *
 * As the translator does: the concept is `code`, free text the `non-coded-condition` extension, every
 * clinical status but ACTIVE is "inactive" (ConditionClinicalStatusTranslatorImpl), the verification
 * status is coded lower case with the enum name as display, the category is always problem-list-item,
 * onset / end are onsetDateTime / abatementDateTime, additionalDetail the first note, recordedDate the
 * creation date. The translator's `recorder` (the creating user as a Practitioner) is left out: users are
 * not synchronised, and REST v1 cannot set a creator.
 */
import {
  asObject,
  compact,
  conceptCode,
  dateCreated,
  fhirDateTime,
  metaOf,
  objects,
  reference,
  refDisplay,
  refUuid,
  requireFhirId,
  requirePatientRef,
  requireRef,
  requireUuid,
  restDateTime,
  str,
  unconvertible,
  type Coding,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";
import { openmrsToFhirDateTime } from "../dates";

export const CONDITION_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical";
export const CONDITION_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
export const CONDITION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category";
export const NON_CODED_CONDITION_URL = "http://fhir.openmrs.org/ext/non-coded-condition";

interface RestCondition {
  uuid?: unknown;
  patient?: unknown;
  /** CodedOrFreeText: `{coded: concept, nonCoded: text, specificName}`. */
  condition?: unknown;
  clinicalStatus?: unknown;
  verificationStatus?: unknown;
  onsetDate?: unknown;
  endDate?: unknown;
  additionalDetail?: unknown;
  auditInfo?: unknown;
}

function statusCoding(system: string, code: string, display?: string): { coding: Coding[] } {
  return { coding: [compact<Coding>({ system, code, display })] };
}

function conditionToFhir(rep: RestCondition & Json): FhirResource {
  const id = requireUuid(rep, "condition");
  const patient = requireRef(rep.patient, `condition ${id}`, "patient");
  const cond = asObject(rep.condition);
  const concept = refUuid(cond?.coded);
  const nonCoded = str(cond?.nonCoded);
  const clinical = str(rep.clinicalStatus);
  const verification = str(rep.verificationStatus);
  const created = dateCreated(rep.auditInfo);
  const note = str(rep.additionalDetail);
  return compact<FhirResource>({
    resourceType: "Condition",
    id,
    meta: metaOf(rep.auditInfo),
    extension: nonCoded ? [{ url: NON_CODED_CONDITION_URL, valueString: nonCoded }] : undefined,
    clinicalStatus: clinical ? statusCoding(CONDITION_CLINICAL_SYSTEM, clinical === "ACTIVE" ? "active" : "inactive") : undefined,
    verificationStatus: verification
      ? statusCoding(CONDITION_VERIFICATION_SYSTEM, verification.toLowerCase(), verification.replace(/_/g, "-").toUpperCase())
      : undefined,
    category: [statusCoding(CONDITION_CATEGORY_SYSTEM, "problem-list-item", "Problem List Item")],
    code: concept ? { coding: [compact<Coding>({ code: concept, display: refDisplay(cond?.coded) })] } : undefined,
    subject: reference("Patient", patient),
    onsetDateTime: fhirDateTime(rep.onsetDate),
    abatementDateTime: fhirDateTime(rep.endDate),
    recordedDate: created ? openmrsToFhirDateTime(created) : undefined,
    note: note ? [{ text: note }] : undefined,
  });
}

/** The code of the first coding of `system` (a coding without a system counts too), in a CodeableConcept. */
function statusCode(v: unknown, system: string): string | undefined {
  const coding = objects(asObject(v)?.coding).find((c) => (c.system === system || c.system === undefined) && str(c.code));
  return str(coding?.code);
}

function categoryCodes(r: FhirInput): string[] {
  return objects(r.category)
    .flatMap((cc) => objects(cc.coding))
    .filter((c) => c.system === CONDITION_CATEGORY_SYSTEM)
    .map((c) => String(c.code));
}

function conditionToRest(r: FhirInput): Json {
  const uuid = requireFhirId(r, "Condition");
  const categories = categoryCodes(r);
  if (categories.includes("encounter-diagnosis") && !categories.includes("problem-list-item")) {
    throw unconvertible(`Condition ${uuid} is an encounter diagnosis, not a problem-list condition: REST v1 condition does not hold it`);
  }
  const patient = requirePatientRef(r, `condition ${uuid}`);
  const coded = conceptCode(r.code);
  const nonCoded = str(objects(r.extension).find((e) => e.url === NON_CODED_CONDITION_URL)?.valueString);
  if (!coded && !nonCoded) throw unconvertible(`condition ${uuid} has neither a concept code nor non-coded text`);
  // ConditionClinicalStatusTranslatorImpl.toOpenmrsType: "active" is ACTIVE, any other code INACTIVE.
  const clinical = statusCode(r.clinicalStatus, CONDITION_CLINICAL_SYSTEM);
  const verification = statusCode(r.verificationStatus, CONDITION_VERIFICATION_SYSTEM);
  const onset = r.onsetDateTime ?? asObject(r.onsetPeriod)?.start;
  const end = r.abatementDateTime ?? asObject(r.abatementPeriod)?.end;
  return compact({
    uuid,
    patient,
    condition: compact({ coded, nonCoded }),
    clinicalStatus: clinical === undefined ? undefined : clinical.trim().toLowerCase() === "active" ? "ACTIVE" : "INACTIVE",
    verificationStatus: verification === "confirmed" ? "CONFIRMED" : verification === "provisional" ? "PROVISIONAL" : undefined,
    onsetDate: restDateTime(onset),
    endDate: restDateTime(end),
    additionalDetail: str(objects(r.note)[0]?.text),
  });
}

export const condition: TypeConverter = { kind: "condition", toFhir: conditionToFhir, toRest: conditionToRest };
