/**
 * Failed key checks per source address: after `maxFailures` failures within `windowMs` a source is
 * blocked for `blockMs` (the hub answers 429 with Retry-After, without checking anything). A success
 * resets nothing — neither another source's count nor its own, or a client holding one good key could
 * interleave it with guesses at others. Memory is bounded: at most `maxSources` sources are remembered;
 * past that, sources with nothing recent are swept and then the least recently failed are forgotten down
 * to 90% of it (an attacker with that many addresses is beyond what a per-source limit can stop anyway).
 * No timers. No Node-RED here.
 */
import { performance } from "node:perf_hooks";

export interface LimiterOptions {
  /** Failures within the window that block a source (default 10). */
  maxFailures?: number;
  /** The window failures are counted in (default 60 s). */
  windowMs?: number;
  /** How long a source stays blocked (default 60 s). */
  blockMs?: number;
  /** Sources remembered at most (default 10,000). */
  maxSources?: number;
  /** Monotonic milliseconds (tests give a manual clock). */
  now?: () => number;
}

interface Source {
  /** Times of the failures within the window, oldest first (at most maxFailures). */
  failures: number[];
  blockedUntil: number;
}

export class FailureLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
  readonly maxSources: number;
  private readonly now: () => number;
  private readonly sources = new Map<string, Source>();

  constructor(o: LimiterOptions = {}) {
    this.maxFailures = o.maxFailures ?? 10;
    this.windowMs = o.windowMs ?? 60_000;
    this.blockMs = o.blockMs ?? 60_000;
    this.maxSources = o.maxSources ?? 10_000;
    this.now = o.now ?? (() => performance.now());
  }

  /** Milliseconds until the source may try again; 0: it may now. */
  retryAfterMs(source: string): number {
    const s = this.sources.get(source);
    if (!s) return 0;
    return Math.max(0, s.blockedUntil - this.now());
  }

  /** Counts a failure; answers how long the source is now blocked (0: not blocked). */
  fail(source: string): number {
    const now = this.now();
    let s = this.sources.get(source);
    if (s) this.sources.delete(source);
    else s = { failures: [], blockedUntil: 0 };
    // Re-inserted: the map's order is least recently failed first.
    this.sources.set(source, s);
    while (s.failures.length && s.failures[0] <= now - this.windowMs) s.failures.shift();
    s.failures.push(now);
    if (s.failures.length >= this.maxFailures) {
      s.blockedUntil = now + this.blockMs;
      s.failures = [];
    }
    if (this.sources.size > this.maxSources) this.trim(now);
    return Math.max(0, s.blockedUntil - now);
  }

  /** Sources remembered now. */
  get size(): number {
    return this.sources.size;
  }

  /** Forgets sources that are neither blocked nor failed within the window. */
  sweep(now = this.now()): void {
    for (const [key, s] of this.sources) {
      if (s.blockedUntil <= now && (!s.failures.length || s.failures[s.failures.length - 1] <= now - this.windowMs)) this.sources.delete(key);
    }
  }

  /** Down to 90% of the bound, so that a flood of new sources sweeps once per many failures, not each. */
  private trim(now: number): void {
    this.sweep(now);
    const target = Math.floor(this.maxSources * 0.9);
    for (const key of this.sources.keys()) {
      if (this.sources.size <= target) break;
      this.sources.delete(key);
    }
  }
}
