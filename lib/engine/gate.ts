/**
 * A channel's gate: whether it delivers freely or only probes.
 *
 *  - open         deliver up to the channel's limit;
 *  - paused       the target said 401/403: probe with one item now and then (the admin may resume);
 *  - target-down  the target is unreachable or asked us to slow down (refused, reset, timeout,
 *                 502/503/504, 429): probe with one item, after Retry-After when it sent one;
 *  - store-fault  a commit failed (disk full, I/O error, the file locked): probe with one item, whose
 *                 settlement is the store's test.
 * While closed, one probe goes out at a time, when nothing else is out and its time has come; the
 * wait doubles up to a cap. A probe the target answers (or, for a store fault, a commit that succeeds)
 * opens the gate again. Entering a closed state is reported once per episode, not per probe.
 */
import type { Clock, TimerHandle } from "./clock";

export type GateState = "open" | "paused" | "target-down" | "store-fault";

export interface GateOptions {
  /** First wait before a probe. */
  probeMs: number;
  /** Longest wait between probes: how long a recovered target may wait for us to notice. */
  probeCapMs: number;
}

export class Gate {
  private current: GateState = "open";
  private probeAt = 0;
  private delay = 0;
  private probeOut = false;
  private timer?: TimerHandle;
  /** The last closed state and when the gate opened after it: closing again soon goes on backing off. */
  private lastClosed?: GateState;
  private openedAt = -Infinity;
  /** Why it is closed (the outcome or the store error), for status lines. */
  why?: string;

  constructor(
    private readonly clock: Clock,
    private readonly opts: GateOptions,
    /** Called when the state changes. */
    private readonly changed: (state: GateState, why?: string) => void,
    /** Called when a probe becomes due. */
    private readonly wake: () => void,
  ) {}

  get state(): GateState {
    return this.current;
  }

  /** Whether one more item may be delivered now. */
  allows(inFlight: number, limit: number): boolean {
    if (this.current === "open") return inFlight < limit;
    return !this.probeOut && inFlight === 0 && this.clock.now() >= this.probeAt;
  }

  /** Whether a probe's time has come (the gate is closed and its wait is over). */
  due(): boolean {
    return this.clock.now() >= this.probeAt;
  }

  /** An item is going out; returns whether it is a probe. */
  dispatched(): boolean {
    if (this.current === "open") return false;
    this.probeOut = true;
    return true;
  }

  /** The probe came back (whatever it said). */
  probeReturned(): void {
    this.probeOut = false;
  }

  /** Closes the gate (or keeps it closed, backing off the next probe). */
  close(state: Exclude<GateState, "open">, why: string, retryAfterMs?: number): void {
    const again = this.current === state || (this.current === "open" && this.lastClosed === state && this.clock.now() - this.openedAt < this.opts.probeCapMs);
    this.delay = again ? Math.min(this.delay * 2, this.opts.probeCapMs) : this.opts.probeMs;
    const wait = retryAfterMs ?? this.delay;
    // Never shorten a wait the server asked for because another failure came in.
    this.probeAt = Math.max(this.current === state ? this.probeAt : 0, this.clock.now() + wait);
    this.why = why;
    this.timer?.cancel();
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      // The time has come, even if the timer fired a fraction of a millisecond early by our clock.
      this.probeAt = Math.min(this.probeAt, this.clock.now());
      this.wake();
    }, this.probeAt - this.clock.now());
    if (this.current !== state) {
      this.current = state;
      this.lastClosed = state;
      this.changed(state, why);
    }
  }

  open(): void {
    if (this.current === "open") return;
    this.current = "open";
    this.openedAt = this.clock.now();
    this.why = undefined;
    this.probeOut = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.changed("open");
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
