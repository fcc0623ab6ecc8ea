/** What a FeedConsumer is given (options, event callbacks) and what it reports (stats, poll summaries). */
import type { FeedEntry } from "../atom/entry";
import type { FeedPage } from "../atom/parse";
import type { BackoffPolicy } from "../backoff";
import type { Clock } from "../engine/clock";
import type { EngineStats } from "../engine/engine";
import type { GateState } from "../engine/gate";
import type { Ticket } from "../engine/ticket";
import type { Outcome } from "../outcome";
import type { SyncStore } from "../store/store";
import type { StartFrom, StartPoint } from "./start-position";

export interface ConsumerEvents {
  /** Deliver one entry downstream. */
  emit(entry: FeedEntry, ticket: Ticket): void;
  /** Reading the feed failed (page fetch, parse, marker). The consumer keeps its marker. */
  walkError?(err: Error, url: string | undefined): void;
  /** Reading works again after walkError. */
  walkRecovered?(): void;
  deadLettered?(entry: FeedEntry, outcome: Outcome, attempts: number): void;
  /** The channel's gate changed: paused on auth, waiting for its target, a store fault, or open again. */
  gateChanged?(state: GateState, why?: string): void;
  caughtUp?(summary: PollSummary): void;
  /** A first run found where it starts (not called for "beginning"); the position is stored as the marker. */
  started?(from: StartFrom, point: StartPoint): void;
  /** Something visible changed (status lines); called often, debounce on the other side. */
  changed?(): void;
}

export interface FeedConsumerOptions {
  id: string;
  /** The feed's "recent" URL. */
  feedUri: string;
  store: SyncStore;
  /** Store node id, copied into tickets. */
  storeId: string;
  fetchPage(url: string): Promise<FeedPage>;
  /** Maps a link from a page onto the configured base URL. */
  rebase?(url: string): string;
  /** Pages one walk reads before it starts again from its position (see FeedWalker). */
  maxPagesPerWalk?: number;
  /** Pages in a row without a new entry that stop a walk with an error (see FeedWalker). */
  maxEmptyPages?: number;
  /**
   * First run without a marker: the whole history, only what happens from now on, or what follows an entry
   * or a time (a database copied from this feed's server; see start-position.ts).
   */
  startFrom?: StartFrom;
  maxInFlight?: number;
  /** Entries read ahead of delivery (where coalescing happens during a catch-up). */
  readAhead?: number;
  ticketTimeoutMs?: number;
  backoff?: BackoffPolicy;
  maxAttempts?: number;
  maxRetryAgeMs?: number;
  /** First probe delay while paused or waiting for the target (doubles up to backoff.capMs). */
  authProbeMs?: number;
  /** Return false to settle an entry as filtered without delivering it. */
  filter?(entry: FeedEntry): boolean;
  /** Audit label of this feed's records: pull (a parent's feed) or push (the child's own feed). */
  direction?: "push" | "pull";
  clock?: Clock;
  events: ConsumerEvents;
}

export interface PollSummary {
  emitted: number;
  settled: number;
  waiting: number;
  deadLettered: number;
  pages: number;
}

export interface ConsumerStats extends EngineStats {
  emitted: number;
  pages: number;
  /** Paused on 401/403. */
  paused: boolean;
  polling: boolean;
  walkError?: string;
  marker?: { entryId: string | null; pageUrl: string | null };
  /**
   * How far the marker is behind what the last walk read (the feed head once a walk reached it):
   * entries read and not yet behind the marker, and the feed time of the oldest of them.
   */
  lag: { entries: number; oldest?: string };
  /** Pages read so far by a first run looking for its start entry or time. */
  locating?: number;
}
