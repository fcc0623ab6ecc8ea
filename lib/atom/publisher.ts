/**
 * A feed publisher: events kept durably in the sync store (table feed_events, schema 7) and served as
 * ICT4H atomfeed pages exactly as omod-atomfeed serves them (page-xml.ts), with what omod-atomfeed lacks:
 * archive pages are immutable, so they carry a strong ETag and a long `Cache-Control` and answer 304 to
 * `If-None-Match`; the recent page is `no-cache` (revalidated on each read, 304 while it is unchanged).
 *
 *  - Events are numbered per category from 1, in the order they are committed (event_records.id order).
 *    Page n holds events (n-1)*size+1 .. n*size; `recent` is the last page, possibly partial (page 0 with
 *    no entries and no archive links when the category is empty); a page past the last does not exist.
 *  - An event's uuid is unique in its category: publishing it again (a relay delivering an entry twice)
 *    keeps the first and says so.
 *  - Content is the entry's links in either dialect: a JSON map of links relative to the base URL (Sync
 *    2.0, omod-atomfeed linkTemplates) or one REST path with the context path (Bahmni).
 * No Node-RED here: nodes/atom-feed-out adapts it.
 */
import * as crypto from "node:crypto";
import type { SqliteDb } from "../store/sqlite";
import { renderPage, type PageEvent } from "./page-xml";
import type { FeedDialect } from "./entry";

export const DEFAULT_PAGE_SIZE = 5;
/** Sync 2.0's atomfeed.properties as shipped are OpenMRS's; ours names the publisher. */
export const DEFAULT_FEED = { title: "OpenMRS Feed Publisher", author: "OpenMRS", idPrefix: "6a1f3c0e-5d2b-4f7a-9c61-0d7e8b2a4f10" } as const;
/** How long a client may keep an archive page: a year (it never changes). */
export const ARCHIVE_MAX_AGE_S = 31_536_000;

export interface PublishInput {
  category: string;
  /** The event uuid (the entry id's tail); a random one when not given. */
  uuid?: string;
  title: string;
  /** Extra category terms (the action, feed filters), after the category. */
  tags?: readonly string[];
  content: string;
  /** When it happened (ms); now when not given. */
  timestamp?: number;
}

export interface Published {
  category: string;
  seq: number;
  uuid: string;
  /** The uuid was published before in this category: nothing was added. */
  duplicate: boolean;
}

export interface PageUrls {
  /** The request URL (the self link). */
  selfUrl: string;
  /** Absolute `.../ws/atomfeed/{category}`. */
  feedBase: string;
}

export interface ServedPage {
  n: number;
  last: number;
  /** An archive page (n < last): immutable. */
  archive: boolean;
  xml: string;
  etag: string;
  /** The newest event on the page (for the reader's position), if it has any. */
  newest?: { seq: number; uuid: string };
}

export interface FeedOptions {
  pageSize?: number;
  title?: string;
  author?: string;
  idPrefix?: string;
  now?: () => number;
  /** Archive pages kept rendered in memory (they never change). */
  cacheSize?: number;
}

const UUID_RE = /^[A-Za-z0-9][A-Za-z0-9._~:-]{0,99}$/;
const CATEGORY_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export class FeedInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FeedInputError";
  }
}

/** A category as it may appear in a feed URL (free text in OpenMRS; we keep it URL- and file-safe). */
export function validCategory(c: unknown): c is string {
  return typeof c === "string" && CATEGORY_RE.test(c);
}

/** The entry content of a record in a dialect, from link templates with `{uuid}` (omod-atomfeed's linkTemplates). */
export function contentFromTemplates(dialect: FeedDialect, templates: Readonly<Record<string, string>>, uuid: string): string {
  const links: Record<string, string> = {};
  for (const [name, t] of Object.entries(templates)) if (t) links[name] = t.split("{uuid}").join(encodeURIComponent(uuid));
  if (dialect === "sync2") return JSON.stringify(links);
  const rest = links.rest ?? Object.values(links)[0];
  if (!rest) throw new FeedInputError("no link template");
  return rest;
}

/** `"…"`: a strong validator of a page's bytes. */
export function etagOf(xml: string): string {
  return `"${crypto.createHash("sha256").update(xml).digest("base64url").slice(0, 32)}"`;
}

