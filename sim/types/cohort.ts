/**
 * Cohort (openmrs-core 2.1+ `org.openmrs.Cohort` with `CohortMembership`s), a registered record type
 * (sim/types/registry.ts). Feed category `cohort` (omod-atomfeed's default configuration publishes
 * org.openmrs.Cohort with links `/ws/rest/v1/cohort/{uuid}?v=full` and `/ws/fhir/Group/{uuid}`).
 *
 *  - Record: name, description, memberships (patient, startDate, endDate, voided), voided.
 *  - REST v1 `cohort` (webservices.rest CohortResource2_1): the full representation has no members,
 *    only `size` (live memberships); create takes name, description and memberIds (required; patient
 *    *ids*, which the simulator does not have, so only an empty list is taken); update takes name and
 *    description; DELETE voids (voidCohort). Members are the sub-resource `cohort/{uuid}/membership`
 *    (CohortMembershipResource2_1): GET lists every membership, POST adds one (patientUuid, startDate,
 *    endDate), DELETE of `membership/{uuid}` voids it.
 *  - fhir2 `Group` (BaseGroupTranslator, GroupTranslatorImpl, GroupMemberTranslatorImpl): `active` =
 *    not voided, the description as extension `http://fhir.openmrs.org/ext/group/description`, `actual`
 *    true, `type` person, `managingEntity` the creator, `quantity` the live memberships, and one `member`
 *    per patient of EVERY membership (Cohort.getMemberIds does not skip voided ones). A PUT sets name,
 *    active and description when present and ADDS its members (toOpenmrsType calls addMember): it never
 *    removes one. fhir2 has no upsert for Group: a PUT to an unknown id is 404.
 */
import { randomUUID } from "node:crypto";
import { SimError } from "../errors";
import { ADMIN_USER_UUID } from "../metadata";
import type { BaseRecord, Store, VoidPatch } from "../model";
import { isObject } from "../reply";
import { arr, bad, obj, optStr, optString, refId, refuseOthers, restDate } from "./parse";
import type { FhirParts, GenContext, Json, RestParts, RestSubRequest, SimType } from "./registry";

export const GROUP_DESCRIPTION_URL = "http://fhir.openmrs.org/ext/group/description";

export interface CohortMembership {
  uuid: string;
  patient: string;
  startDate: string | null;
  endDate: string | null;
  voided: boolean;
}

export interface Cohort extends BaseRecord {
  name: string;
  description: string | null;
  memberships: CohortMembership[];
}

export interface MembershipDraft {
  uuid?: string;
  patient: string;
  startDate?: string | null;
  endDate?: string | null;
}

export interface CohortDraft {
  uuid?: string;
  name: string;
  description?: string | null;
  /** Patients, each made a member from now. */
  members?: string[];
}

export interface CohortPatch extends VoidPatch {
  name?: string;
  description?: string | null;
  /** Memberships to add (a patient with a live membership already is left as it is). */
  add?: MembershipDraft[];
  /** Membership uuids to void. */
  remove?: string[];
}

/** The patients of the live memberships, sorted. */
export function liveMembers(c: Cohort): string[] {
  return [...new Set(c.memberships.filter((m) => !m.voided).map((m) => m.patient))].sort();
}

function finish(store: Store, prev: Cohort, p: CohortPatch): Cohort {
  const next: Cohort = { ...prev, memberships: [...prev.memberships] };
  if (p.name !== undefined) next.name = p.name;
  if (p.description !== undefined) next.description = p.description;
  for (const uuid of p.remove ?? []) {
    const i = next.memberships.findIndex((m) => m.uuid === uuid);
    if (i < 0) throw new SimError(404, "Object with given uuid doesn't exist");
    next.memberships[i] = { ...next.memberships[i], voided: true };
  }
  for (const d of p.add ?? []) {
    const patient = store.checkPatient(d.patient);
    if (next.memberships.some((m) => !m.voided && m.patient === patient)) continue;
    const uuid = d.uuid ?? randomUUID();
    if (next.memberships.some((m) => m.uuid === uuid)) throw bad(`CohortMembership with uuid ${uuid} already exists`);
    next.memberships.push({
      uuid,
      patient,
      startDate: d.startDate ? store.dt(d.startDate, "startDate") : store.now(),
      endDate: store.dtOrNull(d.endDate, "endDate"),
      voided: false,
    });
  }
  // CohortValidator: a name is required.
  if (!next.name || !next.name.trim()) throw new SimError(400, "Cohort name is required", true);
  return next;
}

