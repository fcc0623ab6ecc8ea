/**
 * Channel alerts: what a channel (a feed consumer or a durable queue) tells an admin — once per change of
 * its state, never once per retry, per probe or per poll. One small state machine per channel, fed with
 * observations (the backlog and settled count from its stats, its gate changes, its dead letters), that
 * yields alerts. No Node-RED here: the channel nodes (nodes/shared/channel.ts) turn each alert into an
 * error with a msg (Catch nodes, the debug pane), a warning or a log line, and show the state in their
 * status line.
 *
 * Words (defaults in brackets; a node can set both):
 *  - backlog      what the channel holds and has not settled yet. A queue: its rows in custody, the ones
 *                 retrying and the ones out included. A feed: the entries it has read and not settled
 *                 (ready, out, being committed, waiting for a retry); entries it has not read yet are not
 *                 counted (a feed reads ahead only so far).
 *  - progress     an item settled: written, filtered, held or dead-lettered.
 *  - window       [60 s] how long a state must last before it is worth an alert, and how often dead
 *                 letters are summarised.
 *
 * Alerts, by kind and severity (alarm and clear reach Catch nodes; warning and info only the log):
 *  - backing-up   alarm. Either the backlog reached the high-water mark [100] and is still at or above it
 *                 one window later (a burst that drains within the window is not an alert: every catch-up
 *                 has one), or the backlog is not empty, the gate is waiting for the target (target-down)
 *                 and nothing has settled for one window. Raised once, until it is drained.
 *  - drained      clear. The backlog is back to 0 after a backing-up alert.
 *  - paused       alarm. The target refused our credentials (401/403) and the gate paused.
 *  - store-fault  alarm. The store could not commit a settlement.
 *  - target-down  warning. The target is unreachable or rate-limiting. Not an alarm on its own: on a
 *                 clinic's poor link that comes and goes all day, and the queue rides it out without
 *                 using up attempts. When it holds work up for a window, that is backing-up.
 *  - resumed      the gate opened again: clear after a paused or store-fault alarm (its all-clear goes
 *                 where the alarm went), info after only target-down.
 *                 paused, store-fault and target-down are each said once per episode: from the gate
 *                 leaving open until it is open again, however often it goes from one to the other.
 *  - dead-letter  alarm. The first dead letter of an episode at once (its record, attempts, reason);
 *                 those that follow are counted, and reported as one summary ("7 more") at the end of
 *                 each window in which there were any. A window without a dead letter ends the episode.
 * Nothing is said while nothing changes: an idle channel, a poll with nothing new, a backlog that stays
 * backed up, a gate that stays closed, are all silent.
 */
import { systemClock, type Clock, type TimerHandle } from "./clock";
import type { GateState } from "./gate";

export type AlertKind = "backing-up" | "drained" | "paused" | "store-fault" | "target-down" | "resumed" | "dead-letter";

/** alarm: a bad state (Catch); clear: the end of an alarm's state (Catch); warning and info: the log only. */
export type AlertSeverity = "alarm" | "clear" | "warning" | "info";

/** The topic of every alert message a channel node sends to Catch nodes. */
export const ALERT_TOPIC = "openmrs-sync/alert";

export interface Alert {
  /** The channel's id (the node id). */
  channel: string;
  kind: AlertKind;
  severity: AlertSeverity;
  /** When, wall-clock ISO 8601. */
  at: string;
  /** The backlog and the gate when it was raised. */
  backlog: number;
  gate: GateState;
  /** Why the gate is closed (the outcome or the store error), or why the first dead letter was given up. */
  reason?: string;
  /** backing-up: which rule raised it. */
  rule?: "high-water" | "stalled";
  /** backing-up: the high-water mark; backing-up and dead-letter summaries: the window. */
  highWater?: number;
  windowMs?: number;
  /** drained, resumed: how long the state lasted. */
  durationMs?: number;
  /** resumed: the closed states of the episode that ended, in the order they came. */
  after?: GateState[];
  /** dead-letter: how many dead letters this alert stands for (1 for the first of an episode). */
  count?: number;
  /** dead-letter: their records (`Patient/<uuid>`), at most MAX_RECORDS. */
  records?: string[];
  /** dead-letter, the first of an episode: its attempts, dead-letter id (a queue's) and feed entry id (a feed's). */
  attempts?: number;
  deadLetter?: number;
  entry?: string;
  /** dead-letter: a summary of those after the first. */
  summary?: boolean;
}

