/**
 * The simulator's domain: REST-shaped records in memory, the write operations shared by REST v1 and
 * fhir2, and the event log behind the Atom feeds (one event per changed object and action, as the
 * omod-atomfeed Hibernate interceptor writes them).
 */
import { randomUUID } from "node:crypto";
import { datePart, formatOpenmrs, openmrsDateOnly, parseInstant } from "./dates";
import { IdentifierIndex, notUniqueMessage } from "./identifiers";
import { META, UNKNOWN_ENCOUNTER_ROLE, type Concept } from "./metadata";
import { SimError } from "./errors";
import { Table } from "./table";
import { restCollection, SIM_TYPES, simType, type SimType } from "./types/registry";
import { encounterDiagnoses, type DiagnosisDraft, type EncounterDiagnosis } from "./diagnoses";

export type RecordType = "patient" | "visit" | "encounter" | "obs";
export type FeedCategory = "patient" | "visit" | "encounter" | "observation";
/** CREATED/UPDATED/VOIDED/UNVOIDED as in the brief; DELETED only for a purge, as the real interceptor does. */
/** omod-atomfeed's EventAction; RETIRED / UNRETIRED for metadata (a location record). */
export type EventAction = "CREATED" | "UPDATED" | "VOIDED" | "UNVOIDED" | "DELETED" | "RETIRED" | "UNRETIRED";
export type Dialect = "sync2" | "bahmni" | "mixed";
export type Gender = "M" | "F" | "O" | "U";

export const RECORD_TYPES: readonly RecordType[] = ["patient", "visit", "encounter", "obs"];
export const CATEGORY_OF: Readonly<Record<RecordType, FeedCategory>> = {
  patient: "patient",
  visit: "visit",
  encounter: "encounter",
  obs: "observation",
};
export const TITLE_OF: Readonly<Record<RecordType, string>> = {
  patient: "Patient",
  visit: "Visit",
  encounter: "Encounter",
  obs: "Observation",
};
/** fhir2 resource type serving each record type (a visit is an Encounter tagged "visit"). */
export const FHIR_TYPE_OF: Readonly<Record<RecordType, string>> = {
  patient: "Patient",
  visit: "Encounter",
  encounter: "Encounter",
  obs: "Observation",
};

export { SimError } from "./errors";

export interface AuditInfo {
  dateCreated: string;
  dateChanged: string | null;
}

export interface BaseRecord {
  uuid: string;
  voided: boolean;
  voidReason: string | null;
  dateVoided: string | null;
  auditInfo: AuditInfo;
}

export interface PersonName {
  uuid: string;
  givenName: string;
  middleName: string | null;
  familyName: string;
  preferred: boolean;
  voided: boolean;
}

export interface PersonAddress {
  uuid: string;
  address1: string | null;
  address2: string | null;
  cityVillage: string | null;
  countyDistrict: string | null;
  stateProvince: string | null;
  postalCode: string | null;
  country: string | null;
  preferred: boolean;
  voided: boolean;
}

export interface PersonAttribute {
  uuid: string;
  /** Person attribute type uuid. */
  attributeType: string;
  value: string;
  voided: boolean;
}

export const ADDRESS_FIELDS = ["address1", "address2", "cityVillage", "countyDistrict", "stateProvince", "postalCode", "country"] as const;
export type AddressField = (typeof ADDRESS_FIELDS)[number];

export interface PatientIdentifier {
  uuid: string;
  identifier: string;
  identifierType: string;
  location: string | null;
  preferred: boolean;
  voided: boolean;
}

export interface Patient extends BaseRecord {
  gender: Gender;
  /** OpenMRS datetime at midnight; only the date part is meaningful. */
  birthdate: string | null;
  dead: boolean;
  deathDate: string | null;
  names: PersonName[];
  addresses: PersonAddress[];
  identifiers: PatientIdentifier[];
  /** Older data files have none. */
  attributes?: PersonAttribute[];
}

export interface Visit extends BaseRecord {
  patient: string;
  visitType: string;
  startDatetime: string;
  stopDatetime: string | null;
  location: string | null;
}

export interface EncounterProvider {
  uuid: string;
  provider: string;
  encounterRole: string;
  voided: boolean;
}

export interface Encounter extends BaseRecord {
  patient: string;
  encounterType: string;
  encounterDatetime: string;
  location: string | null;
  visit: string | null;
  /** Older data files have none. */
  providers?: EncounterProvider[];
  /** Encounter diagnoses (sim/diagnoses.ts); older data files have none. */
  diagnoses?: EncounterDiagnosis[];
}

export interface CodedValue {
  uuid: string;
  display: string;
}
export type ObsValue = number | string | CodedValue;

export interface Obs extends BaseRecord {
  person: string;
  concept: string;
  obsDatetime: string;
  encounter: string | null;
  /** null for an obs group (its concept is a set). */
  value: ObsValue | null;
  /** An obs group's members (obs uuids), as fhir2 serves them (Observation.hasMember); older data files have none. */
  groupMembers?: string[];
}

export interface RecordOf {
  patient: Patient;
  visit: Visit;
  encounter: Encounter;
  obs: Obs;
}
export type AnyRecord = Patient | Visit | Encounter | Obs;

// ---- drafts: validated-shape input to the write operations (references are uuids) ----

export interface NameDraft {
  uuid?: string;
  givenName: string;
  middleName?: string | null;
  familyName: string;
  preferred?: boolean;
}
export type AddressDraft = { uuid?: string; preferred?: boolean } & Partial<Record<AddressField, string | null>>;
export interface IdentifierDraft {
  uuid?: string;
  identifier: string;
  identifierType: string;
  location?: string | null;
  preferred?: boolean;
}
export interface AttributeDraft {
  uuid?: string;
  attributeType: string;
  value: string;
}
export interface PatientDraft {
  uuid?: string;
  gender: string;
  birthdate?: string | null;
  dead?: boolean;
  deathDate?: string | null;
  names: NameDraft[];
  addresses?: AddressDraft[];
  identifiers?: IdentifierDraft[];
  attributes?: AttributeDraft[];
}
export interface VoidPatch {
  voided?: boolean;
  voidReason?: string;
}
export type PatientPatch = Partial<Omit<PatientDraft, "uuid">> & VoidPatch;

