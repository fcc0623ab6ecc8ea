/**
 * The audit log as the admin API pages it: newest first, by record, outcome and time, cursor = the id
 * of the last row seen. Rows carry ids, outcomes and fixed reasons; the audited content (clinical,
 * kept only when the admin switched it on) is never part of a page.
 */
import type { SqliteDb } from "../store/sqlite";
import { clampLimit, type Page } from "./items";
import type { AuditRow } from "../audit/push";

export interface AuditFilter {
  /** Record keys (see recordKeys). */
  record?: string[];
  outcome?: string;
  channel?: string;
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
}

/** An audit row as stored, without its content (never listed). */
type Row = Omit<AuditRow, "content">;

export async function listAudit(db: SqliteDb, f: AuditFilter = {}): Promise<Page<AdminAuditRow>> {
  const limit = clampLimit(f.limit);
  const where: string[] = [];
  const params: (string | number)[] = [];
  const add = (sql: string, ...values: (string | number)[]) => {
    where.push(sql);
    params.push(...values);
  };
  if (f.record) add(`record_key IN (${f.record.map(() => "?").join(",")})`, ...f.record);
  if (f.outcome) add("outcome = ?", f.outcome);
  if (f.channel) add("source = ?", f.channel);
  if (f.from !== undefined) add("at >= ?", f.from);
  if (f.to !== undefined) add("at <= ?", f.to);
  if (f.cursor !== undefined) add("id < ?", f.cursor);
  const rows = await db.all<Row>(
    "SELECT id, at, direction, source, entry_id, record_key, action, target, outcome, reason, http_status, error, attempt, duration_ms FROM audit " +
      `${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ?`,
    [...params, limit + 1],
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
  }));
  return { items, next: rows.length > limit ? String(items[items.length - 1].id) : null };
}
