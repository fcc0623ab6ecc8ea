/**
 * Condition (openmrs-core 2.2+ `org.openmrs.Condition`, the problem list), as the simulator's first
 * registered record type (sim/types/registry.ts).
 *
 *  - Record: patient, condition (CodedOrFreeText: a concept and/or free text), clinicalStatus,
 *    verificationStatus, onsetDate, endDate, additionalDetail, previousVersion, voided.
 *  - Validation: ConditionValidator (a condition and a clinical status are required; refused as a
 *    ValidationException); the patient must exist, and the concept too (stricter than the real server,
 *    whose CodedOrFreeTextConverter and fhir2 ConceptTranslator store no concept for an unknown uuid).
 *  - REST v1 `condition` (webservices.rest ConditionResource2_2): the full representation, creatable
 *    and updatable properties, DELETE voids (voidCondition). An update is *versioned*:
 *    ConditionServiceImpl.saveCondition (openmrs-core 2.7+) voids a changed condition ("Condition
 *    replaced by <uuid>") and saves the change as a new condition under a new uuid.
 *  - fhir2 `Condition` (ConditionTranslatorImpl, ConditionClinicalStatusTranslatorImpl,
 *    ConditionVerificationStatusTranslatorImpl; FhirConditionServiceImpl): a PUT updates in place
 *    (the DAO saves the entity), keeps additionalDetail / onsetDate / endDate when the resource has no
 *    note / onset / abatement, and maps every clinical status but ACTIVE to "inactive".
 *  - Feed: category `condition`, title "Condition". omod-atomfeed's default configuration has no
 *    Condition class; a server publishes conditions once `org.openmrs.Condition` is added with link
 *    templates `/ws/rest/v1/condition/{uuid}?v=full` and `/ws/fhir2/R4/Condition/{uuid}`.
 */
import { instantIso, toFhirDateTime } from "../dates";
import { SimError } from "../errors";
import { ADMIN_USER_UUID, DIAGNOSIS_CONCEPTS, META } from "../metadata";
import type { BaseRecord, Store, VoidPatch } from "../model";
import { isObject } from "../reply";
import { arr, bad, codeOf, codings, extensionString, fhirDate, obj, optStr, optString, refId, refuseOthers, refUuid, restDate, voidFields } from "./parse";
import type { FhirParts, FhirWrite, GenContext, Json, RestParts, SimType } from "./registry";

export const CLINICAL_STATUSES = ["ACTIVE", "INACTIVE", "HISTORY_OF", "RECURRENCE", "RELAPSE", "REMISSION", "RESOLVED"] as const;
export type ClinicalStatus = (typeof CLINICAL_STATUSES)[number];
export const VERIFICATION_STATUSES = ["PROVISIONAL", "CONFIRMED"] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export const CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical";
export const VERIFICATION_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
export const CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category";
export const NON_CODED_EXT = "http://fhir.openmrs.org/ext/non-coded-condition";

export interface Condition extends BaseRecord {
  patient: string;
  /** CodedOrFreeText.coded: a concept uuid. */
  coded: string | null;
  /** CodedOrFreeText.nonCoded: free text. */
  nonCoded: string | null;
  clinicalStatus: ClinicalStatus;
  verificationStatus: VerificationStatus | null;
  onsetDate: string | null;
  endDate: string | null;
  additionalDetail: string | null;
  /** The condition this one replaced (a versioned edit). */
  previousVersion: string | null;
}

export interface ConditionDraft {
  uuid?: string;
  patient: string;
  coded?: string | null;
  nonCoded?: string | null;
  clinicalStatus?: string | null;
  verificationStatus?: string | null;
  onsetDate?: string | null;
  endDate?: string | null;
  additionalDetail?: string | null;
}
export type ConditionPatch = Partial<Omit<ConditionDraft, "uuid">> & VoidPatch;

const blank = (s: string | null | undefined): string | null => (s === undefined || s === null || s.trim() === "" ? null : s);

