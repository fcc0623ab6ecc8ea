/**
 * The delivery engine: one implementation of tickets, per-record order, retries, the give-up rule,
 * the gate (auth pause, target down, store fault), ticket timeouts and the audit of every attempt,
 * shared by the feed consumer and the durable queue. Where items come from and how their state is
 * stored is the channel's Ledger; the states and transitions are in states.ts.
 *
 * The one failure rule: the in-memory state never runs ahead of the stored one. A settlement puts the
 * item in `settling` and hands a change to the write-combiner (../store/combiner.ts); the ledger writes
 * all of a batch in one write of the store's group commit. Only when it is committed do items move on.
 * When it fails, every item of the batch goes back to `ready` as it is stored, and the gate closes on a
 * store fault until a probe's commit succeeds.
 */
import { DEFAULT_BACKOFF } from "../backoff";
import { isSettledKind, type Outcome } from "../outcome";
import { WriteCombiner } from "../store/combiner";
import { drainWhileProgressing } from "../drain";
import { systemClock, Stamps, type Clock, type TimerHandle } from "./clock";
import { Gate, type GateState } from "./gate";
import { RecordOrder } from "./record-order";
import { nextState, type RetryRules } from "./states";
import type { SettleInfo, Ticket } from "./ticket";
import type { Change, EngineOptions, EngineStats, Item, NewItem } from "./types";

export type { Change, EngineEvents, EngineOptions, EngineStats, Item, Ledger, NewItem } from "./types";

export class DeliveryEngine<P> {
  readonly clock: Clock;
  readonly stamps: Stamps;
  private readonly rules: RetryRules;
  private readonly maxInFlight: number;
  private readonly ticketTimeoutMs: number;
  private readonly gate: Gate;
  private readonly items = new Map<string, Item<P>>();
  private readonly order = new RecordOrder<Item<P>>((item) => this.supersede(item));
  private readonly inflight = new Set<Item<P>>();
  private readonly combiner: WriteCombiner<Change<P>>;
  private settling = 0;
  private waiting = 0;
  private seq = 0;
  private serial = 0;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private sweepTimer?: TimerHandle;
  private lastError?: string;
  /** Wall-clock times (ms) of the last committed ok and of the last error, for the admin API. */
  private lastOkAt?: number;
  private lastErrorAt?: number;
  /** This run: items taken in (`received`), deliveries made, and how items ended. */
  readonly counts = { received: 0, ok: 0, filtered: 0, held: 0, dead: 0, delivered: 0 };

  constructor(private readonly o: EngineOptions<P>) {
    this.clock = o.clock ?? systemClock;
    this.stamps = new Stamps(this.clock);
    this.rules = { backoff: o.backoff ?? DEFAULT_BACKOFF, maxAttempts: o.maxAttempts ?? 50, maxRetryAgeMs: o.maxRetryAgeMs ?? 24 * 3600_000 };
    this.maxInFlight = Math.max(1, o.maxInFlight ?? 8);
    this.ticketTimeoutMs = o.ticketTimeoutMs ?? 120_000;
    this.gate = new Gate(
      this.clock,
      { probeMs: o.probeMs ?? 2_000, probeCapMs: o.probeCapMs ?? 30_000 },
      (state, why) => {
        this.o.events.gateChanged?.(state, why);
        this.changed();
        // Settlements held back while the store was failing go now (the admin may open the gate
        // while nothing is ready to deliver, so no new settlement would take them along).
        if (state === "open") this.schedule();
      },
      () => {
        this.schedule();
        this.pump();
      },
    );
    this.combiner = new WriteCombiner<Change<P>>({
      db: o.db,
      write: (tx, batch) => o.ledger.persist(tx, batch),
      committed: (batch) => this.applyCommitted(batch),
      failed: (batch, err) => this.commitFailed(batch, err),
      // While the store is failing, commits are tried again at the gate's probe times, not in a loop.
      ready: () => this.gate.state !== "store-fault" || this.gate.due(),
    });
    this.scheduleSweep();
  }

  get id(): string {
    return this.o.id;
  }

  get gateState(): GateState {
    return this.gate.state;
  }

