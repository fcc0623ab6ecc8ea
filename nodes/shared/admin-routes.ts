/**
 * The admin HTTP API on Node-RED's admin root (RED.httpAdmin), under /openmrs-sync/: reads behind
 * RED.auth.needsPermission("openmrs-sync.read"), actions behind ("openmrs-sync.write"). The logic is in
 * lib/admin/api.ts; this file only routes and translates error codes. Added once per runtime (the
 * sync-store module registers it).
 *
 * Node-RED answers 401 both to a request without a valid token and to a user who lacks the permission;
 * here a user who is known but not allowed gets 403, so scripts can tell the two apart.
 */
import type { NodeAPI } from "node-red";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { AdminApi, type Actor, type ApiResult } from "../../lib/admin/api";
import { adminRegistry } from "../../lib/admin/registry";
import { ChangeWatch } from "../../lib/admin/changes";

/** The comms topic of the Sync sidebar's "changed" pings (channel and store ids only). */
export const CHANGED_TOPIC = "openmrs-sync/changed";

const added = new WeakSet<object>();

/** Whether an Origin header names the host the request was sent to (scheme aside: a proxy may end TLS). */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return !!host && new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function addAdminRoutes(RED: NodeAPI): void {
  const app = RED.httpAdmin as unknown as {
    get(path: string, ...h: (RequestHandler | RequestHandler[])[]): void;
    post(path: string, ...h: (RequestHandler | RequestHandler[])[]): void;
    delete(path: string, ...h: (RequestHandler | RequestHandler[])[]): void;
  };
  if (!app || added.has(app)) return;
  added.add(app);
  const api = new AdminApi(adminRegistry);
  // Live updates for the Sync sidebar: comms reach every connected editor without a permission check,
  // so a ping names what changed and the editor fetches the figures over the routes below.
  new ChangeWatch(adminRegistry, (changed) => RED.comms?.publish(CHANGED_TOPIC, changed, false)).start();

  /** needsPermission, with 403 for a user who is authenticated but not allowed. */
  const allow = (permission: string): RequestHandler => {
    const check = RED.auth.needsPermission(permission) as unknown as RequestHandler;
    return (req: Request, res: Response, next: NextFunction) => {
      const status = res.status.bind(res);
      res.status = (code: number) => status(code === 401 && (req as Request & { user?: unknown }).user ? 403 : code);
      void check(req, res, (err?: unknown) => {
        res.status = status;
        next(err);
      });
    };
  };
  /**
   * Node-RED 4.x answers every admin route with `Access-Control-Allow-Origin: *`: without adminAuth any
   * web page the admin visits could read these routes (item content included) and act on them. A browser
   * names the page's origin on every cross-origin request; the editor's own requests are same-origin
   * and scripts send none. So a request from another origin is refused, whatever its credentials.
   */
  const sameOrigin: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined || sameHost(origin, req.headers.host)) return next();
    res.status(403).json({ error: "cross-origin", message: RED._("sync-store.admin.cross-origin", { origin: String(origin) }) });
  };
  const read = [sameOrigin, allow("openmrs-sync.read")];
  const write = [sameOrigin, allow("openmrs-sync.write")];

  const answer = (run: (req: Request) => Promise<ApiResult>): RequestHandler => {
    return (req: Request, res: Response) => {
      run(req).then(
        (r) => {
          const code = typeof r.body.error === "string" ? r.body.error : undefined;
          res.status(r.status).json(code ? { ...r.body, message: RED._(`sync-store.admin.${code}`, r.body as Record<string, string>) } : r.body);
        },
        (err: unknown) => {
          RED.log.warn(RED._("sync-store.admin.log-failed", { path: req.path, error: err instanceof Error ? err.message : String(err) }));
          res.status(500).json({ error: "failed", message: RED._("sync-store.admin.failed") });
        },
      );
    };
  };
  const query = (req: Request) => req.query as Record<string, unknown>;
  const body = (req: Request) => (req.body ?? {}) as unknown;
  const param = (req: Request, name: string) => String(req.params[name] ?? "");
  /** Who did it, for the audit of key operations: the adminAuth user, and the address. */
  const actor = (req: Request): Actor => ({
    user: (req as Request & { user?: { username?: string } }).user?.username,
    peer: req.ip ?? req.socket?.remoteAddress,
  });
  /** Key routes answer secrets (issue, rotate): never cached. */
  const noStore: RequestHandler = (_req: Request, res: Response, next: NextFunction) => {
    res.set("Cache-Control", "no-store");
    next();
  };

  const base = "/openmrs-sync";
  app.get(
    `${base}/channels`,
    read,
    answer((req) => api.channels(query(req))),
  );
  app.get(
    `${base}/items`,
    read,
    answer((req) => api.items(query(req))),
  );
  // The bulk actions first: "retry" and "discard" are not item ids.
  app.post(
    `${base}/items/retry`,
    write,
    answer((req) => api.actMatching("retry", body(req))),
  );
  app.post(
    `${base}/items/discard`,
    write,
    answer((req) => api.actMatching("discard", body(req))),
  );
  app.get(
    `${base}/items/:id`,
    read,
    answer((req) => api.item(param(req, "id"), query(req))),
  );
  app.post(
    `${base}/items/:id/retry`,
    write,
    answer((req) => api.act("retry", param(req, "id"), { ...query(req), ...(body(req) as object) })),
  );
  app.post(
    `${base}/items/:id/discard`,
    write,
    answer((req) => api.act("discard", param(req, "id"), { ...query(req), ...(body(req) as object) })),
  );
  app.get(
    `${base}/audit`,
    read,
    answer((req) => api.audit(query(req))),
  );
  app.get(
    `${base}/conflicts`,
    read,
    answer((req) => api.conflicts(query(req))),
  );
  app.get(
    `${base}/conflicts/:id`,
    read,
    answer((req) => api.conflict(param(req, "id"), query(req))),
  );
  app.post(
    `${base}/conflicts/:id/resolve`,
    write,
    answer((req) => api.resolve(param(req, "id"), { ...query(req), ...(body(req) as object) })),
  );
  // Hub keys (lib/hub/keys.ts): the secret is in the answer of issue and rotate, and nowhere else.
  app.get(
    `${base}/keys`,
    read,
    noStore,
    answer((req) => api.keys(query(req))),
  );
  app.post(
    `${base}/keys`,
    write,
    noStore,
    answer((req) => api.issueKey({ ...query(req), ...(body(req) as object) }, actor(req))),
  );
  app.post(
    `${base}/keys/:id/rotate`,
    write,
    noStore,
    answer((req) => api.rotateKey(param(req, "id"), { ...query(req), ...(body(req) as object) }, actor(req))),
  );
  app.delete(
    `${base}/keys/:id`,
    write,
    noStore,
    answer((req) => api.revokeKey(param(req, "id"), { ...query(req), ...(body(req) as object) }, actor(req))),
  );
}
