/**
 * Writes one ICT4H atomfeed page as omod-atomfeed and Bahmni serve it (openmrs-protocols.md §2.2-2.4:
 * ict4h atomfeed-server EventFeedServiceImpl): feed title, links self / via / prev-archive / next-archive
 * (all `application/atom+xml`), author, `{prefix}+{n}` id, generator, updated (the newest entry, or today's
 * midnight for an empty page), and per entry title, category terms, `tag:atomfeed.ict4h.org:{uuid}` id,
 * updated = published, and the content in CDATA typed `application/vnd.atomfeed+xml`. No I/O here.
 */

export const ENTRY_ID_PREFIX = "tag:atomfeed.ict4h.org:";
export const GENERATOR_URI = "https://github.com/ICT4H/atomfeed";

export interface PageEvent {
  uuid: string;
  title: string;
  /** Every category term: the category first, then the tags (deduplicated). */
  terms: string[];
  /** Milliseconds since the epoch. */
  timestamp: number;
  content: string;
}

export interface PageParts {
  /** atomfeed.properties: feed.title, feed.author, feed.id.prefix. */
  title: string;
  author: string;
  idPrefix: string;
  /** This page's number (0: the recent page of an empty category) and the number of the last page. */
  n: number;
  last: number;
  /** The request URL, and the absolute `.../ws/atomfeed/{category}` that numbered pages hang from. */
  selfUrl: string;
  feedBase: string;
  /** Now, for the `updated` of an empty page. */
  now: number;
  events: readonly PageEvent[];
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;"));
}

/** `2018-04-26T10:56:10Z`: Atom time in UTC to the second, as Rome writes it. */
export function atomTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** CDATA cannot hold `]]>`: split it across two sections (readers join adjacent text). */
function cdata(text: string): string {
  return `<![CDATA[${text.split("]]>").join("]]]]><![CDATA[>")}]]>`;
}

function link(rel: string, href: string): string {
  return `  <link rel="${rel}" type="application/atom+xml" href="${xmlEscape(href)}" />\n`;
}

function entryXml(e: PageEvent): string {
  const ts = atomTime(e.timestamp);
  let x = "  <entry>\n";
  x += `    <title>${xmlEscape(e.title)}</title>\n`;
  for (const t of e.terms) x += `    <category term="${xmlEscape(t)}" />\n`;
  x += `    <id>${ENTRY_ID_PREFIX}${xmlEscape(e.uuid)}</id>\n`;
  x += `    <updated>${ts}</updated>\n`;
  x += `    <published>${ts}</published>\n`;
  x += `    <content type="application/vnd.atomfeed+xml">${cdata(e.content)}</content>\n`;
  x += "  </entry>\n";
  return x;
}

/** The page's `<updated>`: its newest entry, or today's midnight (UTC) when it has none. */
export function pageUpdated(events: readonly PageEvent[], now: number): number {
  if (events.length > 0) return Math.max(...events.map((e) => e.timestamp));
  const d = new Date(now);
  d.setUTCHours(0, 0, 0, 0);
  return d.getTime();
}

export function renderPage(p: PageParts): string {
  let x = '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n';
  x += `  <title>${xmlEscape(p.title)}</title>\n`;
  x += link("self", p.selfUrl);
  x += link("via", `${p.feedBase}/${p.n}`);
  if (p.n > 1) x += link("prev-archive", `${p.feedBase}/${p.n - 1}`);
  if (p.n >= 1 && p.n < p.last) x += link("next-archive", `${p.feedBase}/${p.n + 1}`);
  x += `  <author>\n    <name>${xmlEscape(p.author)}</name>\n  </author>\n`;
  x += `  <id>${xmlEscape(p.idPrefix)}+${p.n}</id>\n`;
  x += `  <generator uri="${GENERATOR_URI}">OpenMRS Feed Publisher</generator>\n`;
  x += `  <updated>${atomTime(pageUpdated(p.events, p.now))}</updated>\n`;
  for (const e of p.events) x += entryXml(e);
  x += "</feed>\n";
  return x;
}