export interface VisitDraft {
  uuid?: string;
  patient: string;
  visitType: string;
  startDatetime?: string;
  stopDatetime?: string | null;
  location?: string | null;
}
export type VisitPatch = Partial<Omit<VisitDraft, "uuid">> & VoidPatch;

export interface EncounterDraft {
  uuid?: string;
  patient: string;
  encounterType: string;
  encounterDatetime?: string;
  location?: string | null;
  visit?: string | null;
  /** Replaces the encounter's providers: one with a known uuid (or the same provider and role) is kept. */
  providers?: { uuid?: string; provider: string; encounterRole?: string }[];
  /** Replaces the encounter's diagnoses (sim/diagnoses.ts). */
  diagnoses?: DiagnosisDraft[];
}
export type EncounterPatch = Partial<Omit<EncounterDraft, "uuid">> & VoidPatch;

/** Coded values may be given as the answer concept uuid or as an object with `uuid`. */
export type ObsValueInput = number | string | { uuid: string };
export interface ObsDraft {
  uuid?: string;
  person: string;
  concept: string;
  obsDatetime?: string;
  encounter?: string | null;
  /** Absent for an obs group. */
  value?: ObsValueInput | null;
  groupMembers?: string[];
}
export type ObsPatch = Partial<Omit<ObsDraft, "uuid">> & VoidPatch;

// ---- events ----

export interface FeedEvent {
  /** Global serial id (feed order). */
  id: number;
  /** Event uuid; entry id is `tag:atomfeed.ict4h.org:{uuid}`. */
  uuid: string;
  title: string;
  /** A FeedCategory, or a registered type's category (sim/types/registry.ts). */
  category: string;
  action: EventAction;
  /** Uuid of the changed record. */
  object: string;
  /** Epoch ms. */
  timestamp: number;
  /** The CDATA text, fixed when the event is written (as the `object` column of event_records). */
  content: string;
  /** The `<category term>`s in the order they are written. */
  terms: string[];
}

export interface StoreOptions {
  contextPath: string;
  dialect: Dialect;
  utcOffsetMinutes: number;
}

/** Plain-JSON form of the whole store (the dataFile). */
export interface StoreData {
  format: "openmrs-sim/1";
  savedAt: string;
  nextEventId: number;
  identifierCounter: number;
  patients: Patient[];
  visits: Visit[];
  encounters: Encounter[];
  obs: Obs[];
  /** Records of the registered types (sim/types/registry.ts) by section ("conditions"); absent in older files. */
  types?: Record<string, BaseRecord[]>;
  events: FeedEvent[];
}

const GENDERS: readonly string[] = ["M", "F", "O", "U"];
const REST_NAME: Readonly<Record<FeedCategory, string>> = {
  patient: "patient",
  visit: "visit",
  encounter: "encounter",
  observation: "obs",
};
const FHIR_NAME: Readonly<Record<FeedCategory, string>> = {
  patient: "Patient",
  visit: "Encounter",
  encounter: "Encounter",
  observation: "Observation",
};

function notFound(what: string, uuid: string): SimError {
  return new SimError(400, `${what} with uuid ${uuid} not found`);
}

function str(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v);
  return s === "" ? null : s;
}

function preferFirst<T extends { voided: boolean; preferred: boolean }>(items: T[]): T[] {
  if (items.some((i) => !i.voided && i.preferred)) return items;
  const first = items.findIndex((i) => !i.voided);
  if (first < 0) return items;
  return items.map((i, k) => (k === first ? { ...i, preferred: true } : i));
}

/** JSON of a record without auditInfo: detects whether a save really changed something (Hibernate dirty check). */
function fingerprint(rec: object): string {
  return JSON.stringify(rec, (k, v: unknown) => (k === "auditInfo" ? undefined : v));
}

export class Store {
  readonly patients = new Table<Patient>();
  readonly visits = new Table<Visit>();
  readonly encounters = new Table<Encounter>();
  readonly obs = new Table<Obs>();
  /** visit uuid -> encounter uuids; encounter uuid -> obs uuids. */
  private readonly encountersByVisit = new Map<string, Set<string>>();
  private readonly obsByEncounter = new Map<string, Set<string>>();
  /** obs uuid -> the uuid of the obs group it is a member of. */
  private readonly groupOfObs = new Map<string, string>();

  readonly events: FeedEvent[] = [];
  private readonly byCategory = new Map<string, FeedEvent[]>();
  private nextEventId = 1;
  identifierCounter = 1;
  /** Who holds each patient identifier (sim/identifiers.ts). */
  readonly identifiers = new IdentifierIndex();
  /** Set by every write; cleared by whoever persists the store. */
  dirty = false;
  /** Called after each appended event (for stats/observers). */
  onEvent?: (e: FeedEvent) => void;
  /**
   * Metadata uuids this server lacks (a clinic set up without them): a write that refers to one is refused
   * as an unknown uuid, and GET of it is 404. Installing it (deleting it from here) takes effect at once.
   */
  readonly lacking = new Set<string>();

  /** Records of the registered types (sim/types/registry.ts), by type name. */
  private readonly registered = new Map<string, Table<BaseRecord>>(SIM_TYPES.map((t) => [t.type, new Table<BaseRecord>()]));

  constructor(readonly opts: StoreOptions) {}

  // ---------- lookups ----------

  table<K extends RecordType>(type: K): Table<RecordOf[K]> {
    switch (type) {
      case "patient":
        return this.patients as unknown as Table<RecordOf[K]>;
      case "visit":
        return this.visits as unknown as Table<RecordOf[K]>;
      case "encounter":
        return this.encounters as unknown as Table<RecordOf[K]>;
      default:
        return this.obs as unknown as Table<RecordOf[K]>;
    }
  }

  recordCount(): number {
    let n = this.patients.size + this.visits.size + this.encounters.size + this.obs.size;
    for (const t of this.registered.values()) n += t.size;
    return n;
  }

