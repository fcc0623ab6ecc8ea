/**
 * Central status (issue 10): every child reports, on its audit-push schedule, how each of its channels
 * stands (lag per feed, queue depth, dead letters, last error) and its package version; the hub keeps the
 * latest report per key with the time it came (`hub_status`), so the hub's admin sees which clinic is
 * behind, failing or silent without opening the clinic's Node-RED. This replaces sync2's parent-side audit
 * page (the audit rows themselves arrive through `ws/rest/sync2/messages`: child-audit.ts). No Node-RED here.
 *
 * A report carries no clinical content: channel names, counts, times and error texts (which name records
 * by id only: lib/outcome.ts). The hub bounds what it keeps (channels, text lengths).
 */
import type { ChannelRow } from "../admin/channels";
import type { SqliteDb } from "../store/sqlite";

export interface ChannelStatus {
  name: string;
  kind: "feed" | "queue";
  category: string | null;
  gate: string;
  running: boolean;
  /** Feed: entries read and not yet behind the marker, and the age of the oldest in seconds. */
  lagEntries: number | null;
  lagSeconds: number | null;
  /** Queue: messages waiting; both: waiting for a retry, dead letters, conflicts held. */
  queued: number;
  retrying: number;
  dead: number;
  held: number;
  lastSuccess: string | null;
  lastError: string | null;
}

export interface ChildStatus {
  /** The child's instance id (audit-push's), for the admin's eyes; the key says who it is. */
  instance: string;
  /** node-red-contrib-openmrs-sync version of the child. */
  version: string;
  /** When the child made the report (ISO). */
  at: string;
  channels: ChannelStatus[];
}

export class StatusError extends Error {
  constructor(readonly field: string) {
    super(`bad status report: ${field}`);
  }
}

const MAX_CHANNELS = 200;
const MAX_TEXT = 300;

const clip = (s: string | null | undefined, n = MAX_TEXT): string | null => (s == null ? null : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The report a child sends, from its admin channel rows (lib/admin/channels.ts). */
export function statusReport(rows: readonly ChannelRow[], instance: string, version: string, now = Date.now()): ChildStatus {
  return {
    instance: clip(instance, 100)!,
    version,
    at: new Date(now).toISOString(),
    channels: rows.slice(0, MAX_CHANNELS).map((r) => ({
      name: clip(r.name, 100)!,
      kind: r.kind,
      category: r.category,
      gate: r.gate,
      running: r.running,
      lagEntries: r.lag?.entries ?? null,
      lagSeconds: r.lag?.seconds ?? null,
      queued: r.counts.queued,
      retrying: r.counts.retrying,
      dead: r.counts.dead,
      held: r.counts.held,
      lastSuccess: r.lastSuccess,
      lastError: clip(r.lastError?.text),
    })),
  };
}

function text(v: unknown, field: string, max: number, nullable = false): string | null {
  if (v === null && nullable) return null;
  if (typeof v !== "string" || v.length > max) throw new StatusError(field);
  return v;
}

function count(v: unknown, field: string, nullable = false): number | null {
  if (v === null && nullable) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 1e12) throw new StatusError(field);
  return v;
}

