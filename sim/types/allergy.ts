/**
 * Allergy (openmrs-core 2.0+ `org.openmrs.Allergy`), a registered record type (sim/types/registry.ts).
 *
 *  - Record: patient, allergen (allergenType DRUG / FOOD / ENVIRONMENT / OTHER, codedAllergen, and
 *    nonCodedAllergen when the coded one is "Other non-coded", CIEL 5622), severity (a concept), comment,
 *    reactions (a concept each, with free text when it is "Other non-coded"), voided.
 *  - Validation (AllergyValidator): an allergen and its type are required, a non-coded allergen needs its
 *    text, and a patient holds one live allergy per allergen.
 *  - REST v1: a SUB-resource of the patient (webservices.rest PatientAllergyResource2_0):
 *    `/ws/rest/v1/patient/{patient}/allergy[/{uuid}]`; there is no top-level `allergy` resource. Creatable
 *    and updatable: allergen, severity, comment, reactions (and uuid at create). An update saves in place;
 *    DELETE voids (voidAllergy); purge is refused (ResourceDoesNotSupportOperationException, 400); an
 *    allergy asked for under another patient is 404 (ObjectMismatchException).
 *  - fhir2 `AllergyIntolerance` (AllergyIntoleranceTranslatorImpl and its reaction, severity, category and
 *    criticality translators; the provider has create, update, patch and delete): a voided allergy is
 *    410 Gone; a PUT keeps the allergen of an existing allergy (it is set only when there is none),
 *    APPENDS the resource's reactions to the stored ones, sets the severity from a reaction's severity,
 *    the comment from the first note, and voids the allergy when clinicalStatus is "inactive". The
 *    non-coded allergen text (code.text) is not read back.
 *  - Feed: category `allergy`, title "Allergy"; link template (a server configured for the sub-resource)
 *    `/ws/rest/v1/patient/{patient}/allergy/{uuid}?v=full` and `/ws/fhir2/R4/AllergyIntolerance/{uuid}`.
 *    (omod-atomfeed's default configuration links `/ws/rest/v1/allergy/{uuid}`, which webservices.rest does
 *    not serve.)
 */
import { toFhirDateTime } from "../dates";
import { SimError } from "../errors";
import { ADMIN_USER_UUID, ALLERGEN_CONCEPTS, META, OTHER_NON_CODED, REACTION_CONCEPTS, SEVERITY_CONCEPTS } from "../metadata";
import type { BaseRecord, Store, VoidPatch } from "../model";
import { isObject } from "../reply";
import { arr, bad, codeOf, obj, optStr, optString, refId, refuseOthers, refUuid } from "./parse";
import type { FhirParts, GenContext, Json, RestParts, SimType } from "./registry";

export const ALLERGEN_TYPES = ["DRUG", "FOOD", "ENVIRONMENT", "OTHER"] as const;
export type AllergenType = (typeof ALLERGEN_TYPES)[number];

export const ALLERGY_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
export const ALLERGY_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";

export interface AllergyReaction {
  reaction: string;
  reactionNonCoded: string | null;
}

export interface Allergy extends BaseRecord {
  patient: string;
  allergenType: AllergenType;
  codedAllergen: string;
  nonCodedAllergen: string | null;
  severity: string | null;
  comment: string | null;
  reactions: AllergyReaction[];
}

export interface AllergyDraft {
  uuid?: string;
  patient: string;
  allergenType?: string;
  codedAllergen?: string | null;
  nonCodedAllergen?: string | null;
  severity?: string | null;
  comment?: string | null;
  reactions?: AllergyReaction[];
}
export type AllergyPatch = Partial<Omit<AllergyDraft, "uuid">> & VoidPatch & { appendReactions?: AllergyReaction[] };

const blank = (s: string | null | undefined): string | null => (s === undefined || s === null || s.trim() === "" ? null : s);
const name = (uuid: string): string => META.concepts.get(uuid)?.display ?? uuid;

