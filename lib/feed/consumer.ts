/**
 * FeedConsumer reads one Atom feed from its marker and hands out entries with tickets; the marker moves
 * only past entries that are settled (written, filtered on purpose, taken into custody by a durable
 * queue, held for an admin, or dead-lettered with their error). "No entry is skipped":
 *
 *  - a first run finds where it starts (start-position.ts: the beginning, now, after an entry or a time)
 *    and stores it as the marker;
 *  - the walker (walker.ts) reads pages from where reading stands; the window (window.ts) keeps every
 *    entry read and not behind the marker; the delivery engine (../engine) delivers, retries, pauses and
 *    stores settlements through the feed ledger (ledger.ts), one write per group commit;
 *  - an entry settled ahead of an unsettled one is stored, so a restart delivers only what was not;
 *  - per record at most one entry is out; a newer entry waits behind it and replaces an older one
 *    waiting there ("the latest whole record wins");
 *  - dead-lettered entries can be delivered again (retryDead) or discarded (discardDead);
 *  - memory is bounded by the window (readAhead entries to deliver, 20 × readAhead read).
 * No Node-RED here: the atom-feed-in node adapts this to messages, status and Catch.
 */
import { recordKey, type FeedEntry } from "../atom/entry";
import { DeliveryEngine, type Change } from "../engine/engine";
import type { SettleInfo, Ticket } from "../engine/ticket";
import type { Outcome } from "../outcome";
import { discardDeadLetters, listDeadLetters, type DeadLetterRow } from "../store/dead-letters";
import { SyncStore, type FeedMarker } from "../store/store";
import { FeedLedger, requeuedId } from "./ledger";
import { attemptAudit } from "../engine/records";
import { FeedWalker, type ReadPosition } from "./walker";
import { MarkerWindow } from "./window";
import type { ConsumerStats, FeedConsumerOptions } from "./consumer-types";
import { locateStart, StartEntryNotFoundError, StartPages, StartValueError, type StartFrom } from "./start-position";

export { MarkerNotFoundError } from "./walker";
export { StartEntryNotFoundError, StartValueError, type StartFrom } from "./start-position";
export type { ConsumerEvents, ConsumerStats, FeedConsumerOptions, PollSummary } from "./consumer-types";

export class FeedConsumer {
  private readonly window: MarkerWindow;
  private readonly walker: FeedWalker;
  private readonly engine: DeliveryEngine<FeedEntry>;
  private readonly readAhead: number;
  private settledBefore = new Set<string>();
  private retryRows = new Map<string, { attempts: number; firstFailedAt: number; nextAt: number; lastError: string | null }>();
  private readPos?: ReadPosition;
  private started?: Promise<void>;
  private stopped = false;
  private polling?: Promise<void>;
  private pollAgain = false;
  private walkFailed?: string;
  private waitingCaughtUp = false;
  private capacityWaiters: (() => void)[] = [];
  private cycleStart = { delivered: 0, settled: 0, dead: 0, pages: 0 };
  private generation = 0;
  private resetting?: Promise<void>;
  /** Pages a first run read while looking for its start, for the walk that follows. */
  private readonly startPages = new StartPages();
  /** Pages read so far while looking for the start. */
  private locating?: number;
  /** The start entry is not in the feed: not looked for again at every poll, only after a reset or restart. */
  private startFailed?: Error;

