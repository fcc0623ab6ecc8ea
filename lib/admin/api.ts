/**
 * The admin API's handlers, free of HTTP framework and of Node-RED: each takes the query (or body) as
 * parsed JSON and answers a status and a JSON body. Errors are codes (`error`) with details; the node
 * side adds the translated message. Retry and discard only ever act on dead letters: a queued or
 * retrying item is refused, never dropped.
 */
import { discardDeadLetters } from "../store/dead-letters";
import type { SqliteDb } from "../store/sqlite";
import { KeyError, KeyStore, type HubKey } from "../hub/keys";
import { FeedReads, type KeyLag } from "../hub/feed-reads";
import { StatusBoard, summarise, type ChildSummary } from "../hub/status";
import { auditCounts } from "../hub/child-audit";
import { listAudit } from "./audit-query";
import { channelsOf } from "./channels";
import { conflictDetail, itemDetail, listConflicts } from "./detail";
import { ITEM_STATUSES, listItems, parseItemId, recordKeys, type ItemStatus } from "./items";
import { openedStore, type AdminRegistry, type AdminStore } from "./registry";

export interface ApiResult {
  status: number;
  body: Record<string, unknown>;
}

type Query = Record<string, unknown>;

const ok = (body: Record<string, unknown>): ApiResult => ({ status: 200, body });
const fail = (status: number, error: string, details: Record<string, unknown> = {}): ApiResult => ({ status, body: { error, ...details } });

class Refused extends Error {
  constructor(readonly result: ApiResult) {
    super(String(result.body.error));
  }
}

function text(q: Query, name: string, max = 500): string | undefined {
  const v = q[name];
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string" || v.length > max) throw new Refused(fail(400, "bad-parameter", { parameter: name }));
  return v;
}

function int(q: Query, name: string): number | undefined {
  const v = q[name];
  if (v === undefined || v === "") return undefined;
  const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new Refused(fail(400, "bad-parameter", { parameter: name }));
  return n;
}

/** A time as ISO 8601 or epoch ms. */
function time(q: Query, name: string): number | undefined {
  const v = text(q, name, 64);
  if (v === undefined) return undefined;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(n)) throw new Refused(fail(400, "bad-parameter", { parameter: name }));
  return n;
}

async function handle(fn: () => Promise<ApiResult>): Promise<ApiResult> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Refused) return err.result;
    if (err instanceof KeyError) return fail(err.status, err.code);
    if (err instanceof RangeError) return fail(400, "bad-parameter", { parameter: "cursor" });
    throw err;
  }
}

/** Who asked for a key operation, for the audit: the admin user (with adminAuth) and the address. */
export interface Actor {
  user?: string;
  peer?: string;
}

/** How long a key route waits for a store that is being opened. */
const OPEN_WAIT_MS = 5_000;

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A hub key as listed: never the secret nor its hash. lag: events published since the key's last read (feed-reads.ts). */
function keyView(k: HubKey, lag: KeyLag | null = null): Record<string, unknown> {
  return {
    id: k.id,
    name: k.name,
    catchment: k.catchment,
    state: k.state,
    createdAt: isoOrNull(k.createdAt),
    rotatedAt: isoOrNull(k.rotatedAt),
    revokedAt: isoOrNull(k.revokedAt),
    lastSeen: isoOrNull(k.lastSeen),
    lastEntryRead: k.lastEntryRead,
    lag,
  };
}

/** What the hub knows of the child holding a key: its last status report and the audit it sent (lib/hub/status.ts). */
function childView(c: ChildSummary, audit: { messages: number; failures: number } | undefined): Record<string, unknown> {
  return {
    lastContact: isoOrNull(c.lastContact),
    health: c.health,
    why: c.why,
    version: c.report?.version ?? null,
    reportedAt: c.report?.at ?? null,
    channels: c.report?.channels ?? [],
    audit: audit ?? { messages: 0, failures: 0 },
  };
}

export class AdminApi {
  constructor(private readonly reg: AdminRegistry) {}

