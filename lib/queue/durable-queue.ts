/**
 * DurableQueue: takes custody of messages in the sync store and delivers them downstream until each
 * one is settled (integration-engines.md §1.2, §3.5, §7 — Mirth's faults avoided). Delivery, retries,
 * the give-up rule, the gate (auth pause, target down, store fault) and the audit are the delivery
 * engine's (../engine); this file is custody and loading:
 *
 *  - enqueue resolves after COMMIT (WAL + synchronous=FULL by default): an acknowledged message survives
 *    kill -9 and power loss. In-flight state is in memory only: after a crash every stored row is
 *    simply delivered again (at least once; writes are upserts, so the effect is once);
 *  - the newest row of a record is the one delivered; a newer change of a record whose row is not
 *    loaded replaces that row's message (coalescing), otherwise it becomes a new row, and settling a
 *    row deletes every older row of its record;
 *  - rows are loaded a batch at a time when the engine runs low, in (next attempt, id) order; when none
 *    is due the queue sleeps until the earliest is (no polling);
 *  - memory holds the loaded batch and what is out, never the backlog.
 */
import type { BackoffPolicy } from "../backoff";
import type { Clock, TimerHandle } from "../engine/clock";
import { DeliveryEngine, type Change, type EngineStats } from "../engine/engine";
import type { GateState } from "../engine/gate";
import type { SettleInfo, Ticket } from "../engine/ticket";
import type { Outcome } from "../outcome";
import { discardDeadLetters, listDeadLetters, type DeadLetterRow } from "../store/dead-letters";
import type { SyncStore } from "../store/store";
import { QueueLedger, queueAudit, type QueuedBody } from "./ledger";

export { isChannelFailure } from "../outcome";

export interface QueuedMessage {
  /** Ordering and coalescing key, e.g. "Patient/<uuid>". */
  key: string;
  /** The message as stored (lib/message.ts storedBody). */
  body: QueuedBody;
}

export interface QueueEvents {
  deliver(message: QueuedBody, ticket: Ticket): void;
  deadLettered?(key: string, outcome: Outcome, attempts: number, deadLetterId: number | undefined): void;
  gateChanged?(state: GateState, why?: string): void;
  changed?(): void;
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
  /** First probe delay when the gate closes (doubles up to probeCapMs). */
  probeMs?: number;
  /** Longest wait between probes: how long a recovered target may wait for us to notice. */
  probeCapMs?: number;
  direction?: "push" | "pull";
  /** Keep the message in audit rows (clinical content): off unless an admin switches it on. */
  auditContent?: boolean;
  /** Rows read from the store per load. */
  batchSize?: number;
  clock?: Clock;
}

export interface QueueStats extends EngineStats {
  queued: number;
  sent: number;
  retrying: number;
  coalesced: number;
  /** Waiting for its target (the circuit is open). */
  circuitOpen: boolean;
  paused: boolean;
}

interface RowRead {
  id: number;
  record_key: string;
  message: string;
  attempts: number;
  first_failed_at: number | null;
  next_at: number;
}

export class DurableQueue {
  private readonly engine: DeliveryEngine<QueuedBody>;
  private readonly ledger: QueueLedger;
  private readonly batchSize: number;
  private queued = 0;
  private retrying = 0;
  private loading = false;
  /** Counts wake-ups, so a wake-up during a read is not lost. */
  private wakes = 0;
  /** Nothing due is left unloaded; set again when something may have become due. */
  private exhausted = false;
  private cursor?: { nextAt: number; id: number };
  private wakeTimer?: TimerHandle;
  private wakeAtMono = Infinity;
  private stopped = false;
  readonly counts = { enqueued: 0, coalesced: 0 };

  constructor(private readonly o: DurableQueueOptions) {
    this.batchSize = o.batchSize ?? 200;
    const direction = o.direction ?? "push";
    this.ledger = new QueueLedger(o.id, (changes, deleted) => this.committed(changes, deleted));
    this.engine = new DeliveryEngine<QueuedBody>({
      id: o.id,
      storeId: o.storeId,
      db: o.store.db,
      ledger: this.ledger,
      keepWaiting: false,
      clock: o.clock,
      maxInFlight: o.concurrency ?? 4,
      backoff: o.backoff,
      maxAttempts: o.maxAttempts,
      maxRetryAgeMs: o.maxAgeMs,
      ticketTimeoutMs: o.ticketTimeoutMs,
      probeMs: o.probeMs ?? 2_000,
      probeCapMs: o.probeCapMs ?? 30_000,
      audit: (item, outcome, info, attempt) => queueAudit(o.id, direction, o.auditContent === true, item, outcome, info, attempt),
      events: {
        deliver: (item, ticket) => o.events.deliver({ ...item.payload }, ticket),
        gateChanged: (state, why) => o.events.gateChanged?.(state, why),
        deadLettered: (item, outcome, attempts) => o.events.deadLettered?.(item.key, outcome, attempts, this.ledger.deadLetterIds.get(item.id)),
        hungry: () => void this.load(),
        changed: () => o.events.changed?.(),
      },
    });
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
    this.engine.pump();
  }

