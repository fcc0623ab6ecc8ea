/**
 * atom-feed-out: publishes a feed in the same format as OpenMRS (ICT4H atomfeed pages of 5), fed by
 * messages from any flow, served behind the per-child key check under
 * `<httpNodeRoot>/openmrs/ws/atomfeed/{category}/recent` and `/{n}` (nodes/shared/hub-feed-routes.ts).
 *  - A feed entry from atom-feed-in (msg.payload) is re-published as the same event with links to this
 *    Node-RED's own record URLs (lib/hub/feed-relay.ts): the hub relays its parent's feeds so. Its ticket is
 *    settled once the event is committed.
 *  - Any other message is an event: msg.category (or the configured one), msg.uuid (the record, put into
 *    the link templates) or msg.content (the links themselves), msg.title, msg.tags / msg.action.
 * When a parent server is set, the record links are answered by reading from it (lib/hub/record-read.ts).
 * Logic: lib/atom/publisher.ts. Output: the message with msg.published = {category, seq, uuid, duplicate}.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { contentFromTemplates, FeedInputError, FeedPublisher, validCategory, type PublishInput } from "../../lib/atom/publisher";
import { relayedEvent } from "../../lib/hub/feed-relay";
import { isFeedEntry, ticketOf, type SyncMessage } from "../../lib/message";
import { settleTicket } from "../../lib/settlement";
import { OK } from "../../lib/outcome";
import { countsText, debouncedStatus, errorText } from "../shared/status";
import { serveFeed } from "../shared/hub-feed-routes";
import type { OpenmrsServerConfigNode, SyncStoreConfigNode } from "../shared/types";

interface AtomFeedOutDef extends NodeDef {
  store: string;
  category?: string;
  title?: string;
  dialect?: "sync2" | "bahmni";
  restLink?: string;
  fhirLink?: string;
  /** The server record reads are answered from (the hub's parent); optional. */
  server?: string;
}

/** The hub's context path as children see it: httpNodeRoot + "/openmrs". */
function hubContext(RED: NodeAPI): string {
  const set = (RED.settings as { httpNodeRoot?: unknown }).httpNodeRoot;
  const root = (typeof set === "string" ? set : "/").replace(/\/+$/, "");
  return `${root}/openmrs`;
}

function tagsOf(m: SyncMessage): string[] {
  const tags = Array.isArray(m.tags) ? m.tags.map(String) : typeof m.tags === "string" ? m.tags.split(",") : [];
  if (typeof m.action === "string" && /^[A-Z]+$/.test(m.action)) tags.unshift(m.action);
  return tags.map((t) => t.trim()).filter(Boolean);
}

export = function (RED: NodeAPI): void {
  function AtomFeedOutNode(this: Node, config: AtomFeedOutDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = RED.nodes.getNode(config.store) as SyncStoreConfigNode | null;
    const serverNode = config.server ? (RED.nodes.getNode(config.server) as OpenmrsServerConfigNode | null) : null;
    const category = (config.category ?? "").trim();
    if (!storeNode || (category && !validCategory(category))) {
      node.status({ fill: "red", shape: "ring", text: RED._("atom-feed-out.status.not-configured") });
      node.error(RED._(storeNode ? "atom-feed-out.errors.bad-category" : "atom-feed-out.errors.missing-config", { category }));
      return;
    }
    storeNode.register(node);
    serverNode?.register(node);
    const dialect = config.dialect === "bahmni" ? "bahmni" : "sync2";
    const templates: Record<string, string> = {};
    if (config.restLink) templates.rest = config.restLink;
    if (config.fhirLink && dialect === "sync2") templates.fhir = config.fhirLink;
    const context = hubContext(RED);
    const counts = { published: 0, duplicate: 0, refused: 0 };
    const status = debouncedStatus(node, () => ({
      fill: counts.refused > 0 ? "yellow" : "green",
      shape: "dot",
      text: (category ? `${category}: ` : "") + countsText(RED, "atom-feed-out", Object.entries(counts)),
    }));
    status.now();

    const stop = serveFeed({
      storeId: storeNode.id,
      category: category || undefined,
      db: () => storeNode.open().then((s) => s.db),
      publisher: (db) => FeedPublisher.of(db),
      parent: serverNode ? () => serverNode.server() : undefined,
    });

    /** The event a message asks for. */
    const eventOf = (m: SyncMessage): PublishInput => {
      const cat = typeof m.category === "string" && m.category ? m.category : category;
      if (isFeedEntry(m.payload)) {
        const e = relayedEvent(m.payload, context, cat || m.payload.category);
        if (!e) throw new FeedInputError(RED._("atom-feed-out.errors.no-link", { entry: m.payload.id }));
        return e;
      }
      if (!cat) throw new FeedInputError(RED._("atom-feed-out.errors.no-category"));
      const title = typeof m.title === "string" && m.title ? m.title : config.title || cat;
      let content: string;
      if (typeof m.content === "string") content = m.content;
      else if (m.content && typeof m.content === "object") content = JSON.stringify(m.content);
      else {
        const p = m.payload as { id?: unknown; uuid?: unknown } | undefined;
        const record = [m.uuid, p?.uuid, p?.id].find((v): v is string => typeof v === "string" && v !== "");
        if (!record) throw new FeedInputError(RED._("atom-feed-out.errors.no-record"));
        content = contentFromTemplates(dialect, templates, record);
      }
      const uuid = typeof m.eventUuid === "string" && m.eventUuid ? m.eventUuid : undefined;
      return { category: cat, uuid, title, tags: tagsOf(m), content };
    };

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const m = msg as SyncMessage;
      (async () => {
        const event = eventOf(m);
        const store = await storeNode.open();
        const published = await FeedPublisher.of(store.db).publish(event);
        counts[published.duplicate ? "duplicate" : "published"]++;
        if (ticketOf(m)) settleTicket(m.ticket, OK, { action: "publish" });
        m.published = published;
        send(m as NodeMessageInFlow);
        done();
      })().catch((err: unknown) => {
        // A message that cannot be an event is refused for good; a store failure is retried by the channel.
        const permanent = err instanceof FeedInputError;
        if (permanent) counts.refused++;
        if (ticketOf(m)) settleTicket(m.ticket, { kind: permanent ? "permanent" : "retry", reason: permanent ? "refused" : "store", message: errorText(err) });
        done(err instanceof Error ? err : new Error(errorText(err)));
      });
      status.update();
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      stop();
      status.cancel();
      serverNode?.deregister(node);
      storeNode.deregister(node);
      done();
    });
  }

  RED.nodes.registerType("atom-feed-out", AtomFeedOutNode);
};
