/**
 * The life of an item in a channel: a feed entry in a feed consumer, a stored message in a durable
 * queue. One table, one place where the next state is decided (`nextState`); the engine carries it
 * out, and an item's stored state changes only together with its state here (docs/engine.md).
 *
 * | state    | meaning                                                                  |
 * |----------|--------------------------------------------------------------------------|
 * | ready    | to be delivered: waits for a free slot, an open gate, and its record     |
 * |          | (one item per record is out at a time; a newer one waits behind it and   |
 * |          | replaces any older one waiting there)                                     |
 * | inflight | delivered with a ticket; waits for the ticket to be settled              |
 * | settling | its outcome is decided and being committed with everything it changes     |
 * | waiting  | a record-level failure: delivered again at T (backoff, Retry-After)       |
 * | done     | written, or filtered on purpose (unchanged, superseded, dropped)          |
 * | held     | kept back for an admin (a held conflict); settled for the channel         |
 * | dead     | dead-lettered with its error; an admin may retry it as a new item         |
 *
 * | from           | event                                              | to                    |
 * |----------------|----------------------------------------------------|-----------------------|
 * | (new)          | read from the feed, enqueued, loaded from the store | ready                 |
 * | ready          | slot free, gate open or a probe due, record free   | inflight              |
 * | ready, waiting | a newer item of the same record arrived or is due  | settling → done       |
 * | inflight       | ok, filtered                                       | settling → done       |
 * | inflight       | held                                               | settling → held       |
 * | inflight       | permanent; retry past max attempts or max age      | settling → dead       |
 * | inflight       | retry (the record's fault), ticket timeout          | settling → waiting    |
 * | inflight       | auth, or a channel failure (target down, 429)      | settling → ready, gate closes |
 * | settling       | commit succeeded                                   | its destination       |
 * | settling       | commit failed                                      | ready (as stored), gate store-fault |
 * | waiting        | T reached                                          | ready                 |
 * A late final outcome (ok, filtered, held, permanent) for an item that is ready, waiting or out
 * under a newer ticket is accepted: the work was done.
 */
import { backoffDelay, type BackoffPolicy } from "../backoff";
import { isChannelFailure, isSettledKind, type Outcome } from "../outcome";

export type ItemState = "ready" | "inflight" | "settling" | "waiting" | "done" | "held" | "dead";

/** Where a settlement takes an item once it is committed. */
export type Destination = "done" | "held" | "dead" | "waiting" | "ready";

export interface RetryRules {
  backoff: BackoffPolicy;
  maxAttempts: number;
  maxRetryAgeMs: number;
}

export interface Next {
  to: Destination;
  /** The outcome to record (a give-up turns a retry into a permanent failure). */
  outcome: Outcome;
  /** Failed attempts that count against the record after this one. */
  attempts: number;
  /** Stamp of the first counted failure. */
  firstFailedAt?: number;
  /** For `waiting`: how long until the next attempt. */
  delayMs?: number;
  /** What the outcome says about the channel. */
  gate: "paused" | "target-down" | "answered";
}

/**
 * Decides an item's next state from an outcome. `attempts`/`firstFailedAt` are what is stored for the
 * item; `nowStamp` is the engine's stamp for now.
 */
export function nextState(
  item: { attempts: number; firstFailedAt?: number },
  outcome: Outcome,
  rules: RetryRules,
  nowStamp: number,
  random = Math.random,
): Next {
  const same = { attempts: item.attempts, firstFailedAt: item.firstFailedAt };
  if (outcome.kind === "auth") return { to: "ready", outcome, ...same, gate: "paused" };
  if (isChannelFailure(outcome)) return { to: "ready", outcome, ...same, gate: "target-down" };
  if (isSettledKind(outcome.kind)) {
    const to: Destination = outcome.kind === "permanent" ? "dead" : outcome.kind === "held" ? "held" : "done";
    return { to, outcome, attempts: to === "dead" ? item.attempts + 1 : item.attempts, firstFailedAt: item.firstFailedAt, gate: "answered" };
  }
  // A retry that is the record's own: it counts.
  const attempts = item.attempts + 1;
  const firstFailedAt = item.firstFailedAt ?? nowStamp;
  const age = nowStamp - firstFailedAt;
  if (attempts >= rules.maxAttempts || age >= rules.maxRetryAgeMs) {
    const why = attempts >= rules.maxAttempts ? `gave up after ${attempts} attempts` : `gave up after retrying for ${Math.round(age / 1000)} s`;
    const message = `${why}; last error: ${outcome.message ?? outcome.reason}`;
    return { to: "dead", outcome: { ...outcome, kind: "permanent", message }, attempts, firstFailedAt, gate: "answered" };
  }
  return { to: "waiting", outcome, attempts, firstFailedAt, delayMs: backoffDelay(attempts, rules.backoff, outcome.retryAfterMs, random), gate: "answered" };
}