/** A report as received by the hub, checked field by field (a bad one is refused whole: 400). */
export function parseStatusReport(body: unknown): ChildStatus {
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b !== "object" || Array.isArray(b)) throw new StatusError("body");
  if (!Array.isArray(b.channels) || b.channels.length > MAX_CHANNELS) throw new StatusError("channels");
  if (typeof b.at !== "string" || Number.isNaN(Date.parse(b.at))) throw new StatusError("at");
  return {
    instance: text(b.instance, "instance", 100)!,
    version: text(b.version, "version", 40)!,
    at: b.at,
    channels: b.channels.map((c: unknown, i) => {
      const o = c as Record<string, unknown> | null;
      if (!o || typeof o !== "object") throw new StatusError(`channels[${i}]`);
      if (o.kind !== "feed" && o.kind !== "queue") throw new StatusError(`channels[${i}].kind`);
      if (typeof o.running !== "boolean") throw new StatusError(`channels[${i}].running`);
      return {
        name: text(o.name, `channels[${i}].name`, 100)!,
        kind: o.kind,
        category: text(o.category, `channels[${i}].category`, 100, true),
        gate: text(o.gate, `channels[${i}].gate`, 40)!,
        running: o.running,
        lagEntries: count(o.lagEntries, `channels[${i}].lagEntries`, true),
        lagSeconds: count(o.lagSeconds, `channels[${i}].lagSeconds`, true),
        queued: count(o.queued, `channels[${i}].queued`)!,
        retrying: count(o.retrying, `channels[${i}].retrying`)!,
        dead: count(o.dead, `channels[${i}].dead`)!,
        held: count(o.held, `channels[${i}].held`)!,
        lastSuccess: text(o.lastSuccess, `channels[${i}].lastSuccess`, 40, true),
        lastError: text(o.lastError, `channels[${i}].lastError`, MAX_TEXT, true),
      };
    }),
  };
}

/** How a child looks from the hub. */
export type Health = "ok" | "behind" | "failing" | "silent" | "never";

export interface ChildSummary {
  /** When the hub last heard from the child (any report), ms. */
  lastContact: number | null;
  health: Health;
  /** Why, for the admin: the worst channel and what is wrong with it. */
  why: string | null;
  report: ChildStatus | null;
}

export interface HealthLimits {
  /** No report for this long: silent (default 3 report intervals of 5 min). */
  silentAfterMs: number;
  /** A feed whose oldest unsettled entry is this old: behind. */
  behindSeconds: number;
}

export const DEFAULT_LIMITS: HealthLimits = { silentAfterMs: 15 * 60_000, behindSeconds: 3600 };

/** ok, behind (a feed's lag too old), failing (dead letters, a closed gate, an error), silent (no report lately). */
export function summarise(receivedAt: number | null, report: ChildStatus | null, now = Date.now(), limits = DEFAULT_LIMITS): ChildSummary {
  if (receivedAt === null || !report) return { lastContact: null, health: "never", why: null, report: null };
  if (now - receivedAt > limits.silentAfterMs) return { lastContact: receivedAt, health: "silent", why: null, report };
  const failing = report.channels.find((c) => c.dead > 0 || (c.running && c.gate !== "open" && c.gate !== "paused"));
  if (failing) {
    const why = failing.dead > 0 ? `${failing.name}: ${failing.dead} dead` : `${failing.name}: ${failing.gate}`;
    return { lastContact: receivedAt, health: "failing", why: failing.lastError ? `${why} (${failing.lastError})` : why, report };
  }
  const behind = report.channels.find((c) => (c.lagSeconds ?? 0) > limits.behindSeconds);
  if (behind) return { lastContact: receivedAt, health: "behind", why: `${behind.name}: ${behind.lagEntries ?? 0} entries, ${behind.lagSeconds}s`, report };
  return { lastContact: receivedAt, health: "ok", why: null, report };
}

/** The latest report of each key, in the hub's store. */
export class StatusBoard {
  constructor(private readonly db: SqliteDb) {}

  async save(keyId: string, report: ChildStatus, now = Date.now()): Promise<void> {
    const json = JSON.stringify(report);
    await this.db.write((tx) =>
      tx.run(
        "INSERT INTO hub_status (key_id, received_at, report) VALUES (?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET received_at = excluded.received_at, report = excluded.report",
        [keyId, now, json],
      ),
    );
  }

  /** Every key's latest report, by key id. */
  async all(): Promise<Map<string, { receivedAt: number; report: ChildStatus }>> {
    const rows = await this.db.all<{ key_id: string; received_at: number; report: string }>("SELECT key_id, received_at, report FROM hub_status");
    return new Map(rows.map((r) => [r.key_id, { receivedAt: r.received_at, report: JSON.parse(r.report) as ChildStatus }]));
  }
}
