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
import { DEFAULT_BACKOFF, type BackoffPolicy } from "../backoff";
import { isSettledKind, type Outcome } from "../outcome";
import type { AuditInput } from "../store/audit";
import type { SqliteDb, Tx } from "../store/sqlite";
import { WriteCombiner } from "../store/combiner";
import { systemClock, Stamps, type Clock, type TimerHandle } from "./clock";
import { Gate, type GateState } from "./gate";
import { ItemHeap } from "./heap";
import { nextState, type Destination, type ItemState, type RetryRules } from "./states";
import type { SettleInfo, Ticket } from "./ticket";

export interface Item<P> {
  readonly id: string;
  readonly key: string;
  /** Delivery order: lower goes first (feed order, queue row order). */
  readonly seq: number;
  payload: P;
  state: ItemState;
  /** Failed attempts that counted, as stored. */
  attempts: number;
  /** Stamp of the first counted failure, as stored. */
  firstFailedAt?: number;
  lastError?: string;
  serial: number;
  /** Monotonic deadline of the current ticket. */
  deadline: number;
  /** Nodes working on the current ticket right now: no timeout while > 0. */
  busy: number;
  probe: boolean;
  timer?: TimerHandle;
  /** Where a ready item waits: in the delivery heap, or parked behind its record's active item. */
  queued?: "heap" | "parked";
}

export interface NewItem<P> {
  id: string;
  key: string;
  payload: P;
  attempts?: number;
  firstFailedAt?: number;
  lastError?: string;
  /** Monotonic time of the next attempt, when it is waiting for a retry. */
  dueAt?: number;
}

/** A settlement to be committed. */
export interface Change<P> {
  item: Item<P>;
  to: Destination;
  outcome: Outcome;
  /** Counted attempts before this change, and after it. */
  attemptsBefore: number;
  attempts: number;
  firstFailedAt?: number;
  /** For `waiting`: the stamp of the next attempt, and its monotonic time. */
  nextAt?: number;
  dueAt?: number;
  audit?: AuditInput;
  /** The settlement of the store-fault gate's probe: its commit is the test. */
  probe?: boolean;
}

/** How a channel stores its items' changes. */
export interface Ledger<P> {
  /** Writes the changes (and anything else the channel wants stored with them) in the open transaction. */
  persist(tx: Tx, changes: readonly Change<P>[]): Promise<void>;
  /** After the commit: the channel's own bookkeeping (marker window, counters). */
  committed(changes: readonly Change<P>[]): void;
}

export interface EngineEvents<P> {
  deliver(item: Item<P>, ticket: Ticket): void;
  gateChanged?(state: GateState, why?: string): void;
  deadLettered?(item: Item<P>, outcome: Outcome, attempts: number): void;
  /** Fewer ready items than the low-water mark (a queue loads more). */
  hungry?(): void;
  /** Nothing ready, out or being committed. */
  idle?(): void;
  /** Something visible changed (status lines); called often, debounce on the other side. */
  changed?(): void;
}

export interface EngineOptions<P> {
  /** Channel id: tickets name it as their source. */
  id: string;
  storeId: string;
  db: SqliteDb;
  ledger: Ledger<P>;
  events: EngineEvents<P>;
  /** Builds the audit row of one attempt, or none. */
  audit(item: Item<P>, outcome: Outcome, info: SettleInfo, attempt: number): AuditInput | undefined;
  /** Keep waiting items in memory with a timer (a feed), or forget them (a queue: its store has them). */
  keepWaiting: boolean;
  clock?: Clock;
  maxInFlight?: number;
  backoff?: BackoffPolicy;
  maxAttempts?: number;
  maxRetryAgeMs?: number;
  ticketTimeoutMs?: number;
  probeMs?: number;
  probeCapMs?: number;
}

export interface EngineStats {
  ready: number;
  inFlight: number;
  settling: number;
  waiting: number;
  ok: number;
  filtered: number;
  held: number;
  dead: number;
  delivered: number;
  gate: GateState;
  gateWhy?: string;
  lastError?: string;
}

