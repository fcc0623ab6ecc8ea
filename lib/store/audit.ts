/**
 * The audit log: one row per attempt (time, feed entry, record, direction, target, outcome, HTTP
 * status, error, attempt, duration). Clinical content only when an admin switched it on, and then
 * encrypted at rest (encryption.ts). Retention (retention.ts) prunes old rows.
 */
import type { SqliteDb, Tx } from "./sqlite";

export interface AuditInput {
  /** hub: a child's request to this hub, or an admin's action on a hub key (lib/hub/). */
  direction: "pull" | "push" | "hub";
  source?: string;
  entryId?: string;
  recordKey?: string;
  action?: string;
  target?: string;
  outcome: string;
  reason?: string;
  httpStatus?: number;
  error?: string;
  attempt?: number;
  durationMs?: number;
  /** Clinical content (the resource sent): only when the store's admin switched it on. */
  content?: string;
  /** Wall-clock time of the attempt (ms); now when omitted. */
  at?: number;
  /** The hub key the row is attributed to (its id). */
  hubKey?: string;
  /** The address a hub request came from. */
  peer?: string;
}

const HEAD =
  "INSERT INTO audit (at, direction, source, entry_id, record_key, action, target, outcome, reason, http_status, error, attempt, duration_ms, content, hub_key, peer) VALUES ";
const ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
const PER_STATEMENT = 50;

function params(a: AuditInput, now: number, tx: Tx): (string | number | null)[] {
  return [
    a.at ?? now,
    a.direction,
    a.source ?? null,
    a.entryId ?? null,
    a.recordKey ?? null,
    a.action ?? null,
    a.target ?? null,
    a.outcome,
    a.reason ?? null,
    a.httpStatus ?? null,
    a.error ?? null,
    a.attempt ?? null,
    a.durationMs ?? null,
    a.content === undefined ? null : tx.cipher.seal(a.content),
    a.hubKey ?? null,
    a.peer ?? null,
  ];
}

/** Many audit rows in as few statements as possible. */
export async function insertAudits(tx: Tx, rows: readonly AuditInput[]): Promise<void> {
  const now = Date.now();
  for (let i = 0; i < rows.length; i += PER_STATEMENT) {
    const chunk = rows.slice(i, i + PER_STATEMENT);
    await tx.run(
      HEAD + chunk.map(() => ROW).join(","),
      chunk.flatMap((a) => params(a, now, tx)),
    );
  }
}

/** Deletes audit rows older than the cutoff; returns how many. */
export async function pruneAudit(db: SqliteDb, olderThanMs: number): Promise<number> {
  const cutoff = Date.now() - olderThanMs;
  const r = await db.write((tx) => tx.run("DELETE FROM audit WHERE at < ?", [cutoff]));
  return r.changes;
}

/** Audit rows, newest first, content decrypted. */
export async function auditRows(db: SqliteDb, filter: { recordKey?: string; limit?: number } = {}): Promise<Record<string, unknown>[]> {
  const rows = filter.recordKey
    ? await db.all("SELECT * FROM audit WHERE record_key = ? ORDER BY id DESC LIMIT ?", [filter.recordKey, filter.limit ?? 100])
    : await db.all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [filter.limit ?? 100]);
  for (const r of rows) if (typeof r.content === "string") r.content = db.cipher.open(r.content);
  return rows;
}
