/**
 * The audit log as the admin API pages it: newest first, by record, outcome and time, cursor = the id
 * of the last row seen. Rows carry ids, outcomes and fixed reasons; the audited content (clinical,
 * kept only when the admin switched it on) is never part of a page.
 */
import type { Params, SqliteDb } from "../store/sqlite";
import { add, addIn, clampLimit, whereSql, type Clauses, type Page } from "./items";
import type { AuditRow } from "../audit/push";

export interface AuditFilter {
  /** Record keys (see recordKeys). */
  record?: string[];
  outcome?: string;
  channel?: string;
  /** A hub key id: the rows attributed to it. */
  key?: string;
  /** Wall-clock ms, inclusive. */
  from?: number;
  to?: number;
  limit?: number;
  cursor?: number;
}

export interface AdminAuditRow {
  id: number;
  at: string;
  direction: string;
  channel: string | null;
  entry: string | null;
  record: string | null;
  action: string | null;
  target: string | null;
  outcome: string;
  reason: string | null;
  httpStatus: number | null;
  error: string | null;
  attempt: number | null;
  durationMs: number | null;
  /** The hub key the row is attributed to, and the address of the request (hub rows). */
  key: string | null;
  peer: string | null;
}

/** An audit row as stored, without its content (never listed). */
type Row = Omit<AuditRow, "content"> & { hub_key: string | null; peer: string | null };

export async function listAudit(db: SqliteDb, f: AuditFilter = {}): Promise<Page<AdminAuditRow>> {
  const limit = clampLimit(f.limit);
  const c: Clauses = { where: [], params: [] };
  if (f.record) addIn(c, "record_key", f.record);
  if (f.outcome) add(c, "outcome = ?", f.outcome);
  if (f.channel) add(c, "source = ?", f.channel);
  if (f.key) add(c, "hub_key = ?", f.key);
  if (f.from !== undefined) add(c, "at >= ?", f.from);
  if (f.to !== undefined) add(c, "at <= ?", f.to);
  if (f.cursor !== undefined) add(c, "id < ?", f.cursor);
  const rows = await db.all<Row>(
    "SELECT id, at, direction, source, entry_id, record_key, action, target, outcome, reason, http_status, error, attempt, duration_ms, hub_key, peer FROM audit " +
      `${whereSql(c)} ORDER BY id DESC LIMIT ?`,
    [...(c.params as unknown[]), limit + 1] as Params,
  );
  const items = rows.slice(0, limit).map((r) => ({
    id: r.id,
    at: new Date(r.at).toISOString(),
    direction: r.direction,
    channel: r.source,
    entry: r.entry_id,
    record: r.record_key,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    reason: r.reason,
    httpStatus: r.http_status,
    error: r.error,
    attempt: r.attempt,
    durationMs: r.duration_ms,
    key: r.hub_key,
    peer: r.peer,
  }));
  return { items, next: rows.length > limit ? String(items[items.length - 1].id) : null };
}