  encountersOfVisit(uuid: string): string[] {
    return [...(this.encountersByVisit.get(uuid) ?? [])];
  }

  obsOfEncounter(uuid: string): string[] {
    return [...(this.obsByEncounter.get(uuid) ?? [])];
  }

  /** Events of a category (case-insensitive, as MySQL compares), ordered by id. */
  categoryEvents(category: string): readonly FeedEvent[] {
    return this.byCategory.get(category.toLowerCase()) ?? [];
  }

  now(): string {
    return formatOpenmrs(Date.now(), this.opts.utcOffsetMinutes);
  }

  // ---------- normalisation ----------

  /** A datetime in the server's format, or a 400 naming the field (also for registered types). */
  dt(v: unknown, field: string): string {
    const ms = typeof v === "string" ? parseInstant(v) : undefined;
    if (ms === undefined) throw new SimError(400, `Invalid datetime for ${field}: ${String(v)}`);
    return formatOpenmrs(ms, this.opts.utcOffsetMinutes);
  }

  dtOrNull(v: unknown, field: string): string | null {
    return v === null || v === undefined || v === "" ? null : this.dt(v, field);
  }

  private dateOnly(v: unknown, field: string): string | null {
    if (v === null || v === undefined || v === "") return null;
    const d = typeof v === "string" ? datePart(v) : undefined;
    if (!d || parseInstant(d) === undefined) throw new SimError(400, `Invalid date for ${field}: ${JSON.stringify(v)}`);
    return openmrsDateOnly(d, this.opts.utcOffsetMinutes);
  }

  /** Metadata of a kind (`what`: "Location"), fixed or a record of a retirable registered type of that title. */
  checkMeta(map: ReadonlyMap<string, unknown>, what: string, uuid: string | null | undefined): void {
    if (uuid === null || uuid === undefined) return;
    const record = SIM_TYPES.some((t) => t.retirable && t.title === what && this.records(t.type).has(uuid));
    if ((!map.has(uuid) && !record) || this.lacking.has(uuid)) throw notFound(what, uuid);
  }

  /** A concept this server has, or a refusal naming the uuid. */
  concept(uuid: string): Concept {
    const c = META.concepts.get(uuid);
    if (!c || this.lacking.has(uuid)) throw notFound("Concept", uuid);
    return c;
  }

  private checkNewUuid(type: RecordType, uuid: string | undefined): string {
    if (uuid === undefined) return randomUUID();
    if (typeof uuid !== "string" || !/^[0-9A-Za-z-]{1,38}$/.test(uuid)) throw new SimError(400, `Invalid uuid: ${String(uuid)}`);
    if (this.table(type).has(uuid)) throw new SimError(400, `${TITLE_OF[type]} with uuid ${uuid} already exists`);
    // A patient's uuid is its person's: not one of a person who is not a patient (sim/types/person.ts).
    if (type === "patient" && this.registered.get("person")?.has(uuid)) throw new SimError(400, `Person with uuid ${uuid} already exists`);
    return uuid;
  }

  private buildName(d: NameDraft, uuid: string): PersonName {
    const givenName = str(d.givenName);
    const familyName = str(d.familyName);
    if (!givenName || !familyName) throw new SimError(400, "PersonName: givenName and familyName are required");
    return { uuid, givenName, middleName: str(d.middleName), familyName, preferred: d.preferred === true, voided: false };
  }

  private buildAddress(d: AddressDraft, uuid: string): PersonAddress {
    const a: PersonAddress = {
      uuid,
      address1: null,
      address2: null,
      cityVillage: null,
      countyDistrict: null,
      stateProvince: null,
      postalCode: null,
      country: null,
      preferred: d.preferred === true,
      voided: false,
    };
    for (const f of ADDRESS_FIELDS) a[f] = str(d[f]);
    return a;
  }

  private buildAttribute(d: AttributeDraft, uuid: string): PersonAttribute {
    if (!d.attributeType) throw new SimError(400, "PersonAttribute: attributeType is required");
    this.checkMeta(META.personAttributeTypes, "PersonAttributeType", d.attributeType);
    const value = str(d.value);
    if (!value) throw new SimError(400, "PersonAttribute: value is required");
    return { uuid, attributeType: d.attributeType, value, voided: false };
  }

  private buildIdentifier(d: IdentifierDraft, uuid: string): PatientIdentifier {
    const identifier = str(d.identifier);
    if (!identifier) throw new SimError(400, "PatientIdentifier: identifier is required");
    this.checkMeta(META.identifierTypes, "PatientIdentifierType", d.identifierType);
    if (!d.identifierType) throw new SimError(400, "PatientIdentifier: identifierType is required");
    const location = str(d.location);
    this.checkMeta(META.locations, "Location", location);
    return { uuid, identifier, identifierType: d.identifierType, location, preferred: d.preferred === true, voided: false };
  }

  /**
   * Replaces a sub-list: drafts are matched to existing items by uuid (updated and unvoided), new ones added,
   * existing items that are not in the drafts are voided. Voided items stay stored (hidden everywhere).
   */
  private mergeList<T extends { uuid: string; voided: boolean }, D extends { uuid?: string }>(
    existing: readonly T[],
    drafts: readonly D[],
    build: (d: D, uuid: string) => T,
  ): T[] {
    const byUuid = new Map<string, D>();
    const fresh: T[] = [];
    for (const d of drafts) {
      if (d.uuid && existing.some((e) => e.uuid === d.uuid)) byUuid.set(d.uuid, d);
      else fresh.push(build(d, d.uuid ?? randomUUID()));
    }
    const kept = existing.map((e) => {
      const d = byUuid.get(e.uuid);
      if (d) return build(d, e.uuid);
      return e.voided ? e : { ...e, voided: true };
    });
    return [...kept, ...fresh];
  }

  private checkPatientParts(p: Patient): void {
    if (!GENDERS.includes(p.gender)) throw new SimError(400, `Invalid gender: ${p.gender}`);
    if (!p.names.some((n) => !n.voided)) throw new SimError(400, "Patient must have at least one name");
    // as the core save handlers do: when nothing is preferred, the first active item becomes preferred
    p.names = preferFirst(p.names);
    p.addresses = preferFirst(p.addresses);
    p.identifiers = preferFirst(p.identifiers);
  }

