/**
 * DurableQueue: takes custody of messages in the sync store and delivers them downstream until each
 * one is settled. Semantics (integration-engines.md §1.2, §3.5, §7 — Mirth's faults avoided):
 *
 *  - enqueue resolves after COMMIT (WAL + synchronous=FULL by default): an acknowledged message
 *    survives kill -9 and power loss; in-flight state lives in memory only, so after a crash every
 *    stored row is simply delivered again (at least once; writes are upserts, so the effect is once);
 *  - transient failures retry with exponential backoff, cap and jitter, honouring Retry-After;
 *    permanent ones go to the dead letter at once with the server's OperationOutcome; attempts and
 *    age are bounded, after which the message is dead-lettered;
 *  - channel-level failures (connection refused/reset, timeouts, 502/503/504, 429) open a circuit:
 *    one probe at a time until the target answers again, so an outage costs one alert and no
 *    attempts for messages that were never tried; 401/403 pause the queue until a probe passes or
 *    the admin resumes it;
 *  - order is kept per record key with several records in flight; a failing record never blocks the
 *    others; a newer change of a waiting record replaces the older one (coalescing).
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "../backoff";
import { isSettledKind, type Outcome } from "../outcome";
import type { SettleInfo, Ticket } from "../feed/consumer";
import { SyncStore, type AuditInput, type DeadLetterRow } from "../store/store";
import { drainWhileProgressing } from "../drain";
import type { Tx } from "../store/sqlite";

/** What the queue stores for one message: anything JSON, plus what it needs to know about it. */
export interface QueuedMessage {
  /** Ordering and coalescing key, e.g. "Patient/<uuid>". */
  key: string;
  /** The message itself (without its ticket). */
  body: Record<string, unknown>;
  /** Feed entry id it came from, for the audit. */
  entryId?: string;
  action?: string;
}

export interface QueueEvents {
  deliver(message: Record<string, unknown>, ticket: Ticket): void;
  deadLettered?(key: string, outcome: Outcome, attempts: number, deadLetterId: number): void;
  /** Target unreachable or rate limiting: holding messages, probing. Called once per episode. */
  circuitOpened?(outcome: Outcome): void;
  circuitClosed?(): void;
  paused?(outcome: Outcome): void;
  resumed?(): void;
  changed?(): void;
  storeError?(err: Error): void;
}

export interface DurableQueueOptions {
  id: string;
  store: SyncStore;
  storeId: string;
  events: QueueEvents;
  concurrency?: number;
  backoff?: BackoffPolicy;
  maxAttempts?: number;
  maxAgeMs?: number;
  ticketTimeoutMs?: number;
  /** First probe delay when the circuit opens or the queue pauses (doubles up to probeCapMs). */
  probeMs?: number;
  /** Longest wait between probes: how long a recovered target may wait for us to notice. */
  probeCapMs?: number;
  direction?: "push" | "pull";
  /** Keep the message body in audit rows (clinical content): off unless an admin switches it on. */
  auditContent?: boolean;
  /** Rows read from the store per claim query. */
  batchSize?: number;
}

interface Row {
  id: number;
  key: string;
  body: Record<string, unknown>;
  attempts: number;
  firstFailedAt: number | null;
  entryId?: string;
  action?: string;
}

interface InFlight extends Row {
  serial: number;
  deadline: number;
  probe: boolean;
}

export interface QueueStats {
  queued: number;
  inFlight: number;
  sent: number;
  retrying: number;
  dead: number;
  filtered: number;
  circuitOpen: boolean;
  paused: boolean;
  lastError?: string;
}

/** Failures that say the channel is down, not this message. */
export function isChannelFailure(o: Outcome): boolean {
  if (o.kind !== "retry") return false;
  if (o.status === 429 || o.status === 502 || o.status === 503 || o.status === 504) return true;
  return ["refused", "reset", "timeout", "dns", "network"].includes(o.reason);
}