/** Applies the given fields to `rec` and checks the result as openmrs-core would save it. */
function finish(store: Store, rec: Condition, p: ConditionPatch): Condition {
  const next: Condition = { ...rec };
  if (p.patient !== undefined) next.patient = store.checkPatient(p.patient);
  if (p.coded !== undefined) next.coded = blank(p.coded);
  if (p.nonCoded !== undefined) next.nonCoded = blank(p.nonCoded);
  if (p.clinicalStatus !== undefined) next.clinicalStatus = p.clinicalStatus as ClinicalStatus;
  if (p.verificationStatus !== undefined) next.verificationStatus = (blank(p.verificationStatus) as VerificationStatus | null) ?? null;
  if (p.onsetDate !== undefined) next.onsetDate = store.dtOrNull(p.onsetDate, "onsetDate");
  if (p.endDate !== undefined) next.endDate = store.dtOrNull(p.endDate, "endDate");
  if (p.additionalDetail !== undefined) next.additionalDetail = blank(p.additionalDetail);
  if (next.coded) store.concept(next.coded);
  // ConditionValidator: a condition and a clinical status are required.
  if (!next.coded && !next.nonCoded) throw new SimError(400, "The condition is required", true);
  if (!next.clinicalStatus) throw new SimError(400, "The clinical status is required", true);
  if (!(CLINICAL_STATUSES as readonly string[]).includes(next.clinicalStatus)) {
    throw bad(`${String(next.clinicalStatus)} is not a ConditionClinicalStatus (${CLINICAL_STATUSES.join(", ")})`);
  }
  if (next.verificationStatus !== null && !(VERIFICATION_STATUSES as readonly string[]).includes(next.verificationStatus)) {
    throw bad(`${String(next.verificationStatus)} is not a ConditionVerificationStatus (${VERIFICATION_STATUSES.join(", ")})`);
  }
  return next;
}

function display(c: Condition): string {
  return c.coded ? (META.concepts.get(c.coded)?.display ?? c.coded) : (c.nonCoded ?? "");
}

// ------------------------------------------------------------------ REST v1

const CREATABLE = ["uuid", "condition", "patient", "clinicalStatus", "verificationStatus", "onsetDate", "endDate", "additionalDetail"];
const UPDATABLE = ["condition", "clinicalStatus", "verificationStatus", "onsetDate", "endDate", "additionalDetail", "voided"];

/** `condition` = `{coded, nonCoded, specificName}` (CodedOrFreeTextConverter): given, it replaces both. */
function codedOrFreeText(v: unknown): { coded: string | null; nonCoded: string | null } | undefined {
  if (v === undefined) return undefined;
  if (v === null) return { coded: null, nonCoded: null };
  if (!isObject(v)) throw bad("condition must be an object with coded and/or nonCoded");
  return { coded: refUuid(v.coded, "condition.coded") ?? null, nonCoded: optString(v.nonCoded, "condition.nonCoded") ?? null };
}

function restFields(body: Json): ConditionPatch {
  const p: ConditionPatch = {};
  const cond = codedOrFreeText(body.condition);
  if (cond) Object.assign(p, cond);
  for (const f of ["clinicalStatus", "verificationStatus", "additionalDetail"] as const) {
    const s = optString(body[f], f);
    if (s !== undefined) p[f] = s;
  }
  for (const f of ["onsetDate", "endDate"] as const) {
    const d = restDate(body[f], f);
    if (d !== undefined) p[f] = d;
  }
  return p;
}

function restRep(store: Store, c: Condition, parts: RestParts): Json {
  const condition: Json = {};
  if (c.coded) condition.coded = parts.ref("concept", c.coded, META.concepts.get(c.coded)?.display ?? c.coded);
  if (c.nonCoded !== null) condition.nonCoded = c.nonCoded;
  const prev = c.previousVersion ? (store.getOf("condition", c.previousVersion) as Condition | undefined) : undefined;
  return {
    uuid: c.uuid,
    display: display(c),
    condition,
    patient: parts.patientRef(c.patient),
    clinicalStatus: c.clinicalStatus,
    verificationStatus: c.verificationStatus,
    previousVersion: c.previousVersion ? parts.ref("condition", c.previousVersion, prev ? display(prev) : c.previousVersion) : null,
    onsetDate: c.onsetDate,
    endDate: c.endDate,
    additionalDetail: c.additionalDetail,
    voided: c.voided,
    auditInfo: parts.auditInfo(c),
    links: parts.selfLink(`condition/${c.uuid}`),
    resourceVersion: "2.2",
  };
}

function restDraft(_store: Store, body: Json): ConditionDraft {
  refuseOthers(body, CREATABLE);
  const patient = refUuid(body.patient, "patient");
  if (!patient) throw bad("patient is required");
  return { ...restFields(body), uuid: optString(body.uuid, "uuid") ?? undefined, patient };
}

function restPatch(_store: Store, prev: Condition, body: Json): ConditionPatch {
  refuseOthers(body, UPDATABLE, (k, v) => (k === "patient" ? refUuid(v, "patient") === prev.patient : k === "uuid" && v === prev.uuid));
  return { ...restFields(body), ...voidFields(body) };
}

