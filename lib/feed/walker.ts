/**
 * Walks an ICT4H feed: from a position (a page and the last entry handled on it) forward along
 * next-archive to the newest page, handing every entry after the position to the consumer. A first run
 * starts at the oldest page, or where start-position.ts found its start (now, an entry, a time). A walk never follows a
 * link back to a page it has already read (a page linking to itself or a cycle is an error, not a spin),
 * stops with an error after `maxEmptyPages` pages in a row that bring nothing new (an endless chain of
 * fresh links), and reads at most `maxPages` pages before it hands back its position (`bounded`).
 *
 * Catching up, a walk prefetches pages: once it has followed two next-archive links in a row, it asks for the
 * next `pagesAhead` numbered archive pages at once (each page is 5 entries, so over a slow link a
 * page-by-page walk, not the records, would set the pace). Prefetched pages are used only when the walk
 * reaches them by their link, in order, with every check above; one that failed is asked for again then,
 * and those not reached are dropped when the walk ends. A walk at the head of the feed (a poll) reads no
 * page ahead.
 */
import type { FeedEntry } from "../atom/entry";
import { FeedFormatError, type FeedPage } from "../atom/parse";
import { pageNumber } from "../atom/reader";

/** Where reading continues: after entry `after` on page `url` (from its top when `after` is absent). */
export interface ReadPosition {
  url: string;
  after?: string;
}

/** The marker's page no longer holds the marked entry: the feed was changed. Needs an admin's decision. */
export class MarkerNotFoundError extends Error {
  constructor(
    readonly entryId: string,
    readonly pageUrl: string,
  ) {
    super(
      `marked entry ${entryId} is not on feed page ${pageUrl}; the feed was changed or truncated. Not restarting from page 1 on my own: reset the marker to choose.`,
    );
    this.name = "MarkerNotFoundError";
  }
}

/**
 * The page's own ("via") URL, where a marker on it is kept: only when it is on the origin the page was
 * read from, so a hostile via link cannot move the marker to another server.
 */
export function canonicalPageUrl(page: FeedPage, readFrom: string, rebase: (url: string) => string = (url) => url): string | undefined {
  if (!page.links.via) return undefined;
  const via = rebase(page.links.via);
  try {
    return new URL(via).origin === new URL(readFrom).origin ? via : undefined;
  } catch {
    return undefined;
  }
}

export interface WalkerOptions {
  /** The feed's "recent" URL. */
  feedUri: string;
  fetchPage(url: string): Promise<FeedPage>;
  /** Maps a link from a page onto the configured base URL. */
  rebase?(url: string): string;
  /** Pages one walk reads at most before it returns its position (default 2000: 10,000 entries). */
  maxPages?: number;
  /** Pages in a row without a new entry after which the walk stops with an error (default 100). */
  maxEmptyPages?: number;
  /** Numbered archive pages asked for ahead while catching up (default 4; 0: none). */
  pagesAhead?: number;
}

/** The feed keeps serving pages that bring nothing new: a runaway chain of links. */
export class RunawayFeedError extends FeedFormatError {
  constructor(pages: number, url: string) {
    super(`feed read stopped: ${pages} pages in a row brought no new entry (a runaway chain of links, last ${url})`, url);
    this.name = "RunawayFeedError";
  }
}

export class FeedWalker {
  /** Page GETs so far. */
  pages = 0;
  /** The last walk stopped at maxPages with more to read. */
  bounded = false;

  constructor(private readonly o: WalkerOptions) {}

  private rebase(url: string): string {
    return this.o.rebase ? this.o.rebase(url) : url;
  }

  private canonical(page: FeedPage, readFrom: string): string | undefined {
    return canonicalPageUrl(page, readFrom, (url) => this.rebase(url));
  }

  /** Pages asked for ahead of the walk, by URL (see the header). */
  private readonly ahead = new Map<string, Promise<FeedPage>>();
  /** The newest page's number, as last seen (a page without next-archive names itself in via). */
  private newest?: number;
  /** The recent page was read in this walk to learn the newest page's number (once per walk). */
  private askedNewest = false;

  /** Learns the newest page's number from a page read elsewhere (finding a start). */
  observe(page: FeedPage): void {
    this.noteNewest(page);
  }

  private noteNewest(page: FeedPage): void {
    const n = page.links.nextArchive || !page.links.via ? undefined : pageNumber(page.links.via);
    if (n !== undefined) this.newest = n;
  }

  private async fetch(url: string): Promise<FeedPage> {
    const early = this.ahead.get(url);
    if (early) {
      this.ahead.delete(url);
      const page = await early.catch(() => undefined);
      if (page) return page;
    }
    const page = await this.o.fetchPage(url);
    this.pages++;
    this.noteNewest(page);
    return page;
  }

