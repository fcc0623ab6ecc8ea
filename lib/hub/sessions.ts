/**
 * Sessions for clients that log in once and then send a cookie, as OpenMRS's own atomfeed client does
 * (Bahmni's OpenMRSAuthenticator: `GET /ws/rest/v1/session` with Basic auth, then `JSESSIONID` on every
 * feed and record request). A session names a key; it is good only while that key is active and has not
 * been rotated since the session was opened, so a revoke or a rotate shuts its sessions out at the next
 * request too. Idle sessions end after 30 minutes; at most 10,000 are kept (the oldest unused go first).
 * In memory only: after a restart a client logs in again, as it would with OpenMRS. No Node-RED here.
 */
import * as crypto from "node:crypto";

export const SESSION_COOKIE = "JSESSIONID";

export interface HubSession {
  keyId: string;
  /** The store (sync-store node id) the key belongs to. */
  store: string;
  /** The key's rotation time when the session was opened: a later rotation ends it. */
  rotatedAt: number | null;
  lastUsed: number;
}

export class HubSessions {
  private readonly byId = new Map<string, HubSession>();

  constructor(
    private readonly idleMs = 30 * 60_000,
    private readonly max = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session for a key just let in; its id is the cookie's value. */
  open(key: { id: string; store: string; rotatedAt: number | null }): string {
    const id = crypto.randomBytes(24).toString("hex");
    if (this.byId.size >= this.max) this.byId.delete(this.byId.keys().next().value as string);
    this.byId.set(id, { keyId: key.id, store: key.store, rotatedAt: key.rotatedAt, lastUsed: this.now() });
    return id;
  }

  /** The live session of this id (used now), or undefined. */
  find(id: string): HubSession | undefined {
    const s = this.byId.get(id);
    if (!s) return undefined;
    this.byId.delete(id);
    if (this.now() - s.lastUsed > this.idleMs) return undefined;
    s.lastUsed = this.now();
    this.byId.set(id, s);
    return s;
  }

  close(id: string): void {
    this.byId.delete(id);
  }
}

/** The session id a Cookie header carries, if any. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === SESSION_COOKIE && /^[0-9a-f]{48}$/.test(value.join("="))) return value.join("=");
  }
  return undefined;
}

/** The sessions of this runtime (every hub route accepts them). */
export const hubSessions = new HubSessions();