/** What a channel's stats say, each time something changed. */
export interface ChannelObservation {
  backlog: number;
  /** Items settled so far (any count that only grows: written, filtered, held, dead-lettered). */
  settled: number;
}

export interface DeadLetterEvent {
  /** The record key, e.g. `Patient/<uuid>`. */
  record: string;
  attempts: number;
  /** The outcome's one line (ids and statuses, no clinical content) or its reason code. */
  reason?: string;
  deadLetter?: number;
  entry?: string;
}

export interface ChannelAlertOptions {
  channel: string;
  emit(alert: Alert): void;
  /** Backlog that counts as backing up when it lasts a window. */
  highWater?: number;
  windowMs?: number;
  /** Timers are cancelled by stop() and never keep the process alive (systemClock unrefs them). */
  clock?: Clock;
}

export const DEFAULT_HIGH_WATER = 100;
export const DEFAULT_WINDOW_MS = 60_000;
/** Records named in one dead-letter summary. */
export const MAX_RECORDS = 10;

/** A queue's backlog: rows in custody (retrying and out included). */
export function queueBacklog(s: { queued: number }): number {
  return s.queued;
}

/** A feed's backlog: entries read and not settled (ready, out, being committed, waiting for a retry). */
export function feedBacklog(s: { ready: number; inFlight: number; settling: number; waiting: number }): number {
  return s.ready + s.inFlight + s.settling + s.waiting;
}

/** Items settled so far, for progress. */
export function settledCount(s: { ok: number; filtered: number; held: number; dead: number }): number {
  return s.ok + s.filtered + s.held + s.dead;
}

export class ChannelAlerts {
  readonly highWater: number;
  readonly windowMs: number;
  private readonly clock: Clock;
  private backlog = 0;
  private settled?: number;
  /** Monotonic time of the last progress (or of the backlog leaving 0). */
  private progressAt: number;
  /** When the backlog reached the high-water mark, while that is being watched. */
  private highAt?: number;
  private backedUpAt?: number;
  private gate: GateState = "open";
  private gateWhy?: string;
  private closedAt?: number;
  /** Closed states said in the current episode, in order. */
  private episode: GateState[] = [];
  private dead?: { pending: number; records: string[]; timer: TimerHandle };
  private timer?: TimerHandle;
  private timerAt = Infinity;
  private stopped = false;

  constructor(private readonly o: ChannelAlertOptions) {
    this.clock = o.clock ?? systemClock;
    this.highWater = Math.max(1, o.highWater ?? DEFAULT_HIGH_WATER);
    this.windowMs = Math.max(1, o.windowMs ?? DEFAULT_WINDOW_MS);
    this.progressAt = this.clock.now();
  }

  /** Whether a backing-up alert stands (until drained). */
  get backingUp(): boolean {
    return this.backedUpAt !== undefined;
  }

  /** The channel's figures changed (call it as often as they do: it only compares numbers). */
  observe(o: ChannelObservation): void {
    if (this.stopped) return;
    const now = this.clock.now();
    if (this.settled === undefined || o.settled < this.settled) this.settled = o.settled;
    else if (o.settled > this.settled) {
      this.settled = o.settled;
      this.progressAt = now;
    }
    if (this.backlog === 0 && o.backlog > 0) this.progressAt = now;
    this.backlog = Math.max(0, o.backlog);
    if (this.backlog === 0) {
      this.highAt = undefined;
      if (this.backedUpAt !== undefined) {
        const durationMs = now - this.backedUpAt;
        this.backedUpAt = undefined;
        this.emit({ kind: "drained", severity: "clear", durationMs });
      }
    } else if (this.backlog >= this.highWater && this.highAt === undefined && this.backedUpAt === undefined) {
      this.highAt = now;
    }
    this.check(now);
  }