  /**
   * Takes custody of a message. Resolves once it is committed; a newer change of a record whose row is
   * not loaded replaces that row's message.
   */
  async enqueue(m: QueuedMessage): Promise<{ id: number; coalesced: boolean }> {
    const json = JSON.stringify(m.body);
    const now = this.engine.stamps.stamp();
    const res = await this.o.store.db.write(async (tx) => {
      // Clinical content: encrypted at rest (../store/encryption.ts).
      const sealed = tx.cipher.seal(json);
      const newest = await tx.get<{ id: number }>("SELECT id FROM queue_items WHERE queue = ? AND record_key = ? ORDER BY id DESC LIMIT 1", [this.o.id, m.key]);
      if (newest && !this.engine.has(String(newest.id))) {
        await tx.run("UPDATE queue_items SET message = ?, coalesced = coalesced + 1 WHERE id = ?", [sealed, newest.id]);
        return { id: newest.id, coalesced: true };
      }
      const r = await tx.run("INSERT INTO queue_items (queue, record_key, message, enqueued_at, next_at) VALUES (?,?,?,?,?)", [
        this.o.id,
        m.key,
        sealed,
        Date.now(),
        now,
      ]);
      return { id: r.lastID, coalesced: false };
    });
    this.counts.enqueued++;
    if (res.coalesced) this.counts.coalesced++;
    else {
      this.queued++;
      // A loaded, not yet delivered older change of the record is not needed any more.
      this.engine.supersedeWaiting(m.key, String(res.id));
    }
    this.wake();
    this.o.events.changed?.();
    return res;
  }

  // ---- loading -----------------------------------------------------------------------------------

  /** Something may have become due: the next load reads from the start. */
  private wake(): void {
    this.wakes++;
    this.exhausted = false;
    this.cursor = undefined;
    void this.load();
  }

  private async load(): Promise<void> {
    if (this.stopped) return;
    // A load already running reads on while the engine wants more; a wake-up during it is counted.
    if (this.loading) return;
    this.loading = true;
    try {
      for (;;) {
        if (this.exhausted || this.stopped || !this.engine.wantsMore()) break;
        const wakes = this.wakes;
        const now = this.engine.stamps.stamp();
        const rows = await this.readDue(now);
        for (const r of rows) {
          const id = String(r.id);
          if (this.engine.has(id)) continue;
          this.engine.add({
            id,
            key: r.record_key,
            payload: JSON.parse(this.o.store.db.cipher.open(r.message)) as QueuedBody,
            attempts: r.attempts,
            firstFailedAt: r.first_failed_at ?? undefined,
          });
        }
        const last = rows[rows.length - 1];
        if (rows.length === this.batchSize && last) {
          this.cursor = { nextAt: last.next_at, id: last.id };
          continue;
        }
        this.cursor = undefined;
        // Woken while reading: read again; otherwise sleep until the earliest row not due at `now` is.
        if (this.wakes !== wakes) continue;
        this.exhausted = true;
        await this.sleepUntilDue(now);
      }
    } catch (err) {
      this.engine.storeFault(err);
    } finally {
      this.loading = false;
    }
  }

  /** Due rows at `now`, newest of their record only, in (next attempt, id) order, after the cursor. */
  private readDue(now: number): Promise<RowRead[]> {
    // A next attempt implausibly far ahead means the clock went back while we were down: due now.
    const far = now + this.engine.maxDelayMs;
    const c = this.cursor;
    return this.o.store.db.all<RowRead>(
      "SELECT id, record_key, message, attempts, first_failed_at, next_at FROM queue_items q WHERE queue = ? AND (next_at <= ? OR next_at > ?) " +
        "AND NOT EXISTS (SELECT 1 FROM queue_items n WHERE n.queue = q.queue AND n.record_key = q.record_key AND n.id > q.id) " +
        (c ? "AND (next_at > ? OR (next_at = ? AND id > ?)) " : "") +
        "ORDER BY next_at, id LIMIT ?",
      c ? [this.o.id, now, far, c.nextAt, c.nextAt, c.id, this.batchSize] : [this.o.id, now, far, this.batchSize],
    );
  }