export class DurableQueue {
  private readonly o: Required<Omit<DurableQueueOptions, "events">> & { events: QueueEvents };
  private buffer: Row[] = [];
  /** Row ids in the buffer or in flight (not to be loaded again). */
  private claimed = new Set<number>();
  private inflight = new Map<number, InFlight>();
  private inflightKeys = new Set<string>();
  private cursor: { nextAt: number; id: number } | null = null;
  private loading = false;
  private reloadWanted = false;
  private wakeTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private serialCounter = Date.now() * 1000;
  private stopped = false;
  private circuit: { open: boolean; until: number; delay: number; probing: boolean } = { open: false, until: 0, delay: 0, probing: false };
  private paused = false;
  private queued = 0;
  private retrying = 0;
  private lastError?: string;
  /** Settlements written but not committed yet: deliveries stop while there are too many (backpressure). */
  private settling = 0;
  private doneIds: number[] = [];
  private doneAudits: AuditInput[] = [];
  private journaling = false;
  readonly counts = { sent: 0, dead: 0, filtered: 0, enqueued: 0, committed: 0 };

  constructor(options: DurableQueueOptions) {
    this.o = {
      concurrency: 4,
      backoff: DEFAULT_BACKOFF,
      maxAttempts: 50,
      maxAgeMs: 24 * 3600_000,
      ticketTimeoutMs: 120_000,
      probeMs: 2_000,
      probeCapMs: 30_000,
      direction: "push",
      auditContent: false,
      batchSize: 200,
      ...options,
    };
  }

  get id(): string {
    return this.o.id;
  }

