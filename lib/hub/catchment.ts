/**
 * A hub's catchment rule: which records a child's key may see (issue 10, docs/security.md "Hub keys").
 * No Node-RED here.
 *
 *  - A record's *place* is the patients it belongs to and the locations it names (`placeOf`), read from
 *    the record itself in either dialect: a FHIR resource (fhir2) or a REST v1 representation.
 *  - A patient is in a key's catchment when one of its places is in the key's `locations`: the locations
 *    of its identifiers, and of every encounter and visit of it the hub has seen (`PatientPlaces` keeps
 *    them, fed by `learn`). A key's JSONata `expression`, evaluated on `{record, patients, locations}`,
 *    lets in anything else it is true for.
 *  - A record naming no patient (metadata: locations, concepts, providers…) goes to every key.
 *  - A record naming several patients (a relationship, a cohort) goes to a key only when every one of
 *    them is in its catchment: a child never learns of a patient outside its own through another record.
 *  - What is not allowed is answered as absent (404) by the routes, never as forbidden: a child cannot
 *    tell a record outside its catchment from one that does not exist.
 *
 * Known limit: a patient who enters a catchment later (a first encounter at the clinic's location) is
 * seen by that child from then on; the entries of it the child passed before were filtered out then.
 */
import jsonata from "jsonata";
import type { SqliteDb } from "../store/sqlite";
import type { Catchment } from "./keys";
import { relatedPersonA, relatedPersonB } from "../fhir/types/relationship";

type Json = Record<string, unknown>;

/** Whom and where a record concerns. */
export interface Place {
  /** Patient uuids the record belongs to (empty for metadata). */
  patients: string[];
  /** Location uuids the record names itself. */
  locations: string[];
}

/** Where the locations of a patient are kept (the store's table in the hub; memory in tests). */
export interface PlaceStore {
  add(patient: string, locations: readonly string[]): Promise<void>;
  of(patient: string): Promise<ReadonlySet<string>>;
}

