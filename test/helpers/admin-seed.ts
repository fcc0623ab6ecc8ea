/**
 * Fills a real store with the rows the admin API reads (through the store's own write functions, so
 * clinical content is encrypted as in production): dead letters of a feed and a queue in every state,
 * queue rows (queued and retrying), feed retry rows, conflicts and audit rows. Used by the unit tests
 * and bench/admin-api.ts.
 */
import { insertAudits, type AuditInput } from "../../lib/store/audit";
import { insertDeadLetter, type DeadLetterState } from "../../lib/store/dead-letters";
import { SyncStore } from "../../lib/store/store";

export const FEED = "feed_patient";
export const QUEUE = "queue_parent";

export interface SeedCounts {
  deadLetters?: number;
  queueItems?: number;
  feedRetries?: number;
  conflicts?: number;
  audit?: number;
  /** Channel ids the rows belong to (default FEED and QUEUE). */
  feed?: string;
  queue?: string;
}

/** Record key of row i: 250 distinct patients, so a record filter matches several rows. */
export const recordOf = (i: number) => `Patient/00000000-0000-4000-8000-${String(i % 250).padStart(12, "0")}`;
/** States of dead letters by row: most dead, some already retried, requeued or discarded. */
export const stateOf = (i: number): DeadLetterState => (["dead", "dead", "dead", "retried", "discarded", "dead", "requeued"] as const)[i % 7];
/** Source of dead letter i: a feed on even rows, the queue on odd ones. */
export const sourceOf = (i: number) => (i % 2 === 0 ? FEED : QUEUE);

const CHUNK = 2000;

export async function seed(store: SyncStore, n: SeedCounts): Promise<void> {
  const db = store.db;
  const feed = n.feed ?? FEED;
  const queue = n.queue ?? QUEUE;
  const source = (i: number) => (sourceOf(i) === FEED ? feed : queue);
  const now = Date.now();
  for (let from = 0; from < (n.deadLetters ?? 0); from += CHUNK) {
    await db.write(async (tx) => {
      for (let i = from; i < Math.min(n.deadLetters!, from + CHUNK); i++) {
        const { lastID } = await insertDeadLetter(tx, {
          source: source(i),
          sourceKind: i % 2 === 0 ? "feed" : "queue",
          recordKey: recordOf(i),
          entryId: `tag:atomfeed.ict4h.org:event-${i}`,
          entry: { payload: { resourceType: "Patient", id: recordOf(i).split("/")[1], name: [{ family: `Family${i}` }] } },
          reason: "http-422",
          error: "HTTP 422",
          httpStatus: 422,
          operationOutcome: { resourceType: "OperationOutcome", issue: [{ severity: "error", diagnostics: `refused ${i}` }] },
          attempts: 1 + (i % 3),
          firstFailedAt: now - 60_000,
        });
        const state = stateOf(i);
        if (state !== "dead") await tx.run("UPDATE dead_letters SET state = ? WHERE id = ?", [state, lastID]);
      }
    });
  }
  for (let from = 0; from < (n.queueItems ?? 0); from += CHUNK) {
    await db.write(async (tx) => {
      for (let i = from; i < Math.min(n.queueItems!, from + CHUNK); i++) {
        const retrying = i % 3 === 0;
        await tx.run(
          "INSERT INTO queue_items (queue, record_key, message, attempts, enqueued_at, first_failed_at, next_at, last_error, last_status) VALUES (?,?,?,?,?,?,?,?,?)",
          [
            queue,
            recordOf(i + 7),
            tx.cipher.seal(JSON.stringify({ payload: { resourceType: "Patient", name: [{ family: `Queued${i}` }] } })),
            retrying ? 2 : 0,
            now,
            retrying ? now - 1000 : null,
            now + (retrying ? 60_000 : 0),
            retrying ? "HTTP 503" : null,
            retrying ? 503 : null,
          ],
        );
      }
    });
  }
  if (n.feedRetries)
    await db.write(async (tx) => {
      for (let i = 0; i < n.feedRetries!; i++)
        await SyncStore.upsertRetry(tx, feed, {
          entryId: `tag:atomfeed.ict4h.org:retry-${String(i).padStart(6, "0")}`,
          attempts: 1,
          firstFailedAt: now,
          nextAt: now + 5000,
          lastError: "HTTP 500",
        });
    });
  if (n.conflicts)
    await db.write(async (tx) => {
      for (let i = 0; i < n.conflicts!; i++)
        await tx.run(
          "INSERT INTO conflicts (record_key, detected_at, detected_by, policy, parent_hash, child_hash, parent_version, child_version, state) VALUES (?,?,?,?,?,?,?,?,?)",
          [
            recordOf(i),
            now,
            "push_writer",
            "hold",
            `p${i}`,
            `c${i}`,
            tx.cipher.seal(JSON.stringify({ resourceType: "Patient", id: `x${i}`, name: [{ family: "ParentSide" }] })),
            tx.cipher.seal(JSON.stringify({ resourceType: "Patient", id: `x${i}`, name: [{ family: "ChildSide" }] })),
            i % 4 === 3 ? "resolved" : "held",
          ],
        );
    });
  for (let from = 0; from < (n.audit ?? 0); from += CHUNK * 5) {
    const rows: AuditInput[] = [];
    for (let i = from; i < Math.min(n.audit!, from + CHUNK * 5); i++)
      rows.push({
        at: now - (n.audit! - i) * 1000,
        direction: i % 2 ? "push" : "pull",
        source: source(i),
        entryId: `tag:atomfeed.ict4h.org:event-${i}`,
        recordKey: recordOf(i),
        action: "upsert",
        target: "http://parent/openmrs/ws/fhir2/R4/Patient",
        outcome: i % 10 === 0 ? "permanent" : i % 10 === 1 ? "retry" : "ok",
        httpStatus: i % 10 === 0 ? 422 : 200,
        attempt: 1,
        durationMs: 12,
      });
    await db.write((tx) => insertAudits(tx, rows));
  }
}
