/**
 * The place a hub keeps with each event it re-publishes (catchment.ts): from the record the hub fetched
 * from its parent for the entry (atom-feed-in → fhir-fetch → atom-feed-out), with the patients' places as
 * known then. The place of each record is remembered (hub_record_places), so the void of a record, which
 * carries no content to read it from, goes to the keys that saw the record. No Node-RED here.
 */
import type { SqliteDb } from "../store/sqlite";
import { allowsResolved, filterSearch, learn, placeOf, resolvePlace, SqlitePlaceStore, type Place, type ResolvedPlace } from "./catchment";
import type { Catchment } from "./keys";

export interface PublishedRecord {
  /** REST resource or FHIR type of the record (`patient`, `Observation`…). */
  kind: string;
  /** `Type/uuid`. */
  key: string;
  /** The record as fetched (a FHIR resource or a REST representation); for a delete, `{resourceType, id}`. */
  payload: unknown;
  deleted: boolean;
}

async function remember(db: SqliteDb, key: string, place: Place): Promise<void> {
  await db.run("INSERT INTO hub_record_places (record, place) VALUES (?, ?) ON CONFLICT (record) DO UPDATE SET place = excluded.place", [
    key,
    JSON.stringify(place),
  ]);
}

async function recall(db: SqliteDb, key: string): Promise<Place | undefined> {
  const row = await db.get<{ place: string }>("SELECT place FROM hub_record_places WHERE record = ?", [key]);
  return row ? (JSON.parse(row.place) as Place) : undefined;
}

/** The resolved place to keep with the event of this record; null when it cannot be known. */
export async function placeToPublish(db: SqliteDb, r: PublishedRecord): Promise<ResolvedPlace | null> {
  const places = new SqlitePlaceStore(db);
  let place: Place | undefined;
  if (!r.deleted) {
    place = placeOf(r.kind, r.payload);
    await learn(places, place);
    await remember(db, r.key, place);
  } else if (/^Patient\//.test(r.key)) place = { patients: [r.key.slice("Patient/".length)], locations: [] };
  else place = await recall(db, r.key);
  return place ? resolvePlace(place, places) : null;
}

/** The record kind a read path names: the FHIR type or the REST resource; a REST sub-resource names its owner. */
export function kindOfPath(path: string): { kind: string; owner?: string } {
  const segs = path.split("?")[0].split("/").filter(Boolean);
  if (segs[1] === "fhir2") return { kind: segs[3] ?? "" };
  // ws/rest/v1/{resource}/{uuid}/{sub}…: a patient's or person's sub-resource belongs to that patient.
  if (segs.length >= 6 && (segs[3] === "patient" || segs[3] === "person")) return { kind: segs[5], owner: segs[4] };
  return { kind: segs[3] ?? "" };
}

/**
 * Whether a key with this catchment may read what the parent answered at `path`: true, false (answered
 * as absent), or a search answer cut down to what it may see.
 */
export async function readAllowed(db: SqliteDb, catchment: Catchment, path: string, body: unknown): Promise<boolean | { body: string }> {
  const places = new SqlitePlaceStore(db);
  const { kind, owner } = kindOfPath(path);
  if (owner) return allowsResolved(catchment, await resolvePlace({ patients: [owner], locations: [] }, places));
  const keep = async (k: string, rec: unknown) => allowsResolved(catchment, await resolvePlace(placeOf(k, rec), places), { record: rec });
  const filtered = await filterSearch(kind, body, keep);
  return filtered ? { body: JSON.stringify(filtered) } : keep(kind, body);
}