  /** The store a request is about: `store`, else the channel's, else the only one. */
  private store(q: Query): { store: AdminStore; db: SqliteDb } {
    const s = this.storeOf(q);
    const db = s.current()?.db;
    if (!db) throw new Refused(fail(503, "store-not-open", { store: s.id, reason: s.lastError?.() ?? null }));
    return { store: s, db };
  }

  private storeOf(q: Query): AdminStore {
    const id = text(q, "store") ?? (typeof q.channel === "string" ? this.reg.channels.get(q.channel)?.storeId : undefined);
    let s: AdminStore | undefined;
    if (id) s = this.reg.stores.get(id);
    else if (this.reg.stores.size === 1) s = [...this.reg.stores.values()][0];
    else if (this.reg.stores.size > 1) throw new Refused(fail(400, "store-required", { stores: [...this.reg.stores.keys()] }));
    if (!s) throw new Refused(fail(404, "no-store", { store: id ?? null }));
    return s;
  }

  /** A store's keys: the store is opened if no node has opened it yet (a hub with keys only). */
  private async keyStore(q: Query): Promise<{ store: AdminStore; keys: KeyStore; db: SqliteDb }> {
    const s = this.storeOf(q);
    const db = (await openedStore(s, OPEN_WAIT_MS))?.db;
    if (!db) throw new Refused(fail(503, "store-not-open", { store: s.id, reason: s.lastError?.() ?? null }));
    return { store: s, keys: await KeyStore.of(db), db };
  }

  channels(q: Query): Promise<ApiResult> {
    return handle(async () => {
      const only = text(q, "store");
      const stores = [...this.reg.stores.values()].filter((s) => !only || s.id === only);
      const rows = [];
      const held = new Map<string, number>();
      for (const s of stores) {
        const r = await channelsOf(s, this.reg.channelsOf(s.id));
        rows.push(...r.rows);
        held.set(s.id, r.held);
      }
      return ok({
        channels: rows,
        stores: stores.map((s) => ({
          id: s.id,
          name: s.name,
          open: !!s.current(),
          auditContent: s.auditContent,
          error: s.lastError?.() ?? null,
          held: held.get(s.id) ?? 0,
        })),
      });
    });
  }

  items(q: Query): Promise<ApiResult> {
    return handle(async () => {
      const status = text(q, "status");
      if (status && !ITEM_STATUSES.includes(status as ItemStatus)) return fail(400, "bad-parameter", { parameter: "status" });
      const { store, db } = this.store(q);
      const page = await listItems(db, {
        channel: text(q, "channel"),
        status: status as ItemStatus | undefined,
        record: text(q, "record"),
        limit: int(q, "limit"),
        cursor: text(q, "cursor", 3000),
      });
      return ok({ store: store.id, ...page });
    });
  }

  item(id: string, q: Query): Promise<ApiResult> {
    return handle(async () => {
      if (!parseItemId(id)) return fail(404, "no-item", { id });
      const { store, db } = this.store(q);
      const item = await itemDetail(db, id, store.auditContent);
      return item ? ok({ store: store.id, item }) : fail(404, "no-item", { id });
    });
  }

  /** Retry or discard one item: a dead letter, nothing else. */
  act(action: "retry" | "discard", id: string, q: Query): Promise<ApiResult> {
    return handle(async () => {
      const p = parseItemId(id);
      if (!p) return fail(404, "no-item", { id });
      const { store, db } = this.store(q);
      if (p.kind !== "dl") return fail(409, "not-dead", { id });
      const row = await db.get<{ source: string; state: string }>("SELECT source, state FROM dead_letters WHERE id = ?", [p.row]);
      if (!row) return fail(404, "no-item", { id });
      if (row.state !== "dead") return fail(409, "not-dead", { id, state: row.state });
      const r = await this.actOn(action, store, db, row.source, [p.row]);
      if (r.skipped) return fail(409, "channel-not-running", { id, channel: row.source });
      return ok({ store: store.id, action, affected: r.affected });
    });
  }

