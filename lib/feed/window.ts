/**
 * The marker window of a feed consumer: every entry read and not yet behind the marker, in feed order.
 * The marker is the last entry of the settled prefix: "no entry is skipped" is the rule that it never
 * passes an entry that is not settled. An entry settled ahead of an unsettled one is stored
 * (feed_settled), so a restart delivers only what was not settled; its row goes when the marker passes.
 *
 * Changes are planned inside the write that stores them (`plan`) and applied only once it is committed
 * (`apply`), so the window never runs ahead of the store. Memory: entries behind the marker are
 * dropped; the consumer stops reading while the window is full.
 */
import type { FeedEntry } from "../atom/entry";
import type { FeedMarker } from "../store/store";

export interface WindowEntry {
  entry: FeedEntry;
  /** Position in feed order since the window was made. */
  pos: number;
  /** Settled, and that is committed. */
  settled: boolean;
  /** A feed_settled row exists for it. */
  settledRow: boolean;
  /** A feed_retries row exists for it. */
  retryRow: boolean;
}

export interface WindowPlan {
  /** The marker after this commit, when it moves. */
  marker?: FeedMarker;
  /** Entries the marker passes. */
  passed: number;
  /** Rows of passed entries settled earlier, to delete. */
  passedRows: string[];
  /** Entries settled now but still behind an unsettled one: rows to insert. */
  ahead: WindowEntry[];
}

export class MarkerWindow {
  private list: WindowEntry[] = [];
  private head = 0;
  /** Position of list[0]. */
  private base = 0;
  private readonly byId = new Map<string, WindowEntry>();
  marker?: FeedMarker;

  constructor(
    private readonly consumer: string,
    private readonly feedUri: string,
  ) {}

  /** Entries read and not behind the marker yet. */
  get size(): number {
    return this.list.length - this.head;
  }

  /** Entries held in memory: those not behind the marker and those behind it not dropped yet. */
  get held(): number {
    return this.list.length;
  }

  /** The oldest entry not behind the marker (the first one the marker waits for). */
  get first(): FeedEntry | undefined {
    return this.list[this.head]?.entry;
  }

  get(id: string): WindowEntry | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Takes a newly read entry in; `settledBefore`: settled before a restart (a stored row). */
  append(entry: FeedEntry, settledBefore = false, retryRow = false): WindowEntry {
    const we: WindowEntry = { entry, pos: this.base + this.list.length, settled: settledBefore, settledRow: settledBefore, retryRow };
    this.list.push(we);
    this.byId.set(entry.id, we);
    return we;
  }

  /** Whether the marker can move without any new settlement (entries settled before a restart). */
  get headSettled(): boolean {
    return this.head < this.list.length && this.list[this.head].settled;
  }

  /** What the store gets if the entries in `settledNow` are settled in this commit. */
  plan(settledNow: ReadonlySet<string>): WindowPlan {
    let i = this.head;
    let last: WindowEntry | undefined;
    const passedRows: string[] = [];
    while (i < this.list.length) {
      const we = this.list[i];
      if (!we.settled && !settledNow.has(we.entry.id)) break;
      if (we.settledRow) passedRows.push(we.entry.id);
      last = we;
      i++;
    }
    const ahead: WindowEntry[] = [];
    for (const id of settledNow) {
      const we = this.byId.get(id);
      if (we && !we.settledRow && we.pos >= this.base + i) ahead.push(we);
    }
    const marker = last ? { consumer: this.consumer, feedUri: this.feedUri, entryId: last.entry.id, pageUrl: last.entry.page } : undefined;
    return { marker, passed: i - this.head, passedRows, ahead };
  }

  /** The plan was committed. */
  apply(plan: WindowPlan, settledNow: ReadonlySet<string>): void {
    for (const id of settledNow) {
      const we = this.byId.get(id);
      if (we) {
        we.settled = true;
        we.retryRow = false;
      }
    }
    for (const we of plan.ahead) we.settledRow = true;
    for (let k = 0; k < plan.passed; k++) this.byId.delete(this.list[this.head + k].entry.id);
    this.head += plan.passed;
    if (plan.marker) this.marker = plan.marker;
    // Entries behind the marker go once they are half the list: each is copied at most once on average,
    // and what is kept is bounded by what is in flight, not by the backlog (nor a fixed floor of 4096
    // per feed, which held 4 MB of entries and, through their strings, their feed pages).
    if (this.head > 0 && this.head * 2 >= this.list.length) {
      this.list.splice(0, this.head);
      this.base += this.head;
      this.head = 0;
    }
  }

  clear(): void {
    this.base += this.list.length;
    this.list = [];
    this.head = 0;
    this.byId.clear();
    this.marker = undefined;
  }
}