// ------------------------------------------------------------------ fhir2

function coding(system: string, code: string, display?: string): Json {
  return display === undefined ? { system, code } : { system, code, display };
}

function toFhir(_store: Store, c: Condition, parts: FhirParts): Json {
  const r: Json = { resourceType: "Condition", id: c.uuid, meta: parts.meta(c) };
  if (c.nonCoded !== null) r.extension = [{ url: NON_CODED_EXT, valueString: c.nonCoded }];
  // ConditionClinicalStatusTranslatorImpl: ACTIVE and INACTIVE as such, every other status "inactive".
  r.clinicalStatus = { coding: [coding(CLINICAL_STATUS_SYSTEM, c.clinicalStatus === "ACTIVE" ? "active" : "inactive")] };
  if (c.verificationStatus) {
    r.verificationStatus = { coding: [coding(VERIFICATION_STATUS_SYSTEM, c.verificationStatus.toLowerCase(), c.verificationStatus.replace(/_/g, "-"))] };
  }
  r.category = [{ coding: [coding(CATEGORY_SYSTEM, "problem-list-item", "Problem List Item")] }];
  if (c.coded) r.code = { coding: [{ code: c.coded, display: META.concepts.get(c.coded)?.display ?? c.coded }] };
  r.subject = parts.reference("Patient", c.patient);
  if (c.onsetDate) r.onsetDateTime = toFhirDateTime(c.onsetDate);
  if (c.endDate) r.abatementDateTime = toFhirDateTime(c.endDate);
  r.recordedDate = toFhirDateTime(c.auditInfo.dateCreated);
  r.recorder = parts.reference("Practitioner", ADMIN_USER_UUID);
  if (c.additionalDetail !== null) r.note = [{ text: c.additionalDetail }];
  return r;
}

/**
 * FhirConditionServiceImpl: no category (or none with codings) is a problem-list Condition; a category
 * with codings but none of the HL7 condition-category system is refused at create and fails with a
 * NullPointerException at update (`result.equals` on null); encounter-diagnosis is a Diagnosis, which the
 * simulator does not have.
 */
function fhirCheck(body: Json, write: FhirWrite): void {
  const all = arr(body.category, "category").flatMap((c, i) => codings(c, `category[${i}]`));
  if (all.length === 0) return;
  const hl7 = all.filter((c) => c.system === CATEGORY_SYSTEM).map((c) => c.code);
  if (hl7.includes("encounter-diagnosis") && !hl7.includes("problem-list-item"))
    throw bad("Encounter diagnoses (Condition.category encounter-diagnosis) are not simulated");
  if (hl7.includes("problem-list-item")) return;
  if (write === "create") throw bad("Condition.category provided must be one of problem-list-item or encounter-diagnosis");
  throw new SimError(500, "java.lang.NullPointerException (FhirConditionServiceImpl.update: no condition type for this category)");
}

/** ConditionTranslatorImpl.toOpenmrsType(existing, resource): what a PUT (or POST) sets. */
function fromFhir(body: Json): ConditionPatch {
  const patient = refId(body.subject, "subject", ["Patient"]);
  if (!patient) throw bad("subject is required");
  const clinical = codeOf(body.clinicalStatus, "clinicalStatus", CLINICAL_STATUS_SYSTEM);
  const verification = codeOf(body.verificationStatus, "verificationStatus", VERIFICATION_STATUS_SYSTEM);
  const p: ConditionPatch = {
    patient,
    // no clinical-status coding of that system: null, refused by the validator
    clinicalStatus: clinical === undefined ? null : clinical.trim().toLowerCase() === "active" ? "ACTIVE" : "INACTIVE",
    verificationStatus: verification === "confirmed" ? "CONFIRMED" : verification === "provisional" ? "PROVISIONAL" : null,
    coded: codeOf(body.code, "code") ?? null,
    nonCoded: extensionString(body, NON_CODED_EXT) ?? null,
  };
  // Kept as they are when the resource has no note / onset / abatement (the translator sets them only if present).
  const notes = arr(body.note, "note");
  if (notes.length) p.additionalDetail = optStr(obj(notes[0], "note[0]")?.text, "note[0].text") ?? null;
  const onset = fhirDate(body.onsetDateTime, "onsetDateTime") ?? fhirDate(obj(body.onsetPeriod, "onsetPeriod")?.start, "onsetPeriod.start");
  if (onset !== undefined) p.onsetDate = onset;
  const end = fhirDate(body.abatementDateTime, "abatementDateTime") ?? fhirDate(obj(body.abatementPeriod, "abatementPeriod")?.end, "abatementPeriod.end");
  if (end !== undefined) p.endDate = end;
  return p;
}

