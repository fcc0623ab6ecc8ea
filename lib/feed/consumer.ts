/**
 * FeedConsumer reads one Atom feed from its marker and hands out entries with tickets, then moves the
 * marker only past entries that are settled (written, filtered on purpose, taken into custody by a
 * durable queue, or dead-lettered with their error). It is the "no entry is skipped" guarantee:
 *
 *  - window: every entry read but not yet behind the marker, in feed order; the marker is the last
 *    entry of the all-settled prefix, persisted after each settlement (group-committed);
 *  - an entry settled ahead of an unsettled one is remembered in the store, so a restart re-delivers
 *    only what was unsettled;
 *  - per record (Type/uuid) at most one entry is in flight; a newer entry of the same record waits
 *    behind it and replaces any older entry still waiting ("the latest whole record wins");
 *  - transient failures come back after exponential backoff with jitter (Retry-After honoured), up to
 *    maxAttempts or maxRetryAge, then go to the dead letter; permanent ones go there at once;
 *  - an auth failure pauses the whole consumer; one entry is retried as a probe until it passes;
 *  - a ticket not settled within ticketTimeoutMs counts as a transient failure.
 *
 * No Node-RED here: the atom-feed-in node adapts this to messages, status and Catch.
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "../backoff";
import { recordKey, type FeedEntry } from "../atom/entry";
import type { FeedPage } from "../atom/parse";
import { pageNumber } from "../atom/reader";
import { isSettledKind, type Outcome } from "../outcome";
import type { FeedMarker, RetryRow, SyncStore } from "../store/store";
import { FeedJournal } from "./journal";
import { drainWhileProgressing } from "../drain";

export interface Ticket {
  /** Id of the sync-store that owns the consumer (filled in by the node layer). */
  store: string;
  /** Consumer id (the atom-feed-in node id). */
  source: string;
  /** Feed entry id. */
  entry: string;
  /** Record key, "Patient/<uuid>". */
  key: string;
  /** Distinguishes re-deliveries of the same entry: only the current one may report a retry. */
  serial: number;
  /** 1 for the first delivery. */
  attempt: number;
}

/** Audit details a settling node may add (where it wrote, how long it took). */
export interface SettleInfo {
  /** Which way the record went, when the settling node knows (fhir-push does). */
  direction?: "push" | "pull";
  action?: string;
  target?: string;
  durationMs?: number;
}

/** The marked entry is not on the marked page: the feed changed under us. Needs an admin decision. */
export class MarkerNotFoundError extends Error {
  constructor(
    readonly entryId: string,
    readonly pageUrl: string,
  ) {
    super(`marked entry ${entryId} is not on feed page ${pageUrl}; the feed was changed or truncated. Not restarting from page 1 on my own: reset the marker to choose.`);
    this.name = "MarkerNotFoundError";
  }
}

export interface ConsumerEvents {
  /** Deliver one entry downstream. */
  emit(entry: FeedEntry, ticket: Ticket): void;
  /** Reading the feed failed (page fetch, parse, marker). The consumer keeps its marker. */
  walkError?(err: Error, url: string | undefined): void;
  /** Called when the walk succeeds again after walkError. */
  walkRecovered?(): void;
  deadLettered?(entry: FeedEntry, outcome: Outcome, attempts: number): void;
  paused?(outcome: Outcome): void;
  resumed?(): void;
  caughtUp?(summary: PollSummary): void;
  /** Something visible changed (for status lines); called often, debounce on the other side. */
  changed?(): void;
  /** Persisting failed (disk full, I/O): the in-memory state moved on, the stored marker did not. */
  storeError?(err: Error): void;
}

export interface FeedConsumerOptions {
  id: string;
  /** The feed's "recent" URL; also the key under which the marker is stored with the consumer id. */
  feedUri: string;
  store: SyncStore;
  /** Store node id, copied into tickets. */
  storeId: string;
  fetchPage(url: string): Promise<FeedPage>;
  /** Maps a link from a page onto the configured base URL. */
  rebase?(url: string): string;
  /** First run without a marker: the whole history, or only what happens from now on. */
  startFrom?: "beginning" | "now";
  maxInFlight?: number;
  /** Entries read ahead of emission (where coalescing happens during a catch-up). */
  readAhead?: number;
  ticketTimeoutMs?: number;
  backoff?: BackoffPolicy;
  maxAttempts?: number;
  maxRetryAgeMs?: number;
  /** Probe delay after an auth failure (doubles up to backoff.capMs). */
  authProbeMs?: number;
  /** Return false to settle an entry as filtered without emitting it. */
  filter?(entry: FeedEntry): boolean;
  /** Audit label of this feed's records: pull (a parent's feed) or push (the child's own feed). */
  direction?: "push" | "pull";
  events: ConsumerEvents;
}