  async start(): Promise<void> {
    const row = await this.o.store.db.get<{ n: number; w: number }>(
      "SELECT COUNT(*) AS n, COALESCE(SUM(attempts > 0), 0) AS w FROM queue_items WHERE queue = ?",
      [this.o.id],
    );
    this.queued = row?.n ?? 0;
    this.retrying = row?.w ?? 0;
    const every = Math.max(200, Math.min(5_000, Math.floor(this.o.ticketTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweepExpired(), every);
    this.sweepTimer.unref?.();
    this.pump();
  }

  /**
   * Takes custody of a message. Resolves once it is committed; a newer change of a record that is
   * waiting (not in flight) replaces the older one.
   */
  enqueue(m: QueuedMessage): Promise<{ id: number; coalesced: boolean }> {
    const json = JSON.stringify({ ...m.body, ticket: undefined, _entryId: m.entryId, _action: m.action });
    return this.o.store.db
      .write(async (tx) => {
        const existing = await tx.get<{ id: number }>("SELECT id FROM queue_items WHERE queue = ? AND record_key = ? ORDER BY id DESC LIMIT 1", [this.o.id, m.key]);
        if (existing && !this.inflight.has(existing.id)) {
          await tx.run("UPDATE queue_items SET message = ?, coalesced = coalesced + 1 WHERE id = ?", [json, existing.id]);
          const buffered = this.buffer.find((r) => r.id === existing.id);
          if (buffered) Object.assign(buffered, { body: { ...m.body, ticket: undefined }, entryId: m.entryId, action: m.action });
          return { id: existing.id, coalesced: true };
        }
        const now = Date.now();
        const r = await tx.run("INSERT INTO queue_items (queue, record_key, message, enqueued_at, next_at) VALUES (?,?,?,?,?)", [this.o.id, m.key, json, now, now]);
        return { id: r.lastID, coalesced: false };
      })
      .then((res) => {
        this.counts.enqueued++;
        if (res.coalesced) this.counts.filtered++;
        else this.queued++;
        this.reloadWanted = true;
        this.pump();
        this.changed();
        return res;
      });
  }

  // ---- claiming ----------------------------------------------------------------------------------

  private canClaim(): boolean {
    if (this.stopped || this.paused) return false;
    if (this.settling >= Math.max(256, this.o.concurrency * 8)) return false;
    if (this.circuit.open) return !this.circuit.probing && Date.now() >= this.circuit.until && this.inflight.size === 0;
    return this.inflight.size < this.o.concurrency;
  }

  private pump(): void {
    while (this.canClaim()) {
      const idx = this.buffer.findIndex((r) => !this.inflightKeys.has(r.key));
      if (idx < 0) break;
      const [row] = this.buffer.splice(idx, 1);
      this.dispatch(row, this.circuit.open || this.paused);
    }
    if (this.canClaim() && this.buffer.length < this.o.batchSize / 2) void this.load();
    if (this.circuit.open && !this.circuit.probing) this.wakeAt(this.circuit.until);
  }

  /** Reads due rows into the buffer, in (next_at, id) order, continuing where the last read stopped. */
  private async load(): Promise<void> {
    if (this.loading || this.stopped) {
      this.reloadWanted = true;
      return;
    }
    this.loading = true;
    try {
      for (let round = 0; round < 10 && !this.stopped; round++) {
        this.reloadWanted = false;
        const c = this.cursor;
        const now = Date.now();
        const rows = await this.o.store.db.all<{ id: number; record_key: string; message: string; attempts: number; first_failed_at: number | null; next_at: number }>(
          c
            ? "SELECT id, record_key, message, attempts, first_failed_at, next_at FROM queue_items WHERE queue = ? AND next_at <= ? AND (next_at > ? OR (next_at = ? AND id > ?)) ORDER BY next_at, id LIMIT ?"
            : "SELECT id, record_key, message, attempts, first_failed_at, next_at FROM queue_items WHERE queue = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?",
          c ? [this.o.id, now, c.nextAt, c.nextAt, c.id, this.o.batchSize] : [this.o.id, now, this.o.batchSize],
        );
        for (const r of rows) {
          if (this.claimed.has(r.id)) continue;
          const body = JSON.parse(r.message) as Record<string, unknown>;
          const entryId = typeof body._entryId === "string" ? body._entryId : undefined;
          const action = typeof body._action === "string" ? body._action : undefined;
          delete body._entryId;
          delete body._action;
          this.buffer.push({ id: r.id, key: r.record_key, body, attempts: r.attempts, firstFailedAt: r.first_failed_at, entryId, action });
          this.claimed.add(r.id);
        }
        const last = rows[rows.length - 1];
        // A short batch ends a pass; the next pass starts from the beginning (rows skipped because
        // their record was in flight are picked up then).
        this.cursor = rows.length === this.o.batchSize && last ? { nextAt: last.next_at, id: last.id } : null;
        if (this.buffer.length >= this.o.batchSize / 2) break;
        if (!this.cursor && !this.reloadWanted) break;
      }
    } catch (err) {
      this.o.events.storeError?.(err as Error);
    } finally {
      this.loading = false;
    }
    if (!this.buffer.length) this.scheduleNextDue();
    this.pump();
  }

  /** Nothing due now: wake up when the earliest waiting row is due. */
  private scheduleNextDue(): void {
    void this.o.store.db
      .get<{ t: number | null }>("SELECT MIN(next_at) AS t FROM queue_items WHERE queue = ? AND next_at > ?", [this.o.id, Date.now()])
      .then((r) => {
        if (r?.t) this.wakeAt(r.t);
      })
      .catch(() => undefined);
  }

  private wakeAt(at: number): void {
    if (this.stopped) return;
    const delay = Math.max(10, Math.min(at - Date.now(), 60_000));
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.cursor = null;
      this.reloadWanted = true;
      this.pump();
      void this.load();
    }, delay);
    this.wakeTimer.unref?.();
  }

  private dispatch(row: Row, probe: boolean): void {
    const item: InFlight = { ...row, serial: ++this.serialCounter, deadline: Date.now() + this.o.ticketTimeoutMs, probe };
    this.inflight.set(row.id, item);
    this.inflightKeys.add(row.key);
    if (probe) this.circuit.probing = true;
    const ticket: Ticket = { store: this.o.storeId, source: this.o.id, entry: String(row.id), key: row.key, serial: item.serial, attempt: row.attempts + 1 };
    this.o.events.deliver({ ...row.body }, ticket);
  }

  // ---- settling ----------------------------------------------------------------------------------