  constructor(private readonly o: FeedConsumerOptions) {
    this.readAhead = o.readAhead ?? 500;
    this.window = new MarkerWindow(o.id, o.feedUri);
    this.walker = new FeedWalker({
      feedUri: o.feedUri,
      fetchPage: (url) => {
        const kept = this.startPages.take(url);
        return kept ? Promise.resolve(kept) : o.fetchPage(url);
      },
      rebase: (url) => this.rebase(url),
      maxPages: o.maxPagesPerWalk,
      maxEmptyPages: o.maxEmptyPages,
    });
    const direction = o.direction ?? "pull";
    this.engine = new DeliveryEngine<FeedEntry>({
      id: o.id,
      storeId: o.storeId,
      db: o.store.db,
      ledger: new FeedLedger(o.id, this.window, (changes) => this.committed(changes)),
      keepWaiting: true,
      clock: o.clock,
      maxInFlight: o.maxInFlight ?? 8,
      backoff: o.backoff,
      maxAttempts: o.maxAttempts,
      maxRetryAgeMs: o.maxRetryAgeMs,
      ticketTimeoutMs: o.ticketTimeoutMs,
      probeMs: o.authProbeMs ?? 5_000,
      probeCapMs: o.backoff?.capMs ?? 30_000,
      // Attempts at a target are audited; a hand-over to a queue or a filter is not (the queue audits its own).
      audit: (item, outcome, info, attempt) =>
        !info.target && (outcome.kind === "filtered" || outcome.kind === "ok")
          ? undefined
          : attemptAudit({ id: o.id, direction }, item, { entryId: item.payload.id, action: item.payload.action }, outcome, info, attempt),
      events: {
        deliver: (item, ticket) => {
          if (o.filter && !o.filter(item.payload)) this.engine.settle(ticket, { kind: "filtered", reason: "filter", message: "left out by the feed's filter" });
          else o.events.emit(item.payload, ticket);
        },
        gateChanged: (state, why) => o.events.gateChanged?.(state, why),
        deadLettered: (item, outcome, attempts) => o.events.deadLettered?.(item.payload, outcome, attempts),
        hungry: () => this.wakeWalker(),
        idle: () => this.checkCaughtUp(),
        changed: () => o.events.changed?.(),
      },
    });
  }

  get id(): string {
    return this.o.id;
  }

  /** Loads marker, out-of-order settlements, pending retries and requeued dead letters from the store. */
  start(): Promise<void> {
    this.started ??= (async () => {
      const store = this.o.store;
      this.window.marker = await store.getMarker(this.o.id);
      this.settledBefore = await store.settledEntries(this.o.id);
      this.retryRows = await store.retries(this.o.id);
      const m = this.window.marker;
      this.readPos = m?.pageUrl ? { url: this.rebase(m.pageUrl), after: m.entryId ?? undefined } : undefined;
      for (const row of await listDeadLetters(store.db, { source: this.o.id, state: "requeued", limit: 100_000 })) this.requeue(row);
    })().catch((err: unknown) => {
      this.started = undefined;
      throw err;
    });
    return this.started;
  }

  private rebase(url: string): string {
    return this.o.rebase ? this.o.rebase(url) : url;
  }