  /** A non-voided patient may not take an identifier another non-voided patient holds (sim/identifiers.ts). */
  private checkIdentifiersUnique(p: Patient): void {
    const taken = this.identifiers.taken(p, (uuid) => this.patients.get(uuid)?.voided === false);
    if (taken) throw new SimError(400, notUniqueMessage(taken.identifier), true);
  }

  private obsValue(concept: Concept, v: unknown): ObsValue {
    switch (concept.datatype) {
      case "Numeric": {
        const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
        if (!Number.isFinite(n)) throw new SimError(400, `Obs value for numeric concept ${concept.uuid} must be a number`);
        return n;
      }
      case "Text":
        if (typeof v !== "string") throw new SimError(400, `Obs value for text concept ${concept.uuid} must be a string`);
        return v;
      case "Coded": {
        const answer = typeof v === "string" ? v : typeof v === "object" && v !== null && "uuid" in v ? String(v.uuid) : undefined;
        if (!answer) throw new SimError(400, `Obs value for coded concept ${concept.uuid} must be a concept uuid`);
        const c = this.concept(answer);
        return { uuid: c.uuid, display: c.display };
      }
      default:
        throw new SimError(400, `Concept ${concept.uuid} cannot be used as an obs question`);
    }
  }

  // ---------- events ----------

  private contentFor(restResource: string, fhirType: string, object: string, dialect: "sync2" | "bahmni"): string {
    const rest = `/ws/rest/v1/${restResource}/${object}?v=full`;
    if (dialect === "bahmni") return `${this.opts.contextPath}${rest}`;
    return JSON.stringify({ rest, fhir: `/ws/fhir2/R4/${fhirType}/${object}` });
  }

  private emit(type: RecordType, object: string, actions: readonly EventAction[]): void {
    const category = CATEGORY_OF[type];
    this.emitAs({ category, title: TITLE_OF[type], restResource: REST_NAME[category], fhirType: FHIR_NAME[category] }, object, actions);
  }

  /** One event per action, as the omod-atomfeed interceptor writes them (its `linkTemplates` make the content). */
  private emitAs(
    kind: { category: string; title: string; restResource: string; fhirType: string; feedFhirType?: string },
    object: string,
    actions: readonly EventAction[],
  ): void {
    const category = kind.category;
    for (const action of actions) {
      const id = this.nextEventId++;
      const uuid = randomUUID();
      const dialect = this.opts.dialect === "mixed" ? (id % 2 === 1 ? "sync2" : "bahmni") : this.opts.dialect;
      // sync2 tags go through a HashSet in the real server: the action is sometimes first, sometimes second.
      const terms = dialect === "bahmni" ? [category] : parseInt(uuid.charAt(0), 16) % 2 === 0 ? [action, category] : [category, action];
      const e: FeedEvent = {
        id,
        uuid,
        title: kind.title,
        category,
        action,
        object,
        timestamp: Date.now(),
        content: this.contentFor(kind.restResource, kind.feedFhirType ?? kind.fhirType, object, dialect),
        terms,
      };
      this.appendEvent(e);
      this.onEvent?.(e);
    }
    this.dirty = true;
  }

  private appendEvent(e: FeedEvent): void {
    this.events.push(e);
    let list = this.byCategory.get(e.category);
    if (!list) this.byCategory.set(e.category, (list = []));
    list.push(e);
  }

  /** Saves `next` in place of `prev` (same uuid): events UPDATED (+VOIDED/UNVOIDED) when anything changed. */
  private commit<K extends RecordType>(type: K, prev: RecordOf[K], next: RecordOf[K]): RecordOf[K] {
    if (fingerprint(prev) === fingerprint(next)) return prev;
    next.auditInfo = { ...prev.auditInfo, dateChanged: this.now() };
    this.table(type).set(next);
    const actions: EventAction[] = ["UPDATED"];
    if (next.voided && !prev.voided) actions.push("VOIDED");
    if (!next.voided && prev.voided) actions.push("UNVOIDED");
    this.emit(type, next.uuid, actions);
    return next;
  }

  private base(uuid: string): BaseRecord {
    return { uuid, voided: false, voidReason: null, dateVoided: null, auditInfo: { dateCreated: this.now(), dateChanged: null } };
  }

  private applyVoid<T extends BaseRecord>(rec: T, patch: VoidPatch): T {
    if (patch.voided === true && !rec.voided) {
      return { ...rec, voided: true, voidReason: patch.voidReason ?? "voided", dateVoided: this.now() };
    }
    if (patch.voided === false && rec.voided) return { ...rec, voided: false, voidReason: null, dateVoided: null };
    return rec;
  }

  private link(index: Map<string, Set<string>>, key: string | null, uuid: string): void {
    if (!key) return;
    let s = index.get(key);
    if (!s) index.set(key, (s = new Set()));
    s.add(uuid);
  }

  private unlink(index: Map<string, Set<string>>, key: string | null, uuid: string): void {
    if (!key) return;
    const s = index.get(key);
    if (s) {
      s.delete(uuid);
      if (s.size === 0) index.delete(key);
    }
  }

  // ---------- patients ----------

  createPatient(d: PatientDraft): Patient {
    const uuid = this.checkNewUuid("patient", d.uuid);
    const p: Patient = {
      ...this.base(uuid),
      gender: d.gender as Gender,
      birthdate: this.dateOnly(d.birthdate, "birthdate"),
      dead: d.dead === true || !!d.deathDate,
      deathDate: this.dtOrNull(d.deathDate, "deathDate"),
      names: d.names.map((n) => this.buildName(n, n.uuid ?? randomUUID())),
      addresses: (d.addresses ?? []).map((a) => this.buildAddress(a, a.uuid ?? randomUUID())),
      identifiers: (d.identifiers ?? []).map((i) => this.buildIdentifier(i, i.uuid ?? randomUUID())),
      attributes: (d.attributes ?? []).map((a) => this.buildAttribute(a, a.uuid ?? randomUUID())),
    };
    this.checkPatientParts(p);
    this.checkIdentifiersUnique(p);
    this.patients.set(p);
    this.identifiers.replace(undefined, p);
    this.emit("patient", uuid, ["CREATED"]);
    return p;
  }

