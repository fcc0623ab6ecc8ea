/**
 * Items as the admin API shows them, read from one store: dead letters (`dl-<row>`), queue rows
 * (`q-<row>`: queued, or retrying once an attempt failed), feed entries waiting for a retry
 * (`fr-<opaque>`) and held conflicts (`c-<row>`). Pages run newest first within each kind, kinds in
 * that order; the cursor is the id of the last item seen. No clinical content here: the message, the
 * entry and the OperationOutcome come only from itemDetail, and only when the store's admin allows it.
 */
import { REST_TO_FHIR_TYPE } from "../atom/entry";
import type { Params, SqliteDb } from "../store/sqlite";

export type ItemStatus = "queued" | "retrying" | "dead" | "held";
export const ITEM_STATUSES: readonly ItemStatus[] = ["queued", "retrying", "dead", "held"];

export interface AdminItem {
  id: string;
  channel: string | null;
  kind: "feed" | "queue" | "conflict";
  status: ItemStatus;
  /** `Patient/<uuid>` and the like. */
  record: string | null;
  /** The feed entry id, when known. */
  entry: string | null;
  attempts: number;
  error: string | null;
  httpStatus: number | null;
  /** When it was enqueued, died, or was detected (ISO). */
  at: string | null;
  /** When it is tried next (retrying items). */
  nextAttempt: string | null;
}

export interface ItemFilter {
  channel?: string;
  status?: ItemStatus;
  /** `Type/<uuid>`, or a bare uuid (any type). */
  record?: string;
  limit?: number;
  /** The id of the last item of the previous page. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Cursor of the next page; null when this was the last. */
  next: string | null;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** Record keys a `record` filter stands for: itself, or a bare uuid under every known type. */
export function recordKeys(record: string): string[] {
  if (record.includes("/")) return [record];
  return [...new Set([...Object.values(REST_TO_FHIR_TYPE), "Unknown"])].map((t) => `${t}/${record}`);
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit)));
}

const iso = (ms: number | null | undefined) => (typeof ms === "number" && ms > 0 ? new Date(ms).toISOString() : null);

/** The opaque id of a feed retry row (its key is the consumer and the entry id). */
export function feedRetryId(consumer: string, entryId: string): string {
  return `fr-${Buffer.from(JSON.stringify([consumer, entryId]), "utf8").toString("base64url")}`;
}

export type ParsedId = { kind: "dl" | "q" | "c"; row: number } | { kind: "fr"; consumer: string; entryId: string };