// ------------------------------------------------------------------ REST v1

function restRep(_store: Store, c: Cohort, parts: RestParts): Json {
  return {
    uuid: c.uuid,
    display: c.name,
    name: c.name,
    description: c.description,
    voided: c.voided,
    size: c.memberships.filter((m) => !m.voided).length,
    auditInfo: parts.auditInfo(c),
    links: parts.selfLink(`cohort/${c.uuid}`),
    resourceVersion: "2.1",
  };
}

function membershipRep(c: Cohort, m: CohortMembership, parts: RestParts): Json {
  return {
    uuid: m.uuid,
    display: "Patient in cohort (see link with rel=patient)",
    startDate: m.startDate,
    endDate: m.endDate,
    patientUuid: m.patient,
    voided: m.voided,
    links: [...parts.selfLink(`cohort/${c.uuid}/membership/${m.uuid}`), { rel: "patient", uri: `${parts.base}/ws/rest/v1/patient/${m.patient}` }],
    resourceVersion: "2.1",
  };
}

function restDraft(_store: Store, body: Json): CohortDraft {
  refuseOthers(body, ["uuid", "name", "description", "memberIds"]);
  const missing = ["name", "description", "memberIds"].filter((k) => body[k] === undefined);
  if (missing.length) throw bad(`Some required properties are missing: ${missing.join(", ")}`);
  if (arr(body.memberIds, "memberIds").length > 0)
    throw bad("memberIds are patient ids, which the simulator does not have: add members through cohort/{uuid}/membership");
  return {
    uuid: optString(body.uuid, "uuid") ?? undefined,
    name: optString(body.name, "name") ?? "",
    description: optString(body.description, "description") ?? null,
  };
}

function restPatch(_store: Store, prev: Cohort, body: Json): CohortPatch {
  refuseOthers(body, ["name", "description"], (k, v) => (k === "uuid" && v === prev.uuid) || (k === "voided" && v === prev.voided));
  const p: CohortPatch = {};
  const name = optString(body.name, "name");
  if (name !== undefined) p.name = name ?? "";
  const description = optString(body.description, "description");
  if (description !== undefined) p.description = description;
  return p;
}

/** `cohort/{uuid}/membership[/{uuid}]`. */
function restSub(store: Store, c: Cohort, req: RestSubRequest, parts: RestParts): { status: number; body?: Json } {
  const [sub, uuid, ...more] = req.segments;
  if (sub !== "membership" || more.length > 0) throw new SimError(404, `Unknown resource: cohort/${c.uuid}/${req.segments.join("/")}`);
  if (req.method === "GET") {
    if (!uuid) return { status: 200, body: { results: c.memberships.map((m) => membershipRep(c, m, parts)) } };
    const m = c.memberships.find((x) => x.uuid === uuid);
    if (!m) throw new SimError(404, "Object with given uuid doesn't exist");
    return { status: 200, body: membershipRep(c, m, parts) };
  }
  if (req.method === "POST" && !uuid) {
    const body = isObject(req.body) ? req.body : {};
    refuseOthers(body, ["uuid", "patientUuid", "startDate", "endDate"]);
    const patient = optString(body.patientUuid, "patientUuid");
    // setPatientUuid: getPatientByUuid(...).getPatientId() fails for an unknown patient.
    if (!patient) throw bad("patientUuid is required");
    const draft: MembershipDraft = {
      uuid: optString(body.uuid, "uuid") ?? undefined,
      patient,
      startDate: restDate(body.startDate, "startDate") ?? null,
      endDate: restDate(body.endDate, "endDate") ?? null,
    };
    const saved = store.updateOf("cohort", c.uuid, { add: [draft] } satisfies CohortPatch) as Cohort;
    const m = saved.memberships.filter((x) => !x.voided && x.patient === patient).pop();
    return { status: 201, body: membershipRep(saved, m!, parts) };
  }
  if (req.method === "DELETE" && uuid) {
    const m = c.memberships.find((x) => x.uuid === uuid);
    if (!m) throw new SimError(404, "Object with given uuid doesn't exist");
    if (!m.voided) store.updateOf("cohort", c.uuid, { remove: [uuid] } satisfies CohortPatch);
    return { status: 204 };
  }
  throw new SimError(405, `Method ${req.method} not supported`);
}