  /**
   * A person's own fields (gender, birthdate, death, names, addresses, attributes) changed by a patch and
   * checked as openmrs-core saves a person: for patients and for persons who are not patients
   * (sim/types/person.ts). Identifiers are the patient's.
   */
  personChanged<T extends Patient>(prev: T, patch: PatientPatch): T {
    const next: T = { ...prev };
    if (patch.gender !== undefined) next.gender = patch.gender as Gender;
    if (patch.birthdate !== undefined) next.birthdate = this.dateOnly(patch.birthdate, "birthdate");
    if (patch.deathDate !== undefined) next.deathDate = this.dtOrNull(patch.deathDate, "deathDate");
    if (patch.dead !== undefined) next.dead = patch.dead;
    if (patch.dead === false) next.deathDate = null;
    else if (next.deathDate) next.dead = true;
    if (patch.names) next.names = this.mergeList(prev.names, patch.names, (d, u) => this.buildName(d, u));
    if (patch.addresses) next.addresses = this.mergeList(prev.addresses, patch.addresses, (d, u) => this.buildAddress(d, u));
    if (patch.attributes) next.attributes = this.mergeList(prev.attributes ?? [], patch.attributes, (d, u) => this.buildAttribute(d, u));
    this.checkPatientParts(next);
    return next;
  }

  updatePatient(uuid: string, patch: PatientPatch): Patient {
    const prev = this.mustGet("patient", uuid);
    let next: Patient = { ...prev };
    if (patch.identifiers) next.identifiers = this.mergeList(prev.identifiers, patch.identifiers, (d, u) => this.buildIdentifier(d, u));
    next = this.personChanged(next, patch);
    next = this.applyVoid(next, patch);
    this.checkIdentifiersUnique(next);
    const saved = this.commit("patient", prev, next);
    this.identifiers.replace(prev, saved);
    if (saved !== prev && saved.voided !== prev.voided) this.cascadePatient(saved, prev);
    return saved;
  }

  /**
   * PatientService.voidPatient voids the patient's visits, encounters and obs too (and unvoidPatient
   * restores those voided with the same reason), so a voided patient leaves no live clinical data.
   */
  private cascadePatient(saved: Patient, prev: Patient): void {
    const reason = saved.voided ? (saved.voidReason ?? "voided") : prev.voidReason;
    const apply = (type: RecordType, rec: BaseRecord) => {
      if (saved.voided && !rec.voided) this.update(type, rec.uuid, { voided: true, voidReason: reason ?? "voided" });
      else if (!saved.voided && rec.voided && rec.voidReason === reason) this.update(type, rec.uuid, { voided: false });
    };
    for (const v of [...this.visits.values()]) if (v.patient === saved.uuid) apply("visit", this.mustGet("visit", v.uuid));
    for (const e of [...this.encounters.values()]) if (e.patient === saved.uuid) apply("encounter", this.mustGet("encounter", e.uuid));
    for (const o of [...this.obs.values()]) if (o.person === saved.uuid) apply("obs", this.mustGet("obs", o.uuid));
  }

  /**
   * A person: a patient, or a person who is not a patient (the registered type "person", when there is
   * one; its records have a patient's person fields and no identifiers).
   */
  personOf(uuid: string): Patient | undefined {
    return this.patients.get(uuid) ?? (this.registered.get("person")?.get(uuid) as Patient | undefined);
  }

  // ---------- visits ----------

  /** A patient this server holds, or a refusal (also for registered types). */
  checkPatient(uuid: string | undefined | null): string {
    if (!uuid) throw new SimError(400, "patient is required");
    if (!this.patients.has(uuid)) throw notFound("Patient", uuid);
    return uuid;
  }

  private finishVisit(v: Visit): void {
    if (!v.visitType) throw new SimError(400, "visitType is required");
    this.checkMeta(META.visitTypes, "VisitType", v.visitType);
    this.checkMeta(META.locations, "Location", v.location);
    if (v.stopDatetime && (parseInstant(v.stopDatetime) ?? 0) < (parseInstant(v.startDatetime) ?? 0)) {
      throw new SimError(400, "Visit stopDatetime must not be before startDatetime");
    }
  }

  createVisit(d: VisitDraft): Visit {
    const uuid = this.checkNewUuid("visit", d.uuid);
    const v: Visit = {
      ...this.base(uuid),
      patient: this.checkPatient(d.patient),
      visitType: d.visitType,
      startDatetime: d.startDatetime ? this.dt(d.startDatetime, "startDatetime") : this.now(),
      stopDatetime: this.dtOrNull(d.stopDatetime, "stopDatetime"),
      location: str(d.location),
    };
    this.finishVisit(v);
    this.visits.set(v);
    this.emit("visit", uuid, ["CREATED"]);
    return v;
  }

  updateVisit(uuid: string, patch: VisitPatch): Visit {
    const prev = this.mustGet("visit", uuid);
    let next: Visit = { ...prev };
    if (patch.patient !== undefined) next.patient = this.checkPatient(patch.patient);
    if (patch.visitType !== undefined) next.visitType = patch.visitType;
    if (patch.startDatetime !== undefined) next.startDatetime = this.dt(patch.startDatetime, "startDatetime");
    if (patch.stopDatetime !== undefined) next.stopDatetime = this.dtOrNull(patch.stopDatetime, "stopDatetime");
    if (patch.location !== undefined) next.location = str(patch.location);
    this.finishVisit(next);
    next = this.applyVoid(next, patch);
    const saved = this.commit("visit", prev, next);
    if (saved !== prev) this.cascade("visit", prev, saved);
    return saved;
  }

  // ---------- encounters ----------

