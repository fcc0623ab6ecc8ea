/**
 * Relationship (openmrs-core `org.openmrs.Relationship`: person A is the `aIsToB` of person B), a
 * registered record type (sim/types/registry.ts).
 *
 *  - Record: personA, personB (a patient, or a person who is not one), relationshipType, startDate,
 *    endDate, voided.
 *  - Validation: PersonServiceImpl.saveRelationship refuses A = B ("Person.cannot.same");
 *    RelationshipValidator an end before the start ("Relationship.InvalidEndDate.error") and a start in
 *    the future ("error.date.future", openmrs-core 2.x). Both persons and the type must exist.
 *  - REST v1 `relationship` (webservices.rest RelationshipResource1_8/1_9): the full representation
 *    (personA / personB as persons, relationshipType with aIsToB / bIsToA, startDate / endDate), creatable
 *    personA, relationshipType, personB, startDate, endDate; updatable the same without the persons (posted
 *    back unchanged they are accepted, as BaseDelegatingResource does), DELETE voids (voidRelationship).
 *  - fhir2 `RelatedPerson` (RelatedPersonTranslatorImpl, RelatedPersonFhirResourceProvider): READ ONLY
 *    (the provider has @Read and @Search, no @Create / @Update / @Delete); one side of the relationship:
 *    person A's names, gender, birthDate and addresses, person B as `patient` (only when B is a patient),
 *    identifier `{system: "RelatedPerson", value: "Person/<A>"}`, `active` from the dates, `period`. No
 *    `meta`, and NOT the relationship type: a copy cannot be made from it.
 *  - Feed: category `relationship`, title "Relationship"; omod-atomfeed's default configuration links
 *    `/ws/rest/v1/relationship/{uuid}?v=full` and `/ws/fhir/Relationship/{uuid}` (fhir-data-pipes' fhir2
 *    variant `/ws/fhir2/R4/Relationship/{uuid}`): a FHIR type no server has. The simulator writes that link.
 */
import { instantIso, parseInstant, toFhirDateTime } from "../dates";
import { SimError } from "../errors";
import { META } from "../metadata";
import type { BaseRecord, Store, VoidPatch } from "../model";
import { bad, optString, refuseOthers, refUuid, restDate, voidFields } from "./parse";
import type { FhirParts, GenContext, Json, RestParts, SimType } from "./registry";

export interface Relationship extends BaseRecord {
  personA: string;
  personB: string;
  relationshipType: string;
  startDate: string | null;
  endDate: string | null;
}

export interface RelationshipDraft {
  uuid?: string;
  personA: string;
  personB: string;
  relationshipType: string;
  startDate?: string | null;
  endDate?: string | null;
}
export type RelationshipPatch = Partial<Omit<RelationshipDraft, "uuid">> & VoidPatch;

function checkPerson(store: Store, uuid: string | undefined, field: string): string {
  if (!uuid) throw bad(`${field} is required`);
  if (!store.personOf(uuid)) throw bad(`Person with uuid ${uuid} not found`);
  return uuid;
}

/** Applies the given fields to `rec` and checks the result as openmrs-core would save it. */
function finish(store: Store, rec: Relationship, p: RelationshipPatch): Relationship {
  const next: Relationship = { ...rec };
  if (p.personA !== undefined) next.personA = checkPerson(store, p.personA, "personA");
  if (p.personB !== undefined) next.personB = checkPerson(store, p.personB, "personB");
  if (p.relationshipType !== undefined) next.relationshipType = p.relationshipType;
  if (p.startDate !== undefined) next.startDate = store.dtOrNull(p.startDate, "startDate");
  if (p.endDate !== undefined) next.endDate = store.dtOrNull(p.endDate, "endDate");
  if (!next.relationshipType) throw bad("relationshipType is required");
  store.checkMeta(META.relationshipTypes, "RelationshipType", next.relationshipType);
  if (next.personA === next.personB) throw new SimError(400, "Person A and Person B can't be same", true);
  const start = next.startDate ? parseInstant(next.startDate) : undefined;
  const end = next.endDate ? parseInstant(next.endDate) : undefined;
  if (start !== undefined && end !== undefined && start > end) throw new SimError(400, "End date should not be before start date", true);
  if (start !== undefined && start > Date.now()) throw new SimError(400, "Start date cannot be in the future", true);
  return next;
}

