/**
 * The hub's read side for children, on Node-RED's httpNode, each behind the key check of lib/hub/auth.ts
 * (the same check and per-source limiter as every hub route; each admitted read is one audit row
 * attributed to the key):
 *  - `GET /openmrs/ws/atomfeed/{category}/recent` and `/{n}`: the pages an atom-feed-out node publishes
 *    (lib/atom/publisher.ts), with ETag / Cache-Control / 304; a category no node serves, or a page past
 *    the last, is 404. The newest entry served moves the key's last entry read and lag (feed-reads.ts).
 *  - `GET /openmrs/ws/fhir2/R4/…` and `GET /openmrs/ws/rest/v1/…`: answered by reading from the parent
 *    server named in an atom-feed-out node (lib/hub/record-read.ts). The write methods on those paths are
 *    hub-in's.
 * A key is only let into the feeds and records of its own store.
 */
import type { Request, RequestHandler, Response } from "express";
import { keyAuth, type KeyAuthOptions, type KeyedRequest } from "../../lib/hub/auth";
import { answerPage, type FeedPublisher } from "../../lib/atom/publisher";
import { FeedReads } from "../../lib/hub/feed-reads";
import { KeyStore } from "../../lib/hub/keys";
import { readFromParent, type RecordFilter } from "../../lib/hub/record-read";
import type { OpenmrsServer } from "../../lib/openmrs/server";
import type { SqliteDb } from "../../lib/store/sqlite";

export interface GetApp {
  get(path: string | RegExp, ...h: RequestHandler[]): void;
}

/** What one atom-feed-out node serves. */
export interface FeedSource {
  /** The sync-store node id its events are kept in (keys of that store only). */
  storeId: string;
  /** Its category; undefined: any category its messages name. */
  category?: string;
  /** The open store (rejects while it is not open). */
  db: () => Promise<SqliteDb>;
  publisher: (db: SqliteDb) => FeedPublisher;
  /** The server record reads are answered from, if any. */
  parent?: () => OpenmrsServer;
  /** The catchment seam: may a key read this record? (all records when absent). */
  allowRecord?: RecordFilter;
}

const sources: FeedSource[] = [];

/** Serves a node's feed (and its parent's records) until the returned function is called. */
export function serveFeed(s: FeedSource): () => void {
  sources.push(s);
  return () => {
    const i = sources.indexOf(s);
    if (i >= 0) sources.splice(i, 1);
  };
}

/** The source of a category for a key's store: the node of that category, else one that takes any. */
function sourceFor(store: string, category: string): FeedSource | undefined {
  const mine = sources.filter((s) => s.storeId === store);
  return mine.find((s) => s.category === category) ?? mine.find((s) => s.category === undefined);
}

export const FEED_ROUTE = /^\/openmrs\/ws\/atomfeed\/([^/]+)\/(recent|\d{1,9})\/?$/;
const READ_ROUTE = /^\/openmrs(\/ws\/(?:fhir2\/R4|rest\/v1)\/.+)$/;

function absolute(req: Request): string {
  return `${req.protocol}://${req.get("host") ?? "localhost"}${req.originalUrl.split("?")[0]}`;
}

export function addFeedRoutes(app: GetApp, auth: Omit<KeyAuthOptions, "action">): void {
  const fail = (res: Response, err: unknown) => {
    auth.onError?.(err);
    if (!res.headersSent) res.status(503).json({ error: { message: "unavailable" } });
  };

  app.get(FEED_ROUTE, keyAuth({ ...auth, action: "feed-read" }), (req: Request, res: Response) => {
    const key = (req as KeyedRequest).syncKey!;
    const m = FEED_ROUTE.exec(req.path)!;
    const category = decodeURIComponent(m[1]);
    const which = m[2] === "recent" ? "recent" : Number(m[2]);
    const src = sourceFor(key.store, category);
    if (!src) {
      res.set("Cache-Control", "no-store").status(404).type("text/plain").send("feed does not exist");
      return;
    }
    (async () => {
      const db = await src.db();
      const self = absolute(req);
      const page = await src.publisher(db).page(category, which, { selfUrl: self, feedBase: self.replace(/\/[^/]*\/?$/, "") });
      const a = answerPage(page, req.headers["if-none-match"]);
      res.status(a.status).set(a.headers).send(a.body);
      if (page?.newest) {
        const keys = await KeyStore.of(db);
        await FeedReads.of(db).served(keys, key.id, category, page.newest);
      }
    })().catch((err: unknown) => fail(res, err));
  });

  app.get(READ_ROUTE, keyAuth({ ...auth, action: "record-read" }), (req: Request, res: Response) => {
    const key = (req as KeyedRequest).syncKey!;
    const src = sources.find((s) => s.storeId === key.store && s.parent);
    res.set("Cache-Control", "no-store");
    if (!src) {
      res.status(404).json({ error: { message: "no records here" } });
      return;
    }
    const path = READ_ROUTE.exec(req.path)![1];
    const query = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?") + 1) : "";
    const allow = src.allowRecord && ((body: unknown) => src.allowRecord!(key.id, path, body));
    readFromParent(src.parent!(), path, query, req.headers.accept, allow)
      .then((a) => {
        if (a.contentType) res.set("Content-Type", a.contentType);
        res.status(a.status).send(a.body);
      })
      .catch((err: unknown) => fail(res, err));
  });
}