  settle(ticket: Pick<Ticket, "entry" | "serial">, outcome: Outcome, info: SettleInfo = {}): boolean {
    const id = Number(ticket.entry);
    const item = this.inflight.get(id);
    if (!item || item.serial !== ticket.serial) return false;
    this.inflight.delete(id);
    this.inflightKeys.delete(item.key);
    if (item.probe) this.circuit.probing = false;
    const attempt = item.attempts + 1;
    const audit: AuditInput = {
      direction: this.o.direction,
      source: this.o.id,
      entryId: item.entryId,
      recordKey: item.key,
      action: info.action ?? item.action,
      target: info.target,
      outcome: outcome.kind,
      reason: outcome.reason,
      httpStatus: outcome.status,
      error: outcome.kind === "ok" ? undefined : outcome.message,
      attempt,
      durationMs: info.durationMs,
      content: this.o.auditContent ? JSON.stringify(item.body.payload ?? item.body) : undefined,
    };

    const answered = outcome.kind === "ok" || outcome.kind === "filtered" || outcome.kind === "permanent" || (outcome.kind === "retry" && !isChannelFailure(outcome));
    if (answered) {
      // The target answered: a closed or recovering channel is fine again.
      if (this.circuit.open && item.probe) this.closeCircuit();
      if (this.paused && item.probe) this.resume();
    }
    if (isSettledKind(outcome.kind)) {
      if (item.attempts > 0) this.retrying--;
      if (outcome.kind === "permanent") this.deadLetter(item, outcome, attempt, audit);
      else {
        if (outcome.kind === "ok") this.counts.sent++;
        else this.counts.filtered++;
        this.queued--;
        this.journalDone(id, audit);
      }
    } else {
      this.failed(item, outcome, attempt, audit);
    }
    this.pump();
    this.changed();
    return true;
  }

  private failed(item: InFlight, outcome: Outcome, attempt: number, audit: AuditInput): void {
    const now = Date.now();
    this.lastError = outcome.message ?? outcome.reason;
    const firstFailedAt = item.firstFailedAt ?? now;
    if (outcome.kind === "retry" && (attempt >= this.o.maxAttempts || now - firstFailedAt >= this.o.maxAgeMs)) {
      const why = attempt >= this.o.maxAttempts ? `gave up after ${attempt} attempts` : `gave up after retrying for ${Math.round((now - firstFailedAt) / 1000)} s`;
      if (item.attempts > 0) this.retrying--;
      this.deadLetter(item, { ...outcome, kind: "permanent", message: `${why}; last error: ${this.lastError}` }, attempt, audit);
      return;
    }
    // While paused, a probe that fails in any way keeps the pause (and backs off the next probe).
    if (outcome.kind === "auth" || (this.paused && item.probe)) this.pause(outcome);
    else if (isChannelFailure(outcome)) this.openCircuit(outcome);
    // Auth and channel failures are the channel's, not the message's: they do not use up attempts.
    const countsAttempt = outcome.kind === "retry" && !isChannelFailure(outcome);
    const attempts = countsAttempt ? attempt : item.attempts;
    const delay = outcome.kind === "auth" ? 0 : backoffDelay(Math.max(1, attempt), this.o.backoff, outcome.retryAfterMs);
    const nextAt = isChannelFailure(outcome) || outcome.kind === "auth" ? now : now + delay;
    if (item.attempts === 0 && attempts > 0) this.retrying++;
    const id = item.id;
    this.write(async (tx) => {
      // A newer change of the record arrived while this one was out: it supersedes the failed one.
      const newer = await tx.get<{ id: number }>("SELECT id FROM queue_items WHERE queue = ? AND record_key = ? AND id > ? LIMIT 1", [this.o.id, item.key, id]);
      if (newer) {
        await tx.run("DELETE FROM queue_items WHERE id = ?", [id]);
        this.queued--;
        this.counts.filtered++;
        if (attempts > 0) this.retrying--;
      } else {
        await tx.run("UPDATE queue_items SET attempts = ?, first_failed_at = ?, next_at = ?, last_error = ?, last_status = ? WHERE id = ?", [
          attempts,
          countsAttempt ? firstFailedAt : item.firstFailedAt,
          nextAt,
          outcome.message ?? outcome.reason,
          outcome.status ?? null,
          id,
        ]);
      }
      await SyncStore.insertAudit(tx, audit);
    }).then(() => {
      // Claimable again only once the new next_at is committed.
      this.claimed.delete(id);
      this.cursor = null;
      if (nextAt > Date.now()) this.wakeAt(nextAt);
      this.reloadWanted = true;
      this.pump();
    });
  }