function givenName(store: Store, uuid: string): string {
  const p = store.personOf(uuid);
  const n = p?.names.find((x) => !x.voided && x.preferred) ?? p?.names.find((x) => !x.voided);
  return n?.givenName ?? uuid;
}

// ------------------------------------------------------------------ REST v1

const CREATABLE = ["uuid", "personA", "relationshipType", "personB", "startDate", "endDate"];
const UPDATABLE = ["relationshipType", "startDate", "endDate", "voided", "voidReason"];

function restFields(body: Json): RelationshipPatch {
  const p: RelationshipPatch = {};
  const type = refUuid(body.relationshipType, "relationshipType");
  if (type !== undefined) p.relationshipType = type ?? "";
  for (const f of ["startDate", "endDate"] as const) {
    const d = restDate(body[f], f);
    if (d !== undefined) p[f] = d;
  }
  return p;
}

function typeRep(uuid: string, parts: RestParts): Json {
  const t = META.relationshipTypes.get(uuid);
  return {
    ...parts.ref("relationshiptype", uuid, t?.display ?? uuid),
    description: t ? `Relationship from a ${t.aIsToB.toLowerCase()} to a ${t.bIsToA.toLowerCase()}` : null,
    aIsToB: t?.aIsToB ?? null,
    bIsToA: t?.bIsToA ?? null,
    retired: false,
    resourceVersion: "1.8",
  };
}

function restRep(store: Store, r: Relationship, parts: RestParts): Json {
  const t = META.relationshipTypes.get(r.relationshipType);
  return {
    uuid: r.uuid,
    display: `${givenName(store, r.personA)} is the ${t?.aIsToB ?? "NULL"} of ${givenName(store, r.personB)}`,
    personA: parts.person(r.personA) ?? parts.ref("person", r.personA, r.personA),
    relationshipType: typeRep(r.relationshipType, parts),
    personB: parts.person(r.personB) ?? parts.ref("person", r.personB, r.personB),
    voided: r.voided,
    auditInfo: parts.auditInfo(r),
    links: parts.selfLink(`relationship/${r.uuid}`),
    startDate: r.startDate,
    endDate: r.endDate,
    resourceVersion: "1.9",
  };
}

function restDraft(_store: Store, body: Json): RelationshipDraft {
  refuseOthers(body, CREATABLE);
  const fields = restFields(body);
  return {
    ...fields,
    uuid: optString(body.uuid, "uuid") ?? undefined,
    personA: refUuid(body.personA, "personA") ?? "",
    personB: refUuid(body.personB, "personB") ?? "",
    relationshipType: fields.relationshipType ?? "",
  };
}

function restPatch(_store: Store, prev: Relationship, body: Json): RelationshipPatch {
  refuseOthers(body, UPDATABLE, (k, v) => (k === "personA" || k === "personB" ? refUuid(v, k) === prev[k] : k === "uuid" && v === prev.uuid));
  return { ...restFields(body), ...voidFields(body) };
}

// ------------------------------------------------------------------ fhir2 (read only)

/** RelatedPersonTranslatorImpl.toFhirResource. */
function toFhir(store: Store, r: Relationship, parts: FhirParts): Json {
  const res: Json = { resourceType: "RelatedPerson", id: r.uuid };
  const a = parts.person(r.personA) ?? {};
  res.identifier = [{ system: "RelatedPerson", value: `Person/${r.personA}` }];
  const now = Date.now();
  const start = r.startDate ? parseInstant(r.startDate) : undefined;
  const end = r.endDate ? parseInstant(r.endDate) : undefined;
  // startDate == null || startDate.before(now) && endDate == null || endDate.after(now)
  res.active = start === undefined || (start < now && end === undefined) || (end !== undefined && end > now);
  if (store.patients.has(r.personB)) res.patient = parts.reference("Patient", r.personB);
  for (const k of ["name", "gender", "birthDate", "address"]) if (a[k] !== undefined) res[k] = a[k];
  const period: Json = {};
  if (r.startDate) period.start = toFhirDateTime(r.startDate);
  if (r.endDate) period.end = toFhirDateTime(r.endDate);
  if (Object.keys(period).length) res.period = period;
  return res;
}