type ItemState = "ready" | "inflight" | "wait" | "held" | "settled";

interface Item {
  /** Position in feed order (walk order); deliveries go out in this order. */
  seq: number;
  entry: FeedEntry;
  key: string;
  state: ItemState;
  serial: number;
  attempts: number;
  firstFailedAt?: number;
  lastError?: string;
  deadline: number;
  timer?: NodeJS.Timeout;
  /** A feed_settled row exists for it. */
  settledRow: boolean;
  /** A feed_retries row exists for it. */
  retryRow: boolean;
  /** Redelivered from the dead letter: not part of the marker window. */
  detached: boolean;
  /** Settled outcome label. */
  outcome?: string;
}

export interface PollSummary {
  emitted: number;
  settled: number;
  waiting: number;
  deadLettered: number;
  pages: number;
}

export interface ConsumerStats {
  inFlight: number;
  ready: number;
  held: number;
  waiting: number;
  ok: number;
  filtered: number;
  dead: number;
  emitted: number;
  pages: number;
  paused: boolean;
  polling: boolean;
  lastError?: string;
  marker?: { entryId: string | null; pageUrl: string | null };
}

export class FeedConsumer {
  private readonly opts: Required<Omit<FeedConsumerOptions, "filter" | "rebase" | "direction">> & Pick<FeedConsumerOptions, "filter" | "rebase" | "direction">;
  private marker?: FeedMarker;
  private settledIds = new Set<string>();
  private retryRows = new Map<string, RetryRow>();
  /** Feed-ordered window; `head` is the first entry not behind the marker. */
  private order: Item[] = [];
  private head = 0;
  private byId = new Map<string, Item>();
  /** Items to deliver, lowest feed position first (retries and released items keep their place). */
  private ready = new ItemHeap();
  private readyByKey = new Map<string, Item>();
  private seqCounter = 0;
  /** In flight or waiting for a retry, by record key. */
  private active = new Map<string, Item>();
  private held = new Map<string, Item>();
  private inflight = new Set<Item>();
  private pausedItems: Item[] = [];
  private readPos?: { url: string; after?: string };
  private serialCounter = Date.now() * 1000;
  private paused = false;
  private probeDelay = 0;
  private probeTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;
  private started = false;
  private pumping = false;
  private pumpAgain = false;
  private polling?: Promise<void>;
  private pollAgain = false;
  private walkFailed = false;
  private waitingCaughtUp = false;
  private capacityWaiters: (() => void)[] = [];
  private cycle: PollSummary = { emitted: 0, settled: 0, waiting: 0, deadLettered: 0, pages: 0 };
  private lastError?: string;
  readonly counts = { ok: 0, filtered: 0, dead: 0, emitted: 0, pages: 0 };
  private readonly journal: FeedJournal;

  constructor(options: FeedConsumerOptions) {
    this.opts = {
      startFrom: "beginning",
      maxInFlight: 8,
      readAhead: 500,
      ticketTimeoutMs: 120_000,
      backoff: DEFAULT_BACKOFF,
      maxAttempts: 50,
      maxRetryAgeMs: 24 * 3600_000,
      authProbeMs: 5_000,
      ...options,
    };
    this.journal = new FeedJournal(options.store, options.id, (err) => this.opts.events.storeError?.(err));
  }

  get id(): string {
    return this.opts.id;
  }

