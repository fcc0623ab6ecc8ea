/**
 * A hub's keys, one per child clinic, kept in the store's `hub_keys` table (docs/security.md, "Hub keys").
 * No Node-RED here.
 *
 *  - The secret is shown once, when a key is issued or rotated: `oms_<id>_<32 random bytes, base64url>`.
 *    It names its key (the id), so a bearer token is checked without a scan. A child presents it as a
 *    bearer token, or as the Basic-auth password with the key's name as the user.
 *  - Only a slow hash of it is stored: scrypt with a random salt per key, the parameters kept with the
 *    hash (`scrypt$N$r$p$salt$hash`), so they can be raised later without breaking stored keys.
 *  - Every key is held in memory (a thousand keys are a few hundred kilobytes), so a check reads nothing
 *    from the store. A slow hash on every request would cost ~100 ms of CPU each; instead, once a secret
 *    has been verified, an HMAC-SHA256 of it under a key drawn at random when the process starts is kept
 *    with the key, and later requests compare that HMAC (microseconds). There is one such value per key
 *    (a key has one valid secret), so the cache is bounded by the number of keys; rotating or revoking
 *    drops it together with the hash, and a slow check that was running across a rotation counts for
 *    nothing. Both comparisons use crypto.timingSafeEqual.
 *  - Slow checks run one at a time: a burst of bad secrets (each costs a slow hash) then queues here
 *    instead of filling libuv's thread pool, which the store's SQLite and the file system need.
 *  - Rotate and revoke take effect for the next request once their write is committed, with no restart.
 */
import * as crypto from "node:crypto";
import { insertAudits, type AuditInput } from "../store/audit";
import type { SqliteDb } from "../store/sqlite";
import { compileExpression } from "./catchment";

/** Which records a child may see (catchment.ts). */
export interface Catchment {
  locations: string[];
  expression?: string;
}

export type KeyState = "active" | "revoked";

export interface HubKey {
  id: string;
  name: string;
  catchment: Catchment;
  state: KeyState;
  /** Wall-clock ms. */
  createdAt: number;
  rotatedAt: number | null;
  revokedAt: number | null;
  lastSeen: number | null;
  /** The last feed entry the child read (set by the hub's feed routes). */
  lastEntryRead: string | null;
}

/** What issue and rotate answer: the only time the secret is seen. */
export interface IssuedKey {
  id: string;
  name: string;
  secret: string;
}

export type RefusedReason = "malformed" | "unknown-key" | "wrong-secret" | "revoked";
export type Verification = { ok: true; key: HubKey } | { ok: false; reason: RefusedReason; key?: HubKey };

/** Refusals of issue/rotate/revoke, as codes the admin API answers with. */
export class KeyError extends Error {
  constructor(
    readonly code: "bad-name" | "bad-catchment" | "name-taken" | "no-key" | "revoked",
    readonly status: number,
  ) {
    super(code);
  }
}

/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, about 100 ms on one core of the test machine). */
export const HASH_PARAMS = { N: 1 << 15, r: 8, p: 1, keylen: 32, saltBytes: 16 } as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN = /^oms_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
const MAX_LOCATIONS = 1000;

interface StoredHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

interface Entry {
  key: HubKey;
  hash?: StoredHash;
  /** HMAC (under MAC_KEY) of the secret once it was verified; dropped with the hash. */
  verified?: Buffer;
  /** Bumped by rotate and revoke: a slow check that started before counts for nothing. */
  gen: number;
}

interface KeyRow {
  id: string;
  name: string;
  catchment: string;
  secret_hash: string | null;
  state: string;
  created_at: number;
  rotated_at: number | null;
  revoked_at: number | null;
  last_seen: number | null;
  last_entry_read: string | null;
}

/** The process's key for the HMAC of verified secrets: never stored, new at every start. */
const MAC_KEY = crypto.randomBytes(32);
const mac = (secret: string): Buffer => crypto.createHmac("sha256", MAC_KEY).update(secret).digest();

function scrypt(secret: string, salt: Buffer, h: { N: number; r: number; p: number }, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    crypto.scrypt(secret, salt, keylen, { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r }, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

export function formatHash(h: StoredHash): string {
  return `scrypt$${h.N}$${h.r}$${h.p}$${h.salt.toString("base64url")}$${h.hash.toString("base64url")}`;
}

export function parseHash(text: string | null): StoredHash | undefined {
  const m = text ? /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(text) : null;
  if (!m) return undefined;
  return { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]), salt: Buffer.from(m[4], "base64url"), hash: Buffer.from(m[5], "base64url") };
}

async function hashSecret(secret: string): Promise<StoredHash> {
  const { N, r, p, keylen, saltBytes } = HASH_PARAMS;
  const salt = crypto.randomBytes(saltBytes);
  return { N, r, p, salt, hash: await scrypt(secret, salt, { N, r, p }, keylen) };
}