function finish(store: Store, rec: Allergy, p: AllergyPatch): Allergy {
  const next: Allergy = { ...rec, reactions: [...rec.reactions] };
  if (p.patient !== undefined) next.patient = store.checkPatient(p.patient);
  if (p.allergenType !== undefined) next.allergenType = p.allergenType as AllergenType;
  if (p.codedAllergen !== undefined) next.codedAllergen = p.codedAllergen as string;
  if (p.nonCodedAllergen !== undefined) next.nonCodedAllergen = blank(p.nonCodedAllergen);
  if (p.severity !== undefined) next.severity = blank(p.severity);
  if (p.comment !== undefined) next.comment = blank(p.comment);
  if (p.reactions !== undefined) next.reactions = p.reactions.map((r) => ({ ...r }));
  if (p.appendReactions) next.reactions.push(...p.appendReactions.map((r) => ({ ...r })));
  // AllergyValidator
  if (!next.codedAllergen) throw new SimError(400, "allergyapi.allergen.required: the allergen is required", true);
  if (!(ALLERGEN_TYPES as readonly string[]).includes(next.allergenType)) {
    throw new SimError(400, `allergyapi.allergenType.required: ${String(next.allergenType)} is not an AllergenType (${ALLERGEN_TYPES.join(", ")})`, true);
  }
  store.concept(next.codedAllergen);
  if (next.codedAllergen === OTHER_NON_CODED && !next.nonCodedAllergen) throw new SimError(400, "allergyapi.allergen.nonCodedAllergen.required", true);
  if (next.codedAllergen !== OTHER_NON_CODED) next.nonCodedAllergen = null;
  if (next.severity) store.concept(next.severity);
  for (const r of next.reactions) {
    store.concept(r.reaction);
    if (r.reaction !== OTHER_NON_CODED) r.reactionNonCoded = null;
  }
  if (!next.voided) {
    for (const other of store.records("allergy").values()) {
      const o = other as Allergy;
      if (o.uuid === next.uuid || o.voided || o.patient !== next.patient) continue;
      const same =
        o.codedAllergen === next.codedAllergen &&
        (next.codedAllergen !== OTHER_NON_CODED || o.nonCodedAllergen?.toLowerCase() === next.nonCodedAllergen?.toLowerCase());
      if (same) throw new SimError(400, "allergyapi.message.duplicateAllergen: the patient already has this allergen", true);
    }
  }
  return next;
}

function display(a: Allergy): string {
  return a.codedAllergen === OTHER_NON_CODED ? (a.nonCodedAllergen ?? "") : name(a.codedAllergen);
}

// ------------------------------------------------------------------ REST v1

const PROPERTIES = ["allergen", "severity", "comment", "reactions"];

function reactionsOf(v: unknown): AllergyReaction[] {
  return arr(v, "reactions").map((r, i) => {
    if (!isObject(r)) throw bad(`reactions[${i}] must be an object`);
    const reaction = refUuid(r.reaction, `reactions[${i}].reaction`);
    if (!reaction) throw bad(`reactions[${i}].reaction is required`);
    return { reaction, reactionNonCoded: optString(r.reactionNonCoded, `reactions[${i}].reactionNonCoded`) ?? null };
  });
}

function restFields(body: Json): AllergyPatch {
  const p: AllergyPatch = {};
  if (body.allergen !== undefined) {
    const a = obj(body.allergen, "allergen");
    if (!a) throw bad("allergen must be an object");
    const type = optString(a.allergenType, "allergen.allergenType");
    if (type !== undefined) p.allergenType = type ?? undefined;
    const coded = refUuid(a.codedAllergen, "allergen.codedAllergen");
    if (coded !== undefined) p.codedAllergen = coded;
    const nonCoded = optString(a.nonCodedAllergen, "allergen.nonCodedAllergen");
    if (nonCoded !== undefined) p.nonCodedAllergen = nonCoded;
  }
  const severity = refUuid(body.severity, "severity");
  if (severity !== undefined) p.severity = severity;
  const comment = optString(body.comment, "comment");
  if (comment !== undefined) p.comment = comment;
  if (body.reactions !== undefined) p.reactions = reactionsOf(body.reactions);
  return p;
}

function conceptRep(parts: RestParts, uuid: string): Json {
  return parts.ref("concept", uuid, name(uuid));
}

function restRep(_store: Store, a: Allergy, parts: RestParts): Json {
  return {
    display: display(a),
    uuid: a.uuid,
    allergen: {
      allergenType: a.allergenType,
      codedAllergen: conceptRep(parts, a.codedAllergen),
      nonCodedAllergen: a.nonCodedAllergen,
    },
    severity: a.severity ? conceptRep(parts, a.severity) : null,
    comment: a.comment,
    reactions: a.reactions.map((r) => ({ reaction: conceptRep(parts, r.reaction), reactionNonCoded: r.reactionNonCoded })),
    patient: parts.patientRef(a.patient),
    voided: a.voided,
    auditInfo: parts.auditInfo(a),
    links: parts.selfLink(`patient/${a.patient}/allergy/${a.uuid}`),
    resourceVersion: "2.0",
  };
}

// ------------------------------------------------------------------ fhir2

