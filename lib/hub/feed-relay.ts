/**
 * What a hub re-publishes of a parent's feed entry (atom-feed-in's message into atom-feed-out): the same
 * event (uuid, title, category and tags: the action, feed filters) with content that points at the hub's
 * OWN record URLs, so a child reads the record through the hub (behind its key, and later its catchment):
 *  - Sync 2.0 links are relative to the base URL ("/ws/rest/v1/…", "/ws/fhir2/R4/…") and so already
 *    resolve against the hub's base; an absolute one, or one carrying the parent's context path, is cut
 *    back to its "/ws/…" tail;
 *  - a Bahmni link carries the context path ("/openmrs/ws/rest/v1/…"): it gets the hub's
 *    ("{httpNodeRoot}/openmrs").
 * A link that names no "/ws/" path of OpenMRS is dropped (it could only lead elsewhere); an entry left
 * with no link is not relayed. No Node-RED here.
 */
import type { FeedEntry } from "../atom/entry";
import { ENTRY_ID_PREFIX } from "../atom/page-xml";
import type { PublishInput } from "../atom/publisher";

/** The "/ws/…" tail of a link, or undefined when it has none. */
export function wsTail(link: string): string | undefined {
  const i = link.indexOf("/ws/");
  return i < 0 ? undefined : link.slice(i);
}

/** `hubContext`: the hub's context path as its children see it ("/openmrs", or "/red/openmrs" under a httpNodeRoot). */
export function relayedContent(entry: Pick<FeedEntry, "dialect" | "links">, hubContext: string): string | undefined {
  if (entry.dialect === "bahmni") {
    const tail = entry.links.rest === undefined ? undefined : wsTail(entry.links.rest);
    return tail && `${hubContext.replace(/\/+$/, "")}${tail}`;
  }
  const links: Record<string, string> = {};
  for (const [name, link] of Object.entries(entry.links)) {
    const tail = wsTail(link);
    if (tail) links[name] = tail;
  }
  return Object.keys(links).length > 0 ? JSON.stringify(links) : undefined;
}

/** The event the hub publishes for a parent's entry (undefined: nothing of it can be relayed). */
export function relayedEvent(entry: FeedEntry, hubContext: string, category = entry.category): PublishInput | undefined {
  const content = relayedContent(entry, hubContext);
  if (!content) return undefined;
  const uuid = entry.id.startsWith(ENTRY_ID_PREFIX) ? entry.id.slice(ENTRY_ID_PREFIX.length) : entry.id;
  return { category, uuid, title: entry.title || category, tags: entry.categories.filter((c) => c !== category), content };
}
