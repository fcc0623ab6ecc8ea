/**
 * A normalised, JSON-plain view of all records (for parent/child equality checks) and the comparison.
 * Datetimes are UTC instants (ISO strings), birthdates their calendar date; auditInfo is left out.
 */
import { compareDiagnoses } from "./diagnoses";
import { instantIso } from "./dates";
import { ADDRESS_FIELDS, type AddressField, type Store } from "./model";
import { SIM_TYPES } from "./types/registry";

export interface CmpName {
  given: string;
  middle: string | null;
  family: string;
  preferred: boolean;
}
export interface CmpIdentifier {
  value: string;
  type: string;
  location: string | null;
  preferred: boolean;
}
export type CmpAddress = Record<AddressField, string | null> & { preferred: boolean };

export interface CmpPatient {
  voided: boolean;
  gender: string;
  birthdate: string | null;
  dead: boolean;
  deathDate: string | null;
  /** Non-voided names/identifiers/addresses keyed by their uuid. */
  names: Record<string, CmpName>;
  identifiers: Record<string, CmpIdentifier>;
  addresses: Record<string, CmpAddress>;
  /**
   * Non-voided person attributes: attribute type uuid -> its values, sorted. Not keyed by uuid: fhir2 does
   * not carry an attribute's uuid (only the contact attribute's, as telecom.id).
   */
  attributes: Record<string, string[]>;
}
export interface CmpVisit {
  voided: boolean;
  patient: string;
  visitType: string;
  start: string | null;
  stop: string | null;
  location: string | null;
}
export interface CmpEncounter {
  voided: boolean;
  patient: string;
  type: string;
  datetime: string | null;
  location: string | null;
  visit: string | null;
  /** Active providers as "provider/role", sorted. */
  providers: string[];
  /** Active diagnoses, by uuid (sim/diagnoses.ts). */
  diagnoses: ReturnType<typeof compareDiagnoses>;
}
export type CmpObsValue = number | string | { coded: string };
export interface CmpObs {
  voided: boolean;
  person: string;
  concept: string;
  datetime: string | null;
  encounter: string | null;
  value: CmpObsValue | null;
  /** An obs group's members (sorted uuids). */
  members?: string[];
}

/** A registered type's record as its `compare` gives it (sim/types/registry.ts). */
export type CmpRecord = Record<string, unknown> & { voided: boolean };

export interface Comparable {
  patients: Record<string, CmpPatient>;
  visits: Record<string, CmpVisit>;
  encounters: Record<string, CmpEncounter>;
  obs: Record<string, CmpObs>;
  /** Registered types by section ("conditions"), then uuid. Absent in snapshots of older simulators. */
  types?: Record<string, Record<string, CmpRecord>>;
}

function blank(s: string | null | undefined): string | null {
  return s === undefined || s === null || s === "" ? null : s;
}