  /** The longest a stored next attempt can legitimately lie ahead (longer: the clock went back). */
  get maxDelayMs(): number {
    return Math.max(this.rules.backoff.capMs, 3_600_000);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  get(id: string): Item<P> | undefined {
    return this.items.get(id);
  }

  /** Takes a new item in; returns it (or the one already there with that id). */
  add(n: NewItem<P>): Item<P> {
    const existing = this.items.get(n.id);
    if (existing) return existing;
    const item: Item<P> = {
      id: n.id,
      key: n.key,
      seq: ++this.seq,
      payload: n.payload,
      state: "ready",
      attempts: n.attempts ?? 0,
      firstFailedAt: n.firstFailedAt,
      lastError: n.lastError,
      serial: 0,
      deadline: 0,
      busy: 0,
      probe: false,
    };
    this.items.set(item.id, item);
    this.counts.received++;
    if (n.dueAt !== undefined && n.dueAt > this.clock.now() && this.o.keepWaiting) {
      this.wait(item, n.dueAt);
      this.order.claimIfFree(item);
    } else {
      this.order.makeReady(item);
    }
    this.pump();
    return item;
  }

  /** Whether the channel would deliver more if it had more ready items (a queue loads then). */
  wantsMore(): boolean {
    return !this.stopped && this.order.ready < this.maxInFlight * 4;
  }

  /**
   * A newer change of a record was stored as item `newerId`: an item of the record that is ready and
   * not out yet is not needed any more.
   */
  supersedeWaiting(key: string, newerId: string): void {
    for (const item of this.order.readyOf(key)) if (item.id !== newerId) this.supersede(item);
  }

  /** Asks for a ledger write even without changes (a feed marker passing entries settled earlier). */
  requestFlush(): void {
    this.combiner.flush(true);
  }

  private wait(item: Item<P>, dueAt: number): void {
    item.state = "waiting";
    this.waiting++;
    item.timer = this.clock.setTimer(() => this.due(item), dueAt - this.clock.now());
  }

  /** A waiting item's time came: deliver it again, unless a newer change of its record is waiting. */
  private due(item: Item<P>): void {
    item.timer = undefined;
    if (item.state !== "waiting" || this.stopped) return;
    this.waiting--;
    if (this.order.hasParked(item.key)) {
      item.state = "ready";
      this.supersede(item);
    } else {
      this.order.makeReady(item);
    }
    this.pump();
  }

  // ---- delivering --------------------------------------------------------------------------------

  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const maxSettling = Math.max(256, this.maxInFlight * 8);
        while (!this.stopped && this.settling < maxSettling && this.gate.allows(this.inflight.size, this.maxInFlight)) {
          const item = this.order.next();
          if (!item) break;
          this.dispatch(item);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    if (this.stopped) return;
    if (this.order.deliverable < this.maxInFlight * 4) this.o.events.hungry?.();
    if (this.isIdle()) this.o.events.idle?.();
  }

  private dispatch(item: Item<P>): void {
    item.state = "inflight";
    item.serial = ++this.serial;
    item.deadline = this.clock.now() + this.ticketTimeoutMs;
    item.busy = 0;
    item.probe = this.gate.dispatched();
    this.order.claim(item);
    this.inflight.add(item);
    this.counts.delivered++;
    const ticket: Ticket = { store: this.o.storeId, source: this.o.id, entry: item.id, key: item.key, serial: item.serial, attempt: item.attempts + 1 };
    this.o.events.deliver(item, ticket);
  }

  /** A node works on a ticket (true) or stopped working on it (false): no ticket timeout meanwhile. */
  working(ticket: Pick<Ticket, "entry" | "serial">, on: boolean): void {
    const item = this.items.get(ticket.entry);
    if (!item || item.state !== "inflight" || item.serial !== ticket.serial) return;
    if (on) item.busy++;
    else {
      item.busy = Math.max(0, item.busy - 1);
      item.deadline = this.clock.now() + this.ticketTimeoutMs;
    }
  }

  // ---- settling ----------------------------------------------------------------------------------

  /**
   * Settles a ticket. False when the ticket is unknown or stale (the item is gone, being committed, or
   * out again under a newer ticket and the outcome is not final).
   */
  settle(ticket: Pick<Ticket, "entry" | "serial">, outcome: Outcome, info: SettleInfo = {}): boolean {
    const item = this.items.get(ticket.entry);
    if (!item || this.stopped) return false;
    const current = item.state === "inflight" && item.serial === ticket.serial;
    if (!current && (!isSettledKind(outcome.kind) || item.state === "settling")) return false;
    const attempt = item.attempts + 1;
    const wasProbe = item.state === "inflight" && item.probe;
    const storeProbe = wasProbe && this.gate.state === "store-fault";
    this.leave(item);
    const next = nextState(item, outcome, this.rules, this.stamps.stamp());
    // A probe of the target has its answer now; a probe of the store only once its commit is known.
    if (wasProbe && !storeProbe) {
      this.gate.probeReturned();
      if (next.gate === "answered") this.gate.open();
    }
    if (next.gate === "paused") this.gate.close("paused", outcome.message ?? outcome.reason);
    if (next.gate === "target-down") this.gate.close("target-down", outcome.message ?? outcome.reason, outcome.retryAfterMs);
    if (outcome.kind !== "ok" && outcome.kind !== "filtered") this.noteError(outcome.message ?? outcome.reason);
    const change: Change<P> = {
      item,
      to: next.to,
      outcome: next.outcome,
      attemptsBefore: item.attempts,
      attempts: next.attempts,
      firstFailedAt: next.firstFailedAt,
      audit: this.o.audit(item, outcome, info, attempt),
      probe: storeProbe,
    };
    if (next.to === "waiting") {
      change.dueAt = this.clock.now() + (next.delayMs ?? 0);
      change.nextAt = this.stamps.stamp(change.dueAt);
    }
    this.enqueueChange(change);
    return true;
  }

  /** Ends an item's current state before it settles. */
  private leave(item: Item<P>): void {
    if (item.state === "inflight") this.inflight.delete(item);
    else if (item.state === "waiting") {
      this.waiting--;
      item.timer?.cancel();
      item.timer = undefined;
    } else {
      this.order.leave(item);
    }
  }

  /** An older change of a record that is not needed any more (the newer one is delivered instead). */
  private supersede(item: Item<P>): void {
    this.leave(item);
    this.enqueueChange({
      item,
      to: "done",
      outcome: { kind: "filtered", reason: "superseded", message: `superseded by a newer change of ${item.key}` },
      attemptsBefore: item.attempts,
      attempts: item.attempts,
      firstFailedAt: item.firstFailedAt,
    });
  }

  private enqueueChange(change: Change<P>): void {
    change.item.state = "settling";
    this.settling++;
    this.combiner.add(change);
    this.pump();
    this.changed();
  }

  private schedule(): void {
    this.combiner.flush();
  }

  private applyCommitted(batch: readonly Change<P>[]): void {
    for (const c of batch) {
      const item = c.item;
      this.settling--;
      item.attempts = c.attempts;
      item.firstFailedAt = c.firstFailedAt;
      if (c.to !== "done") item.lastError = c.outcome.message ?? c.outcome.reason;
      switch (c.to) {
        case "done":
        case "held":
        case "dead":
          item.state = c.to;
          if (c.to === "done" && c.outcome.kind === "ok") this.lastOkAt = Date.now();
          if (c.to === "done") this.counts[c.outcome.kind === "ok" ? "ok" : "filtered"]++;
          else this.counts[c.to]++;
          this.forget(item);
          if (c.to === "dead") this.o.events.deadLettered?.(item, c.outcome, c.attempts);
          break;
        case "waiting":
          if (this.o.keepWaiting) this.wait(item, c.dueAt ?? this.clock.now());
          else {
            item.state = "waiting";
            this.forget(item);
          }
          break;
        case "ready":
          this.order.makeReady(item);
          break;
      }
    }
    this.o.ledger.committed(batch);
    if (batch.some((c) => c.probe)) this.gate.probeReturned();
    if (batch.length && this.gate.state === "store-fault") this.gate.open();
    this.changed();
    this.pump();
  }

  /** Drops an item that left this channel (or lives on in the store only) and frees its record. */
  private forget(item: Item<P>): void {
    this.items.delete(item.id);
    this.order.release(item);
  }

  private commitFailed(batch: readonly Change<P>[], err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.noteError(message);
    for (const c of batch) {
      this.settling--;
      // As stored: not settled, attempts unchanged. It is delivered again once the store works.
      this.order.makeReady(c.item);
    }
    this.gate.close("store-fault", message);
    if (batch.some((c) => c.probe)) this.gate.probeReturned();
    this.changed();
    this.pump();
  }

  // ---- channel -----------------------------------------------------------------------------------

  /** Opens the gate now (the admin said so). */
  resume(): void {
    this.gate.open();
    this.pump();
  }

  /**
   * Drops every item that is not out or being committed (a feed's reset); those finish as they are.
   */
  clear(): void {
    const dropped = (item: Item<P>) => item.state === "ready" || item.state === "waiting";
    for (const item of [...this.items.values()]) {
      if (!dropped(item)) continue;
      this.leave(item);
      this.items.delete(item.id);
    }
    this.order.clear((item) => !dropped(item));
    this.gate.open();
    this.changed();
  }

  /** Closes the gate on a store fault found outside a settlement (a failed read of the channel's items). */
  storeFault(err: unknown): void {
    this.noteError(err instanceof Error ? err.message : String(err));
    this.gate.close("store-fault", this.lastError!);
  }

  private scheduleSweep(): void {
    const every = Math.max(200, Math.min(5_000, Math.floor(this.ticketTimeoutMs / 4)));
    this.sweepTimer = this.clock.setTimer(() => {
      this.sweep();
      if (!this.stopped) this.scheduleSweep();
    }, every);
  }

  /** Tickets nobody settled in time (a message dropped by the flow) count as a transient failure. */
  private sweep(): void {
    const now = this.clock.now();
    for (const item of [...this.inflight]) {
      if (item.busy === 0 && item.deadline <= now) {
        this.settle(
          { entry: item.id, serial: item.serial },
          {
            kind: "retry",
            reason: "ticket-timeout",
            message: `not settled within ${this.ticketTimeoutMs / 1000} s (was the message dropped by the flow? settle it with a sync-settle node)`,
          },
        );
      }
    }
  }

  isIdle(): boolean {
    return this.order.ready === 0 && this.inflight.size === 0 && this.settling === 0 && !this.combiner.busy;
  }

  stats(): EngineStats {
    return {
      ready: this.order.ready,
      inFlight: this.inflight.size,
      settling: this.settling,
      waiting: this.waiting,
      ...this.counts,
      gate: this.gate.state,
      gateWhy: this.gate.why,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastOkAt: this.lastOkAt,
    };
  }

  private noteError(text: string): void {
    this.lastError = text;
    this.lastErrorAt = Date.now();
  }

  /** For a graceful close: waits while items are out and still being settled (see drainWhileProgressing). */
  drain(timeoutMs: number, idleMs = 1000): Promise<void> {
    return drainWhileProgressing(
      () => this.inflight.size,
      () => this.counts.ok + this.counts.filtered + this.counts.held + this.counts.dead,
      timeoutMs,
      idleMs,
    );
  }

  /** Resolves once every settlement made so far is committed (or failed). */
  flushed(): Promise<void> {
    return this.combiner.idle();
  }

  get inFlightCount(): number {
    return this.inflight.size;
  }

  /**
   * Stops delivering; settlements not committed yet are committed (within timeoutMs: a failing store
   * may not take them, and then those items are delivered again after the restart, as stored).
   */
  async stop(timeoutMs = 5_000): Promise<void> {
    this.stopped = true;
    this.sweepTimer?.cancel();
    this.gate.stop();
    for (const item of this.items.values()) item.timer?.cancel();
    const until = Date.now() + timeoutMs;
    while ((this.combiner.busy || this.combiner.size) && Date.now() < until) {
      this.schedule();
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private changed(): void {
    this.o.events.changed?.();
  }
}