  /** Loads marker, out-of-order settlements and pending retries from the store. */
  async start(): Promise<void> {
    if (this.started) return;
    this.marker = await this.opts.store.getMarker(this.opts.id);
    this.settledIds = await this.opts.store.settledEntries(this.opts.id);
    this.retryRows = await this.opts.store.retries(this.opts.id);
    this.started = true;
    const sweepEvery = Math.max(200, Math.min(5_000, Math.floor(this.opts.ticketTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweepExpired(), sweepEvery);
    this.sweepTimer.unref?.();
  }

  /**
   * Reads the feed from where it stands and emits what is new. Resolves when the walk reached the
   * newest entry (entries may still be in flight). A poll requested while one runs is run right after.
   */
  poll(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.polling) {
      this.pollAgain = true;
      return this.polling;
    }
    this.polling = (async () => {
      try {
        do {
          this.pollAgain = false;
          await this.walkOnce();
        } while (this.pollAgain && !this.stopped);
      } finally {
        this.polling = undefined;
        this.changed();
      }
    })();
    return this.polling;
  }

  private async walkOnce(): Promise<void> {
    if (!this.started) await this.start();
    if (this.paused || this.stopped) return;
    this.cycle = { emitted: 0, settled: 0, waiting: 0, deadLettered: 0, pages: 0 };
    let url: string | undefined;
    try {
      let after: string | undefined;
      let page: FeedPage | undefined;
      if (this.readPos) {
        url = this.readPos.url;
        after = this.readPos.after;
      } else if (this.marker?.pageUrl) {
        url = this.rebase(this.marker.pageUrl);
        after = this.marker.entryId ?? undefined;
      } else if (this.opts.startFrom === "now" && !this.marker) {
        url = this.opts.feedUri;
        page = await this.fetch(url);
        const last = page.entries[page.entries.length - 1];
        const pageUrl = page.links.via ?? url;
        this.marker = { consumer: this.opts.id, feedUri: this.opts.feedUri, entryId: last?.id ?? null, pageUrl: last ? pageUrl : null };
        this.journal.setMarker(this.marker);
        await this.journal.flushed();
        if (last) this.readPos = { url: this.rebase(pageUrl), after: last.id };
        this.recovered();
        return;
      } else {
        url = this.opts.feedUri;
        page = await this.seekFirstPage();
        url = page.url;
      }
      for (;;) {
        if (this.stopped) return;
        page ??= await this.fetch(url);
        let start = 0;
        if (after) {
          const idx = page.entries.findIndex((e) => e.id === after);
          if (idx < 0) throw new MarkerNotFoundError(after, url);
          start = idx + 1;
        }
        for (let i = start; i < page.entries.length; i++) this.accept(page.entries[i]);
        const canonical = this.rebase(page.links.via ?? url);
        const lastId = page.entries.length ? page.entries[page.entries.length - 1].id : after;
        if (page.links.nextArchive) {
          url = this.rebase(page.links.nextArchive);
          after = undefined;
          this.readPos = { url };
          page = undefined;
          this.pump();
          await this.capacity();
          continue;
        }
        // Newest page: remember where we stand; an empty first page leaves nothing to remember.
        this.readPos = lastId ? { url: canonical, after: lastId } : undefined;
        break;
      }
      this.recovered();
      this.waitingCaughtUp = true;
      this.pump();
      this.checkCaughtUp();
    } catch (err) {
      this.walkFailed = true;
      const e = err instanceof Error ? err : new Error(String(err));
      this.lastError = e.message;
      if (!this.stopped) this.opts.events.walkError?.(e, url);
    }
  }

  private recovered(): void {
    if (this.walkFailed) {
      this.walkFailed = false;
      this.lastError = undefined;
      this.opts.events.walkRecovered?.();
    }
  }

  private async fetch(url: string): Promise<FeedPage> {
    const page = await this.opts.fetchPage(url);
    this.counts.pages++;
    this.cycle.pages++;
    return page;
  }

  private rebase(url: string): string {
    return this.opts.rebase ? this.opts.rebase(url) : url;
  }

  /**
   * First run: find the oldest page. ICT4H clients follow prev-archive one page at a time; pages are
   * numbered from 1, so when the links are numbered we jump to page 1 and only walk back if page 1
   * itself still has a prev-archive link.
   */
  private async seekFirstPage(): Promise<FeedPage> {
    let page = await this.fetch(this.opts.feedUri);
    const prev = page.links.prevArchive;
    if (!prev) return page;
    const n = pageNumber(prev);
    let url = this.rebase(prev);
    if (n !== undefined && n > 1) url = url.replace(/\/\d+\/?$/, "/1");
    page = await this.fetch(url);
    while (page.links.prevArchive && !this.stopped) {
      url = this.rebase(page.links.prevArchive);
      page = await this.fetch(url);
    }
    return page;
  }

  /** Waits while the read-ahead or the window is full. */
  private capacity(): Promise<void> {
    if (!this.full()) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  private full(): boolean {
    if (this.stopped) return false;
    const pending = this.ready.size;
    const windowSize = this.order.length - this.head;
    return pending >= this.opts.readAhead || windowSize >= this.opts.readAhead * 20;
  }

  private wakeWalker(): void {
    if (this.capacityWaiters.length && !this.full()) {
      const waiters = this.capacityWaiters;
      this.capacityWaiters = [];
      for (const w of waiters) w();
    }
  }

  private newItem(entry: FeedEntry, detached = false): Item {
    return { seq: ++this.seqCounter, entry, key: recordKey(entry), state: "ready", serial: 0, attempts: 0, deadline: 0, settledRow: false, retryRow: false, detached };
  }

  /** Takes a newly read entry into the window. */
  private accept(entry: FeedEntry): void {
    if (this.byId.has(entry.id)) return;
    const item = this.newItem(entry);
    this.byId.set(entry.id, item);
    this.order.push(item);
    if (this.settledIds.has(entry.id)) {
      // Settled before a restart: count it for the marker, never deliver it again.
      item.state = "settled";
      item.settledRow = true;
      item.outcome = "settled-before";
      this.settledIds.delete(entry.id);
      this.advance();
      return;
    }
    const retry = this.retryRows.get(entry.id);
    if (retry) {
      this.retryRows.delete(entry.id);
      item.attempts = retry.attempts;
      item.firstFailedAt = retry.firstFailedAt;
      item.lastError = retry.lastError ?? undefined;
      item.retryRow = true;
    }
    if (this.opts.filter && !this.opts.filter(entry)) {
      this.finish(item, { kind: "filtered", reason: "filter" });
      return;
    }
    if (retry && retry.nextAt > Date.now() && !this.active.has(item.key) && !this.readyByKey.has(item.key)) {
      // A retry scheduled before the restart and not due yet: wait for it, as before.
      item.state = "wait";
      this.active.set(item.key, item);
      item.timer = setTimeout(() => this.release(item), retry.nextAt - Date.now());
      item.timer.unref?.();
      return;
    }
    this.enqueue(item);
  }

  /** Queues an item for delivery, keeping one delivery per record and replacing stale waiting ones. */
  private enqueue(item: Item): void {
    const active = this.active.get(item.key);
    if (active && active !== item) {
      if (active.state === "wait" && !this.pausedItems.includes(active)) {
        this.finish(active, { kind: "filtered", reason: "superseded", message: `superseded by newer entry ${item.entry.id}` });
      } else {
        const held = this.held.get(item.key);
        if (held) this.finish(held, { kind: "filtered", reason: "coalesced", message: `coalesced into ${item.entry.id}` });
        item.state = "held";
        this.held.set(item.key, item);
        return;
      }
    }
    const queued = this.readyByKey.get(item.key);
    if (queued && queued !== item) this.finish(queued, { kind: "filtered", reason: "coalesced", message: `coalesced into ${item.entry.id}` });
    item.state = "ready";
    this.ready.push(item);
    this.readyByKey.set(item.key, item);
    this.pump();
  }

  /** Puts an item back in the delivery queue at its feed position. */
  private requeue(item: Item): void {
    item.state = "ready";
    this.ready.push(item);
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (!this.paused && !this.stopped && this.inflight.size < this.opts.maxInFlight) {
          const item = this.nextReady();
          if (!item) break;
          this.dispatch(item);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    this.wakeWalker();
  }

  private nextReady(): Item | undefined {
    for (;;) {
      const item = this.ready.pop();
      if (!item) return undefined;
      if (item.state !== "ready") continue;
      if (this.readyByKey.get(item.key) === item) this.readyByKey.delete(item.key);
      const active = this.active.get(item.key);
      if (active && active !== item) {
        // An older entry of this record is still out: wait behind it.
        const held = this.held.get(item.key);
        if (held) this.finish(held, { kind: "filtered", reason: "coalesced" });
        item.state = "held";
        this.held.set(item.key, item);
        continue;
      }
      return item;
    }
  }

  private dispatch(item: Item): void {
    item.state = "inflight";
    item.serial = ++this.serialCounter;
    item.deadline = Date.now() + this.opts.ticketTimeoutMs;
    this.active.set(item.key, item);
    this.inflight.add(item);
    this.counts.emitted++;
    this.cycle.emitted++;
    const ticket: Ticket = {
      store: this.opts.storeId,
      source: this.opts.id,
      entry: item.entry.id,
      key: item.key,
      serial: item.serial,
      attempt: item.attempts + 1,
    };
    this.opts.events.emit(item.entry, ticket);
  }

  /**
   * Settles a ticket. Returns false when the ticket is unknown or stale (already settled, or
   * superseded by a newer delivery of the same entry).
   */
  settle(ticket: Pick<Ticket, "entry" | "serial">, outcome: Outcome, info: SettleInfo = {}): boolean {
    const item = this.byId.get(ticket.entry);
    if (!item || item.state === "settled") return false;
    const current = item.serial === ticket.serial && item.state === "inflight";
    if (!current) {
      // A late answer to an older delivery: accept a final result for an entry not currently out.
      if (!isSettledKind(outcome.kind) || item.state === "inflight") return false;
    }
    if (item.state === "inflight") this.inflight.delete(item);
    this.audit(item, outcome, info);
    if (outcome.kind === "auth") {
      this.onAuthFailure(item, outcome);
    } else if (this.paused && item === this.pausedItems[0]) {
      // The probe got past authentication: the channel works again.
      this.resume();
      this.applyOutcome(item, outcome);
    } else {
      this.applyOutcome(item, outcome);
    }
    this.pump();
    this.checkCaughtUp();
    this.changed();
    return true;
  }

  private applyOutcome(item: Item, outcome: Outcome): void {
    switch (outcome.kind) {
      case "ok":
      case "filtered":
        this.finish(item, outcome);
        break;
      case "permanent":
        this.deadLetter(item, outcome);
        break;
      case "retry":
        this.scheduleRetry(item, outcome);
        break;
      case "auth":
        this.onAuthFailure(item, outcome);
        break;
    }
  }

  private audit(item: Item, outcome: Outcome, info: SettleInfo): void {
    // Only attempts at a target are audited: not a filter, not a hand-over to a retry-queue (the queue
    // audits its own deliveries).
    if (!info.target && (outcome.kind === "filtered" || outcome.kind === "ok")) return;
    const entry = item.entry;
    this.journal.audit({
      direction: info.direction ?? this.opts.direction ?? "pull",
      source: this.opts.id,
      entryId: entry.id,
      recordKey: item.key,
      action: info.action ?? entry.action,
      target: info.target,
      outcome: outcome.kind,
      reason: outcome.reason,
      httpStatus: outcome.status,
      error: outcome.kind === "ok" ? undefined : outcome.message,
      attempt: item.attempts + 1,
      durationMs: info.durationMs,
    });
  }

  private scheduleRetry(item: Item, outcome: Outcome): void {
    const now = Date.now();
    item.attempts++;
    item.firstFailedAt ??= now;
    item.lastError = outcome.message ?? outcome.reason;
    if (item.attempts >= this.opts.maxAttempts || now - item.firstFailedAt >= this.opts.maxRetryAgeMs) {
      const why = item.attempts >= this.opts.maxAttempts ? `gave up after ${item.attempts} attempts` : `gave up after retrying for ${Math.round((now - item.firstFailedAt) / 1000)} s`;
      this.deadLetter(item, { ...outcome, kind: "permanent", reason: outcome.reason, message: `${why}; last error: ${item.lastError}` }, false);
      return;
    }
    const delay = backoffDelay(item.attempts, this.opts.backoff, outcome.retryAfterMs);
    item.state = "wait";
    this.cycle.waiting++;
    const row: RetryRow = { entryId: item.entry.id, attempts: item.attempts, firstFailedAt: item.firstFailedAt, nextAt: now + delay, lastError: item.lastError ?? null };
    item.retryRow = true;
    if (!item.detached) this.journal.putRetry(row);
    item.timer = setTimeout(() => this.release(item), delay);
    item.timer.unref?.();
  }

  /** A waiting item is due: deliver it again, unless a newer entry of the record is waiting. */
  private release(item: Item): void {
    item.timer = undefined;
    if (item.state !== "wait" || this.stopped) return;
    const held = this.held.get(item.key);
    if (held) {
      this.finish(item, { kind: "filtered", reason: "superseded", message: `superseded by newer entry ${held.entry.id}` });
      return;
    }
    if (this.paused) {
      if (!this.pausedItems.includes(item)) this.pausedItems.push(item);
      return;
    }
    this.requeue(item);
    this.pump();
  }

  private onAuthFailure(item: Item, outcome: Outcome): void {
    item.state = "wait";
    item.lastError = outcome.message ?? outcome.reason;
    if (!this.pausedItems.includes(item)) this.pausedItems.push(item);
    if (!this.paused) {
      this.paused = true;
      this.probeDelay = this.opts.authProbeMs;
      this.opts.events.paused?.(outcome);
    } else if (item === this.pausedItems[0]) {
      this.probeDelay = Math.min(this.probeDelay * 2, this.opts.backoff.capMs);
    }
    if (!this.probeTimer) {
      this.probeTimer = setTimeout(() => this.probe(), this.probeDelay);
      this.probeTimer.unref?.();
    }
  }

  /** While paused, re-deliver the first paused entry as a probe. */
  private probe(): void {
    this.probeTimer = undefined;
    if (!this.paused || this.stopped) return;
    const item = this.pausedItems[0];
    if (!item || item.state !== "wait") {
      this.resume();
      return;
    }
    this.dispatch(item);
  }

  /** Ends an auth pause (a probe passed, or the admin said so). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    const items = this.pausedItems;
    this.pausedItems = [];
    for (const it of items) {
      if (it.state === "wait") this.requeue(it);
    }
    this.opts.events.resumed?.();
    this.pump();
    this.changed();
  }

  private deadLetter(item: Item, outcome: Outcome, countAttempt = true): void {
    const attempts = item.attempts + (countAttempt ? 1 : 0);
    const entry = item.entry;
    this.journal.deadLetter({
        source: this.opts.id,
        sourceKind: "feed",
        recordKey: item.key,
        entryId: entry.id,
        entry,
        reason: outcome.reason,
        error: outcome.message,
        httpStatus: outcome.status,
        operationOutcome: outcome.operationOutcome,
        attempts,
        firstFailedAt: item.firstFailedAt ?? Date.now(),
      });
    this.counts.dead++;
    this.cycle.deadLettered++;
    this.finish(item, outcome, "dead");
    this.opts.events.deadLettered?.(entry, outcome, attempts);
  }

  /** Marks an item settled, releases the record, moves the marker. */
  private finish(item: Item, outcome: Outcome, label?: string): void {
    if (item.state === "settled") return;
    if (item.state === "inflight") this.inflight.delete(item);
    if (item.timer) clearTimeout(item.timer);
    item.timer = undefined;
    if (this.readyByKey.get(item.key) === item) this.readyByKey.delete(item.key);
    item.state = "settled";
    item.outcome = label ?? (outcome.kind === "filtered" ? `filtered:${outcome.reason}` : outcome.kind);
    if (label !== "dead") {
      if (outcome.kind === "ok") this.counts.ok++;
      else this.counts.filtered++;
    }
    this.cycle.settled++;
    if (this.held.get(item.key) === item) this.held.delete(item.key);
    if (this.active.get(item.key) === item) {
      this.active.delete(item.key);
      const next = this.held.get(item.key);
      if (next) {
        this.held.delete(item.key);
        this.requeue(next);
      }
    }
    if (item.retryRow && !item.detached) {
      item.retryRow = false;
      this.journal.removeRetry(item.entry.id);
    }
    if (item.detached) {
      this.byId.delete(item.entry.id);
      return;
    }
    this.advance(item);
  }

  /** Moves the marker over the settled prefix and persists what changed in one write. */
  private advance(justSettled?: Item): void {
    let last: Item | undefined;
    const passedRows: string[] = [];
    while (this.head < this.order.length && this.order[this.head].state === "settled") {
      const it = this.order[this.head++];
      last = it;
      this.byId.delete(it.entry.id);
      if (it.settledRow) passedRows.push(it.entry.id);
    }
    const needRow = justSettled && justSettled.state === "settled" && !justSettled.settledRow && this.byId.get(justSettled.entry.id) === justSettled;
    if (needRow) justSettled!.settledRow = true;
    if (!last && !needRow) return;
    if (needRow) this.journal.addSettled(justSettled!.entry.id, justSettled!.outcome ?? "ok");
    if (last) {
      this.marker = { consumer: this.opts.id, feedUri: this.opts.feedUri, entryId: last.entry.id, pageUrl: last.entry.page };
      this.journal.setMarker(this.marker);
    }
    for (const e of passedRows) this.journal.removeSettled(e);
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    this.wakeWalker();
  }

  private sweepExpired(): void {
    const now = Date.now();
    for (const item of [...this.inflight]) {
      if (item.deadline <= now) {
        this.settle(
          { entry: item.entry.id, serial: item.serial },
          { kind: "retry", reason: "ticket-timeout", message: `not settled within ${this.opts.ticketTimeoutMs} ms (was the message dropped by the flow?)` },
        );
      }
    }
  }

  private checkCaughtUp(): void {
    if (!this.waitingCaughtUp) return;
    if (this.inflight.size > 0 || this.readyByKey.size > 0 || this.held.size > 0) return;
    if (this.ready.has((i) => i.state === "ready")) return;
    this.waitingCaughtUp = false;
    this.opts.events.caughtUp?.({ ...this.cycle, waiting: this.waitingCount() });
  }

  private waitingCount(): number {
    let n = 0;
    for (const it of this.active.values()) if (it.state === "wait") n++;
    return n;
  }

  /** Delivers a dead-lettered entry again, outside the marker window. */
  redeliver(entry: FeedEntry): void {
    if (this.byId.has(entry.id)) return;
    const item = this.newItem(entry, true);
    this.byId.set(entry.id, item);
    this.enqueue(item);
  }

  /** Forgets the marker and everything settled; the next poll starts as a first run. */
  async reset(startFrom?: "beginning" | "now"): Promise<void> {
    if (startFrom) this.opts.startFrom = startFrom;
    for (const it of this.byId.values()) if (it.timer) clearTimeout(it.timer);
    this.order = [];
    this.head = 0;
    this.byId.clear();
    this.ready = new ItemHeap();
    this.readyByKey.clear();
    this.active.clear();
    this.held.clear();
    this.inflight.clear();
    this.pausedItems = [];
    this.paused = false;
    this.readPos = undefined;
    this.marker = undefined;
    this.settledIds.clear();
    this.retryRows.clear();
    this.walkFailed = false;
    this.lastError = undefined;
    await this.journal.flushed();
    await this.opts.store.deleteMarker(this.opts.id);
    this.changed();
  }

  stats(): ConsumerStats {
    return {
      inFlight: this.inflight.size,
      ready: this.readyByKey.size,
      held: this.held.size,
      waiting: this.waitingCount(),
      ok: this.counts.ok,
      filtered: this.counts.filtered,
      dead: this.counts.dead,
      emitted: this.counts.emitted,
      pages: this.counts.pages,
      paused: this.paused,
      polling: this.polling !== undefined,
      lastError: this.lastError,
      marker: this.marker ? { entryId: this.marker.entryId, pageUrl: this.marker.pageUrl } : undefined,
    };
  }

  /** For a graceful close (see drainWhileProgressing). */
  drain(timeoutMs: number, idleMs = 1000): Promise<void> {
    return drainWhileProgressing(() => this.inflight.size, () => this.counts.ok + this.counts.filtered + this.counts.dead, timeoutMs, idleMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    for (const it of this.byId.values()) if (it.timer) clearTimeout(it.timer);
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const w of waiters) w();
    if (this.polling) await this.polling.catch(() => undefined);
    await this.journal.flushed();
  }

  private changed(): void {
    this.opts.events.changed?.();
  }
}

/** Binary min-heap of items by feed position. */
class ItemHeap {
  private items: Item[] = [];

  get size(): number {
    return this.items.length;
  }

  has(pred: (item: Item) => boolean): boolean {
    return this.items.some(pred);
  }

  push(item: Item): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent].seq <= a[i].seq) break;
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }

  pop(): Item | undefined {
    const a = this.items;
    if (!a.length) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].seq < a[m].seq) m = l;
        if (r < a.length && a[r].seq < a[m].seq) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}