export function snapshotOf(store: Store): Comparable {
  const out: Comparable = { patients: {}, visits: {}, encounters: {}, obs: {}, types: {} };
  for (const t of SIM_TYPES) {
    const section: Record<string, CmpRecord> = {};
    for (const r of store.records(t.type).values()) section[r.uuid] = t.compare(r);
    out.types![t.section] = section;
  }
  for (const p of store.patients.values()) {
    const c: CmpPatient = {
      voided: p.voided,
      gender: p.gender,
      birthdate: p.birthdate ? p.birthdate.slice(0, 10) : null,
      dead: p.dead,
      deathDate: instantIso(p.deathDate),
      names: {},
      identifiers: {},
      addresses: {},
      attributes: {},
    };
    for (const a of p.attributes ?? []) {
      if (!a.voided) (c.attributes[a.attributeType] ??= []).push(a.value);
    }
    for (const values of Object.values(c.attributes)) values.sort();
    for (const n of p.names) {
      if (!n.voided) c.names[n.uuid] = { given: n.givenName, middle: blank(n.middleName), family: n.familyName, preferred: n.preferred };
    }
    for (const i of p.identifiers) {
      if (!i.voided) c.identifiers[i.uuid] = { value: i.identifier, type: i.identifierType, location: blank(i.location), preferred: i.preferred };
    }
    for (const a of p.addresses) {
      if (a.voided) continue;
      const ca = { preferred: a.preferred } as CmpAddress;
      for (const f of ADDRESS_FIELDS) ca[f] = blank(a[f]);
      c.addresses[a.uuid] = ca;
    }
    out.patients[p.uuid] = c;
  }
  for (const v of store.visits.values()) {
    out.visits[v.uuid] = {
      voided: v.voided,
      patient: v.patient,
      visitType: v.visitType,
      start: instantIso(v.startDatetime),
      stop: instantIso(v.stopDatetime),
      location: blank(v.location),
    };
  }
  for (const e of store.encounters.values()) {
    out.encounters[e.uuid] = {
      voided: e.voided,
      patient: e.patient,
      type: e.encounterType,
      datetime: instantIso(e.encounterDatetime),
      location: blank(e.location),
      visit: blank(e.visit),
      providers: (e.providers ?? [])
        .filter((p) => !p.voided)
        .map((p) => `${p.provider}/${p.encounterRole}`)
        .sort(),
      diagnoses: compareDiagnoses(e.diagnoses),
    };
  }
  for (const o of store.obs.values()) {
    out.obs[o.uuid] = {
      voided: o.voided,
      person: o.person,
      concept: o.concept,
      datetime: instantIso(o.obsDatetime),
      encounter: blank(o.encounter),
      value: o.value !== null && typeof o.value === "object" ? { coded: o.value.uuid } : o.value,
      members: o.groupMembers?.length ? [...o.groupMembers].sort() : undefined,
    };
  }
  return out;
}

function show(v: unknown): string {
  return v === undefined ? "(absent)" : JSON.stringify(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Field-by-field differences between two JSON values (object keys compared as sets). */
function diff(path: string, a: unknown, b: unknown, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) diff(path ? `${path}.${k}` : k, a[k], b[k], out);
    return;
  }
  if (a === b) return;
  if (typeof a === "number" && typeof b === "number" && Math.abs(a - b) < 1e-9) return;
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  out.push(`${path}: parent ${show(a)} != child ${show(b)}`);
}

const SECTIONS = [
  ["patients", "patient"],
  ["visits", "visit"],
  ["encounters", "encounter"],
  ["obs", "obs"],
] as const;

/** Report at most this many differences (plus one summary line). */
export const MAX_DIFFERENCES = 1000;

/**
 * Differences between parent and child (empty = in sync): the child's non-voided records must equal the
 * parent's non-voided records field for field, and a record voided on the parent must be voided or absent
 * on the child.
 */
export function compareSnapshots(parent: Comparable, child: Comparable): string[] {
  const out: string[] = [];
  let total = 0;
  const push = (msg: string): void => {
    total++;
    if (out.length < MAX_DIFFERENCES) out.push(msg);
  };
  // The first four types by name, then every registered type (sim/types/registry.ts).
  type Section = Record<string, { voided: boolean }>;
  const sections: [label: string, parent: Section, child: Section][] = [
    ...SECTIONS.map(([section, label]): [string, Section, Section] => [label, parent[section] ?? {}, child[section] ?? {}]),
    ...SIM_TYPES.map((t): [string, Section, Section] => [t.type, parent.types?.[t.section] ?? {}, child.types?.[t.section] ?? {}]),
  ];
  for (const [label, p, c] of sections) {
    for (const [uuid, pr] of Object.entries(p)) {
      const cr = c[uuid];
      if (pr.voided) {
        if (cr && !cr.voided) push(`${label} ${uuid}: voided on parent but active on child`);
        continue;
      }
      if (!cr) {
        push(`${label} ${uuid}: missing on child`);
        continue;
      }
      if (cr.voided) {
        push(`${label} ${uuid}: active on parent but voided on child`);
        continue;
      }
      const fields: string[] = [];
      diff("", { ...pr, voided: undefined }, { ...cr, voided: undefined }, fields);
      for (const f of fields) push(`${label} ${uuid}: ${f}`);
    }
    for (const [uuid, cr] of Object.entries(c)) {
      if (!cr.voided && !(uuid in p)) push(`${label} ${uuid}: active on child but absent on parent`);
    }
  }
  if (total > out.length) out.push(`... and ${total - out.length} more differences (${total} in all)`);
  return out;
}