  /** Retry or discard every dead letter matching a filter: {store, channel, record, ids, dryRun}. */
  actMatching(action: "retry" | "discard", body: unknown): Promise<ApiResult> {
    return handle(async () => {
      if (!body || typeof body !== "object" || Array.isArray(body)) return fail(400, "bad-body");
      const b = body as Query;
      const { store, db } = this.store(b);
      const where = ["state = 'dead'"];
      const params: (string | number)[] = [];
      const channel = text(b, "channel");
      const record = text(b, "record");
      if (channel) {
        where.push("source = ?");
        params.push(channel);
      }
      if (record) {
        const keys = recordKeys(record);
        where.push(`record_key IN (${keys.map(() => "?").join(",")})`);
        params.push(...keys);
      }
      if (b.ids !== undefined) {
        if (!Array.isArray(b.ids) || b.ids.length > 10_000) return fail(400, "bad-parameter", { parameter: "ids" });
        const rows = b.ids.map((x) => (typeof x === "string" ? parseItemId(x) : undefined));
        // Only dead letters can be acted on: other ids match nothing.
        const dl = rows.flatMap((p) => (p?.kind === "dl" ? [p.row] : []));
        where.push(`id IN (${dl.map(() => "?").join(",") || "NULL"})`);
        params.push(...dl);
      }
      const rows = await db.all<{ id: number; source: string }>(`SELECT id, source FROM dead_letters WHERE ${where.join(" AND ")} ORDER BY id`, params);
      if (b.dryRun === true) return ok({ store: store.id, action, matched: rows.length, affected: 0, dryRun: true });
      const bySource = new Map<string, number[]>();
      for (const r of rows) bySource.set(r.source, [...(bySource.get(r.source) ?? []), r.id]);
      let affected = 0;
      const skipped: { channel: string; count: number }[] = [];
      for (const [source, ids] of bySource) {
        const r = await this.actOn(action, store, db, source, ids);
        affected += r.affected;
        if (r.skipped) skipped.push({ channel: source, count: ids.length });
      }
      return ok({ store: store.id, action, matched: rows.length, affected, skipped });
    });
  }

  /** Through the channel when it runs (it delivers again and updates its counts); a discard also without it. */
  private async actOn(
    action: "retry" | "discard",
    store: AdminStore,
    db: SqliteDb,
    source: string,
    ids: number[],
  ): Promise<{ affected: number; skipped: boolean }> {
    const ch = this.reg.channels.get(source);
    if (ch && ch.storeId === store.id) return { affected: await (action === "retry" ? ch.retryDead(ids) : ch.discardDead(ids)), skipped: false };
    if (action === "discard") return { affected: await discardDeadLetters(db, source, ids), skipped: false };
    return { affected: 0, skipped: true };
  }

  audit(q: Query): Promise<ApiResult> {
    return handle(async () => {
      const { store, db } = this.store(q);
      const record = text(q, "record");
      const page = await listAudit(db, {
        record: record ? recordKeys(record) : undefined,
        outcome: text(q, "outcome"),
        channel: text(q, "channel"),
        key: text(q, "key"),
        from: time(q, "from"),
        to: time(q, "to"),
        limit: int(q, "limit"),
        cursor: int(q, "cursor"),
      });
      return ok({ store: store.id, ...page });
    });
  }

  conflicts(q: Query): Promise<ApiResult> {
    return handle(async () => {
      const state = text(q, "state");
      if (state && state !== "held" && state !== "resolved") return fail(400, "bad-parameter", { parameter: "state" });
      const { store, db } = this.store(q);
      const record = text(q, "record");
      const cursor = text(q, "cursor");
      const c = cursor === undefined ? undefined : /^(c-)?(\d{1,15})$/.exec(cursor);
      if (c === null) return fail(400, "bad-parameter", { parameter: "cursor" });
      const page = await listConflicts(db, {
        state: state as "held" | "resolved" | undefined,
        record: record ? recordKeys(record) : undefined,
        limit: int(q, "limit"),
        cursor: c && Number(c[2]),
      });
      return ok({ store: store.id, ...page });
    });
  }

