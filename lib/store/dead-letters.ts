/**
 * The dead letter: what could not succeed, with why (the server's OperationOutcome, the HTTP status,
 * the attempts, and what the outcome adds for an admin: `details`, such as the two patients of a
 * duplicate identifier). An admin retries them (state `requeued` while a
 * feed entry is delivered again, `retried` once it is back in custody or delivered) or discards them
 * (`discarded`, kept for the record) until retention removes the finished ones (retention.ts). The
 * entry, the OperationOutcome and the details are encrypted at rest (encryption.ts); the error text is not.
 */
import type { SqliteDb, Tx } from "./sqlite";

export type DeadLetterState = "dead" | "requeued" | "retried" | "discarded";

export interface DeadLetterInput {
  source: string;
  sourceKind: "feed" | "queue";
  recordKey?: string;
  entryId?: string;
  /** What is delivered again on retry: the feed entry, or the queued message. */
  entry?: unknown;
  reason?: string;
  error?: string;
  httpStatus?: number;
  operationOutcome?: unknown;
  /** outcomeDetails() of the outcome: structured facts an admin acts on (they may name an identifier). */
  details?: unknown;
  attempts: number;
  firstFailedAt: number;
}

export interface DeadLetterRow {
  id: number;
  source: string;
  source_kind: string;
  record_key: string | null;
  entry_id: string | null;
  entry: string | null;
  reason: string | null;
  error: string | null;
  http_status: number | null;
  operation_outcome: string | null;
  details: string | null;
  attempts: number;
  first_failed_at: number;
  dead_at: number;
  state: DeadLetterState;
}

export interface DeadLetterFilter {
  source?: string;
  state?: DeadLetterState;
  ids?: number[];
  limit?: number;
}

export function insertDeadLetter(tx: Tx, d: DeadLetterInput): Promise<{ lastID: number }> {
  return tx.run(
    "INSERT INTO dead_letters (source, source_kind, record_key, entry_id, entry, reason, error, http_status, operation_outcome, details, attempts, first_failed_at, dead_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [
      d.source,
      d.sourceKind,
      d.recordKey ?? null,
      d.entryId ?? null,
      d.entry === undefined ? null : tx.cipher.seal(JSON.stringify(d.entry)),
      d.reason ?? null,
      d.error ?? null,
      d.httpStatus ?? null,
      d.operationOutcome === undefined ? null : tx.cipher.seal(JSON.stringify(d.operationOutcome)),
      d.details === undefined ? null : tx.cipher.seal(JSON.stringify(d.details)),
      d.attempts,
      d.firstFailedAt,
      Date.now(),
    ],
  );
}

/** A requeued feed entry failed for good again: the same row, with the new error. */
export function reviveDeadLetter(
  tx: Tx,
  id: number,
  d: Pick<DeadLetterInput, "reason" | "error" | "httpStatus" | "operationOutcome" | "details" | "attempts">,
): Promise<unknown> {
  return tx.run(
    "UPDATE dead_letters SET state = 'dead', reason = ?, error = ?, http_status = ?, operation_outcome = ?, details = ?, attempts = ?, dead_at = ? WHERE id = ?",
    [
      d.reason ?? null,
      d.error ?? null,
      d.httpStatus ?? null,
      d.operationOutcome === undefined ? null : tx.cipher.seal(JSON.stringify(d.operationOutcome)),
      d.details === undefined ? null : tx.cipher.seal(JSON.stringify(d.details)),
      d.attempts,
      Date.now(),
      id,
    ],
  );
}

export function setDeadLetterState(tx: Tx, id: number, from: DeadLetterState, to: DeadLetterState): Promise<{ changes: number }> {
  return tx.run("UPDATE dead_letters SET state = ? WHERE id = ? AND state = ?", [to, id, from]);
}

function where(filter: DeadLetterFilter): { sql: string; params: (string | number)[] } {
  const clauses = ["state = ?"];
  const params: (string | number)[] = [filter.state ?? "dead"];
  if (filter.source) {
    clauses.push("source = ?");
    params.push(filter.source);
  }
  if (filter.ids) {
    clauses.push(`id IN (${filter.ids.map(() => "?").join(",") || "NULL"})`);
    params.push(...filter.ids);
  }
  return { sql: clauses.join(" AND "), params };
}

/** Dead letters as stored, decrypted (entry, operation_outcome and details are encrypted at rest). */
export async function listDeadLetters(db: SqliteDb | Tx, filter: DeadLetterFilter = {}): Promise<DeadLetterRow[]> {
  const w = where(filter);
  const rows = await db.all<DeadLetterRow>(`SELECT * FROM dead_letters WHERE ${w.sql} ORDER BY id LIMIT ?`, [...w.params, filter.limit ?? 100]);
  for (const r of rows) {
    r.entry = db.cipher.open(r.entry);
    r.operation_outcome = db.cipher.open(r.operation_outcome);
    r.details = db.cipher.open(r.details);
  }
  return rows;
}

/** Marks dead letters of one source as discarded (kept for the record, never delivered). Returns how many. */
export async function discardDeadLetters(db: SqliteDb, source: string, which: number[] | "all"): Promise<number> {
  const w = where({ source, state: "dead", ids: which === "all" ? undefined : which });
  const r = await db.write((tx) => tx.run(`UPDATE dead_letters SET state = 'discarded' WHERE ${w.sql}`, w.params));
  return r.changes;
}