  private deadLetter(item: InFlight | Row, outcome: Outcome, attempts: number, audit?: AuditInput): void {
    this.counts.dead++;
    this.queued--;
    const id = item.id;
    this.write(async (tx) => {
      const r = await SyncStore.insertDeadLetter(tx, {
        source: this.o.id,
        sourceKind: "queue",
        recordKey: item.key,
        entryId: item.entryId,
        entry: { ...item.body, _entryId: item.entryId, _action: item.action },
        reason: outcome.reason,
        error: outcome.message,
        httpStatus: outcome.status,
        operationOutcome: outcome.operationOutcome,
        attempts,
        firstFailedAt: item.firstFailedAt ?? Date.now(),
      });
      await tx.run("DELETE FROM queue_items WHERE id = ?", [id]);
      if (audit) await SyncStore.insertAudit(tx, audit);
      return r.lastID;
    }).then((deadId) => {
      this.claimed.delete(id);
      if (deadId !== undefined) this.o.events.deadLettered?.(item.key, outcome, attempts, deadId);
    });
  }

  /**
   * The common settlement (done or filtered) is journaled: the rows are deleted and audited together,
   * one DELETE ... IN (...) and one multi-row INSERT per commit. A row stays claimed until its DELETE
   * is committed, so no reader sees it as pending again.
   */
  private journalDone(id: number, audit: AuditInput): void {
    this.doneIds.push(id);
    this.doneAudits.push(audit);
    this.settling++;
    if (this.journaling) return;
    this.journaling = true;
    void this.o.store.db
      .write(async (tx) => {
        const ids = this.doneIds;
        const audits = this.doneAudits;
        this.doneIds = [];
        this.doneAudits = [];
        this.journaling = false;
        for (let i = 0; i < ids.length; i += 500) {
          const chunk = ids.slice(i, i + 500);
          await tx.run(`DELETE FROM queue_items WHERE id IN (${chunk.map(() => "?").join(",")})`, chunk);
        }
        await SyncStore.insertAudits(tx, audits);
        return ids;
      })
      .then(
        (ids) => {
          for (const done of ids) this.claimed.delete(done);
          this.counts.committed += ids.length;
          this.settling -= ids.length;
        },
        (err: Error) => {
          // Not committed: the rows stay in the table and are delivered again after a restart.
          this.journaling = false;
          this.o.events.storeError?.(err);
        },
      )
      .finally(() => this.pump());
  }

  /** A settlement's write: counted until committed, so deliveries cannot run ahead of the disk. */
  private write<T>(fn: (tx: Tx) => Promise<T>): Promise<T | undefined> {
    this.settling++;
    return this.o.store.db
      .write(fn)
      .then(
        (v) => {
          this.counts.committed++;
          return v;
        },
        (err: Error) => {
          this.o.events.storeError?.(err);
          return undefined;
        },
      )
      .finally(() => {
        this.settling--;
        this.pump();
      });
  }

  // ---- channel state -----------------------------------------------------------------------------

  private openCircuit(outcome: Outcome): void {
    const wasOpen = this.circuit.open;
    const backoff = wasOpen ? Math.min(this.circuit.delay * 2, this.o.probeCapMs) : this.o.probeMs;
    const delay = outcome.retryAfterMs ?? backoff;
    // Never shorten a wait the server asked for (Retry-After) because another failure came in.
    const until = Math.max(wasOpen ? this.circuit.until : 0, Date.now() + delay);
    this.circuit = { open: true, until, delay: backoff, probing: this.circuit.probing };
    if (!wasOpen) this.o.events.circuitOpened?.(outcome);
    this.wakeAt(this.circuit.until);
  }