  private finishEncounter(e: Encounter): void {
    if (!e.encounterType) throw new SimError(400, "encounterType is required");
    this.checkMeta(META.encounterTypes, "EncounterType", e.encounterType);
    this.checkMeta(META.locations, "Location", e.location);
    for (const p of e.providers ?? []) {
      this.checkMeta(META.providers, "Provider", p.provider);
      this.checkMeta(META.encounterRoles, "EncounterRole", p.encounterRole);
    }
    if (e.visit) {
      const v = this.visits.get(e.visit);
      if (!v) throw notFound("Visit", e.visit);
      if (v.patient !== e.patient) throw new SimError(400, `Visit ${e.visit} belongs to another patient than encounter ${e.uuid}`);
    }
  }

  /**
   * An encounter's providers after a save that names `wanted`: a provider of the same uuid, or else the
   * same provider and role, is kept as it is; others are voided (as Encounter.removeProvider does); new
   * ones are added (the role defaults to Unknown).
   */
  private encounterProviders(existing: readonly EncounterProvider[], wanted: NonNullable<EncounterDraft["providers"]>): EncounterProvider[] {
    const out: EncounterProvider[] = [];
    const kept = new Set<string>();
    for (const w of wanted) {
      const role = w.encounterRole ?? UNKNOWN_ENCOUNTER_ROLE;
      const same =
        existing.find((x) => !x.voided && !kept.has(x.uuid) && w.uuid !== undefined && x.uuid === w.uuid) ??
        existing.find((x) => !x.voided && !kept.has(x.uuid) && w.uuid === undefined && x.provider === w.provider && x.encounterRole === role);
      if (same) {
        kept.add(same.uuid);
        out.push({ ...same, provider: w.provider, encounterRole: role });
      } else out.push({ uuid: w.uuid ?? randomUUID(), provider: w.provider, encounterRole: role, voided: false });
    }
    for (const x of existing) if (!kept.has(x.uuid) && !out.some((o) => o.uuid === x.uuid)) out.push(x.voided ? x : { ...x, voided: true });
    return out;
  }

  createEncounter(d: EncounterDraft): Encounter {
    const uuid = this.checkNewUuid("encounter", d.uuid);
    const e: Encounter = {
      ...this.base(uuid),
      patient: this.checkPatient(d.patient),
      encounterType: d.encounterType,
      encounterDatetime: d.encounterDatetime ? this.dt(d.encounterDatetime, "encounterDatetime") : this.now(),
      location: str(d.location),
      visit: str(d.visit),
      ...(d.providers?.length ? { providers: this.encounterProviders([], d.providers) } : {}),
      ...(d.diagnoses?.length ? { diagnoses: encounterDiagnoses(this, [], d.diagnoses) } : {}),
    };
    this.finishEncounter(e);
    this.encounters.set(e);
    this.link(this.encountersByVisit, e.visit, uuid);
    this.emit("encounter", uuid, ["CREATED"]);
    return e;
  }

  updateEncounter(uuid: string, patch: EncounterPatch): Encounter {
    const prev = this.mustGet("encounter", uuid);
    let next: Encounter = { ...prev };
    if (patch.patient !== undefined) next.patient = this.checkPatient(patch.patient);
    if (patch.encounterType !== undefined) next.encounterType = patch.encounterType;
    if (patch.encounterDatetime !== undefined) next.encounterDatetime = this.dt(patch.encounterDatetime, "encounterDatetime");
    if (patch.location !== undefined) next.location = str(patch.location);
    if (patch.visit !== undefined) next.visit = str(patch.visit);
    if (patch.providers !== undefined) next.providers = this.encounterProviders(prev.providers ?? [], patch.providers);
    if (patch.diagnoses !== undefined) next.diagnoses = encounterDiagnoses(this, prev.diagnoses ?? [], patch.diagnoses);
    this.finishEncounter(next);
    next = this.applyVoid(next, patch);
    const saved = this.commit("encounter", prev, next);
    if (saved.visit !== prev.visit) {
      this.unlink(this.encountersByVisit, prev.visit, uuid);
      this.link(this.encountersByVisit, saved.visit, uuid);
    }
    if (saved !== prev) this.cascade("encounter", prev, saved);
    return saved;
  }

  // ---------- obs ----------

  private buildObs(base: BaseRecord, d: ObsDraft): Obs {
    if (!d.person) throw new SimError(400, "person is required");
    if (!this.patients.has(d.person)) throw notFound("Person", d.person);
    if (!d.concept) throw new SimError(400, "concept is required");
    const concept = this.concept(d.concept);
    const groupMembers = concept.set ? this.groupMembers(base.uuid, d) : undefined;
    const encounter = str(d.encounter);
    let fallback: string | undefined;
    if (encounter) {
      const e = this.encounters.get(encounter);
      if (!e) throw notFound("Encounter", encounter);
      fallback = e.encounterDatetime;
    }
    return {
      ...base,
      person: d.person,
      concept: concept.uuid,
      obsDatetime: d.obsDatetime ? this.dt(d.obsDatetime, "obsDatetime") : (fallback ?? this.now()),
      encounter,
      value: groupMembers ? null : this.obsValue(concept, d.value),
      ...(groupMembers ? { groupMembers } : {}),
    };
  }

  /** An obs group's members: existing obs of the same person, other than itself (as ObsValidator asks). */
  private groupMembers(uuid: string, d: ObsDraft): string[] {
    if (d.value !== undefined && d.value !== null) throw new SimError(400, `Obs of concept set ${d.concept} is a group and takes no value`);
    const members = [...new Set(d.groupMembers ?? [])];
    if (members.length === 0) throw new SimError(400, `Obs group of ${d.concept} must have at least one member`);
    for (const m of members) {
      const o = this.obs.get(m);
      if (!o || m === uuid) throw notFound("Obs", m);
      if (o.person !== d.person) throw new SimError(400, `Obs group member ${m} belongs to another person`);
    }
    return members;
  }

  /** The obs group an obs is a member of. */
  groupOf(uuid: string): Obs | undefined {
    const group = this.groupOfObs.get(uuid);
    return group ? this.obs.get(group) : undefined;
  }

  private indexGroup(o: Obs, prev?: Obs): void {
    for (const m of prev?.groupMembers ?? []) if (this.groupOfObs.get(m) === o.uuid) this.groupOfObs.delete(m);
    for (const m of o.groupMembers ?? []) this.groupOfObs.set(m, o.uuid);
  }