/** Reads an item id; undefined when it is not one. */
export function parseItemId(id: string): ParsedId | undefined {
  const n = /^(dl|q|c)-(\d{1,15})$/.exec(id);
  if (n) return { kind: n[1] as "dl" | "q" | "c", row: Number(n[2]) };
  const f = /^fr-([A-Za-z0-9_-]{1,2000})$/.exec(id);
  if (!f) return undefined;
  try {
    const v = JSON.parse(Buffer.from(f[1], "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "string") return { kind: "fr", consumer: v[0], entryId: v[1] };
  } catch {
    // not an id
  }
  return undefined;
}

type Kind = ParsedId["kind"];
const ORDER: Kind[] = ["dl", "q", "fr", "c"];

function kindsFor(status: ItemStatus | undefined): Kind[] {
  if (status === "dead") return ["dl"];
  if (status === "queued") return ["q"];
  if (status === "retrying") return ["q", "fr"];
  if (status === "held") return ["c"];
  return ORDER;
}

/** The conditions of a query and their parameters, built up one condition at a time. */
export interface Clauses {
  where: string[];
  params: Params;
}

export function add(c: Clauses, sql: string, ...values: (string | number)[]): void {
  c.where.push(sql);
  (c.params as unknown[]).push(...values);
}

/** `column IN (?, ?, …)` over `values`. */
export function addIn(c: Clauses, column: string, values: readonly string[]): void {
  add(c, `${column} IN (${values.map(() => "?").join(",")})`, ...values);
}

/** "WHERE a AND b", or nothing without conditions. */
export function whereSql(c: Clauses): string {
  return c.where.length ? `WHERE ${c.where.join(" AND ")}` : "";
}

function recordClause(c: Clauses, column: string, record: string | undefined): void {
  if (record) addIn(c, column, recordKeys(record));
}

/** One page of items of a store. */
export async function listItems(db: SqliteDb, filter: ItemFilter = {}): Promise<Page<AdminItem>> {
  const limit = clampLimit(filter.limit);
  const kinds = kindsFor(filter.status);
  const cursor = filter.cursor ? parseItemId(filter.cursor) : undefined;
  if (filter.cursor && !cursor) throw new RangeError("cursor is not an item id");
  let start = 0;
  if (cursor) {
    start = kinds.indexOf(cursor.kind);
    if (start < 0) throw new RangeError("cursor is not an item of this status");
  }
  const out: AdminItem[] = [];
  for (let k = start; k < kinds.length && out.length <= limit; k++) {
    const after = cursor && k === start ? cursor : undefined;
    // One more than asked: whether there is a next page.
    out.push(...(await readKind(db, kinds[k], filter, after, limit + 1 - out.length)));
  }
  const more = out.length > limit;
  const items = out.slice(0, limit);
  return { items, next: more && items.length ? items[items.length - 1].id : null };
}

async function readKind(db: SqliteDb, kind: Kind, f: ItemFilter, after: ParsedId | undefined, n: number): Promise<AdminItem[]> {
  const c: Clauses = { where: [], params: [] };
  const p = c.params as unknown[];
  if (kind === "dl") {
    c.where.push("state = 'dead'");
    if (f.channel) add(c, "source = ?", f.channel);
    recordClause(c, "record_key", f.record);
    if (after?.kind === "dl") add(c, "id < ?", after.row);
    const rows = await db.all<{
      id: number;
      source: string;
      source_kind: string;
      record_key: string | null;
      entry_id: string | null;
      error: string | null;
      reason: string | null;
      http_status: number | null;
      attempts: number;
      dead_at: number;
    }>(
      `SELECT id, source, source_kind, record_key, entry_id, error, reason, http_status, attempts, dead_at FROM dead_letters WHERE ${c.where.join(" AND ")} ORDER BY id DESC LIMIT ?`,
      [...p, n] as Params,
    );
    return rows.map((r) => ({
      id: `dl-${r.id}`,
      channel: r.source,
      kind: r.source_kind === "queue" ? "queue" : "feed",
      status: "dead",
      record: r.record_key,
      entry: r.entry_id,
      attempts: r.attempts,
      error: r.error ?? r.reason,
      httpStatus: r.http_status,
      at: iso(r.dead_at),
      nextAttempt: null,
    }));
  }
  if (kind === "q") {
    if (f.status === "queued") c.where.push("attempts = 0");
    if (f.status === "retrying") c.where.push("attempts > 0");
    if (f.channel) add(c, "queue = ?", f.channel);
    recordClause(c, "record_key", f.record);
    if (after?.kind === "q") add(c, "id < ?", after.row);
    const rows = await db.all<{
      id: number;
      queue: string;
      record_key: string;
      attempts: number;
      enqueued_at: number;
      next_at: number;
      last_error: string | null;
      last_status: number | null;
    }>(`SELECT id, queue, record_key, attempts, enqueued_at, next_at, last_error, last_status FROM queue_items ${whereSql(c)} ORDER BY id DESC LIMIT ?`, [
      ...p,
      n,
    ] as Params);
    return rows.map((r) => ({
      id: `q-${r.id}`,
      channel: r.queue,
      kind: "queue",
      status: r.attempts > 0 ? "retrying" : "queued",
      record: r.record_key,
      entry: null,
      attempts: r.attempts,
      error: r.last_error,
      httpStatus: r.last_status,
      at: iso(r.enqueued_at),
      nextAttempt: r.attempts > 0 ? iso(r.next_at) : null,
    }));
  }
  if (kind === "fr") {
    if (f.channel) add(c, "consumer = ?", f.channel);
    // A feed retry row keeps the entry id only (an OpenMRS entry id names the event, not the record).
    if (f.record) return [];
    if (after?.kind === "fr") add(c, "(consumer < ? OR (consumer = ? AND entry_id < ?))", after.consumer, after.consumer, after.entryId);
    const rows = await db.all<{ consumer: string; entry_id: string; attempts: number; next_at: number; last_error: string | null; first_failed_at: number }>(
      `SELECT consumer, entry_id, attempts, next_at, last_error, first_failed_at FROM feed_retries ${whereSql(c)} ORDER BY consumer DESC, entry_id DESC LIMIT ?`,
      [...p, n] as Params,
    );
    return rows.map((r) => ({
      id: feedRetryId(r.consumer, r.entry_id),
      channel: r.consumer,
      kind: "feed",
      status: "retrying",
      record: null,
      entry: r.entry_id,
      attempts: r.attempts,
      error: r.last_error,
      httpStatus: null,
      at: iso(r.first_failed_at),
      nextAttempt: iso(r.next_at),
    }));
  }
  c.where.push("state = 'held'");
  if (f.channel) add(c, "detected_by = ?", f.channel);
  recordClause(c, "record_key", f.record);
  if (after?.kind === "c") add(c, "id < ?", after.row);
  const rows = await db.all<{ id: number; record_key: string; detected_by: string | null; detected_at: number; policy: string }>(
    `SELECT id, record_key, detected_by, detected_at, policy FROM conflicts WHERE ${c.where.join(" AND ")} ORDER BY id DESC LIMIT ?`,
    [...p, n] as Params,
  );
  return rows.map((r) => ({
    id: `c-${r.id}`,
    channel: r.detected_by,
    kind: "conflict",
    status: "held",
    record: r.record_key,
    entry: null,
    attempts: 0,
    error: "conflict-held",
    httpStatus: null,
    at: iso(r.detected_at),
    nextAttempt: null,
  }));
}
