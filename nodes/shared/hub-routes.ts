/**
 * The hub's routes for children, on Node-RED's httpNode (under httpNodeRoot, like an `http in` node), each
 * behind the key check of lib/hub/auth.ts. In this slice there is one: `GET /openmrs/ws/hub/whoami`,
 * answering `{"key": <name>}` for a valid key, so that a child (or an admin with curl) can test its key
 * and the check is exercised for real; the hub's feed and record routes come later and use the same
 * check and the same per-source limiter. Added once per runtime (the sync-store module registers it).
 *
 * Keys of every open store are accepted here (a hub normally has one store); the feed routes will take
 * only their own store's keys.
 */
import type { NodeAPI } from "node-red";
import type { Request, RequestHandler, Response } from "express";
import { keyAuth, type KeyedRequest, type KeySource } from "../../lib/hub/auth";
import { KeyStore } from "../../lib/hub/keys";
import { FailureLimiter } from "../../lib/hub/rate-limit";
import { adminRegistry, openedStore } from "../../lib/admin/registry";
import { addChildReportRoutes, type RouteApp } from "./hub-child-routes";
import { addFeedRoutes } from "./hub-feed-routes";

export const HUB_BASE = "/openmrs/ws/hub";

const added = new WeakSet<object>();

/** The failed-check limiter of this runtime, shared by every hub route. */
export const hubLimiter = new FailureLimiter();

/** How long a request waits for a store that is being opened (the first request after a start opens it). */
const OPEN_WAIT_MS = 2_000;

/** The key stores of every store of the runtime that is open (opening those no node has opened), and how many are not. */
async function openKeyStores(): Promise<{ open: KeySource[]; unavailable: number }> {
  const open: KeySource[] = [];
  let unavailable = 0;
  for (const s of adminRegistry.stores.values()) {
    const store = await openedStore(s, OPEN_WAIT_MS);
    const keys = store && (await KeyStore.of(store.db).catch(() => undefined));
    if (keys) open.push({ id: s.id, keys });
    else unavailable++;
  }
  return { open, unavailable };
}

export function addHubRoutes(RED: NodeAPI): void {
  const app = RED.httpNode as unknown as { get(path: string, ...h: RequestHandler[]): void } | undefined;
  if (!app || added.has(app)) return;
  added.add(app);
  // A failing store would otherwise log on every request: once a minute per distinct text.
  let lastWarning = "";
  let lastWarned = 0;
  const onError = (err: unknown) => {
    const text = err instanceof Error ? err.message : String(err);
    if (text === lastWarning && Date.now() - lastWarned < 60_000) return;
    [lastWarning, lastWarned] = [text, Date.now()];
    RED.log.warn(RED._("sync-store.hub.log-failed", { error: text }));
  };
  addChildReportRoutes(app as unknown as RouteApp, { stores: openKeyStores, limiter: hubLimiter, onError });
  addFeedRoutes(app, { stores: openKeyStores, limiter: hubLimiter, onError });
  app.get(`${HUB_BASE}/whoami`, keyAuth({ stores: openKeyStores, limiter: hubLimiter, action: "whoami", onError }), (req: Request, res: Response) => {
    res.set("Cache-Control", "no-store");
    res.json({ key: (req as KeyedRequest).syncKey!.name });
  });
}
