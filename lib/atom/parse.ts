/**
 * Parses one ICT4H atomfeed page with rss-parser, configured with custom fields so that no link
 * (self, via, prev-archive, next-archive), category or content type is lost. We fetch the text
 * ourselves (auth, timeouts, size cap) and only hand rss-parser the string.
 */
import Parser from "rss-parser";
import { describeEntry, type FeedEntry } from "./entry";

export interface FeedPage {
  /** The URL we fetched. */
  url: string;
  feedId?: string;
  title?: string;
  updated?: string;
  links: { self?: string; via?: string; prevArchive?: string; nextArchive?: string };
  entries: FeedEntry[];
}

/** The page is not a usable Atom feed: malformed, hostile or missing what we need. Never transient. */
export class FeedFormatError extends Error {
  constructor(
    message: string,
    readonly url: string,
  ) {
    super(message);
    this.name = "FeedFormatError";
  }
}

type XmlText = string | { _?: string; $?: Record<string, string> };
interface RawFeed {
  links?: { $?: { rel?: string; href?: string } }[];
  feedId?: XmlText[] | XmlText;
  title?: string;
  lastBuildDate?: string;
  items: RawItem[];
}
interface RawItem {
  id?: string;
  title?: string;
  entryId?: XmlText[];
  categories?: { $?: { term?: string } }[];
  contentRaw?: XmlText[];
  updated?: XmlText;
  published?: XmlText;
}

const parser = new Parser<RawFeed, RawItem>({
  customFields: {
    // keepArray keeps every <link> and <category>, and keeps the type attribute of <content>.
    feed: [["link", "links", { keepArray: true }] as never, ["id", "feedId", { keepArray: true }] as never],
    item: [
      ["category", "categories", { keepArray: true }] as never,
      ["content", "contentRaw", { keepArray: true }] as never,
      ["id", "entryId", { keepArray: true }] as never,
      "updated",
      "published",
    ],
  },
  xml2js: { strict: true },
});

/**
 * A copy of a string taken from the parsed page that does not keep the page alive. The XML parser hands
 * out slices of the page's text (V8 sliced strings point at their parent) and strings built by
 * concatenation; an entry kept in the window while its record is fetched and written would keep its
 * whole page (and the strings' cons trees). A UTF-8 round trip makes a new flat string; `(" " + s).slice(1)`
 * does not (V8 answers with a slice of the flattened concatenation). A page's text came out of a decoder,
 * so it holds no lone surrogate that the round trip would change.
 */
export function detach(s: string): string;
export function detach(s: string | undefined): string | undefined;
export function detach(s: string | undefined): string | undefined {
  return s === undefined ? undefined : Buffer.from(s, "utf8").toString("utf8");
}

function text(v: XmlText | XmlText[] | undefined): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined || x === null) return undefined;
  if (typeof x === "string") return x;
  return x._ ?? "";
}

/** Atom pages never need a DTD; refusing one stops entity-expansion ("billion laughs") attacks before parsing. */
export function assertSafeXml(xml: string, url: string): void {
  const head = xml.slice(0, 4096);
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(head)) {
    throw new FeedFormatError(`feed page refused: it declares a DTD or entities (entity expansion protection) (${url})`, url);
  }
}

export async function parseFeedPage(xml: string, url: string): Promise<FeedPage> {
  assertSafeXml(xml, url);
  if (!/<feed[\s>]/.test(xml)) throw new FeedFormatError(`not an Atom feed (${url})`, url);
  let feed: RawFeed;
  try {
    feed = await parser.parseString(xml);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new FeedFormatError(`malformed feed page: ${reason} (${url})`, url);
  }
  const links: FeedPage["links"] = {};
  for (const l of feed.links ?? []) {
    const rel = l.$?.rel;
    const href = detach(l.$?.href);
    if (!href) continue;
    if (rel === "self") links.self = href;
    else if (rel === "via") links.via = href;
    else if (rel === "prev-archive") links.prevArchive = href;
    else if (rel === "next-archive") links.nextArchive = href;
  }
  const page = links.via ?? url;
  const entries: FeedEntry[] = [];
  for (const item of feed.items ?? []) {
    const id = text(item.entryId) ?? item.id;
    if (!id) throw new FeedFormatError(`feed page has an entry without <id> (${url})`, url);
    const contentNode = item.contentRaw?.[0];
    const content = detach((text(contentNode) ?? "").trim());
    const contentType = detach(typeof contentNode === "object" ? contentNode?.$?.type : undefined);
    const categories = (item.categories ?? [])
      .map((c) => c.$?.term)
      .filter((t): t is string => typeof t === "string")
      .map((t) => detach(t));
    entries.push(
      describeEntry({
        id: detach(id.trim()),
        title: detach(item.title ?? ""),
        updated: detach((text(item.updated) ?? "").trim()),
        published: detach(text(item.published)?.trim()),
        categories,
        content,
        contentType,
        page,
      }),
    );
  }
  return {
    url,
    feedId: detach(text(feed.feedId)),
    title: detach(feed.title),
    updated: detach(feed.lastBuildDate),
    links,
    entries,
  };
}
