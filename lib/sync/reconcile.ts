/**
 * Echo suppression and conflict detection, for pull and push alike.
 *
 * The store keeps, per record, the hash of the normalised FHIR resource last synchronised in either
 * direction (`record_sync`). Before a write:
 *   - source hash == last hash: nothing changed since the last sync (for a push: the child's own
 *     feed reporting a record the pull just wrote — the echo). Skip.
 *   - no last hash: first sync of the record. The target is read (as Sync 2.0 always does): already
 *     equal -> skip and record the baseline (this also closes the race where the child's own feed
 *     reports a pulled record before the pull recorded its hash); otherwise the source is written
 *     ("incoming wins"). A pull of an entry the parent calls CREATED skips that read: during a
 *     catch-up into an empty child it would cost a request per record for nothing. (The baseline is
 *     still looked up first: a record the child pushed is CREATED at the parent too.)
 *   - otherwise the target is read: unchanged since the last sync (or gone) -> write; already equal
 *     to the source -> skip; changed too -> a conflict, kept with both versions and resolved by the
 *     policy: parent wins, newest wins (meta.lastUpdated), or hold for an admin. Never a silent
 *     overwrite: every conflict is recorded, whatever the policy decides.
 * After a successful write the new hash is recorded.
 */
import { createHash } from "node:crypto";
import type { SyncStore } from "../store/store";
import type { Tx } from "../store/sqlite";
import { WriteCombiner } from "../store/combiner";
import type { FhirResource } from "../fhir/convert";

export type ConflictPolicy = "parent-wins" | "newest-wins" | "hold";
export type Role = "parent" | "child";

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** JSON with keys sorted, nulls dropped and date-times as UTC instants: what two servers' copies compare by. */
export function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined || v === null) continue;
      out[k] = normalise(v);
    }
    return out;
  }
  if (typeof value === "string" && DATE_TIME.test(value)) {
    const t = Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, "$1:$2"));
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  return value;
}

/** Fields each server assigns for itself: equal records differ there after a copy. */
const SERVER_ASSIGNED: Record<string, string[]> = {
  // fhir2 serves the obs's dateCreated on *this* server as Observation.issued.
  Observation: ["issued"],
  // ... and a condition's dateCreated there as Condition.recordedDate, its creator as recorder.
  Condition: ["recordedDate", "recorder"],
  // ... an allergy's likewise; a drug order's dateCreated as MedicationRequest.authoredOn.
  AllergyIntolerance: ["recordedDate", "recorder"],
  MedicationRequest: ["authoredOn"],
};

/**
 * Hash of what a record says, not of how a server dressed it: no meta (versionId, lastUpdated are
 * per server), no narrative, no server-assigned audit fields, keys sorted, date-times as UTC instants
 * (servers in other time zones write the same instant differently).
 */
export function contentHash(resource: FhirResource): string {
  return createHash("sha256")
    .update(JSON.stringify(comparable(resource)))
    .digest("hex");
}

/** What contentHash hashes: the resource without meta, narrative and server-assigned fields, normalised. */
export function comparable(resource: FhirResource): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...resource };
  for (const k of ["meta", "text", ...(SERVER_ASSIGNED[resource.resourceType] ?? [])]) delete rest[k];
  return normalise(rest) as Record<string, unknown>;
}

/** The baseline of a record that was deleted (voided) when last synchronised. */
export const DELETED = "deleted";

/**
 * Whether a delete still has to be written: not when the record's baseline says it was deleted when
 * last synchronised (the parent's feed reporting the void this child pushed, or the other way round),
 * nor while our own delete of it is being written (its intent is recorded before the write, and the
 * other side's feed can report the void before the write's baseline is committed).
 */
export async function deleteNeeded(store: SyncStore, key: string): Promise<boolean> {
  const last = await store.db.get<SyncRow>("SELECT hash, pending_hash FROM record_sync WHERE record_key = ?", [key]);
  return last?.hash !== DELETED && last?.pending_hash !== DELETED;
}

export type Decision =
  /** `intent`: record the version with recordIntent before writing (the record has a baseline). */
  | { write: true; hash: string; conflictId?: number; intent: boolean }
  | { write: false; hash: string; reason: "unchanged" | "already-equal" | "conflict-held" | "conflict-lost"; conflictId?: number };

export interface DecideInput {
  store: SyncStore;
  key: string;
  source: FhirResource;
  /** The side being written to. */
  targetRole: Role;
  policy: ConflictPolicy;
  /** Reads the target's current version (undefined when absent or voided). */
  readTarget(): Promise<FhirResource | undefined>;
  /** Node id, for the conflicts table. */
  detectedBy?: string;
  /** Without a baseline, write without reading the target first (a pull of a CREATED entry). */
  assumeNew?: boolean;
}

