/**
 * One item in full, and the conflicts list. Clinical content (a queued message, a dead letter's entry
 * and OperationOutcome, both versions of a conflict) is read through the store's cipher, so it comes
 * back decrypted, and only when the store's admin switched audit content on; otherwise the answer says
 * it is hidden and carries none of it.
 */
import type { Params, SqliteDb } from "../store/sqlite";
import { add, addIn, clampLimit, parseItemId, whereSql, type Clauses, type Page } from "./items";

export type Content = { hidden: true } | { hidden: false; [k: string]: unknown };

const HIDDEN: Content = { hidden: true };

function json(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const iso = (ms: number | null | undefined) => (typeof ms === "number" && ms > 0 ? new Date(ms).toISOString() : null);

/** One item with everything stored about it; undefined when there is no such item. */
export async function itemDetail(db: SqliteDb, id: string, showContent: boolean): Promise<Record<string, unknown> | undefined> {
  const p = parseItemId(id);
  if (!p) return undefined;
  if (p.kind === "dl") {
    const r = await db.get<Record<string, unknown> & { entry: string | null; operation_outcome: string | null; details?: string | null }>(
      "SELECT * FROM dead_letters WHERE id = ?",
      [p.row],
    );
    if (!r) return undefined;
    return {
      id,
      channel: r.source,
      kind: r.source_kind,
      status: r.state === "dead" ? "dead" : r.state,
      record: r.record_key,
      entry: r.entry_id,
      attempts: r.attempts,
      reason: r.reason,
      error: r.error,
      httpStatus: r.http_status,
      firstFailedAt: iso(r.first_failed_at as number),
      deadAt: iso(r.dead_at as number),
      content: showContent
        ? {
            hidden: false,
            message: json(db.cipher.open(r.entry)),
            operationOutcome: json(db.cipher.open(r.operation_outcome)),
            // e.g. {duplicate: {identifierType, identifier, holder}}: what an admin needs to merge two patients
            ...(r.details ? { details: json(db.cipher.open(r.details)) } : {}),
          }
        : HIDDEN,
    };
  }
  if (p.kind === "q") {
    const r = await db.get<Record<string, unknown> & { message: string; attempts: number }>("SELECT * FROM queue_items WHERE id = ?", [p.row]);
    if (!r) return undefined;
    return {
      id,
      channel: r.queue,
      kind: "queue",
      status: r.attempts > 0 ? "retrying" : "queued",
      record: r.record_key,
      attempts: r.attempts,
      error: r.last_error,
      httpStatus: r.last_status,
      enqueuedAt: iso(r.enqueued_at as number),
      firstFailedAt: iso(r.first_failed_at as number),
      nextAttempt: r.attempts > 0 ? iso(r.next_at as number) : null,
      coalesced: r.coalesced,
      content: showContent ? { hidden: false, message: json(db.cipher.open(r.message)) } : HIDDEN,
    };
  }
  if (p.kind === "fr") {
    const r = await db.get<Record<string, unknown>>("SELECT * FROM feed_retries WHERE consumer = ? AND entry_id = ?", [p.consumer, p.entryId]);
    if (!r) return undefined;
    return {
      id,
      channel: r.consumer,
      kind: "feed",
      status: "retrying",
      entry: r.entry_id,
      attempts: r.attempts,
      error: r.last_error,
      firstFailedAt: iso(r.first_failed_at as number),
      nextAttempt: iso(r.next_at as number),
      // A feed entry is read from the feed again when it is retried: the store keeps no content of it.
      content: showContent ? { hidden: false } : HIDDEN,
    };
  }
  const c = await conflictDetail(db, p.row, showContent);
  return c && { ...c, id, conflict: p.row };
}

export interface ConflictFilter {
  state?: "held" | "resolved";
  record?: string[];
  limit?: number;
  /** The id of the last conflict seen (`c-<row>` or the row number). */
  cursor?: number;
}

export interface AdminConflict {
  id: string;
  conflict: number;
  record: string;
  state: string;
  policy: string;
  resolution: string | null;
  detectedBy: string | null;
  detectedAt: string | null;
  resolvedAt: string | null;
}

interface ConflictRowRead {
  id: number;
  record_key: string;
  state: string;
  policy: string;
  resolution: string | null;
  detected_by: string | null;
  detected_at: number;
  resolved_at: number | null;
  parent_version: string;
  child_version: string;
}

function conflictOf(r: ConflictRowRead): AdminConflict {
  return {
    id: `c-${r.id}`,
    conflict: r.id,
    record: r.record_key,
    state: r.state,
    policy: r.policy,
    resolution: r.resolution,
    detectedBy: r.detected_by,
    detectedAt: iso(r.detected_at),
    resolvedAt: iso(r.resolved_at),
  };
}

/** Conflicts, newest first, without their versions. */
export async function listConflicts(db: SqliteDb, f: ConflictFilter = {}): Promise<Page<AdminConflict>> {
  const limit = clampLimit(f.limit);
  const c: Clauses = { where: [], params: [] };
  if (f.state) add(c, "state = ?", f.state);
  if (f.record) addIn(c, "record_key", f.record);
  if (f.cursor !== undefined) add(c, "id < ?", f.cursor);
  const rows = await db.all<ConflictRowRead>(
    `SELECT id, record_key, state, policy, resolution, detected_by, detected_at, resolved_at FROM conflicts ${whereSql(c)} ORDER BY id DESC LIMIT ?`,
    [...(c.params as unknown[]), limit + 1] as Params,
  );
  const items = rows.slice(0, limit).map(conflictOf);
  return { items, next: rows.length > limit ? items[items.length - 1].id : null };
}

/** One conflict, with both versions when content may be shown. */
export async function conflictDetail(db: SqliteDb, row: number, showContent: boolean): Promise<Record<string, unknown> | undefined> {
  const r = await db.get<ConflictRowRead>("SELECT * FROM conflicts WHERE id = ?", [row]);
  if (!r) return undefined;
  return {
    ...conflictOf(r),
    kind: "conflict",
    status: r.state,
    content: showContent
      ? { hidden: false, parentVersion: json(db.cipher.open(r.parent_version)), childVersion: json(db.cipher.open(r.child_version)) }
      : HIDDEN,
  };
}