const CATEGORY: Readonly<Record<AllergenType, string | undefined>> = { DRUG: "medication", FOOD: "food", ENVIRONMENT: "environment", OTHER: undefined };
const SEVERITY: readonly [string, string][] = [
  [SEVERITY_CONCEPTS.mild, "mild"],
  [SEVERITY_CONCEPTS.moderate, "moderate"],
  [SEVERITY_CONCEPTS.severe, "severe"],
];

/** ConceptTranslatorImpl: the concept uuid as a coding without system, its name as text (free text replaces it). */
function conceptCc(uuid: string, text?: string | null): Json {
  return { coding: [{ code: uuid, display: name(uuid) }], text: text ?? name(uuid) };
}

function toFhir(_store: Store, a: Allergy, parts: FhirParts): Json {
  const severity = SEVERITY.find(([u]) => u === a.severity)?.[1];
  const r: Json = {
    resourceType: "AllergyIntolerance",
    id: a.uuid,
    meta: parts.meta(a),
    clinicalStatus: { coding: [{ system: ALLERGY_CLINICAL_SYSTEM, code: "active", display: "Active" }], text: "Active" },
    verificationStatus: { coding: [{ system: ALLERGY_VERIFICATION_SYSTEM, code: "confirmed", display: "Confirmed" }], text: "Confirmed" },
    type: "allergy",
  };
  const category = CATEGORY[a.allergenType];
  if (category) r.category = [category];
  if (severity) r.criticality = severity === "severe" ? "high" : severity === "mild" ? "low" : "unable-to-assess";
  r.code = conceptCc(a.codedAllergen, a.nonCodedAllergen);
  r.patient = parts.reference("Patient", a.patient);
  r.recordedDate = toFhirDateTime(a.auditInfo.dateCreated);
  r.recorder = parts.reference("Practitioner", ADMIN_USER_UUID);
  if (a.comment) r.note = [{ text: a.comment }];
  const reaction: Json = { substance: conceptCc(a.codedAllergen, a.nonCodedAllergen) };
  if (a.reactions.length) reaction.manifestation = a.reactions.map((x) => conceptCc(x.reaction, x.reactionNonCoded));
  if (severity) reaction.severity = severity;
  r.reaction = [reaction];
  return r;
}

const FROM_CATEGORY: Readonly<Record<string, AllergenType>> = { medication: "DRUG", food: "FOOD", environment: "ENVIRONMENT" };

/** AllergyIntoleranceTranslatorImpl.toOpenmrsType(existing, resource). */
function fromFhir(body: Json, existing: Allergy | undefined): AllergyPatch {
  const patient = refId(body.patient, "patient", ["Patient"]);
  if (!patient) throw bad("patient is required");
  const p: AllergyPatch = { patient };
  const coded = codeOf(body.code, "code");
  if (!existing && coded) p.codedAllergen = coded;
  const categories = arr(body.category, "category");
  if (categories.length && (existing || coded)) {
    const c = optStr(categories[0], "category[0]");
    p.allergenType = (c && Object.hasOwn(FROM_CATEGORY, c) ? FROM_CATEGORY[c] : null) as unknown as string;
  }
  const clinical = obj(body.clinicalStatus, "clinicalStatus");
  const inactive = arr(clinical?.coding, "clinicalStatus.coding").some((c) => isObject(c) && c.system === ALLERGY_CLINICAL_SYSTEM && c.code === "inactive");
  p.voided = inactive;
  if (inactive) p.voidReason = "Deleted through FHIR";
  const added: AllergyReaction[] = [];
  for (const [i, x] of arr(body.reaction, "reaction").entries()) {
    const reaction = obj(x, `reaction[${i}]`) ?? {};
    const sev = optStr(reaction.severity, `reaction[${i}].severity`);
    if (sev) p.severity = SEVERITY.find(([, s]) => s === sev)?.[0] ?? null;
    for (const [j, m] of arr(reaction.manifestation, `reaction[${i}].manifestation`).entries()) {
      const concept = codeOf(m, `reaction[${i}].manifestation[${j}]`);
      if (!concept) throw new SimError(400, `reaction[${i}].manifestation[${j}]: no concept`, true);
      added.push({ reaction: concept, reactionNonCoded: optStr(obj(m, "manifestation")?.text, "manifestation.text") ?? null });
    }
  }
  if (existing) p.appendReactions = added;
  else p.reactions = added;
  const notes = arr(body.note, "note");
  if (notes.length) p.comment = optStr(obj(notes[0], "note[0]")?.text, "note[0].text") ?? null;
  return p;
}