  createObs(d: ObsDraft): Obs {
    const uuid = this.checkNewUuid("obs", d.uuid);
    const o = this.buildObs(this.base(uuid), d);
    this.obs.set(o);
    this.indexGroup(o);
    this.link(this.obsByEncounter, o.encounter, uuid);
    this.emit("obs", uuid, ["CREATED"]);
    return o;
  }

  updateObs(uuid: string, patch: ObsPatch): Obs {
    const prev = this.mustGet("obs", uuid);
    const merged: ObsDraft = {
      person: patch.person ?? prev.person,
      concept: patch.concept ?? prev.concept,
      obsDatetime: patch.obsDatetime ?? prev.obsDatetime,
      encounter: patch.encounter !== undefined ? patch.encounter : prev.encounter,
      value: patch.value !== undefined ? patch.value : prev.value,
      groupMembers: patch.groupMembers ?? prev.groupMembers,
    };
    let next = this.buildObs(prev, merged);
    next = this.applyVoid(next, patch);
    const saved = this.commit("obs", prev, next);
    this.indexGroup(saved, prev);
    // ObsService.voidObs / unvoidObs take an obs group's members along.
    if (saved !== prev && saved.voided !== prev.voided) {
      for (const m of saved.groupMembers ?? []) {
        const member = this.obs.get(m);
        if (member && member.voided !== saved.voided) this.updateObs(m, { voided: saved.voided, voidReason: saved.voidReason ?? undefined });
      }
    }
    if (saved.encounter !== prev.encounter) {
      this.unlink(this.obsByEncounter, prev.encounter, uuid);
      this.link(this.obsByEncounter, saved.encounter, uuid);
    }
    return saved;
  }

  // ---------- generic ----------

  get<K extends RecordType>(type: K, uuid: string): RecordOf[K] | undefined {
    return this.table(type).get(uuid);
  }

  mustGet<K extends RecordType>(type: K, uuid: string): RecordOf[K] {
    const r = this.table(type).get(uuid);
    if (!r) throw new SimError(404, "Object with given uuid doesn't exist");
    return r;
  }

  update(type: RecordType, uuid: string, patch: PatientPatch | VisitPatch | EncounterPatch | ObsPatch): AnyRecord {
    switch (type) {
      case "patient":
        return this.updatePatient(uuid, patch);
      case "visit":
        return this.updateVisit(uuid, patch);
      case "encounter":
        return this.updateEncounter(uuid, patch);
      default:
        return this.updateObs(uuid, patch);
    }
  }

  /** Voids (OpenMRS cascades: a visit voids its encounters, an encounter its obs). No-op when already voided. */
  voidRecord(type: RecordType, uuid: string, reason = "voided"): AnyRecord {
    return this.update(type, uuid, { voided: true, voidReason: reason });
  }

  unvoidRecord(type: RecordType, uuid: string): AnyRecord {
    return this.update(type, uuid, { voided: false });
  }

  /** Voiding/unvoiding a visit or encounter carries over to its children, as VisitService/EncounterService do. */
  private cascade(type: "visit" | "encounter", prev: BaseRecord, saved: BaseRecord): void {
    const children = type === "visit" ? this.encountersOfVisit(saved.uuid) : this.obsOfEncounter(saved.uuid);
    const childType: RecordType = type === "visit" ? "encounter" : "obs";
    if (saved.voided && !prev.voided) {
      for (const c of children) {
        const rec = this.get(childType, c);
        if (rec && !rec.voided) this.update(childType, c, { voided: true, voidReason: saved.voidReason ?? "voided" });
      }
    } else if (!saved.voided && prev.voided) {
      for (const c of children) {
        const rec = this.get(childType, c);
        if (rec && rec.voided && rec.voidReason === prev.voidReason) this.update(childType, c, { voided: false });
      }
    }
  }

  /** Removes a record for good (DELETE ?purge=true). Refused while other records still reference it. */
  purge(type: RecordType, uuid: string): void {
    this.mustGet(type, uuid);
    if (type === "patient") {
      const used =
        [...this.visits.values()].some((v) => v.patient === uuid) ||
        [...this.encounters.values()].some((e) => e.patient === uuid) ||
        [...this.obs.values()].some((o) => o.person === uuid) ||
        SIM_TYPES.some((t) => [...this.records(t.type).values()].some((r) => t.patientOf(r) === uuid));
      if (used) throw new SimError(400, `Patient ${uuid} still has visits, encounters, obs or other records; cannot purge`);
    } else if (type === "visit" && this.encountersByVisit.has(uuid)) {
      throw new SimError(400, `Visit ${uuid} still has encounters; cannot purge`);
    } else if (type === "encounter" && this.obsByEncounter.has(uuid)) {
      throw new SimError(400, `Encounter ${uuid} still has obs; cannot purge`);
    }
    if (type === "encounter") this.unlink(this.encountersByVisit, this.encounters.get(uuid)?.visit ?? null, uuid);
    if (type === "obs") this.unlink(this.obsByEncounter, this.obs.get(uuid)?.encounter ?? null, uuid);
    if (type === "patient") this.identifiers.replace(this.patients.get(uuid), undefined);
    this.table(type).delete(uuid);
    this.emit(type, uuid, ["DELETED"]);
  }

  // ---------- registered types (sim/types/registry.ts) ----------

  /** The records of a registered type. */
  records(type: string): Table<BaseRecord> {
    const t = this.registered.get(type);
    if (!t) throw new Error(`no registered simulator record type ${type}`);
    return t;
  }

  getOf(type: string, uuid: string): BaseRecord | undefined {
    return this.records(type).get(uuid);
  }

  private mustGetOf(type: string, uuid: string): BaseRecord {
    const r = this.getOf(type, uuid);
    if (!r) throw new SimError(404, "Object with given uuid doesn't exist");
    return r;
  }

  private newUuidOf(def: SimType, uuid: unknown): string {
    if (uuid === undefined || uuid === null) return randomUUID();
    if (typeof uuid !== "string" || !/^[0-9A-Za-z-]{1,38}$/.test(uuid)) throw new SimError(400, `Invalid uuid: ${JSON.stringify(uuid)}`);
    if (this.records(def.type).has(uuid)) throw new SimError(400, `${def.title} with uuid ${uuid} already exists`);
    return uuid;
  }

