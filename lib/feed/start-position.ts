/**
 * Where a first run (a channel with no stored marker: a new child, or after a reset) starts reading a feed:
 *
 *  - "beginning": at the oldest page; nothing to look for.
 *  - "now": after the newest entry (one page read).
 *  - at an entry ({entry}): after that entry — the last one a copied database already holds. Found by
 *    walking back from the newest page along prev-archive; an entry that is not in the feed is an error
 *    (StartEntryNotFoundError) and no position.
 *  - at a time ({time}): before the first entry whose `updated` is at or after that time (to the second),
 *    so entries in the same second as the copy are delivered again (writes are idempotent). Found by
 *    walking back until a page starts before the time; after `walkBackPages` pages of numbered archives it
 *    bisects the older pages instead, since feed times grow with the page number.
 *
 * The pages read while looking are kept (the last `StartPages.max` of them, the ones the walk reads first)
 * and handed to the walk that follows, so a start within that many pages of the newest costs no page read
 * twice. The caller stores the position as the marker: a restart does not look again.
 */
import { FeedFormatError, type FeedPage } from "../atom/parse";
import { pageNumber } from "../atom/reader";
import { canonicalPageUrl, RunawayFeedError, type ReadPosition } from "./walker";

export type StartAt = { entry: string } | { time: string };
export type StartFrom = "beginning" | "now" | StartAt;

export const ENTRY_ID_PREFIX = "tag:atomfeed.ict4h.org:";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/i;

/** The feed entry id a start entry names (`tag:atomfeed.ict4h.org:<uuid>` or the bare uuid), or undefined. */
export function startEntryId(value: string): string | undefined {
  const v = value.trim().toLowerCase();
  const uuid = v.startsWith(ENTRY_ID_PREFIX) ? v.slice(ENTRY_ID_PREFIX.length) : v;
  return UUID.test(uuid) ? ENTRY_ID_PREFIX + uuid : undefined;
}

/**
 * A start time (ISO 8601 date and time with a zone: `2026-03-02T14:05:11Z`, `…+05:45`) in epoch ms, down
 * to its second; undefined when it is not one. A time without a zone is refused: on a server it would mean
 * the server's zone, which is not what the person who took the copy wrote down.
 */