  /** Wakes up when the earliest row that was not due at `now` is. */
  private async sleepUntilDue(now: number): Promise<void> {
    const row = await this.o.store.db.get<{ t: number | null }>("SELECT MIN(next_at) AS t FROM queue_items WHERE queue = ? AND next_at > ?", [this.o.id, now]);
    if (row?.t) this.wakeAt(this.engine.stamps.toMono(row.t, this.engine.maxDelayMs));
  }

  private wakeAt(mono: number): void {
    if (this.stopped || (this.wakeTimer && this.wakeAtMono <= mono)) return;
    this.wakeTimer?.cancel();
    const clock = this.engine.clock;
    this.wakeAtMono = mono;
    this.wakeTimer = clock.setTimer(
      () => {
        this.wakeTimer = undefined;
        this.wakeAtMono = Infinity;
        this.wake();
      },
      Math.max(10, mono - clock.now()),
    );
  }

  private committed(changes: readonly Change<QueuedBody>[], rowsDeleted: number): void {
    let soonest: number | undefined;
    for (const c of changes) {
      const before = c.attemptsBefore;
      if (c.to === "waiting") {
        if (before === 0 && c.attempts > 0) this.retrying++;
        if (c.dueAt !== undefined && (soonest === undefined || c.dueAt < soonest)) soonest = c.dueAt;
      } else if (c.to !== "ready" && before > 0) this.retrying--;
    }
    this.queued = Math.max(0, this.queued - rowsDeleted);
    if (soonest !== undefined) this.wakeAt(soonest);
  }

  // ---- tickets -----------------------------------------------------------------------------------

  settle(ticket: Pick<Ticket, "entry" | "serial">, outcome: Outcome, info?: SettleInfo): boolean {
    return this.engine.settle(ticket, outcome, info);
  }

  working(ticket: Pick<Ticket, "entry" | "serial">, on: boolean): void {
    this.engine.working(ticket, on);
  }

  /** Ends an auth pause or a wait for the target now (the admin said so). */
  resume(): void {
    this.engine.resume();
    this.wake();
  }

  // ---- dead letter -------------------------------------------------------------------------------

  deadLetters(limit = 100): Promise<DeadLetterRow[]> {
    return listDeadLetters(this.o.store.db, { source: this.o.id, limit });
  }

  /**
   * Puts dead-lettered messages back in custody, in one transaction with marking them retried. A record
   * with a newer change already queued keeps that one (the dead one is older). Returns how many.
   */
  async retryDead(which: number[] | "all"): Promise<number> {
    const now = this.engine.stamps.stamp();
    const n = await this.o.store.db.write(async (tx) => {
      let count = 0;
      for (const row of await listDeadLetters(tx, { source: this.o.id, ids: which === "all" ? undefined : which, limit: 100_000 })) {
        const key = row.record_key ?? `dead-letter/${row.id}`;
        await tx.run("UPDATE dead_letters SET state = 'retried' WHERE id = ? AND state = 'dead'", [row.id]);
        const newer = await tx.get<{ id: number }>("SELECT id FROM queue_items WHERE queue = ? AND record_key = ? LIMIT 1", [this.o.id, key]);
        if (!newer) {
          await tx.run("INSERT INTO queue_items (queue, record_key, message, enqueued_at, next_at) VALUES (?,?,?,?,?)", [
            this.o.id,
            key,
            tx.cipher.seal(row.entry ?? "{}"),
            Date.now(),
            now,
          ]);
          this.queued++;
        }
        count++;
      }
      return count;
    });
    this.wake();
    this.o.events.changed?.();
    return n;
  }

  /** Marks dead-lettered messages as discarded (kept for the record, never delivered). Queued ones are untouched. */
  async discardDead(which: number[] | "all"): Promise<number> {
    const n = await discardDeadLetters(this.o.store.db, this.o.id, which);
    this.o.events.changed?.();
    return n;
  }

  // ---- status and lifecycle ----------------------------------------------------------------------

  stats(): QueueStats {
    const s = this.engine.stats();
    return {
      ...s,
      queued: this.queued,
      sent: s.ok,
      retrying: this.retrying,
      coalesced: this.counts.coalesced,
      circuitOpen: s.gate === "target-down",
      paused: s.gate === "paused",
    };
  }

  /** Resolves once every settlement made so far is committed (or failed). */
  flushed(): Promise<void> {
    return this.engine.flushed();
  }

  /** For a graceful close (see drainWhileProgressing). */
  drain(timeoutMs: number, idleMs = 1000): Promise<void> {
    return this.engine.drain(timeoutMs, idleMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeTimer?.cancel();
    await this.engine.stop();
  }
}