function newSecret(id: string): string {
  return `oms_${id}_${crypto.randomBytes(32).toString("base64url")}`;
}

/** The key id a token names, or undefined when it is not one of ours. */
export function tokenKeyId(token: string): string | undefined {
  return TOKEN.exec(token)?.[1];
}

export function validName(name: unknown): name is string {
  return typeof name === "string" && NAME.test(name);
}

function compiles(expression: string): boolean {
  try {
    compileExpression(expression);
    return true;
  } catch {
    return false;
  }
}

/** A catchment as given to issue: {locations: string[], expression?: string}. */
export function parseCatchment(value: unknown): Catchment {
  const c = value as { locations?: unknown; expression?: unknown } | null;
  if (!c || typeof c !== "object" || Array.isArray(c) || !Array.isArray(c.locations) || c.locations.length > MAX_LOCATIONS)
    throw new KeyError("bad-catchment", 400);
  const locations = c.locations.map((l) => {
    if (typeof l !== "string" || !l || l.length > 200) throw new KeyError("bad-catchment", 400);
    return l;
  });
  if (c.expression !== undefined && (typeof c.expression !== "string" || c.expression.length > 4000 || !compiles(c.expression)))
    throw new KeyError("bad-catchment", 400);
  return c.expression === undefined ? { locations } : { locations, expression: c.expression };
}

function fromRow(r: KeyRow): Entry {
  return {
    key: {
      id: r.id,
      name: r.name,
      catchment: JSON.parse(r.catchment) as Catchment,
      state: r.state === "active" ? "active" : "revoked",
      createdAt: r.created_at,
      rotatedAt: r.rotated_at,
      revokedAt: r.revoked_at,
      lastSeen: r.last_seen,
      lastEntryRead: r.last_entry_read,
    },
    hash: r.state === "active" ? parseHash(r.secret_hash) : undefined,
    gen: 0,
  };
}

/** Runs one task at a time, in order. */
class OneAtATime {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

const stores = new WeakMap<SqliteDb, Promise<KeyStore>>();

export class KeyStore {
  private readonly byId = new Map<string, Entry>();
  /** Active keys by name; and the latest revoked key of a name that has no active one (for the audit). */
  private readonly byName = new Map<string, Entry>();
  private readonly revokedByName = new Map<string, Entry>();
  private readonly slow = new OneAtATime();
  /** Checks answered from the HMAC of a verified secret, and checks that needed the slow hash. */
  readonly stats = { fast: 0, slow: 0 };

  private constructor(readonly db: SqliteDb) {}

  /** The key store of a database, loaded once (every user of the same open store shares it). */
  static of(db: SqliteDb): Promise<KeyStore> {
    let p = stores.get(db);
    if (!p) {
      const ks = new KeyStore(db);
      p = ks.load().then(() => ks);
      p.catch(() => stores.delete(db));
      stores.set(db, p);
    }
    return p;
  }

  private async load(): Promise<void> {
    const rows = await this.db.all<KeyRow>("SELECT * FROM hub_keys ORDER BY created_at, id");
    for (const r of rows) this.remember(fromRow(r));
  }

  private remember(e: Entry): void {
    this.byId.set(e.key.id, e);
    if (e.key.state === "active") {
      this.byName.set(e.key.name, e);
      this.revokedByName.delete(e.key.name);
    } else if (!this.byName.has(e.key.name)) this.revokedByName.set(e.key.name, e);
  }

  /** Every key, newest first, without secrets or hashes. */
  list(): HubKey[] {
    return [...this.byId.values()].map((e) => ({ ...e.key, catchment: structuredClone(e.key.catchment) })).reverse();
  }

  get(id: string): HubKey | undefined {
    const e = this.byId.get(id);
    return e && { ...e.key };
  }

  async issue(name: unknown, catchment: unknown): Promise<IssuedKey> {
    if (!validName(name)) throw new KeyError("bad-name", 400);
    const c = parseCatchment(catchment);
    if (this.byName.has(name)) throw new KeyError("name-taken", 409);
    const id = crypto.randomBytes(8).toString("hex");
    const secret = newSecret(id);
    const hash = await hashSecret(secret);
    const now = Date.now();
    try {
      await this.db.run("INSERT INTO hub_keys (id, name, catchment, secret_hash, state, created_at) VALUES (?,?,?,?,'active',?)", [
        id,
        name,
        JSON.stringify(c),
        formatHash(hash),
        now,
      ]);
    } catch (err) {
      // Issued by another call while this one was hashing.
      if (/UNIQUE/.test(String((err as Error).message))) throw new KeyError("name-taken", 409);
      throw err;
    }
    const key: HubKey = { id, name, catchment: c, state: "active", createdAt: now, rotatedAt: null, revokedAt: null, lastSeen: null, lastEntryRead: null };
    this.remember({ key, hash, gen: 0 });
    return { id, name, secret };
  }