export function startTimeMs(value: string): number | undefined {
  const m = DATE_TIME.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  let zone = m[7].toUpperCase();
  if (zone.length === 5) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? "00"}${zone}`);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) * 1000 : undefined;
}

/** Whether a start is one we can look for: undefined when it is, otherwise what is wrong with it. */
export function checkStart(from: StartFrom): "entry" | "time" | undefined {
  if (typeof from === "string") return undefined;
  if ("entry" in from) return startEntryId(from.entry) === undefined ? "entry" : undefined;
  return startTimeMs(from.time) === undefined ? "time" : undefined;
}

/** How a start reads in a log line: "beginning", "now", "entry tag:…", "time 2026-…". */
export function describeStart(from: StartFrom): string {
  if (typeof from === "string") return from;
  return "entry" in from ? `entry ${from.entry}` : `time ${from.time}`;
}

/** The start entry is not in the feed (checked back to its oldest page): nothing is delivered, no marker stored. */
export class StartEntryNotFoundError extends Error {
  constructor(
    readonly entryId: string,
    readonly pages: number,
  ) {
    super(`start entry ${entryId} is not in the feed (read back to its oldest page, ${pages} pages); nothing delivered, no marker stored`);
    this.name = "StartEntryNotFoundError";
  }
}

/** The start value is neither an entry id nor a date-time with a zone. */
export class StartValueError extends Error {
  constructor(readonly start: StartFrom) {
    super(`cannot start at ${describeStart(start)}: not an entry id (tag:atomfeed.ict4h.org:<uuid> or the uuid) nor an ISO date-time with a zone`);
    this.name = "StartValueError";
  }
}

/** Pages read while looking, by canonical URL, for the walk that follows; holds the last `max` read. */
export class StartPages {
  private readonly pages = new Map<string, FeedPage>();

  constructor(readonly max = 500) {}

  get size(): number {
    return this.pages.size;
  }

  keep(url: string, page: FeedPage): void {
    this.pages.delete(url);
    this.pages.set(url, page);
    if (this.pages.size > this.max) this.pages.delete(this.pages.keys().next().value!);
  }

  /** The kept page, once: a later read of the same URL goes to the server. */
  take(url: string): FeedPage | undefined {
    const page = this.pages.get(url);
    this.pages.delete(url);
    return page;
  }

  clear(): void {
    this.pages.clear();
  }
}

export interface LocateOptions {
  /** The feed's "recent" URL. */
  feedUri: string;
  fetchPage(url: string): Promise<FeedPage>;
  rebase?(url: string): string;
  /** Pages read back before bisecting the older numbered pages, for a time (default: what `keep` holds). */
  walkBackPages?: number;
  /** Pages in a row without an entry that stop the search with an error (default 100). */
  maxEmptyPages?: number;
  /** After each page read (progress). */
  onPage?(pages: number): void;
}

export interface StartPoint {
  /** Where reading continues; undefined: at the oldest page (everything is delivered). */
  position?: ReadPosition;
  /** Pages read to find it. */
  pages: number;
}

/** Index of the last entry to skip on a page for a start time; undefined when the page does not start before it. */
function lastBefore(page: FeedPage, atMs: number): number | undefined {
  // An entry whose time cannot be read counts as at or after the start: delivered, never skipped.
  const before = (i: number) => Date.parse(page.entries[i].updated) < atMs;
  if (!page.entries.length || !before(0)) return undefined;
  let i = 0;
  while (i + 1 < page.entries.length && before(i + 1)) i++;
  return i;
}

/** Finds where a first run starts (see the file comment). Pages read go into `keep`. */
export async function locateStart(o: LocateOptions, from: StartFrom, keep: StartPages): Promise<StartPoint> {
  if (from === "beginning") return { pages: 0 };
  if (checkStart(from)) throw new StartValueError(from);
  const rebase = (url: string) => (o.rebase ? o.rebase(url) : url);
  let pages = 0;
  const read = async (url: string) => {
    const page = await o.fetchPage(url);
    pages++;
    const canonical = canonicalPageUrl(page, url, rebase) ?? url;
    keep.keep(canonical, page);
    o.onPage?.(pages);
    return { page, canonical };
  };
  const after = (url: string, page: FeedPage, i: number): StartPoint => ({ position: { url, after: page.entries[i].id }, pages });

  if (from === "now") {
    // After the newest entry. An empty newest page of a category that has pages (time-based chunking) is a
    // position at its top; an empty category has none: everything that appears later is new.
    const { page, canonical } = await read(o.feedUri);
    if (page.entries.length) return after(canonical, page, page.entries.length - 1);
    return canonical !== o.feedUri && (pageNumber(canonical) ?? 1) > 0 ? { position: { url: canonical }, pages } : { pages };
  }

  const entryId = "entry" in from ? startEntryId(from.entry) : undefined;
  const atMs = "time" in from ? startTimeMs(from.time) : undefined;
  const walkBack = o.walkBackPages ?? keep.max;
  const maxEmpty = o.maxEmptyPages ?? 100;
  const seen = new Set<string>();
  let url = o.feedUri;
  let empty = 0;
  for (;;) {
    if (seen.has(url)) throw new FeedFormatError(`feed page ${url} links back to a page already read (a prev-archive cycle)`, url);
    seen.add(url);
    const { page, canonical } = await read(url);
    const i = entryId !== undefined ? page.entries.findIndex((e) => e.id.toLowerCase() === entryId) : lastBefore(page, atMs!);
    if (i !== undefined && i >= 0) return after(canonical, page, i);
    empty = page.entries.length ? 0 : empty + 1;
    if (!page.links.prevArchive) {
      if (entryId !== undefined) throw new StartEntryNotFoundError(entryId, pages);
      return { pages }; // every entry is at or after the time
    }
    url = rebase(page.links.prevArchive);
    const n = pageNumber(canonical);
    const prev = pageNumber(url);
    if (n !== undefined && prev !== undefined && prev >= n)
      throw new FeedFormatError(`feed page ${canonical} names ${url} as its prev-archive, not an older page`, url);
    if (empty >= maxEmpty) throw new RunawayFeedError(empty, url);
    if (atMs !== undefined && prev !== undefined && pages >= walkBack) return bisect(url, prev, atMs);
  }

  /** The last page in 1..hi that starts before the time (every page after hi starts at or after it). */
  async function bisect(template: string, hi: number, at: number): Promise<StartPoint> {
    let lo = 1;
    let best: StartPoint = { pages };
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const { page, canonical } = await read(template.replace(/\/\d+\/?$/, `/${mid}`));
      const i = lastBefore(page, at);
      // An empty page says nothing: looking further back only delivers more.
      if (i === undefined) hi = mid - 1;
      else {
        best = after(canonical, page, i);
        lo = mid + 1;
      }
    }
    return { ...best, pages };
  }
}