  /**
   * Reads the feed from where it stands and delivers what is new. Resolves when the walk reached the
   * newest entry (entries may still be out). A poll asked for while one runs is run right after it.
   */
  poll(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    // A walk started while a reset runs would put back the position the reset is forgetting.
    if (this.resetting) return this.resetting.then(() => this.poll());
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
        this.o.events.changed?.();
      }
    })();
    return this.polling;
  }

  private async walkOnce(): Promise<void> {
    const generation = this.generation;
    let url: string | undefined;
    try {
      await this.start();
      if (this.stopped) return;
      const s = this.engine.stats();
      this.cycleStart = { delivered: s.delivered, settled: s.ok + s.filtered + s.held + s.dead, dead: s.dead, pages: this.walker.pages };
      if (!this.window.marker && !this.readPos && (this.o.startFrom ?? "beginning") !== "beginning") {
        url = this.o.feedUri;
        await this.firstRun(generation);
        if (generation !== this.generation) return;
      }
      url = this.readPos?.url ?? this.o.feedUri;
      const pos = await this.walker
        .walk(
          this.readPos,
          (entry) => this.accept(entry, generation),
          () => this.capacity(generation),
        )
        .finally(() => this.startPages.clear());
      if (generation !== this.generation) return;
      this.readPos = pos ?? this.readPos;
      // A walk that stopped at its page bound goes on from where it stands, as a new walk.
      if (this.walker.bounded) this.pollAgain = true;
      if (this.walkFailed) {
        this.walkFailed = undefined;
        this.o.events.walkRecovered?.();
      }
      this.waitingCaughtUp = true;
      this.engine.pump();
      this.checkCaughtUp();
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.walkFailed = e.message;
      if (!this.stopped && generation === this.generation) this.o.events.walkError?.(e, url);
    }
  }

  /**
   * A first run that does not start at the beginning: finds its start (start-position.ts) and stores it as
   * the marker, so nothing before it is ever delivered and a restart does not look again. A start entry
   * that is not in the feed stores nothing and stops the channel until a reset.
   */
  private async firstRun(generation: number): Promise<void> {
    if (this.startFailed) throw this.startFailed;
    const from = this.o.startFrom ?? "beginning";
    this.locating = 0;
    const point = await locateStart(
      {
        feedUri: this.o.feedUri,
        fetchPage: (url) =>
          this.o.fetchPage(url).then((page) => {
            this.walker.observe(page); // the newest page's number, for reading ahead
            return page;
          }),
        rebase: (url) => this.rebase(url),
        maxEmptyPages: this.o.maxEmptyPages,
        onPage: (n) => this.progress(n),
      },
      from,
      this.startPages,
    )
      .catch((err: unknown) => {
        if (err instanceof StartEntryNotFoundError || err instanceof StartValueError) this.startFailed = err;
        throw err;
      })
      .finally(() => (this.locating = undefined));
    if (generation !== this.generation) return;
    const pos = point.position;
    const marker: FeedMarker = { consumer: this.o.id, feedUri: this.o.feedUri, entryId: pos?.after ?? null, pageUrl: pos?.url ?? null };
    await this.o.store.db.write((tx) => SyncStore.setMarker(tx, marker));
    this.window.marker = marker;
    this.readPos = pos;
    this.o.events.started?.(from, point);
  }

  private progress(pages: number): void {
    this.locating = pages;
    this.o.events.changed?.();
  }

  /** Takes a newly read entry into the window; false when it was not new (already read in this window). */
  private accept(entry: FeedEntry, generation: number): boolean {
    if (generation !== this.generation || this.window.has(entry.id)) return false;
    if (this.settledBefore.delete(entry.id)) {
      // Settled before a restart: never delivered again, only counted for the marker.
      this.window.append(entry, true);
      if (this.window.headSettled) this.engine.requestFlush();
      return true;
    }
    const retry = this.retryRows.get(entry.id);
    if (retry) this.retryRows.delete(entry.id);
    this.window.append(entry, false, !!retry);
    this.engine.add({
      id: entry.id,
      key: recordKey(entry),
      payload: entry,
      attempts: retry?.attempts,
      firstFailedAt: retry?.firstFailedAt,
      lastError: retry?.lastError ?? undefined,
      dueAt: retry ? this.engine.stamps.toMono(retry.nextAt, this.engine.maxDelayMs) : undefined,
    });
    return true;
  }

  /** Waits while the window is full; false when the walk should end (stopped, reset). */
  private capacity(generation: number): Promise<boolean> {
    const ok = () => !this.stopped && generation === this.generation;
    if (!this.full() || !ok()) return Promise.resolve(ok());
    return new Promise((resolve) => this.capacityWaiters.push(() => resolve(ok())));
  }

  private full(): boolean {
    const s = this.engine.stats();
    return s.ready >= this.readAhead || this.window.size >= this.readAhead * 20;
  }

  /** Lets a walk waiting for room go on; `always`: also when there is none (it ends: stopped or reset). */
  private wakeWalker(always = false): void {
    if (!this.capacityWaiters.length || (this.full() && !always)) return;
    for (const w of this.capacityWaiters.splice(0)) w();
  }

  private committed(changes: readonly Change<FeedEntry>[]): void {
    if (this.window.headSettled) this.engine.requestFlush();
    if (changes.length) this.wakeWalker();
  }

  private checkCaughtUp(): void {
    if (!this.waitingCaughtUp || !this.engine.isIdle() || this.window.headSettled) return;
    this.waitingCaughtUp = false;
    const s = this.engine.stats();
    this.o.events.caughtUp?.({
      emitted: s.delivered - this.cycleStart.delivered,
      settled: s.ok + s.filtered + s.held + s.dead - this.cycleStart.settled,
      waiting: s.waiting,
      deadLettered: s.dead - this.cycleStart.dead,
      pages: this.walker.pages - this.cycleStart.pages,
    });
  }

  // ---- tickets -----------------------------------------------------------------------------------

  settle(ticket: Pick<Ticket, "entry" | "serial">, outcome: Outcome, info?: SettleInfo): boolean {
    return this.engine.settle(ticket, outcome, info);
  }

  working(ticket: Pick<Ticket, "entry" | "serial">, on: boolean): void {
    this.engine.working(ticket, on);
  }

  /** Ends an auth pause or a wait for the target now (the admin said so). */
  resume(): void {
    this.engine.resume();
  }

  // ---- dead letter -------------------------------------------------------------------------------

  deadLetters(limit = 100): Promise<DeadLetterRow[]> {
    return listDeadLetters(this.o.store.db, { source: this.o.id, limit });
  }

  /** Delivers dead-lettered entries again, outside the marker window. Returns how many. */
  async retryDead(which: number[] | "all"): Promise<number> {
    const rows = await this.o.store.db.write(async (tx) => {
      const found = await listDeadLetters(tx, { source: this.o.id, ids: which === "all" ? undefined : which, limit: 100_000 });
      for (const row of found) await tx.run("UPDATE dead_letters SET state = 'requeued' WHERE id = ? AND state = 'dead'", [row.id]);
      return found;
    });
    for (const row of rows) this.requeue({ ...row, state: "requeued" });
    return rows.length;
  }

  discardDead(which: number[] | "all"): Promise<number> {
    return discardDeadLetters(this.o.store.db, this.o.id, which);
  }

  private requeue(row: DeadLetterRow): void {
    const entry = JSON.parse(row.entry ?? "null") as FeedEntry | null;
    if (!entry?.id) return;
    this.engine.add({ id: requeuedId(row.id), key: row.record_key ?? recordKey(entry), payload: entry });
  }

  // ---- admin -------------------------------------------------------------------------------------

  /** Forgets the marker and everything settled; the next poll starts as a first run. Polls wait for it. */
  reset(startFrom?: StartFrom): Promise<void> {
    const run = (this.resetting ?? Promise.resolve()).then(() => this.forget(startFrom));
    const tracked: Promise<void> = run.finally(() => {
      if (this.resetting === tracked) this.resetting = undefined;
    });
    this.resetting = tracked;
    return tracked;
  }

  private async forget(startFrom?: StartFrom): Promise<void> {
    if (startFrom) this.o.startFrom = startFrom;
    // A walk in progress ends at its next page and delivers nothing more.
    this.generation++;
    this.wakeWalker(true);
    if (this.polling) await this.polling.catch(() => undefined);
    await this.o.store.deleteMarker(this.o.id);
    this.engine.clear();
    this.window.clear();
    this.settledBefore.clear();
    this.retryRows.clear();
    this.readPos = undefined;
    this.walkFailed = undefined;
    this.startFailed = undefined;
    this.startPages.clear();
    this.o.events.changed?.();
  }

  stats(): ConsumerStats {
    const s = this.engine.stats();
    const m = this.window.marker;
    return {
      ...s,
      emitted: s.delivered,
      pages: this.walker.pages,
      paused: s.gate === "paused",
      polling: this.polling !== undefined,
      walkError: this.walkFailed,
      marker: m ? { entryId: m.entryId, pageUrl: m.pageUrl } : undefined,
      lag: { entries: this.window.size, oldest: this.window.first?.updated },
      locating: this.locating,
    };
  }

  get inFlight(): number {
    return this.engine.inFlightCount;
  }

  /** Resolves once every settlement made so far is committed (or failed). */
  flushed(): Promise<void> {
    return this.engine.flushed();
  }

  /** For a graceful close (see drainWhileProgressing). */
  drain(timeoutMs: number, idleMs = 1000): Promise<void> {
    return this.engine.drain(timeoutMs, idleMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeWalker(true);
    if (this.polling) await this.polling.catch(() => undefined);
    await this.engine.stop();
  }
}