  /** A new secret; the old one is refused from the moment this resolves. */
  async rotate(id: string): Promise<IssuedKey> {
    const e = this.activeEntry(id);
    const secret = newSecret(id);
    const hash = await hashSecret(secret);
    const now = Date.now();
    const r = await this.db.run("UPDATE hub_keys SET secret_hash = ?, rotated_at = ? WHERE id = ? AND state = 'active'", [formatHash(hash), now, id]);
    if (r.changes !== 1 || e.key.state !== "active") throw new KeyError("revoked", 409);
    e.gen++;
    e.hash = hash;
    e.verified = undefined;
    e.key.rotatedAt = now;
    return { id, name: e.key.name, secret };
  }

  /** The key is refused from the moment this resolves; its row stays for the audit. */
  async revoke(id: string): Promise<HubKey> {
    const e = this.activeEntry(id);
    const now = Date.now();
    await this.db.run("UPDATE hub_keys SET state = 'revoked', revoked_at = ?, secret_hash = NULL WHERE id = ? AND state = 'active'", [now, id]);
    e.gen++;
    e.hash = undefined;
    e.verified = undefined;
    e.key.state = "revoked";
    e.key.revokedAt = now;
    if (this.byName.get(e.key.name) === e) this.byName.delete(e.key.name);
    this.revokedByName.set(e.key.name, e);
    return { ...e.key };
  }

  private activeEntry(id: string): Entry {
    const e = this.byId.get(id);
    if (!e) throw new KeyError("no-key", 404);
    if (e.key.state !== "active") throw new KeyError("revoked", 409);
    return e;
  }

  /** Basic auth: the key's name and its secret. */
  verify(name: string, secret: string): Promise<Verification> {
    const e = this.byName.get(name) ?? this.revokedByName.get(name);
    if (!e) return Promise.resolve({ ok: false, reason: "unknown-key" });
    return this.check(e, secret);
  }

  /** A bearer token (the secret), which names its key. */
  verifyBearer(token: string): Promise<Verification> {
    const id = tokenKeyId(token);
    if (!id) return Promise.resolve({ ok: false, reason: "malformed" });
    const e = this.byId.get(id);
    if (!e) return Promise.resolve({ ok: false, reason: "unknown-key" });
    return this.check(e, token);
  }

  /** Whether this store has a key a presented credential names (several stores: which to ask). */
  names(credential: { name: string } | { token: string }): boolean {
    if ("name" in credential) return this.byName.has(credential.name) || this.revokedByName.has(credential.name);
    const id = tokenKeyId(credential.token);
    return !!id && this.byId.has(id);
  }

  private async check(e: Entry, secret: string): Promise<Verification> {
    const refused = (reason: RefusedReason): Verification => ({ ok: false, reason, key: { ...e.key } });
    if (e.key.state !== "active" || !e.hash) return refused("revoked");
    const presented = mac(secret);
    if (e.verified && crypto.timingSafeEqual(presented, e.verified)) {
      this.stats.fast++;
      return { ok: true, key: { ...e.key } };
    }
    const { gen, hash } = e as { gen: number; hash: StoredHash };
    this.stats.slow++;
    const computed = await this.slow.run(() => scrypt(secret, hash.salt, hash, hash.hash.length));
    const match = crypto.timingSafeEqual(computed, hash.hash);
    // Rotated or revoked while hashing: what was compared is no longer the key's secret.
    if (e.gen !== gen) return refused(e.key.state === "active" ? "wrong-secret" : "revoked");
    if (!match) return refused("wrong-secret");
    e.verified = presented;
    return { ok: true, key: { ...e.key } };
  }

  /** The last feed entry a key was served (its id), kept as the key's last entry read. */
  async noteEntryRead(id: string, entryId: string): Promise<void> {
    const e = this.byId.get(id);
    if (!e || e.key.lastEntryRead === entryId) return;
    e.key.lastEntryRead = entryId;
    await this.db.run("UPDATE hub_keys SET last_entry_read = ? WHERE id = ?", [entryId, id]);
  }

  /**
   * Writes audit rows about keys; `seen`: the key a request was let in with, whose last seen moves.
   * The caller decides whether to wait (a request does not: its answer does not depend on the audit).
   */
  async record(rows: readonly AuditInput[], seen?: string): Promise<void> {
    const now = Date.now();
    const e = seen === undefined ? undefined : this.byId.get(seen);
    if (e) e.key.lastSeen = now;
    await this.db.write(async (tx) => {
      await insertAudits(tx, rows);
      if (e) await tx.run("UPDATE hub_keys SET last_seen = ? WHERE id = ?", [now, e.key.id]);
    });
  }
}