  private closeCircuit(): void {
    this.circuit = { open: false, until: 0, delay: 0, probing: false };
    this.o.events.circuitClosed?.();
  }

  private pause(outcome: Outcome): void {
    if (this.paused) {
      this.circuit.delay = Math.min(this.circuit.delay * 2, this.o.probeCapMs);
    } else {
      this.paused = true;
      this.circuit.delay = this.o.probeMs;
      this.o.events.paused?.(outcome);
    }
    const until = Date.now() + this.circuit.delay;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => this.probeWhilePaused(), until - Date.now());
    this.wakeTimer.unref?.();
  }

  private probeWhilePaused(): void {
    this.wakeTimer = undefined;
    if (!this.paused || this.stopped || this.inflight.size > 0) return;
    const row = this.buffer.shift();
    if (row) this.dispatch(row, true);
    else {
      this.cursor = null;
      void this.load().then(() => {
        const r = this.buffer.shift();
        if (r && this.paused && this.inflight.size === 0) this.dispatch(r, true);
      });
    }
  }

  /** Ends an auth pause or an open circuit now (a probe passed, or the admin said so). */
  resume(): void {
    const was = this.paused;
    this.paused = false;
    if (this.circuit.open) this.closeCircuit();
    if (was) this.o.events.resumed?.();
    this.cursor = null;
    this.reloadWanted = true;
    this.pump();
    this.changed();
  }

  private sweepExpired(): void {
    const now = Date.now();
    for (const item of [...this.inflight.values()]) {
      if (item.deadline <= now) {
        this.settle({ entry: String(item.id), serial: item.serial }, { kind: "retry", reason: "ticket-timeout", message: `not settled within ${this.o.ticketTimeoutMs} ms (was the message dropped by the flow?)` });
      }
    }
  }

  // ---- dead letter -------------------------------------------------------------------------------

  deadLetters(limit = 100): Promise<DeadLetterRow[]> {
    return this.o.store.deadLetters({ source: this.o.id, limit });
  }

  /** Puts dead-lettered messages back in the queue (fresh attempts). Returns how many. */
  async retryDead(which: number[] | "all"): Promise<number> {
    const rows = await this.deadRows(which);
    let n = 0;
    for (const row of rows) {
      if (!(await this.o.store.setDeadLetterState(row.id, "retried"))) continue;
      const body = JSON.parse(row.entry ?? "{}") as Record<string, unknown>;
      const entryId = typeof body._entryId === "string" ? body._entryId : undefined;
      const action = typeof body._action === "string" ? body._action : undefined;
      delete body._entryId;
      delete body._action;
      await this.enqueue({ key: row.record_key ?? `dead/${row.id}`, body, entryId, action });
      n++;
    }
    return n;
  }

  /** Marks dead-lettered messages as discarded (kept for the record, never delivered). */
  async discardDead(which: number[] | "all"): Promise<number> {
    let n = 0;
    for (const row of await this.deadRows(which)) if (await this.o.store.setDeadLetterState(row.id, "discarded")) n++;
    this.changed();
    return n;
  }

  private async deadRows(which: number[] | "all"): Promise<DeadLetterRow[]> {
    const all = await this.o.store.deadLetters({ source: this.o.id, limit: 100_000 });
    return which === "all" ? all : all.filter((r) => which.includes(r.id));
  }

  // ---- status and lifecycle ----------------------------------------------------------------------

  stats(): QueueStats {
    return {
      queued: this.queued,
      inFlight: this.inflight.size,
      sent: this.counts.sent,
      retrying: this.retrying,
      dead: this.counts.dead,
      filtered: this.counts.filtered,
      circuitOpen: this.circuit.open,
      paused: this.paused,
      lastError: this.lastError,
    };
  }

  /** For a graceful close (see drainWhileProgressing). */
  drain(timeoutMs: number, idleMs = 1000): Promise<void> {
    return drainWhileProgressing(() => this.inflight.size, () => this.counts.sent + this.counts.dead + this.counts.filtered, timeoutMs, idleMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.o.store.db.write(() => undefined).catch(() => undefined);
  }

  private changed(): void {
    this.o.events.changed?.();
  }
}