function notWritable(): never {
  throw new SimError(400, "RelatedPerson is read only in fhir2");
}

// ------------------------------------------------------------------ generator

const DAY = 86_400_000;

function pickLive(ctx: GenContext): Relationship | undefined {
  for (let i = 0; i < 12; i++) {
    const r = ctx.store.records("relationship").random(() => ctx.rng.next()) as Relationship | undefined;
    if (!r) return undefined;
    if (!r.voided) return r;
  }
  return undefined;
}

function draftFor(ctx: GenContext, personA: string, personB: string): RelationshipDraft {
  const r = ctx.rng;
  return {
    uuid: r.uuid(),
    personA,
    personB,
    relationshipType: r.pick(RELATIONSHIP_TYPE_UUIDS),
    startDate: r.chance(0.6) ? ctx.fmt(Date.now() - r.int(30, 3000) * DAY) : null,
    endDate: null,
  };
}

const RELATIONSHIP_TYPE_UUIDS = [...META.relationshipTypes.keys()];

function otherPatient(ctx: GenContext, not: string): string | undefined {
  for (let i = 0; i < 8; i++) {
    const p = ctx.store.patients.random(() => ctx.rng.next());
    if (p && !p.voided && p.uuid !== not) return p.uuid;
  }
  return undefined;
}

function newRelationship(ctx: GenContext): boolean {
  const a = ctx.store.patients.random(() => ctx.rng.next());
  const b = a && otherPatient(ctx, a.uuid);
  if (!a || a.voided || !b) return false;
  ctx.store.createOf("relationship", draftFor(ctx, a.uuid, b));
  return true;
}

function endOne(ctx: GenContext): boolean {
  const r = pickLive(ctx);
  if (!r || r.endDate) return false;
  ctx.store.updateOf("relationship", r.uuid, { endDate: ctx.fmt(Date.now()) });
  return true;
}

function voidOne(ctx: GenContext): boolean {
  const r = pickLive(ctx);
  if (!r) return false;
  ctx.store.voidOf("relationship", r.uuid, "Entered in error");
  return true;
}

// ------------------------------------------------------------------ the type

export const relationship: SimType<Relationship, RelationshipDraft, RelationshipPatch> = {
  type: "relationship",
  category: "relationship",
  title: "Relationship",
  restResource: "relationship",
  fhirType: "RelatedPerson",
  feedFhirType: "Relationship",
  fhirReadOnly: true,
  section: "relationships",

  build(store, d, base) {
    const empty: Relationship = { ...base, personA: "", personB: "", relationshipType: "", startDate: null, endDate: null };
    return finish(store, empty, { ...d, personA: d.personA ?? "", personB: d.personB ?? "" });
  },
  apply: (store, prev, patch) => finish(store, prev, patch),
  patientOf: (r) => r.personA,

  restRep,
  restDraft,
  restPatch,

  toFhir,
  fhirDraft: notWritable,
  fhirPatch: notWritable,

  compare: (r) => ({
    voided: r.voided,
    personA: r.personA,
    personB: r.personB,
    relationshipType: r.relationshipType,
    startDate: instantIso(r.startDate),
    endDate: instantIso(r.endDate),
  }),

  generate(ctx, patient, n) {
    for (let i = 0; i < n; i++) {
      const other = otherPatient(ctx, patient);
      if (other) ctx.store.createOf("relationship", draftFor(ctx, other, patient));
    }
  },
  mutations: [
    [3, newRelationship],
    [2, endOne],
    [1, voidOne],
  ],
};