export class DeliveryEngine<P> {
  readonly clock: Clock;
  readonly stamps: Stamps;
  private readonly rules: RetryRules;
  private readonly maxInFlight: number;
  private readonly ticketTimeoutMs: number;
  private readonly gate: Gate;
  private readonly items = new Map<string, Item<P>>();
  private readonly heap = new ItemHeap<Item<P>>();
  /** The item of a record that is out, being committed or waiting (feeds): its record's turn. */
  private readonly active = new Map<string, Item<P>>();
  /** The newest item of a record waiting for the active one. */
  private readonly parked = new Map<string, Item<P>>();
  /** The newest item of a record in the delivery heap. */
  private readonly readyByKey = new Map<string, Item<P>>();
  private readonly inflight = new Set<Item<P>>();
  private readonly combiner: WriteCombiner<Change<P>>;
  private settling = 0;
  private waiting = 0;
  private readyCount = 0;
  private seq = 0;
  private serial = 0;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private sweepTimer?: TimerHandle;
  private lastError?: string;
  readonly counts = { ok: 0, filtered: 0, held: 0, dead: 0, delivered: 0 };

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
    if (n.dueAt !== undefined && n.dueAt > this.clock.now() && this.o.keepWaiting) {
      this.wait(item, n.dueAt);
      if (!this.active.has(item.key)) this.active.set(item.key, item);
    } else {
      this.makeReady(item);
    }
    this.pump();
    return item;
  }

  /** Whether the channel would deliver more if it had more ready items (a queue loads then). */
  wantsMore(): boolean {
    return !this.stopped && this.readyCount + this.parked.size < this.maxInFlight * 4;
  }

  /**
   * A newer change of a record was stored as item `newerId`: an item of the record that is ready and
   * not out yet is not needed any more.
   */
  supersedeWaiting(key: string, newerId: string): void {
    for (const item of [this.parked.get(key), this.readyByKey.get(key)]) {
      if (item && item.id !== newerId && item.state === "ready") this.supersede(item, `superseded by a newer change of ${key}`);
    }
  }

  /** Asks for a ledger write even without changes (a feed marker passing entries settled earlier). */
  requestFlush(): void {
    this.combiner.flush(true);
  }

  private makeReady(item: Item<P>): void {
    const owner = this.active.get(item.key);
    item.state = "ready";
    if (owner && owner !== item) {
      // Behind the record's active item; of two waiting there, only the newer is needed.
      const other = this.parked.get(item.key);
      if (other && other.seq > item.seq) return this.supersede(item, `superseded by a newer change of ${item.key}`);
      this.parked.set(item.key, item);
      item.queued = "parked";
      if (other) this.supersede(other, `superseded by a newer change of ${item.key}`);
      return;
    }
    // Two changes of a record waiting to go out (read during a catch-up): only the newer is delivered.
    const other = this.readyByKey.get(item.key);
    if (other && other !== item && other.state === "ready") {
      if (other.seq > item.seq) return this.supersede(item, `superseded by a newer change of ${item.key}`);
      this.supersede(other, `superseded by a newer change of ${item.key}`);
    }
    this.readyCount++;
    item.queued = "heap";
    this.heap.push(item);
    this.readyByKey.set(item.key, item);
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
    if (this.parked.has(item.key)) {
      item.state = "ready";
      this.supersede(item, `superseded by a newer change of ${item.key}`);
    } else {
      this.makeReady(item);
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
          const item = this.nextReady();
          if (!item) break;
          this.dispatch(item);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    if (this.stopped) return;
    if (this.readyCount < this.maxInFlight * 4) this.o.events.hungry?.();
    if (this.isIdle()) this.o.events.idle?.();
  }

  private nextReady(): Item<P> | undefined {
    for (;;) {
      const item = this.heap.pop();
      if (!item) return undefined;
      if (item.state !== "ready" || item.queued !== "heap") continue;
      item.queued = undefined;
      this.readyCount--;
      if (this.readyByKey.get(item.key) === item) this.readyByKey.delete(item.key);
      const owner = this.active.get(item.key);
      if (owner && owner !== item) {
        // An older item of this record is out: wait behind it.
        this.makeReady(item);
        continue;
      }
      return item;
    }
  }

  private dispatch(item: Item<P>): void {
    item.state = "inflight";
    item.serial = ++this.serial;
    item.deadline = this.clock.now() + this.ticketTimeoutMs;
    item.busy = 0;
    item.probe = this.gate.dispatched();
    this.active.set(item.key, item);
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
    if (outcome.kind !== "ok" && outcome.kind !== "filtered") this.lastError = outcome.message ?? outcome.reason;
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
    } else if (item.queued === "parked") {
      if (this.parked.get(item.key) === item) this.parked.delete(item.key);
    } else if (item.queued === "heap") {
      this.readyCount--;
      if (this.readyByKey.get(item.key) === item) this.readyByKey.delete(item.key);
    }
    item.queued = undefined;
  }

  /** An older change of a record that is not needed any more (the newer one is delivered instead). */
  private supersede(item: Item<P>, message: string): void {
    this.leave(item);
    this.enqueueChange({
      item,
      to: "done",
      outcome: { kind: "filtered", reason: "superseded", message },
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
          this.makeReady(item);
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
    if (this.active.get(item.key) === item) {
      this.active.delete(item.key);
      const next = this.parked.get(item.key);
      if (next) {
        this.parked.delete(item.key);
        next.queued = undefined;
        this.makeReady(next);
      }
    }
  }

  private commitFailed(batch: readonly Change<P>[], err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = message;
    for (const c of batch) {
      this.settling--;
      // As stored: not settled, attempts unchanged. It is delivered again once the store works.
      this.makeReady(c.item);
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
    for (const item of [...this.items.values()]) {
      if (item.state !== "ready" && item.state !== "waiting") continue;
      this.leave(item);
      this.items.delete(item.id);
      if (this.active.get(item.key) === item) this.active.delete(item.key);
    }
    this.parked.clear();
    this.readyByKey.clear();
    this.gate.open();
    this.changed();
  }

  /** Closes the gate on a store fault found outside a settlement (a failed read of the channel's items). */
  storeFault(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    this.gate.close("store-fault", this.lastError);
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
    return this.readyCount === 0 && this.parked.size === 0 && this.inflight.size === 0 && this.settling === 0 && !this.combiner.busy;
  }

  stats(): EngineStats {
    return {
      ready: this.readyCount + this.parked.size,
      inFlight: this.inflight.size,
      settling: this.settling,
      waiting: this.waiting,
      ...this.counts,
      gate: this.gate.state,
      gateWhy: this.gate.why,
      lastError: this.lastError,
    };
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