  /** The gate changed (the engine reports each change once). */
  gateChanged(state: GateState, why?: string): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const before = this.gate;
    this.gate = state;
    this.gateWhy = why;
    if (state === "open") {
      if (before !== "open" && this.episode.length) {
        const after = this.episode;
        const alarmed = after.some((s) => s !== "target-down");
        this.emit({ kind: "resumed", severity: alarmed ? "clear" : "info", after, durationMs: now - (this.closedAt ?? now) });
      }
      this.episode = [];
      this.closedAt = undefined;
    } else {
      this.closedAt ??= now;
      if (!this.episode.includes(state)) {
        this.episode.push(state);
        this.emit({ kind: state, severity: state === "target-down" ? "warning" : "alarm", reason: why });
      }
    }
    this.check(now);
  }

  /** An item was dead-lettered (its settlement committed). */
  deadLettered(d: DeadLetterEvent): void {
    if (this.stopped) return;
    if (this.dead) {
      this.dead.pending++;
      if (this.dead.records.length < MAX_RECORDS && !this.dead.records.includes(d.record)) this.dead.records.push(d.record);
      return;
    }
    this.dead = { pending: 0, records: [], timer: this.clock.setTimer(() => this.summarise(), this.windowMs) };
    this.emit({
      kind: "dead-letter",
      severity: "alarm",
      count: 1,
      records: [d.record],
      attempts: d.attempts,
      reason: d.reason,
      deadLetter: d.deadLetter,
      entry: d.entry,
    });
  }

  /** Cancels every timer; nothing is said after this. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.dead?.timer.cancel();
    this.dead = undefined;
  }

  private summarise(): void {
    const d = this.dead;
    if (!d || this.stopped) return;
    if (d.pending === 0) {
      // A quiet window: the episode is over; the next dead letter is reported at once again.
      this.dead = undefined;
      return;
    }
    const { pending, records } = d;
    d.pending = 0;
    d.records = [];
    d.timer = this.clock.setTimer(() => this.summarise(), this.windowMs);
    this.emit({ kind: "dead-letter", severity: "alarm", count: pending, records, windowMs: this.windowMs, summary: true });
  }

  /** Raises backing-up when a rule's window has passed; then arms the timer for the next time one could. */
  private check(now: number): void {
    if (this.backedUpAt === undefined && this.backlog > 0) {
      if (this.highAt !== undefined && now - this.highAt >= this.windowMs) {
        // Still at the mark a window after reaching it: backing up. Below it: that was a burst.
        if (this.backlog >= this.highWater) this.backUp(now, "high-water");
        else this.highAt = undefined;
      }
      if (this.backedUpAt === undefined && this.gate === "target-down" && now - this.progressAt >= this.windowMs) this.backUp(now, "stalled");
    }
    this.arm(now);
  }

  private backUp(now: number, rule: "high-water" | "stalled"): void {
    this.backedUpAt = now;
    this.highAt = undefined;
    this.emit({
      kind: "backing-up",
      severity: "alarm",
      rule,
      highWater: this.highWater,
      windowMs: this.windowMs,
      reason: this.gate === "open" ? undefined : this.gateWhy,
    });
  }

  /** The next time a rule could raise backing-up, if any. */
  private nextCheck(): number | undefined {
    if (this.backedUpAt !== undefined || this.backlog === 0) return undefined;
    let next = Infinity;
    if (this.highAt !== undefined) next = this.highAt + this.windowMs;
    if (this.gate === "target-down") next = Math.min(next, this.progressAt + this.windowMs);
    return next === Infinity ? undefined : next;
  }

  private arm(now: number): void {
    const next = this.nextCheck();
    if (next === undefined) {
      this.timer?.cancel();
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    // A timer due sooner stays: it checks and arms again for the later time.
    if (this.timer && this.timerAt <= next) return;
    this.timer?.cancel();
    this.timerAt = next;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      // The time has come, even if the timer fired a fraction of a millisecond early by our clock.
      if (!this.stopped) this.check(Math.max(this.clock.now(), next));
    }, next - now);
  }

  private emit(a: Omit<Alert, "channel" | "at" | "backlog" | "gate">): void {
    this.o.emit({
      channel: this.o.channel,
      at: new Date(this.clock.wallNow()).toISOString(),
      backlog: this.backlog,
      gate: this.gate,
      ...a,
    });
  }
}

/** A duration for people: "45 s", "12 min", "3 h 5 min". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
}