interface SyncRow {
  hash: string;
  pending_hash: string | null;
  /** The version sent, when the target kept less (then `hash` is what it kept). */
  sent_hash: string | null;
}

function lastUpdatedMs(r: FhirResource): number {
  const lu = (r.meta as { lastUpdated?: string } | undefined)?.lastUpdated;
  const t = lu ? Date.parse(lu) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** Per store: whether this store has ever pushed (a push decision was made, or a push baseline is stored). */
const pushedByStore = new WeakMap<SyncStore, Promise<boolean>>();

function pushedHere(store: SyncStore): Promise<boolean> {
  let p = pushedByStore.get(store);
  if (!p) {
    p = store.db.get("SELECT 1 AS x FROM record_sync WHERE direction = 'push' LIMIT 1").then(
      (row) => !!row,
      () => true,
    );
    pushedByStore.set(store, p);
  }
  return p;
}

export async function decide(input: DecideInput): Promise<Decision> {
  const { store, key, source } = input;
  const hash = contentHash(source);
  if (input.targetRole === "parent") pushedByStore.set(store, Promise.resolve(true));
  // A pull of an entry the parent calls CREATED, on a store that never pushed: nothing here can be an
  // echo, and the record was never synchronised: written without a lookup or a read of the target (keeps
  // a catch-up into an empty child at 3 requests an entry). Where this child pushes, a record it pushed
  // is CREATED at the parent too: the usual path below finds its baseline, or (when the pull is quicker
  // than the push's baseline) the child's own copy, equal, and writes nothing back.
  if (input.assumeNew && !(await pushedHere(store))) return { write: true, hash, intent: false };
  const last = await store.db.get<SyncRow>("SELECT hash, pending_hash, sent_hash FROM record_sync WHERE record_key = ?", [key]);
  // As last synchronised: what was sent, or (a target that kept less) what the target kept.
  if (last && (last.hash === hash || last.sent_hash === hash)) return { write: false, hash, reason: "unchanged" };
  const intent = !!last && last.hash !== DELETED;
  const target = await input.readTarget();
  if (!target) return { write: true, hash, intent };
  const targetHash = contentHash(target);
  if (targetHash === hash) return { write: false, hash, reason: "already-equal" };
  // The target as last synchronised, or as we were writing it when a crash kept the baseline from
  // being recorded: not changed by anyone else.
  if (!last || targetHash === last.hash || targetHash === last.pending_hash || targetHash === last.sent_hash) return { write: true, hash, intent };

  // Changed on both sides since the last sync.
  const sourceRole: Role = input.targetRole === "parent" ? "child" : "parent";
  const byRole = { [sourceRole]: { r: source, h: hash }, [input.targetRole]: { r: target, h: targetHash } } as Record<Role, { r: FhirResource; h: string }>;
  let winner: Role | undefined;
  if (input.policy === "parent-wins") winner = "parent";
  else if (input.policy === "newest-wins") winner = lastUpdatedMs(byRole.child.r) > lastUpdatedMs(byRole.parent.r) ? "child" : "parent";
  const state = winner ? "resolved" : "held";
  const conflictId = await store.db.write(async (tx) => {
    await tx.run(
      "INSERT OR IGNORE INTO conflicts (record_key, detected_at, detected_by, policy, parent_hash, child_hash, parent_version, child_version, state, resolution, resolved_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
      [
        key,
        Date.now(),
        input.detectedBy ?? null,
        input.policy,
        byRole.parent.h,
        byRole.child.h,
        // Clinical content: encrypted at rest (../store/encryption.ts).
        tx.cipher.seal(JSON.stringify(byRole.parent.r)),
        tx.cipher.seal(JSON.stringify(byRole.child.r)),
        state,
        winner ?? null,
        winner ? Date.now() : null,
      ],
    );
    const row = await tx.get<{ id: number }>("SELECT id FROM conflicts WHERE record_key = ? AND parent_hash = ? AND child_hash = ?", [
      key,
      byRole.parent.h,
      byRole.child.h,
    ]);
    return row?.id;
  });
  if (!winner) return { write: false, hash, reason: "conflict-held", conflictId };
  if (winner === sourceRole) return { write: true, hash, conflictId, intent };
  return { write: false, hash, reason: "conflict-lost", conflictId };
}

/** A baseline to store: the version synchronised, or (`intent`) the version about to be written. */
type Baseline =
  | { key: string; intent: true; hash: string }
  | { key: string; intent: false; row: [hash: string, lastUpdated: string | null, direction: string, at: number, sentHash: string | null] };
const baselinesByStore = new WeakMap<SyncStore, WriteCombiner<Baseline>>();

async function writeBaselines(tx: Tx, batch: Baseline[]): Promise<void> {
  // In batch order, per record: the newest synchronised baseline wins (and clears an earlier intent);
  // an intent that comes after it is written over it.
  const syncedByKey = new Map<string, Extract<Baseline, { intent: false }>>();
  const intents = new Map<string, string>();
  for (const b of batch) {
    if (b.intent) intents.set(b.key, b.hash);
    else {
      syncedByKey.set(b.key, b);
      intents.delete(b.key);
    }
  }
  const synced = [...syncedByKey.values()];
  for (let i = 0; i < synced.length; i += 100) {
    const chunk = synced.slice(i, i + 100);
    await tx.run(
      `INSERT OR REPLACE INTO record_sync (record_key, hash, last_updated, direction, synced_at, sent_hash, pending_hash) VALUES ${chunk.map(() => "(?,?,?,?,?,?,NULL)").join(",")}`,
      chunk.flatMap((b) => [b.key, ...b.row]),
    );
  }
  for (const [key, hash] of intents) await tx.run("UPDATE record_sync SET pending_hash = ? WHERE record_key = ?", [hash, key]);
}

function baselines(store: SyncStore): WriteCombiner<Baseline> {
  let combiner = baselinesByStore.get(store);
  if (!combiner) {
    combiner = new WriteCombiner<Baseline>({ db: store.db, write: writeBaselines });
    baselinesByStore.set(store, combiner);
  }
  return combiner;
}

/**
 * Records what was just written (or found equal) as the last synchronised version (`hash` undefined:
 * the record was deleted, kept as a DELETED baseline so the delete is not echoed). Baselines are
 * write-combined (../store/combiner.ts): every baseline recorded before the next group commit goes in
 * one multi-row statement. The promise resolves once it is committed and rejects when that write
 * failed; callers need not wait for it (a missing baseline only makes the next comparison read the
 * target), and the next baseline goes in a write of its own. `sentHash`: the version sent, when the
 * target kept less than it (`hash` is then what it kept; lib/sync/verify.ts).
 */
export function recordSynced(
  store: SyncStore,
  key: string,
  hash: string | undefined,
  direction: string,
  resource?: FhirResource,
  sentHash?: string,
): Promise<void> {
  const lastUpdated = (resource?.meta as { lastUpdated?: string } | undefined)?.lastUpdated ?? null;
  return baselines(store).addAndWait({ key, intent: false, row: [hash ?? DELETED, lastUpdated, direction, Date.now(), sentHash ?? null] });
}

/**
 * Records the version about to be written over a record that has a baseline (the decision says
 * `intent`), committed before the write: if the process dies after the target took it but before
 * recordSynced, the next comparison recognises the target's version as its own write instead of a
 * change made by someone else (which would be taken for a conflict and could lose the newer change).
 */
export function recordIntent(store: SyncStore, key: string, hash: string): Promise<void> {
  return baselines(store).addAndWait({ key, intent: true, hash });
}

export interface ConflictRow {
  id: number;
  record_key: string;
  policy: string;
  state: string;
  resolution: string | null;
  parent_version: string;
  child_version: string;
}

/** Conflicts with both versions decrypted. */
export async function conflicts(store: SyncStore, state?: "held" | "resolved"): Promise<ConflictRow[]> {
  const rows = state
    ? await store.db.all<ConflictRow>("SELECT * FROM conflicts WHERE state = ? ORDER BY id", [state])
    : await store.db.all<ConflictRow>("SELECT * FROM conflicts ORDER BY id");
  return rows.map((r) => openConflict(store, r));
}

function openConflict(store: SyncStore, r: ConflictRow): ConflictRow {
  return { ...r, parent_version: store.db.cipher.open(r.parent_version), child_version: store.db.cipher.open(r.child_version) };
}

/** The version an admin chose for a conflict (decrypted), without changing anything. */
export async function chosenVersion(store: SyncStore, id: number, use: Role | FhirResource): Promise<{ key: string; resource: FhirResource } | undefined> {
  const stored = await store.db.get<ConflictRow>("SELECT * FROM conflicts WHERE id = ?", [id]);
  if (!stored) return undefined;
  const row = openConflict(store, stored);
  const resource = typeof use === "string" ? (JSON.parse(use === "parent" ? row.parent_version : row.child_version) as FhirResource) : use;
  return { key: row.record_key, resource };
}

/** Marks a held conflict resolved with the chosen side; returns the version to write to the other side. */
export async function resolveConflict(store: SyncStore, id: number, use: Role | FhirResource): Promise<{ key: string; resource: FhirResource } | undefined> {
  const chosen = await chosenVersion(store, id, use);
  if (!chosen) return undefined;
  await store.db.write((tx) =>
    tx.run("UPDATE conflicts SET state = 'resolved', resolution = ?, resolved_at = ? WHERE id = ?", [typeof use === "string" ? use : "merged", Date.now(), id]),
  );
  return chosen;
}