  /** Creates a record of a registered type from its draft (the draft's `uuid` is kept when given): CREATED. */
  createOf(type: string, draft: unknown): BaseRecord {
    const def = simType(type);
    const uuid = this.newUuidOf(def, (draft as { uuid?: unknown } | null)?.uuid);
    const rec = def.build(this, draft, this.base(uuid));
    // Metadata a clinic lacked is there once created.
    if (def.retirable) this.lacking.delete(uuid);
    this.records(type).set(rec);
    this.emitOf(def, rec, ["CREATED"]);
    return rec;
  }

  /** Saves a change in place (fhir2's DAO does; so does voiding): UPDATED, and VOIDED / UNVOIDED. */
  updateOf(type: string, uuid: string, patch: unknown): BaseRecord {
    const def = simType(type);
    const prev = this.mustGetOf(type, uuid);
    const next = this.applyVoid(def.apply(this, prev, patch), patch ?? {});
    return this.commitOf(def, prev, next);
  }

  voidOf(type: string, uuid: string, reason = "voided"): BaseRecord {
    return this.updateOf(type, uuid, { voided: true, voidReason: reason });
  }

  unvoidOf(type: string, uuid: string): BaseRecord {
    return this.updateOf(type, uuid, { voided: false });
  }

  /**
   * A versioned save, as openmrs-core 2.7+ ConditionServiceImpl.saveCondition does for a type with a
   * `successor`: nothing changed, nothing saved; else a live record is voided ("<Title> replaced by <new
   * uuid>", or "<Title> removed" when the change voids it, or the reason given), and unless the change
   * voids it, the changed copy is saved under a new uuid pointing back at it. Returns what the service
   * returns: the new record, else the (voided) original. Types without a successor are saved in place.
   */
  reviseOf(type: string, uuid: string, patch: unknown): BaseRecord {
    const def = simType(type);
    const prev = this.mustGetOf(type, uuid);
    const v = (patch ?? {}) as VoidPatch;
    const wanted = this.applyVoid(def.apply(this, prev, patch), v);
    if (fingerprint(wanted) === fingerprint(prev)) return prev;
    if (!def.successor) return this.commitOf(def, prev, wanted);
    const newUuid = randomUUID();
    let result: BaseRecord = prev;
    if (!prev.voided) {
      const voidReason = v.voidReason ?? (wanted.voided ? `${def.title} removed` : `${def.title} replaced by ${newUuid}`);
      result = this.commitOf(def, prev, { ...prev, voided: true, voidReason, dateVoided: this.now() });
    }
    if (!wanted.voided) {
      const next = def.successor({ ...wanted }, this.base(newUuid), prev.uuid);
      this.records(type).set(next);
      this.emitOf(def, next, ["CREATED"]);
      result = next;
    }
    return result;
  }

  /** Removes a record of a registered type for good (DELETE ?purge=true): DELETED. */
  purgeOf(type: string, uuid: string): void {
    const def = simType(type);
    const rec = this.mustGetOf(type, uuid);
    this.records(type).delete(uuid);
    this.emitOf(def, rec, ["DELETED"]);
  }

  private commitOf(def: SimType, prev: BaseRecord, next: BaseRecord): BaseRecord {
    if (fingerprint(prev) === fingerprint(next)) return prev;
    next.auditInfo = { ...prev.auditInfo, dateChanged: this.now() };
    this.records(def.type).set(next);
    const actions: EventAction[] = ["UPDATED"];
    if (next.voided && !prev.voided) actions.push(def.retirable ? "RETIRED" : "VOIDED");
    if (!next.voided && prev.voided) actions.push(def.retirable ? "UNRETIRED" : "UNVOIDED");
    this.emitOf(def, next, actions);
    return next;
  }

  /** Events of a registered type's record, linked where it is served (a patient sub-resource under its patient). */
  private emitOf(def: SimType, rec: BaseRecord, actions: readonly EventAction[]): void {
    this.emitAs({ ...def, restResource: restCollection(def, rec) }, rec.uuid, actions);
  }

  // ---------- persistence ----------

  toData(): StoreData {
    return {
      format: "openmrs-sim/1",
      savedAt: new Date().toISOString(),
      nextEventId: this.nextEventId,
      identifierCounter: this.identifierCounter,
      patients: [...this.patients.values()],
      visits: [...this.visits.values()],
      encounters: [...this.encounters.values()],
      obs: [...this.obs.values()],
      types: Object.fromEntries(SIM_TYPES.map((t) => [t.section, [...this.records(t.type).values()]])),
      events: this.events,
    };
  }

  /** Replaces everything with the given data (no events are emitted). */
  load(data: StoreData): void {
    if (data.format !== "openmrs-sim/1") throw new Error(`unknown data file format ${String(data.format)}`);
    for (const t of RECORD_TYPES) this.table(t).clear();
    for (const t of this.registered.values()) t.clear();
    this.encountersByVisit.clear();
    this.obsByEncounter.clear();
    this.groupOfObs.clear();
    this.identifiers.clear();
    this.events.length = 0;
    this.byCategory.clear();
    for (const p of data.patients) {
      this.patients.set(p);
      this.identifiers.replace(undefined, p);
    }
    for (const v of data.visits) this.visits.set(v);
    for (const e of data.encounters) {
      this.encounters.set(e);
      this.link(this.encountersByVisit, e.visit, e.uuid);
    }
    for (const o of data.obs) {
      this.obs.set(o);
      this.indexGroup(o);
      this.link(this.obsByEncounter, o.encounter, o.uuid);
    }
    for (const t of SIM_TYPES) for (const r of data.types?.[t.section] ?? []) this.records(t.type).set(r);
    for (const e of data.events) this.appendEvent(e);
    this.nextEventId = Math.max(data.nextEventId, (data.events[data.events.length - 1]?.id ?? 0) + 1);
    this.identifierCounter = data.identifierCounter;
    this.dirty = false;
  }
}
