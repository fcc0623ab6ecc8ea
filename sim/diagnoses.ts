/**
 * Encounter diagnoses (openmrs-core 2.2+ `org.openmrs.Diagnosis` on `Encounter.diagnoses`): what the
 * simulator's encounters hold, and the REST v1 side of them.
 *
 *  - A diagnosis is a CodedOrFreeText (a concept and/or free text), a certainty (CONFIRMED or PROVISIONAL,
 *    `ConditionVerificationStatus`), a rank (1 primary, 2 secondary...), optionally the problem-list
 *    condition it is about; the patient is the encounter's.
 *  - REST v1 (webservices.rest EncounterResource2_2): `diagnoses` is in the default and full representations
 *    (its non-voided diagnoses, each as DiagnosisResource's default representation) and creatable and
 *    updatable; an update names the encounter's diagnoses: one of a known uuid is updated, a new one added,
 *    one left out voided.
 *  - fhir2's Encounter carries no diagnoses (EncounterTranslatorImpl); fhir2 serves them as Conditions of
 *    category encounter-diagnosis (DiagnosisTranslatorImpl), which the simulator does not.
 *  - Saving them saves the encounter: an encounter feed event (Diagnosis itself has no feed).
 */
import { randomUUID } from "node:crypto";
import { SimError } from "./errors";
import { META } from "./metadata";
import type { Store } from "./model";
import { isObject } from "./reply";
import type { Json, RestParts } from "./types/registry";
import { bad, optString, refUuid } from "./types/parse";

export const CERTAINTIES = ["CONFIRMED", "PROVISIONAL"] as const;
export type Certainty = (typeof CERTAINTIES)[number];

export interface EncounterDiagnosis {
  uuid: string;
  coded: string | null;
  nonCoded: string | null;
  certainty: Certainty;
  rank: number;
  /** The problem-list condition it is about (a condition uuid). */
  condition: string | null;
  voided: boolean;
}

export interface DiagnosisDraft {
  uuid?: string;
  coded?: string | null;
  nonCoded?: string | null;
  certainty?: string | null;
  rank?: number | null;
  condition?: string | null;
}

function build(store: Store, d: DiagnosisDraft, uuid: string): EncounterDiagnosis {
  const coded = d.coded || null;
  const nonCoded = d.nonCoded?.trim() ? d.nonCoded : null;
  if (!coded && !nonCoded) throw new SimError(400, "Diagnosis: diagnosis (coded or non-coded) is required", true);
  if (coded) store.concept(coded);
  if (!d.certainty || !(CERTAINTIES as readonly string[]).includes(d.certainty)) {
    throw new SimError(400, `Diagnosis: certainty must be one of ${CERTAINTIES.join(", ")}, not ${String(d.certainty)}`, true);
  }
  if (typeof d.rank !== "number" || !Number.isInteger(d.rank) || d.rank < 1)
    throw new SimError(400, `Diagnosis: rank must be a positive integer, not ${String(d.rank)}`, true);
  const condition = d.condition || null;
  if (condition && !store.getOf("condition", condition)) throw bad(`Condition with uuid ${condition} not found`);
  return { uuid, coded, nonCoded, certainty: d.certainty as Certainty, rank: d.rank, condition, voided: false };
}

/**
 * An encounter's diagnoses after a save naming `drafts`: one of a known uuid is updated (and unvoided),
 * new ones are added, the others voided.
 */
export function encounterDiagnoses(store: Store, existing: readonly EncounterDiagnosis[], drafts: readonly DiagnosisDraft[]): EncounterDiagnosis[] {
  const named = new Map(drafts.filter((d) => d.uuid && existing.some((e) => e.uuid === d.uuid)).map((d) => [d.uuid!, d]));
  const kept = existing.map((e) => {
    const d = named.get(e.uuid);
    if (d) return build(store, d, e.uuid);
    return e.voided ? e : { ...e, voided: true };
  });
  const fresh = drafts.filter((d) => !d.uuid || !named.has(d.uuid)).map((d) => build(store, d, d.uuid ?? randomUUID()));
  const uuids = new Set<string>();
  for (const x of [...kept, ...fresh]) {
    if (uuids.has(x.uuid)) throw bad(`Diagnosis ${x.uuid} named twice`);
    uuids.add(x.uuid);
  }
  return [...kept, ...fresh];
}

/** `diagnoses` of a REST encounter body: undefined when absent. */
export function diagnosisDrafts(v: unknown, encounter: string | undefined): DiagnosisDraft[] | undefined {
  if (v === undefined) return undefined;
  if (v === null) return [];
  if (!Array.isArray(v)) throw bad("diagnoses must be an array");
  return v.map((x: unknown, i) => {
    if (!isObject(x)) throw bad(`diagnoses[${i}] must be an object`);
    const enc = refUuid(x.encounter, `diagnoses[${i}].encounter`);
    if (enc && encounter && enc !== encounter) throw bad(`diagnoses[${i}].encounter is another encounter: ${enc}`);
    const cot = x.diagnosis;
    if (cot !== undefined && cot !== null && !isObject(cot)) throw bad(`diagnoses[${i}].diagnosis must be an object with coded and/or nonCoded`);
    const rank = x.rank;
    return {
      uuid: optString(x.uuid, `diagnoses[${i}].uuid`) ?? undefined,
      coded: isObject(cot) ? (refUuid(cot.coded, `diagnoses[${i}].diagnosis.coded`) ?? null) : null,
      nonCoded: isObject(cot) ? (optString(cot.nonCoded, `diagnoses[${i}].diagnosis.nonCoded`) ?? null) : null,
      certainty: optString(x.certainty, `diagnoses[${i}].certainty`) ?? null,
      rank: typeof rank === "number" ? rank : typeof rank === "string" && rank.trim() !== "" ? Number(rank) : null,
      condition: refUuid(x.condition, `diagnoses[${i}].condition`) ?? null,
    };
  });
}

/** DiagnosisResource2_2's default representation of each non-voided diagnosis (EncounterResource2_2.getDiagnoses). */
export function diagnosesRep(store: Store, encounter: { uuid: string; patient: string; diagnoses?: EncounterDiagnosis[] }, parts: RestParts): Json[] {
  return (encounter.diagnoses ?? [])
    .filter((d) => !d.voided)
    .map((d) => {
      const concept = d.coded ? META.concepts.get(d.coded) : undefined;
      const display = d.coded ? (concept?.display ?? d.coded) : (d.nonCoded ?? "");
      return {
        uuid: d.uuid,
        diagnosis: { coded: d.coded ? parts.ref("concept", d.coded, display) : null, nonCoded: d.nonCoded, specificName: null },
        condition: d.condition ? parts.ref("condition", d.condition, d.condition) : null,
        encounter: parts.ref("encounter", encounter.uuid, encounter.uuid),
        certainty: d.certainty,
        rank: d.rank,
        voided: false,
        display,
        patient: parts.patientRef(encounter.patient),
        links: parts.selfLink(`patientdiagnoses/${d.uuid}`),
        resourceVersion: "2.2",
      };
    });
}

/** What `diff` compares of an encounter's diagnoses: the active ones, sorted by uuid. */
export function compareDiagnoses(list: readonly EncounterDiagnosis[] | undefined): Omit<EncounterDiagnosis, "voided">[] {
  return (list ?? [])
    .filter((d) => !d.voided)
    .map(({ voided: _v, ...rest }) => {
      void _v;
      return rest;
    })
    .sort((a, b) => a.uuid.localeCompare(b.uuid));
}
