/**
 * ICT4H atomfeed pages (number-based chunking), as omod-atomfeed / Bahmni serve them:
 * `{ctx}/ws/atomfeed/{category}/recent` and `{ctx}/ws/atomfeed/{category}/{n}`.
 */
import { atomDate } from "./dates";
import type { Dialect, FeedEvent, Store } from "./model";

export interface FeedPageRequest {
  /** Category as written in the URL. */
  category: string;
  page: "recent" | number;
  /** Absolute request URL (the `self` link). */
  selfUrl: string;
  /** Absolute `.../ws/atomfeed/{category}` without trailing slash; canonical page URLs are `${feedBase}/${n}`. */
  feedBase: string;
  pageSize: number;
  dialect: Dialect;
  /** Event uuids (or full entry ids) to leave out of their pages. */
  hidden?: ReadonlySet<string> | null;
}

const PUBLISHER = {
  sync2: { title: "OpenMRS Feed Publisher for Sync2.0", author: "SolDevelo", prefix: "a2ad93fd-8a7f-405f-bbc1-da4535e6d05c" },
  bahmni: { title: "Patient AOP", author: "OpenMRS", prefix: "bec795b1-3d17-451d-b43e-a094019f6984" },
};

export const ENTRY_ID_PREFIX = "tag:atomfeed.ict4h.org:";

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;"));
}

function link(rel: string, href: string): string {
  return `  <link rel="${rel}" type="application/atom+xml" href="${xmlEscape(href)}" />\n`;
}

function entryXml(e: FeedEvent): string {
  let x = "  <entry>\n";
  x += `    <title>${xmlEscape(e.title)}</title>\n`;
  for (const t of e.terms) x += `    <category term="${xmlEscape(t)}" />\n`;
  x += `    <id>${ENTRY_ID_PREFIX}${e.uuid}</id>\n`;
  const ts = atomDate(e.timestamp);
  x += `    <updated>${ts}</updated>\n`;
  x += `    <published>${ts}</published>\n`;
  x += `    <content type="application/vnd.atomfeed+xml"><![CDATA[${e.content}]]></content>\n`;
  x += "  </entry>\n";
  return x;
}

/** Number of pages of a category (0 when empty). */
export function pageCount(store: Store, category: string, pageSize: number): number {
  return Math.ceil(store.categoryEvents(category).length / pageSize);
}

/** The page XML, or undefined when the page does not exist (the real server throws: HTTP 500). */
export function renderFeedPage(store: Store, req: FeedPageRequest): string | undefined {
  const events = store.categoryEvents(req.category);
  const last = Math.ceil(events.length / req.pageSize);
  const n = req.page === "recent" ? last : req.page;
  if (req.page !== "recent" && (n <= 0 || n > last || !Number.isInteger(n))) return undefined;
  let page = n > 0 ? events.slice((n - 1) * req.pageSize, n * req.pageSize) : [];
  if (req.hidden && req.hidden.size > 0) {
    const h = req.hidden;
    page = page.filter((e) => !h.has(e.uuid) && !h.has(ENTRY_ID_PREFIX + e.uuid));
  }
  const pub = req.dialect === "bahmni" ? PUBLISHER.bahmni : PUBLISHER.sync2;
  let updated: string;
  if (page.length > 0) updated = atomDate(Math.max(...page.map((e) => e.timestamp)));
  else {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    updated = atomDate(d.getTime());
  }
  let x = '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n';
  x += `  <title>${xmlEscape(pub.title)}</title>\n`;
  x += link("self", req.selfUrl);
  x += link("via", `${req.feedBase}/${n}`);
  if (n > 1) x += link("prev-archive", `${req.feedBase}/${n - 1}`);
  if (n >= 1 && n < last) x += link("next-archive", `${req.feedBase}/${n + 1}`);
  x += `  <author>\n    <name>${xmlEscape(pub.author)}</name>\n  </author>\n`;
  x += `  <id>${pub.prefix}+${n}</id>\n`;
  x += '  <generator uri="https://github.com/ICT4H/atomfeed">OpenMRS Feed Publisher</generator>\n';
  x += `  <updated>${updated}</updated>\n`;
  for (const e of page) x += entryXml(e);
  x += "</feed>\n";
  return x;
}

// ---- hostile variants (faults) ----

/** Cuts the page in the middle of an element: not well-formed XML. */
export function truncateXml(xml: string): string {
  const cut = Math.max(60, Math.floor(xml.length * 0.6));
  return xml.slice(0, Math.min(cut, xml.length - 10));
}

/** A "billion laughs" document shaped like a feed page. */
export function entityBombXml(): string {
  let dtd = '<!ENTITY lol "lol">\n';
  let prev = "lol";
  for (let i = 1; i <= 9; i++) {
    const name = `lol${i}`;
    dtd += `<!ENTITY ${name} "${`&${prev};`.repeat(10)}">\n`;
    prev = name;
  }
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<!DOCTYPE feed [\n${dtd}]>\n` +
    '<feed xmlns="http://www.w3.org/2005/Atom">\n  <title>&lol9;</title>\n</feed>\n'
  );
}

/** Pads a page with `bytes` of junk inside an XML comment, right after the XML declaration. */
export function padXml(xml: string, bytes: number): string {
  const nl = xml.indexOf("\n");
  const junk = "<!-- " + "x".repeat(Math.max(0, bytes)) + " -->\n";
  return xml.slice(0, nl + 1) + junk + xml.slice(nl + 1);
}