// ------------------------------------------------------------------ fhir2

function toFhir(_store: Store, c: Cohort, parts: FhirParts): Json {
  const members = [...new Set(c.memberships.map((m) => m.patient))];
  return {
    resourceType: "Group",
    id: c.uuid,
    meta: parts.meta(c),
    // HAPI writes no empty string: a cohort without a description has no extension value.
    ...(c.description ? { extension: [{ url: GROUP_DESCRIPTION_URL, valueString: c.description }] } : {}),
    active: !c.voided,
    type: "person",
    actual: true,
    name: c.name,
    managingEntity: { reference: `Practitioner/${ADMIN_USER_UUID}`, type: "Practitioner", display: "admin" },
    quantity: c.memberships.filter((m) => !m.voided).length,
    ...(members.length ? { member: members.map((p) => ({ entity: parts.reference("Patient", p) })) } : {}),
  };
}

/** BaseGroupTranslator / GroupTranslatorImpl.toOpenmrsType(existing, group). */
function fromFhir(body: Json): CohortPatch {
  const p: CohortPatch = {};
  const name = optStr(body.name, "name");
  if (name !== undefined) p.name = name;
  if (body.active !== undefined) {
    if (typeof body.active !== "boolean") throw bad("active must be a boolean");
    p.voided = !body.active;
    if (!body.active) p.voidReason = "Deleted through FHIR";
  }
  for (const e of arr(body.extension, "extension")) {
    if (isObject(e) && e.url === GROUP_DESCRIPTION_URL && e.valueString !== undefined) p.description = optStr(e.valueString, "description extension") ?? null;
  }
  const members = arr(body.member, "member").map((m, i) => refId(obj(m, `member[${i}]`)?.entity, `member[${i}].entity`, ["Patient"]));
  if (members.length) p.add = members.filter((m): m is string => !!m).map((patient) => ({ patient }));
  return p;
}

// ------------------------------------------------------------------ the type

export const cohort: SimType<Cohort, CohortDraft, CohortPatch> = {
  type: "cohort",
  category: "cohort",
  title: "Cohort",
  restResource: "cohort",
  fhirType: "Group",
  section: "cohorts",

  build(store, d, base) {
    const empty: Cohort = { ...base, name: "", description: null, memberships: [] };
    return finish(store, empty, { name: d.name, description: d.description ?? null, add: (d.members ?? []).map((patient) => ({ patient })) });
  },
  apply: (store, prev, patch) => finish(store, prev, patch),
  patientOf: () => null,

  restRep,
  restDraft,
  restPatch,
  restSub,

  toFhir,
  fhirDraft: (_store, body) => {
    const p = fromFhir(body);
    return { name: p.name ?? "", description: p.description ?? null, members: (p.add ?? []).map((m) => m.patient) };
  },
  fhirPatch: (_store, _prev, body) => fromFhir(body),

  compare: (c) => ({ voided: c.voided, name: c.name, description: c.description, members: liveMembers(c) }),

  mutations: [[1, (ctx: GenContext) => addMember(ctx)]],
};

/** Someone adds a patient to a cohort. */
function addMember(ctx: GenContext): boolean {
  const c = ctx.store.records("cohort").random(() => ctx.rng.next()) as Cohort | undefined;
  const p = ctx.store.patients.random(() => ctx.rng.next());
  if (!c || c.voided || !p || p.voided) return false;
  ctx.store.updateOf("cohort", c.uuid, { add: [{ patient: p.uuid }] } satisfies CohortPatch);
  return true;
}