// ------------------------------------------------------------------ generator

const DAY = 86_400_000;
const NOTES = ["Diagnosed at the district hospital.", "Reported by the patient.", "Follow up at the next visit.", "On treatment."];
const FREE_TEXT = ["Chronic back pain", "Seasonal allergic rhinitis", "Recurrent headaches"];

function draftFor(ctx: GenContext, patient: string): ConditionDraft {
  const r = ctx.rng;
  const active = r.chance(0.75);
  const onset = Date.now() - r.int(10, 900) * DAY;
  const free = r.chance(0.15);
  return {
    uuid: r.uuid(),
    patient,
    coded: free ? null : r.pick(DIAGNOSIS_CONCEPTS).uuid,
    nonCoded: free ? r.pick(FREE_TEXT) : null,
    clinicalStatus: active ? "ACTIVE" : "INACTIVE",
    verificationStatus: r.pick(["CONFIRMED", "PROVISIONAL", null]),
    onsetDate: ctx.fmt(onset),
    endDate: active ? null : ctx.fmt(onset + r.int(5, 60) * DAY),
    additionalDetail: r.chance(0.3) ? r.pick(NOTES) : null,
  };
}

function pickLive(ctx: GenContext, active?: boolean): Condition | undefined {
  for (let i = 0; i < 12; i++) {
    const c = ctx.store.records("condition").random(() => ctx.rng.next()) as Condition | undefined;
    if (!c) return undefined;
    if (!c.voided && (active === undefined || (c.clinicalStatus === "ACTIVE") === active)) return c;
  }
  return undefined;
}

/** A clinician resolves a condition: through REST (versioned: a new uuid) or through fhir2 (in place), as O3 does. */
function resolve(ctx: GenContext): boolean {
  const c = pickLive(ctx, true);
  if (!c) return false;
  const patch: ConditionPatch = { clinicalStatus: "INACTIVE", endDate: ctx.fmt(Date.now()) };
  if (ctx.rng.chance(0.5)) ctx.store.reviseOf("condition", c.uuid, patch);
  else ctx.store.updateOf("condition", c.uuid, patch);
  return true;
}

function newCondition(ctx: GenContext): boolean {
  const p = ctx.store.patients.random(() => ctx.rng.next());
  if (!p || p.voided) return false;
  ctx.store.createOf("condition", draftFor(ctx, p.uuid));
  return true;
}

function voidOne(ctx: GenContext): boolean {
  const c = pickLive(ctx);
  if (!c) return false;
  ctx.store.voidOf("condition", c.uuid, "Entered in error");
  return true;
}

// ------------------------------------------------------------------ the type

export const condition: SimType<Condition, ConditionDraft, ConditionPatch> = {
  type: "condition",
  category: "condition",
  title: "Condition",
  restResource: "condition",
  fhirType: "Condition",
  section: "conditions",

  build(store, d, base) {
    const empty: Condition = {
      ...base,
      patient: store.checkPatient(d.patient),
      coded: null,
      nonCoded: null,
      clinicalStatus: null as unknown as ClinicalStatus,
      verificationStatus: null,
      onsetDate: null,
      endDate: null,
      additionalDetail: null,
      previousVersion: null,
    };
    return finish(store, empty, { ...d, patient: undefined });
  },
  apply: (store, prev, patch) => finish(store, prev, patch),
  patientOf: (c) => c.patient,
  restUpdate: "versioned",
  successor: (next, base, previous) => ({ ...next, ...base, previousVersion: previous }),

  restRep,
  restDraft,
  restPatch,

  toFhir,
  fhirCheck,
  fhirDraft: (_store, body) => ({ ...fromFhir(body), patient: refId(body.subject, "subject", ["Patient"]) ?? "" }),
  fhirPatch: (_store, _prev, body) => fromFhir(body),

  compare: (c) => ({
    voided: c.voided,
    patient: c.patient,
    coded: c.coded,
    nonCoded: c.nonCoded,
    clinicalStatus: c.clinicalStatus,
    verificationStatus: c.verificationStatus,
    onsetDate: instantIso(c.onsetDate),
    endDate: instantIso(c.endDate),
    additionalDetail: c.additionalDetail,
  }),

  generate(ctx, patient, n) {
    for (let i = 0; i < n; i++) ctx.store.createOf("condition", draftFor(ctx, patient));
  },
  mutations: [
    [6, newCondition],
    [4, resolve],
    [2, voidOne],
  ],
};