// ------------------------------------------------------------------ generator

const COMMENTS = ["Reported by the patient.", "Reaction at the district hospital in 2019.", "Confirmed by the pharmacist."];
const TYPE_OF: readonly AllergenType[] = ["DRUG", "DRUG", "FOOD", "ENVIRONMENT"];

function draftFor(ctx: GenContext, patient: string, taken: Set<string>): AllergyDraft | undefined {
  const r = ctx.rng;
  const free = r.chance(0.15);
  const i = r.int(0, ALLERGEN_CONCEPTS.length - 1);
  const coded = free ? OTHER_NON_CODED : ALLERGEN_CONCEPTS[i].uuid;
  const key = free ? "other" : coded;
  if (taken.has(key)) return undefined;
  taken.add(key);
  const reactions = Array.from({ length: r.int(0, 2) }, (_, k) => ({
    reaction: REACTION_CONCEPTS[(i + k) % REACTION_CONCEPTS.length].uuid,
    reactionNonCoded: null,
  }));
  return {
    uuid: r.uuid(),
    patient,
    allergenType: free ? "OTHER" : TYPE_OF[i],
    codedAllergen: coded,
    nonCodedAllergen: free ? "Bee stings" : null,
    severity: r.pick([SEVERITY_CONCEPTS.mild, SEVERITY_CONCEPTS.moderate, SEVERITY_CONCEPTS.severe, null]),
    comment: r.chance(0.4) ? r.pick(COMMENTS) : null,
    reactions,
  };
}

function pickLive(ctx: GenContext): Allergy | undefined {
  for (let i = 0; i < 12; i++) {
    const a = ctx.store.records("allergy").random(() => ctx.rng.next()) as Allergy | undefined;
    if (!a) return undefined;
    if (!a.voided) return a;
  }
  return undefined;
}

// ------------------------------------------------------------------ the type

export const allergy: SimType<Allergy, AllergyDraft, AllergyPatch> = {
  type: "allergy",
  category: "allergy",
  title: "Allergy",
  restResource: "allergy",
  restParent: "patient",
  fhirType: "AllergyIntolerance",
  section: "allergies",

  build(store, d, base) {
    const empty: Allergy = {
      ...base,
      patient: store.checkPatient(d.patient),
      allergenType: null as unknown as AllergenType,
      codedAllergen: "",
      nonCodedAllergen: null,
      severity: null,
      comment: null,
      reactions: [],
    };
    return finish(store, empty, { ...d, patient: undefined });
  },
  apply: (store, prev, patch) => finish(store, prev, patch),
  patientOf: (a) => a.patient,

  restRep,
  restDraft(_store, body, _parts, parent) {
    refuseOthers(body, ["uuid", ...PROPERTIES]);
    if (body.allergen === undefined) throw bad("Property 'allergen' is required");
    if (!parent) throw bad("an allergy is created under its patient: /patient/{uuid}/allergy");
    return { ...restFields(body), uuid: optString(body.uuid, "uuid") ?? undefined, patient: parent };
  },
  restPatch(_store, prev, body) {
    refuseOthers(body, PROPERTIES, (k, v) => k === "uuid" && v === prev.uuid);
    return restFields(body);
  },
  restPurge: "refused",

  toFhir,
  fhirDraft: (_store, body) => ({ ...fromFhir(body, undefined), patient: refId(body.patient, "patient", ["Patient"]) ?? "" }),
  fhirPatch: (_store, prev, body) => fromFhir(body, prev),

  compare: (a) => ({
    voided: a.voided,
    patient: a.patient,
    allergenType: a.allergenType,
    codedAllergen: a.codedAllergen,
    nonCodedAllergen: a.nonCodedAllergen,
    severity: a.severity,
    comment: a.comment,
    reactions: a.reactions.map((r) => ({ ...r })),
  }),

  generate(ctx, patient, n) {
    const taken = new Set<string>();
    for (let i = 0; i < n; i++) {
      const d = draftFor(ctx, patient, taken);
      if (d) ctx.store.createOf("allergy", d);
    }
  },
  mutations: [
    [
      3,
      (ctx) => {
        const a = pickLive(ctx);
        if (!a) return false;
        ctx.store.updateOf("allergy", a.uuid, { comment: ctx.rng.pick(COMMENTS), severity: SEVERITY_CONCEPTS.severe });
        return true;
      },
    ],
    [
      1,
      (ctx) => {
        const a = pickLive(ctx);
        if (!a) return false;
        ctx.store.voidOf("allergy", a.uuid, "Entered in error");
        return true;
      },
    ],
  ],
};
