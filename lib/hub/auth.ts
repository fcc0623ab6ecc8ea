/**
 * The hub's key check for its routes on Node-RED's httpNode (an express app): an express middleware that
 * reads `Authorization: Basic <name:secret>` or `Authorization: Bearer <secret>`, checks it against the
 * keys of the hub's store(s) (keys.ts), and either sets `req.syncKey` and goes on, or answers with no
 * data: 401 with `WWW-Authenticate: Basic realm="openmrs-sync"` (no key, a wrong one, a revoked one),
 * 429 with Retry-After (a source that failed too often: rate-limit.ts, checked before anything else),
 * 503 (the store holding the keys is not open yet). No Node-RED here.
 *
 * Audit (attributed to the key, never a secret nor what was presented): a request let in is one row
 * (outcome ok, the route's action); a failed check is one row (outcome refused, reason malformed,
 * unknown-key, wrong-secret or revoked), plus one `rate-limited` row when that failure blocks its source.
 * A request with no credentials at all is answered 401 and neither audited nor counted (a browser or a
 * client asks once without them; nothing was guessed).
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { AuditInput } from "../store/audit";
import type { FailureLimiter } from "./rate-limit";
import type { Catchment, KeyStore, Verification } from "./keys";
import { sessionCookie, type HubSessions } from "./sessions";

/** The key a request was let in with. */
export interface SyncKey {
  id: string;
  name: string;
  catchment: Catchment;
  /** The store (sync-store node id) the key belongs to. */
  store: string;
}

export type KeyedRequest = Request & { syncKey?: SyncKey };

/** The key store of one store, by the store's id. */
export interface KeySource {
  id: string;
  keys: KeyStore;
}

export interface KeyAuthOptions {
  /** The stores whose keys are accepted (open ones), and how many that should be asked are not open. */
  stores(): Promise<{ open: KeySource[]; unavailable: number }>;
  limiter: FailureLimiter;
  /** The action an admitted request is audited as (`whoami`, later the feed and record reads). */
  action: string;
  /** An audit write failed (the request is answered anyway), or the check itself did (answered 503). */
  onError?(err: unknown): void;
  /** Sessions opened at `GET …/ws/rest/v1/session` (sessions.ts): a request with no Authorization may send one's cookie. */
  sessions?: HubSessions;
}

export type Credential = { name: string; secret: string } | { token: string };

export const REALM = 'Basic realm="openmrs-sync"';
const MAX_HEADER = 1024;

/** The credential of an Authorization header: undefined when there is none, "malformed" when it is not one. */
export function parseAuthorization(header: string | undefined): Credential | "malformed" | undefined {
  if (header === undefined || header === "") return undefined;
  if (header.length > MAX_HEADER) return "malformed";
  const m = /^(Basic|Bearer)[ ]+(\S+)[ ]*$/i.exec(header);
  if (!m) return "malformed";
  if (m[1].toLowerCase() === "bearer") return { token: m[2] };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(m[2])) return "malformed";
  const text = Buffer.from(m[2], "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0 || colon === text.length - 1) return "malformed";
  return { name: text.slice(0, colon), secret: text.slice(colon + 1) };
}

function peerOf(req: Request): string {
  return req.ip ?? req.socket?.remoteAddress ?? "unknown";
}

function check(keys: KeyStore, c: Credential): Promise<Verification> {
  return "token" in c ? keys.verifyBearer(c.token) : keys.verify(c.name, c.secret);
}

export function keyAuth(o: KeyAuthOptions): RequestHandler {
  const audit = (sources: KeySource[], rows: AuditInput[], seen?: string) => {
    for (const s of sources) s.keys.record(rows, seen).catch((err: unknown) => o.onError?.(err));
  };
  const refuse = (res: Response, status: number, error: string, retryAfterMs?: number) => {
    res.set("Cache-Control", "no-store");
    if (status === 401) res.set("WWW-Authenticate", REALM);
    if (retryAfterMs !== undefined) res.set("Retry-After", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    res.status(status).json({ error });
  };

  const handle = async (req: KeyedRequest, res: Response, next: NextFunction): Promise<void> => {
    const peer = peerOf(req);
    const wait = o.limiter.retryAfterMs(peer);
    if (wait > 0) return refuse(res, 429, "rate-limited", wait);
    const cred = parseAuthorization(req.headers.authorization);
    const sid = cred === undefined && o.sessions ? sessionCookie(req.headers.cookie) : undefined;
    if (cred === undefined && !sid) return refuse(res, 401, "unauthorized");
    const { open, unavailable } = await o.stores();
    const target = req.path;
    const row = (extra: Partial<AuditInput>): AuditInput => ({ direction: "hub", source: "hub", action: o.action, target, peer, outcome: "refused", ...extra });
    if (cred === undefined) {
      // A session's cookie: good while its key is active and not rotated since it was opened.
      const s = o.sessions!.find(sid!);
      const src = s && open.find((x) => x.id === s.store);
      const k = s && src?.keys.get(s.keyId);
      if (!s || !src || !k || k.state !== "active" || k.rotatedAt !== s.rotatedAt) {
        if (s) o.sessions!.close(sid!);
        return refuse(res, 401, "unauthorized");
      }
      req.syncKey = { id: k.id, name: k.name, catchment: k.catchment, store: src.id };
      audit([src], [row({ outcome: "ok", reason: "session", hubKey: k.id, httpStatus: 200 })], k.id);
      return next();
    }

    // The stores that have the named key (normally one); with several, the first that lets it in.
    const candidates = cred === "malformed" ? [] : open.filter((s) => s.keys.names(cred));
    let result: Verification = { ok: false, reason: cred === "malformed" ? "malformed" : "unknown-key" };
    let from: KeySource | undefined;
    for (const s of candidates) {
      const v = await check(s.keys, cred as Credential);
      if (v.ok || !result.key) [result, from] = [v, s];
      if (v.ok) break;
    }
    if (result.ok) {
      const k = result.key;
      req.syncKey = { id: k.id, name: k.name, catchment: k.catchment, store: from!.id };
      audit([from!], [row({ outcome: "ok", hubKey: k.id, httpStatus: 200 })], k.id);
      return next();
    }
    // Not found, and a store that may hold it is not open: say so, without counting it against the source.
    if (!result.key && unavailable > 0) return refuse(res, 503, "store-not-open", 5_000);
    const blocked = o.limiter.fail(peer);
    const rows = [row({ reason: result.reason, hubKey: result.key?.id, httpStatus: 401 })];
    if (blocked > 0) rows.push(row({ reason: "rate-limited", hubKey: result.key?.id, httpStatus: 429 }));
    audit(from ? [from] : open, rows);
    refuse(res, 401, "unauthorized");
  };

  return (req: Request, res: Response, next: NextFunction) => {
    handle(req, res, next).catch((err: unknown) => {
      if (!res.headersSent) refuse(res, 503, "unavailable", 5_000);
      o.onError?.(err);
    });
  };
}
