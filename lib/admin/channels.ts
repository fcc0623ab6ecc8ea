/**
 * One row per channel for the admin API: each running feed consumer and durable queue with its live
 * counters (this run) and what its store says (dead letters waiting for an admin, rows in custody),
 * plus a row for every channel that is not running but left dead letters in a store.
 */
import type { SqliteDb } from "../store/sqlite";
import type { AdminChannel, AdminStore, ChannelKind } from "./registry";

export type Gate = "open" | "paused" | "target-down" | "store-fault" | "stopped";

export interface ChannelRow {
  id: string;
  kind: ChannelKind;
  name: string;
  category: string | null;
  store: string;
  running: boolean;
  gate: Gate;
  /** Why the gate is closed (a fixed reason or an id-only error). */
  gateReason: string | null;
  counts: {
    /** Taken in this run (feed entries read, messages the queue took custody of or loaded). */
    received: number;
    /** Queue: messages in custody not yet failed; feed: entries read and waiting for a slot. */
    queued: number;
    inFlight: number;
    /** Written (ok) this run. */
    sent: number;
    filtered: number;
    /** Waiting for a retry. */
    retrying: number;
    /** Dead letters waiting for an admin (stored). */
    dead: number;
    /** Conflicts held for an admin (stored), detected through this channel. */
    held: number;
  };
  /** Feed: entries read and not yet behind the marker, and how old the oldest is. */
  lag: { entries: number; oldest: string | null; seconds: number | null } | null;
  lastSuccess: string | null;
  lastError: { at: string | null; text: string } | null;
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

/**
 * Distinct values of an indexed column, one index seek each (a skip scan), with a count per value:
 * a few channels over many rows cost a few milliseconds, not a scan of every row.
 */
function perValue(table: string, column: string, count: string, extra = ""): string {
  return (
    `WITH RECURSIVE v(x) AS (SELECT MIN(${column}) FROM ${table} UNION ALL SELECT (SELECT MIN(${column}) FROM ${table} WHERE ${column} > v.x) FROM v WHERE v.x IS NOT NULL) ` +
    `SELECT x AS id, (SELECT COUNT(*) FROM ${table} WHERE ${column} = x${count}) AS n${extra} FROM v WHERE x IS NOT NULL`
  );
}

export interface StoreCounts {
  /** Dead letters waiting for an admin, per source. */
  dead: Map<string, { n: number; kind: string }>;
  /** Rows in custody, per queue. */
  queued: Map<string, number>;
  /** Held conflicts per channel that detected them, and in all. */
  held: Map<string, number>;
  heldTotal: number;
}

const NO_COUNTS: StoreCounts = { dead: new Map(), queued: new Map(), held: new Map(), heldTotal: 0 };

/** What one store holds for the admin, per channel. */
export async function storeCounts(db: SqliteDb): Promise<StoreCounts> {
  const dead = await db.all<{ id: string; n: number; kind: string }>(
    perValue("dead_letters", "source", " AND state = 'dead'", ", (SELECT source_kind FROM dead_letters WHERE source = x LIMIT 1) AS kind"),
  );
  const queued = await db.all<{ id: string; n: number }>(perValue("queue_items", "queue", ""));
  // Few rows (a partial index on held ones): a plain grouping is enough.
  const held = await db.all<{ id: string | null; n: number }>(
    "SELECT detected_by AS id, COUNT(*) AS n FROM conflicts WHERE state = 'held' GROUP BY detected_by",
  );
  return {
    dead: new Map(dead.filter((r) => r.n > 0).map((r) => [r.id, { n: r.n, kind: r.kind }])),
    queued: new Map(queued.map((r) => [r.id, r.n])),
    held: new Map(held.flatMap((r) => (r.id === null ? [] : [[r.id, r.n] as [string, number]]))),
    heldTotal: held.reduce((sum, r) => sum + r.n, 0),
  };
}

export function channelRow(c: AdminChannel, dead: number, held: number, now = Date.now()): ChannelRow {
  const s = c.stats();
  const queue = c.kind === "queue";
  const oldest = s.lag?.oldest ? Date.parse(s.lag.oldest) : NaN;
  return {
    id: c.id,
    kind: c.kind,
    name: c.name,
    category: c.category ?? null,
    store: c.storeId,
    running: true,
    gate: s.gate,
    gateReason: s.gate === "open" ? null : (s.gateWhy ?? null),
    counts: {
      received: s.received,
      queued: queue ? Math.max(0, (s.queued ?? 0) - (s.retrying ?? 0)) : s.ready,
      inFlight: s.inFlight + s.settling,
      sent: s.ok,
      filtered: s.filtered + (s.coalesced ?? 0),
      retrying: queue ? (s.retrying ?? 0) : s.waiting,
      dead,
      held,
    },
    lag: s.lag
      ? { entries: s.lag.entries, oldest: s.lag.oldest ?? null, seconds: Number.isNaN(oldest) ? null : Math.max(0, Math.round((now - oldest) / 1000)) }
      : null,
    lastSuccess: iso(s.lastOkAt),
    lastError: s.walkError ? { at: null, text: s.walkError } : s.lastError ? { at: iso(s.lastErrorAt), text: s.lastError } : null,
  };
}

/**
 * Every channel of a store: the running ones, then those that only left dead letters or queued rows;
 * and the store's held conflicts in all (some may have been detected outside any channel).
 */
export async function channelsOf(store: AdminStore, running: AdminChannel[]): Promise<{ rows: ChannelRow[]; held: number }> {
  const db = store.current()?.db;
  const counts = db ? await storeCounts(db) : NO_COUNTS;
  const rows = running.map((c) => channelRow(c, counts.dead.get(c.id)?.n ?? 0, counts.held.get(c.id) ?? 0));
  const seen = new Set(running.map((c) => c.id));
  const stopped = new Set([...counts.dead.keys(), ...counts.queued.keys()].filter((id) => !seen.has(id)));
  for (const id of stopped) {
    const d = counts.dead.get(id);
    const kind: ChannelKind = counts.queued.has(id) || d?.kind === "queue" ? "queue" : "feed";
    rows.push({
      id,
      kind,
      name: id,
      category: null,
      store: store.id,
      running: false,
      gate: "stopped",
      gateReason: null,
      counts: { received: 0, queued: counts.queued.get(id) ?? 0, inFlight: 0, sent: 0, filtered: 0, retrying: 0, dead: d?.n ?? 0, held: 0 },
      lag: null,
      lastSuccess: null,
      lastError: null,
    });
  }
  return { rows, held: counts.heldTotal };
}
