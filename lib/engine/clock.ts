/**
 * Time for the delivery engine. Every deadline, delay and age is measured on a monotonic clock, so a
 * wall-clock jump (an NTP correction, an admin fixing the date on a clinic's machine) neither keeps a
 * channel waiting for an hour nor dead-letters retrying items in bulk.
 *
 * Times that are stored to be used again after a restart (a retry's next attempt, its first failure)
 * are *stamps*: the wall-clock time at start plus monotonic time since. Stamps never jump while the
 * process runs; across a restart they are compared with the new process's stamps, and a stored time
 * implausibly far in the future (the clock went back while we were down) is treated as due.
 * Times people read (audit rows, dead letters) stay plain wall-clock.
 */
import { performance } from "node:perf_hooks";

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (arbitrary origin): for deadlines, delays and ages. */
  now(): number;
  /** Wall-clock milliseconds since the epoch: for what people read. */
  wallNow(): number;
  /** Calls fn after ms of monotonic time. Timers never keep the process alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(fn, ms) {
    // Whole milliseconds: fractional delays (monotonic arithmetic) have been seen to stall timers.
    const t = setTimeout(fn, Math.max(0, Math.ceil(ms)));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

/** Converts between monotonic time and stamps (see the header). */
export class Stamps {
  private readonly epoch: number;

  constructor(private readonly clock: Clock) {
    this.epoch = clock.wallNow() - clock.now();
  }

  /** The stamp for monotonic time `mono` (now when omitted). */
  stamp(mono = this.clock.now()): number {
    return Math.round(this.epoch + mono);
  }

  /** Monotonic time of a stored stamp, no later than `maxAheadMs` from now. */
  toMono(stamp: number, maxAheadMs: number): number {
    return Math.min(stamp - this.epoch, this.clock.now() + maxAheadMs);
  }
}

/** A clock for tests: time moves only when told to; the wall clock can jump on its own. */
export class ManualClock implements Clock {
  private mono = 1_000_000;
  private wall: number;
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  private seq = 0;

  constructor(wallStart = Date.UTC(2026, 0, 1)) {
    this.wall = wallStart;
  }

  now(): number {
    return this.mono;
  }

  wallNow(): number {
    return this.wall;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const t = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => (t.cancelled = true) };
  }

  /** Moves both clocks forward by ms, firing due timers in order. */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.wall += due.at - this.mono;
      this.mono = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    this.wall += end - this.mono;
    this.mono = end;
  }

  /** The wall clock jumps (forward or back); monotonic time does not move. */
  jumpWall(ms: number): void {
    this.wall += ms;
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
