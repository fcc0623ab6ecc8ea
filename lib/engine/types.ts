/**
 * The delivery engine's vocabulary: an item, a change to be committed, a channel's ledger, the
 * engine's options, events and counters.
 */
import type { BackoffPolicy } from "../backoff";
import type { Outcome } from "../outcome";
import type { AuditInput } from "../store/audit";
import type { SqliteDb, Tx } from "../store/sqlite";
import type { Clock, TimerHandle } from "./clock";
import type { GateState } from "./gate";
import type { Destination, ItemState } from "./states";
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
  /** Items taken in this run. */
  received: number;
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
  /** Wall-clock ms of the last error and of the last committed ok (this run). */
  lastErrorAt?: number;
  lastOkAt?: number;
}