  conflict(id: string, q: Query): Promise<ApiResult> {
    return handle(async () => {
      const m = /^(c-)?(\d{1,15})$/.exec(id);
      if (!m) return fail(404, "no-conflict", { id });
      const { store, db } = this.store(q);
      const c = await conflictDetail(db, Number(m[2]), store.auditContent);
      return c ? ok({ store: store.id, conflict: c }) : fail(404, "no-conflict", { id });
    });
  }

  /** Keeps one version of a held conflict: written to the other side by the fhir-push that writes there. */
  resolve(id: string, body: unknown): Promise<ApiResult> {
    return handle(async () => {
      const b = (body && typeof body === "object" ? body : {}) as Query;
      const m = /^(c-)?(\d{1,15})$/.exec(id);
      if (!m) return fail(404, "no-conflict", { id });
      const use = b.use ?? b.keep;
      if (use !== "parent" && use !== "child") return fail(400, "bad-parameter", { parameter: "use" });
      const { store, db } = this.store(b);
      const row = Number(m[2]);
      const c = await db.get<{ state: string }>("SELECT state FROM conflicts WHERE id = ?", [row]);
      if (!c) return fail(404, "no-conflict", { id });
      if (c.state !== "held") return fail(409, "not-held", { id, state: c.state });
      const other = use === "parent" ? "child" : "parent";
      const writer = [...this.reg.writers.values()].find((w) => w.storeId === store.id && w.targetRole === other);
      if (!writer) return fail(409, "no-writer", { id, side: other });
      try {
        await writer.resolve(row, use);
      } catch (err) {
        return fail(502, "write-failed", { id, side: other, detail: err instanceof Error ? err.message : String(err) });
      }
      return ok({ store: store.id, id: `c-${row}`, use, writtenTo: other, by: writer.id });
    });
  }

  // ---- hub keys (lib/hub/keys.ts) ----------------------------------------------------------------

  keys(q: Query): Promise<ApiResult> {
    return handle(async () => {
      const { store, keys, db } = await this.keyStore(q);
      const [reports, audits, lags] = await Promise.all([new StatusBoard(db).all(), auditCounts(db), FeedReads.of(db).lags()]);
      const now = Date.now();
      return ok({
        store: store.id,
        keys: keys.list().map((k) => {
          const r = reports.get(k.id);
          return { ...keyView(k, lags.get(k.id) ?? null), child: childView(summarise(r?.receivedAt ?? null, r?.report ?? null, now), audits.get(k.id)) };
        }),
      });
    });
  }

  /** Issues a key: the answer holds its secret, which is never shown again. */
  issueKey(body: unknown, actor: Actor): Promise<ApiResult> {
    return handle(async () => {
      if (!body || typeof body !== "object" || Array.isArray(body)) return fail(400, "bad-body");
      const b = body as Query;
      const { store, keys } = await this.keyStore(b);
      const issued = await keys.issue(b.name, b.catchment);
      await this.keyAudit(keys, "key-issue", issued.id, actor);
      return { status: 201, body: { store: store.id, ...issued } };
    });
  }

  /** A new secret for a key; the old one is refused from now on. */
  rotateKey(id: string, q: Query, actor: Actor): Promise<ApiResult> {
    return handle(async () => {
      const { store, keys } = await this.keyStore(q);
      const issued = await keys.rotate(id);
      await this.keyAudit(keys, "key-rotate", id, actor);
      return ok({ store: store.id, ...issued });
    });
  }

  revokeKey(id: string, q: Query, actor: Actor): Promise<ApiResult> {
    return handle(async () => {
      const { store, keys } = await this.keyStore(q);
      const key = await keys.revoke(id);
      await this.keyAudit(keys, "key-revoke", id, actor);
      return ok({ store: store.id, key: keyView(key) });
    });
  }

  private keyAudit(keys: KeyStore, action: string, id: string, actor: Actor): Promise<void> {
    return keys.record([{ direction: "hub", source: "admin", action, target: actor.user, peer: actor.peer, outcome: "ok", hubKey: id }]);
  }
}