/** Whether an If-None-Match header names this ETag (weak comparison, as RFC 9110 §13.1.2 asks for GET). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v.replace(/^W\//, "") === bare;
  });
}

interface Row {
  seq: number;
  uuid: string;
  title: string;
  tags: string;
  content: string;
  timestamp: number;
}

const shared = new WeakMap<SqliteDb, FeedPublisher>();

export class FeedPublisher {
  /** The publisher of a store with the default feed (every node on the same open store shares it and its page cache). */
  static of(db: SqliteDb): FeedPublisher {
    let p = shared.get(db);
    if (!p) shared.set(db, (p = new FeedPublisher(db)));
    return p;
  }

  readonly pageSize: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, ServedPage>();
  private readonly cacheSize: number;
  private readonly feed: { title: string; author: string; idPrefix: string };
  /** Pages rendered, and archive pages answered from memory (for benchmarks and status). */
  readonly stats = { rendered: 0, cached: 0 };

  constructor(
    private readonly db: SqliteDb,
    o: FeedOptions = {},
  ) {
    this.pageSize = Math.max(1, Math.floor(o.pageSize ?? DEFAULT_PAGE_SIZE));
    this.now = o.now ?? Date.now;
    this.cacheSize = o.cacheSize ?? 2000;
    this.feed = { title: o.title || DEFAULT_FEED.title, author: o.author || DEFAULT_FEED.author, idPrefix: o.idPrefix || DEFAULT_FEED.idPrefix };
  }

  /** Adds an event at the end of its category, once per uuid; resolves when it is committed. */
  async publish(e: PublishInput): Promise<Published> {
    if (!validCategory(e.category)) throw new FeedInputError(`not a usable category: ${JSON.stringify(e.category)}`);
    const uuid = e.uuid ?? crypto.randomUUID();
    if (!UUID_RE.test(uuid)) throw new FeedInputError(`not a usable event uuid: ${JSON.stringify(uuid)}`);
    if (typeof e.content !== "string" || !e.content) throw new FeedInputError("an event needs content");
    const tags = [...new Set((e.tags ?? []).filter((t) => typeof t === "string" && t && t !== e.category))];
    const title = typeof e.title === "string" && e.title ? e.title : e.category;
    const timestamp = e.timestamp ?? this.now();
    return this.db.write(async (tx) => {
      const had = await tx.get<{ seq: number }>("SELECT seq FROM feed_events WHERE category = ? AND uuid = ?", [e.category, uuid]);
      if (had) return { category: e.category, seq: had.seq, uuid, duplicate: true };
      const top = await tx.get<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM feed_events WHERE category = ?", [e.category]);
      const seq = (top?.seq ?? 0) + 1;
      await tx.run("INSERT INTO feed_events (category, seq, uuid, title, tags, content, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        e.category,
        seq,
        uuid,
        title,
        JSON.stringify(tags),
        e.content,
        timestamp,
      ]);
      return { category: e.category, seq, uuid, duplicate: false };
    });
  }

  /** Number of events in a category. */
  async count(category: string): Promise<number> {
    const r = await this.db.get<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM feed_events WHERE category = ?", [category]);
    return r?.seq ?? 0;
  }

  /** The categories published, with their event counts. */
  async categories(): Promise<{ category: string; count: number }[]> {
    return this.db.all<{ category: string; count: number }>("SELECT category, MAX(seq) AS count FROM feed_events GROUP BY category ORDER BY category");
  }

  /** A page (`recent` or a number), or undefined when it does not exist. */
  async page(category: string, which: "recent" | number, urls: PageUrls): Promise<ServedPage | undefined> {
    if (which !== "recent" && (!Number.isSafeInteger(which) || which < 1)) return undefined;
    const key = `${category}\n${which}\n${urls.selfUrl}\n${urls.feedBase}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.cached++;
      return hit;
    }
    const count = await this.count(category);
    const last = Math.ceil(count / this.pageSize);
    const n = which === "recent" ? last : which;
    if (n > last) return undefined;
    const rows =
      n === 0
        ? []
        : await this.db.all<Row>(
            "SELECT seq, uuid, title, tags, content, timestamp FROM feed_events WHERE category = ? AND seq > ? AND seq <= ? ORDER BY seq",
            [category, (n - 1) * this.pageSize, n * this.pageSize],
          );
    const events: PageEvent[] = rows.map((r) => ({
      uuid: r.uuid,
      title: r.title,
      terms: [category, ...(JSON.parse(r.tags) as string[])],
      timestamp: r.timestamp,
      content: r.content,
    }));
    const xml = renderPage({ ...this.feed, n, last, selfUrl: urls.selfUrl, feedBase: urls.feedBase, now: this.now(), events });
    this.stats.rendered++;
    const newest = rows.length > 0 ? { seq: rows[rows.length - 1].seq, uuid: rows[rows.length - 1].uuid } : undefined;
    const page: ServedPage = { n, last, archive: n < last, xml, etag: etagOf(xml), newest };
    if (page.archive) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, page);
    }
    return page;
  }
}

export interface PageAnswer {
  status: 200 | 304 | 404;
  headers: Record<string, string>;
  body: string;
}

/** The HTTP answer for a page: 200 with the XML, 304 when If-None-Match names it, 404 past the last page. */
export function answerPage(page: ServedPage | undefined, ifNoneMatch: string | undefined): PageAnswer {
  if (!page) return { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" }, body: "feed does not exist" };
  const headers: Record<string, string> = {
    ETag: page.etag,
    // private: pages are served per key (and later filtered per catchment); an archive never changes.
    "Cache-Control": page.archive ? `private, max-age=${ARCHIVE_MAX_AGE_S}, immutable` : "private, no-cache",
  };
  if (etagMatches(ifNoneMatch, page.etag)) return { status: 304, headers, body: "" };
  return { status: 200, headers: { ...headers, "Content-Type": "application/atom+xml;charset=UTF-8" }, body: page.xml };
}