  /**
   * Asks for `url` and the numbered pages after it, up to the newest page, that are not asked for yet (or
   * read in this walk). The newest page's number comes from the recent page: read once when not known.
   */
  private prefetch(url: string, seen: ReadonlySet<string>, left: number): void {
    const n = pageNumber(url);
    if (n === undefined || (this.o.pagesAhead ?? 4) <= 0) return;
    if (this.newest === undefined || n > this.newest) {
      if (!this.askedNewest) {
        this.askedNewest = true;
        this.pages++;
        void this.o.fetchPage(this.o.feedUri).then(
          (p) => this.noteNewest(p),
          () => undefined,
        );
      }
      return;
    }
    const count = Math.min(this.o.pagesAhead ?? 4, left, this.newest - n);
    for (let k = 0; k <= count; k++) {
      const next = url.replace(/\/\d+(\/?)$/, `/${n + k}$1`);
      if (this.ahead.has(next) || seen.has(next)) continue;
      const page = this.o.fetchPage(next);
      page.catch(() => undefined); // used (or asked for again) only if the walk gets there
      this.pages++;
      this.ahead.set(next, page);
    }
  }

  /**
   * Walks from `from` (the oldest page when absent) to the newest page. `accept` gets each new entry;
   * `capacity` is awaited before each next page (the consumer's window). Returns where the next walk
   * continues, or undefined when the feed is empty.
   */
  async walk(from: ReadPosition | undefined, accept: (entry: FeedEntry) => boolean, capacity: () => Promise<boolean>): Promise<ReadPosition | undefined> {
    const maxPages = this.o.maxPages ?? 2000;
    const maxEmpty = this.o.maxEmptyPages ?? 100;
    this.bounded = false;
    this.askedNewest = false;
    let read = 0;
    let empty = 0;
    let page: FeedPage | undefined;
    let url: string;
    let after: string | undefined;
    if (from) {
      url = from.url;
      after = from.after;
    } else {
      page = await this.oldestPage();
      url = page.url;
    }
    const seen = new Set<string>();
    const ids = new Set<string>();
    let position: ReadPosition | undefined;
    let followed = 0;
    try {
      for (;;) {
        if (seen.has(url)) throw new FeedFormatError(`feed page ${url} links back to a page already read in this walk (a cycle)`, url);
        seen.add(url);
        page ??= await this.fetch(url);
        let start = 0;
        if (after) {
          const idx = page.entries.findIndex((e) => e.id === after);
          if (idx < 0) throw new MarkerNotFoundError(after, url);
          start = idx + 1;
        }
        // Where a marker on this page's entries is kept: its own URL, never one on another origin.
        const canonical = this.canonical(page, url) ?? url;
        let fresh = 0;
        for (let i = start; i < page.entries.length; i++) {
          const entry = page.entries[i];
          entry.page = canonical;
          // An entry repeated within one walk (a page served twice under two links) is handed out once.
          if (ids.has(entry.id)) continue;
          ids.add(entry.id);
          if (accept(entry)) fresh++;
        }
        read++;
        empty = fresh ? 0 : empty + 1;
        const lastId = page.entries.length ? page.entries[page.entries.length - 1].id : after;
        position = lastId ? { url: canonical, after: lastId } : position;
        if (!page.links.nextArchive) return position ?? (from && !from.after ? from : undefined);
        url = this.rebase(page.links.nextArchive);
        after = undefined;
        page = undefined;
        if (empty >= maxEmpty) throw new RunawayFeedError(empty, url);
        if (read >= maxPages) {
          this.bounded = true;
          return position;
        }
        if (++followed >= 2) this.prefetch(url, seen, maxPages - read - 1);
        if (!(await capacity())) return position;
      }
    } finally {
      // Prefetched pages not reached are dropped (their answers, if any, are ignored).
      this.ahead.clear();
    }
  }

  /**
   * The oldest page. ICT4H clients follow prev-archive one page at a time; pages are numbered from 1, so
   * when the links are numbered we jump to page 1 and only walk back if page 1 still has a prev-archive.
   */
  private async oldestPage(): Promise<FeedPage> {
    let page = await this.fetch(this.o.feedUri);
    const prev = page.links.prevArchive;
    if (!prev) return page;
    const n = pageNumber(prev);
    let url = this.rebase(prev);
    if (n !== undefined && n > 1) url = url.replace(/\/\d+\/?$/, "/1");
    const seen = new Set<string>([this.o.feedUri]);
    for (;;) {
      if (seen.has(url)) throw new FeedFormatError(`feed page ${url} is its own prev-archive (a cycle)`, url);
      seen.add(url);
      page = await this.fetch(url);
      if (!page.links.prevArchive) return page;
      url = this.rebase(page.links.prevArchive);
    }
  }
}