const obj = (v: unknown): Json | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The id of a FHIR reference `Type/id` of the given type (or of any of `types`). */
function fhirRef(v: unknown, types: readonly string[]): string | undefined {
  const ref = obj(v)?.reference;
  if (typeof ref !== "string") return undefined;
  const m = /^(?:.*\/)?([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(ref);
  return m && types.includes(m[1]) ? m[2] : undefined;
}

/** The uuid of a REST v1 reference (`{uuid, display, links}`) or a bare uuid string. */
function restRef(v: unknown): string | undefined {
  if (typeof v === "string" && v) return v;
  const uuid = obj(v)?.uuid;
  return typeof uuid === "string" && uuid ? uuid : undefined;
}

const PATIENTS = ["Patient"] as const;
const IDENTIFIER_LOCATION = "http://fhir.openmrs.org/ext/patient/identifier#location";

function unique(xs: (string | undefined)[]): string[] {
  return [...new Set(xs.filter((x): x is string => !!x))];
}

/** The place of a FHIR resource as fhir2 serves it. */
function fhirPlace(r: Json): Place {
  const type = r.resourceType;
  const locations: (string | undefined)[] = [];
  const patients: (string | undefined)[] = [];
  if (type === "Patient") {
    patients.push(typeof r.id === "string" ? r.id : undefined);
    for (const i of arr(r.identifier)) {
      for (const e of arr(obj(i)?.extension)) if (obj(e)?.url === IDENTIFIER_LOCATION) locations.push(fhirRef(obj(e)?.valueReference, ["Location"]));
    }
  } else if (type === "Group") {
    for (const m of arr(r.member)) patients.push(fhirRef(obj(m)?.entity, PATIENTS));
  } else if (type === "Person") {
    // A person who is not a patient is placed as REST places it: by its own uuid.
    patients.push(typeof r.id === "string" ? r.id : undefined);
  } else if (type === "RelatedPerson") {
    // Both persons of a relationship (person A is only in fhir2's identifier, B in the pack's extension).
    patients.push(relatedPersonA(r), relatedPersonB(r));
  } else {
    patients.push(fhirRef(r.subject, PATIENTS), fhirRef(r.patient, PATIENTS));
    for (const l of arr(r.location)) locations.push(fhirRef(obj(l)?.location, ["Location"]));
  }
  return { patients: unique(patients), locations: unique(locations) };
}

/** The place of a REST v1 representation (`?v=full`); `kind` is its resource (`patient`, `obs`, …). */
function restPlace(kind: string, r: Json): Place {
  const patients: (string | undefined)[] = [];
  const locations: (string | undefined)[] = [restRef(r.location)];
  switch (kind) {
    case "patient":
      patients.push(restRef(r.uuid));
      for (const i of arr(r.identifiers)) locations.push(restRef(obj(i)?.location));
      break;
    case "relationship":
      patients.push(restRef(r.personA), restRef(r.personB));
      break;
    case "cohort":
      for (const m of arr(r.cohortMembers)) patients.push(restRef(obj(m)?.patient));
      for (const m of arr(r.memberIds)) patients.push(restRef(m));
      break;
    case "person":
      patients.push(restRef(r.uuid));
      break;
    default:
      patients.push(restRef(r.patient) ?? restRef(r.person));
  }
  return { patients: unique(patients), locations: unique(locations) };
}

/**
 * The place of a record in either dialect. `kind` names the REST resource when `record` is a REST
 * representation (a FHIR resource carries its own `resourceType`). Metadata and anything unknown name no
 * patient.
 */
export function placeOf(kind: string, record: unknown): Place {
  const r = obj(record);
  if (!r) return { patients: [], locations: [] };
  if (typeof r.resourceType === "string") return fhirPlace(r);
  if (["location", "concept", "provider", "encountertype", "visittype", "patientidentifiertype", "personattributetype"].includes(kind)) {
    return { patients: [], locations: [] };
  }
  return restPlace(kind, r);
}

/** Keeps what the hub learns of where each patient is seen: identifier, encounter and visit locations. */
export async function learn(places: PlaceStore, place: Place): Promise<void> {
  // A record naming several patients does not place any of them (a relationship says nothing of where).
  if (place.patients.length === 1 && place.locations.length) await places.add(place.patients[0], place.locations);
}

/** A catchment expression, compiled once: a bad one is refused when the key is issued. */
const compiled = new Map<string, ReturnType<typeof jsonata>>();
const MAX_COMPILED = 1000;

/** The compiled expression, or throws (`jsonata` parse error) for one that is not JSONata. */
export function compileExpression(expression: string): ReturnType<typeof jsonata> {
  let e = compiled.get(expression);
  if (!e) {
    e = jsonata(expression);
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(expression, e);
  }
  return e;
}

/** Whether a key with this catchment may see a record of this place. */
export async function allows(catchment: Catchment, place: Place, places: PlaceStore, record?: unknown): Promise<boolean> {
  if (place.patients.length === 0) return true;
  const mine = new Set(catchment.locations);
  const locationsOf = new Map<string, ReadonlySet<string>>();
  let inside = true;
  for (const p of place.patients) {
    const known = await places.of(p);
    locationsOf.set(p, known);
    const here = place.patients.length === 1 ? [...known, ...place.locations] : [...known];
    if (!here.some((l) => mine.has(l))) inside = false;
  }
  if (inside) return true;
  if (!catchment.expression) return false;
  const input = { record, patients: place.patients, locations: [...new Set([...place.locations, ...[...locationsOf.values()].flatMap((s) => [...s])])] };
  const result: unknown = await compileExpression(catchment.expression).evaluate(input);
  return result === true;
}

/** A PlaceStore in memory (tests; a hub without a store never serves a catchment). */
export class MemoryPlaceStore implements PlaceStore {
  private readonly byPatient = new Map<string, Set<string>>();
  add(patient: string, locations: readonly string[]): Promise<void> {
    let s = this.byPatient.get(patient);
    if (!s) this.byPatient.set(patient, (s = new Set()));
    for (const l of locations) s.add(l);
    return Promise.resolve();
  }
  of(patient: string): Promise<ReadonlySet<string>> {
    return Promise.resolve(this.byPatient.get(patient) ?? new Set());
  }
}

/** The hub's PlaceStore: the store's hub_patient_places table. */
export class SqlitePlaceStore implements PlaceStore {
  constructor(private readonly db: SqliteDb) {}
  async add(patient: string, locations: readonly string[]): Promise<void> {
    if (!locations.length) return;
    await this.db.write(async (tx) => {
      for (const l of locations) await tx.run("INSERT OR IGNORE INTO hub_patient_places (patient, location) VALUES (?, ?)", [patient, l]);
    });
  }
  async of(patient: string): Promise<ReadonlySet<string>> {
    const rows = await this.db.all<{ location: string }>("SELECT location FROM hub_patient_places WHERE patient = ?", [patient]);
    return new Set(rows.map((r) => r.location));
  }
}
