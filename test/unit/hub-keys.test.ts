/**
 * Hub keys (lib/hub/keys.ts) on a real SQLite file, the per-source limiter (lib/hub/rate-limit.ts) on a
 * manual clock, and the Authorization header parser (lib/hub/auth.ts): secrets are never on disk, the
 * comparisons are timingSafeEqual, rotate and revoke refuse the old secret at once (cached or not, and
 * also when a slow check was running across them), a key of another name fails, and the limiter blocks a
 * source after ten failures in a minute within bounded memory.
 */
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SyncStore } from "../../lib/store/store";
import { HASH_PARAMS, KeyError, KeyStore, parseHash, tokenKeyId } from "../../lib/hub/keys";
import { FailureLimiter } from "../../lib/hub/rate-limit";
import { parseAuthorization } from "../../lib/hub/auth";

const CATCHMENT = { locations: ["8d6c993e-c2cc-11de-8d13-0010c6dffd0f"], expression: "location in catchment" };

/** Every byte of the store on disk (the file, and the WAL when there is one). */
function rawBytes(file: string): Buffer {
  return Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
}

/** Counts crypto.timingSafeEqual calls (keys.ts reads it from the module at each call) while fn runs. */
async function countSafeEquals<T>(fn: () => Promise<T>): Promise<{ value: T; calls: number }> {
  // The module itself, not this file's import of it (a namespace object whose properties are read-only).
  const c = require("node:crypto") as { timingSafeEqual: typeof crypto.timingSafeEqual };
  const original = c.timingSafeEqual;
  let calls = 0;
  c.timingSafeEqual = (a, b) => {
    calls++;
    return original(a, b);
  };
  try {
    return { value: await fn(), calls };
  } finally {
    c.timingSafeEqual = original;
  }
}

describe("hub keys (lib/hub/keys.ts, real SQLite)", function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  let store: SyncStore;
  let keys: KeyStore;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-keys-"));
    file = path.join(dir, "hub.db");
    store = await SyncStore.open(file);
    keys = await KeyStore.of(store.db);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("issues a key whose secret is shown once and stored only as a salted scrypt hash", async () => {
    const a = await keys.issue("clinic-a", CATCHMENT);
    const b = await keys.issue("clinic-b", { locations: [] });
    assert.match(a.secret, /^oms_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(tokenKeyId(a.secret), a.id, "the token names its key");
    assert.equal(a.name, "clinic-a");
    assert.notEqual(a.secret, b.secret);

    const listed = keys.list();
    assert.deepEqual(
      listed.map((k) => k.name),
      ["clinic-b", "clinic-a"],
      "newest first",
    );
    const la = listed.find((k) => k.id === a.id)!;
    assert.deepEqual(la.catchment, CATCHMENT);
    assert.equal(la.state, "active");
    assert.equal(la.lastSeen, null);
    assert.ok(!JSON.stringify(listed).includes(a.secret) && !/scrypt/.test(JSON.stringify(listed)), "list shows no secret, no hash");

    const rows = await store.db.all<{ id: string; secret_hash: string; catchment: string }>("SELECT id, secret_hash, catchment FROM hub_keys");
    const stored = parseHash(rows.find((r) => r.id === a.id)!.secret_hash)!;
    assert.deepEqual([stored.N, stored.r, stored.p, stored.hash.length, stored.salt.length], [HASH_PARAMS.N, 8, 1, 32, 16]);
    const other = parseHash(rows.find((r) => r.id === b.id)!.secret_hash)!;
    assert.ok(!stored.salt.equals(other.salt), "a salt per key");
    assert.ok(
      crypto.scryptSync(a.secret, stored.salt, 32, { N: stored.N, r: stored.r, p: stored.p, maxmem: 64 << 20 }).equals(stored.hash),
      "the hash is scrypt of the secret with the stored salt and parameters",
    );
    assert.deepEqual(JSON.parse(rows.find((r) => r.id === a.id)!.catchment), CATCHMENT);

    // Checks (good and bad) and their audit rows, then every byte on disk: no secret, in any form.
    assert.ok((await keys.verifyBearer(a.secret)).ok);
    assert.ok(!(await keys.verify("clinic-a", b.secret)).ok);
    await keys.record([{ direction: "hub", source: "hub", action: "whoami", outcome: "ok", hubKey: a.id }], a.id);
    await store.close();
    const raw = rawBytes(file);
    for (const s of [a.secret, b.secret]) {
      const random = s.split("_").slice(2).join("_");
      for (const form of [s, random, Buffer.from(random, "base64url").toString("hex"), Buffer.from(s).toString("base64")])
        assert.equal(raw.indexOf(form), -1, `a form of a secret found on disk: ${form.slice(0, 12)}…`);
      assert.equal(raw.indexOf(Buffer.from(random, "base64url")), -1, "the secret's raw bytes");
    }
    store = await SyncStore.open(file);
    keys = await KeyStore.of(store.db);
  });

  it("verifies Basic (name + secret) and bearer; refuses a wrong secret, another key's secret, an unknown name, a malformed token", async () => {
    const a = await keys.issue("clinic-a", CATCHMENT);
    const b = await keys.issue("clinic-b", CATCHMENT);
    const ok = await keys.verify("clinic-a", a.secret);
    assert.ok(ok.ok && ok.key.id === a.id && ok.key.name === "clinic-a");
    const bearer = await keys.verifyBearer(b.secret);
    assert.ok(bearer.ok && bearer.key.id === b.id);

    // A key of another child: b's secret under a's name, and a bearer token naming a with b's random part.
    const cross = await keys.verify("clinic-a", b.secret);
    assert.deepEqual([cross.ok, !cross.ok && cross.reason, cross.key?.id], [false, "wrong-secret", a.id]);
    const forged = `oms_${a.id}_${b.secret.slice(-43)}`;
    const f = await keys.verifyBearer(forged);
    assert.deepEqual([f.ok, !f.ok && f.reason], [false, "wrong-secret"]);
    const wrong = `oms_${a.id}_${crypto.randomBytes(32).toString("base64url")}`;
    assert.equal((await keys.verify("clinic-a", wrong)).ok, false);
    const unknown = await keys.verify("clinic-z", a.secret);
    assert.deepEqual([unknown.ok, !unknown.ok && unknown.reason, unknown.key], [false, "unknown-key", undefined]);
    const nobody = await keys.verifyBearer(`oms_0123456789abcdef_${a.secret.slice(-43)}`);
    assert.deepEqual([nobody.ok, !nobody.ok && nobody.reason], [false, "unknown-key"]);
    for (const t of ["", "oms_", a.secret + "x", a.secret.replace("oms_", "omz_"), "Basic abc"]) {
      const m = await keys.verifyBearer(t);
      assert.deepEqual([m.ok, !m.ok && m.reason], [false, "malformed"], t);
    }
    // Still good after all that.
    assert.ok((await keys.verify("clinic-a", a.secret)).ok);
  });

  it("compares with timingSafeEqual: a slow scrypt check first, then the HMAC of the verified secret", async () => {
    const a = await keys.issue("clinic-a", CATCHMENT);
    const first = await countSafeEquals(() => keys.verifyBearer(a.secret));
    assert.ok(first.value.ok);
    assert.equal(first.calls, 1, "the scrypt output against the stored hash");
    assert.deepEqual(keys.stats, { fast: 0, slow: 1 });
    const again = await countSafeEquals(() => keys.verify("clinic-a", a.secret));
    assert.ok(again.value.ok);
    assert.equal(again.calls, 1, "the HMAC against the verified one");
    assert.deepEqual(keys.stats, { fast: 1, slow: 1 });
    // A wrong secret of the same length: the HMAC differs (compared in constant time), then scrypt.
    const wrong = await countSafeEquals(() => keys.verifyBearer(`oms_${a.id}_${crypto.randomBytes(32).toString("base64url")}`));
    assert.equal(wrong.value.ok, false);
    assert.equal(wrong.calls, 2);
    assert.deepEqual(keys.stats, { fast: 1, slow: 2 });
    // The right one is still answered from the cache.
    assert.ok((await keys.verifyBearer(a.secret)).ok);
    assert.deepEqual(keys.stats, { fast: 2, slow: 2 });
  });

  it("rotate: the old secret is refused at once (also when it was cached), the new one works", async () => {
    const a = await keys.issue("clinic-a", CATCHMENT);
    assert.ok((await keys.verify("clinic-a", a.secret)).ok);
    assert.ok((await keys.verifyBearer(a.secret)).ok, "cached");
    const r = await keys.rotate(a.id);
    assert.equal(r.id, a.id);
    assert.equal(r.name, "clinic-a");
    assert.notEqual(r.secret, a.secret);
    for (const v of [await keys.verify("clinic-a", a.secret), await keys.verifyBearer(a.secret)])
      assert.deepEqual([v.ok, !v.ok && v.reason], [false, "wrong-secret"]);
    assert.ok((await keys.verify("clinic-a", r.secret)).ok);
    assert.ok((await keys.verifyBearer(r.secret)).ok);
    assert.ok(keys.get(a.id)!.rotatedAt! > 0);
    // Stored: a reopened store (a restart) knows only the new secret.
    await store.close();
    store = await SyncStore.open(file);
    keys = await KeyStore.of(store.db);
    assert.equal((await keys.verifyBearer(a.secret)).ok, false);
    assert.ok((await keys.verifyBearer(r.secret)).ok);
  });

  it("a slow check running across a rotate or a revoke counts for nothing", async () => {
    const a = await keys.issue("clinic-a", CATCHMENT);
    const b = await keys.issue("clinic-b", CATCHMENT);
    // Slow checks run one at a time: three bad ones ahead keep a's (uncached) check waiting while a rotates.
    const ahead = [1, 2, 3].map(() => keys.verify("clinic-b", a.secret));
    const during = keys.verify("clinic-a", a.secret);
    const rotated = await keys.rotate(a.id);
    const v = await during;
    assert.deepEqual([v.ok, !v.ok && v.reason], [false, "wrong-secret"]);
    await Promise.all(ahead);
    assert.ok((await keys.verify("clinic-a", rotated.secret)).ok);

    const ahead2 = [1, 2, 3].map(() => keys.verify("clinic-a", b.secret));
    const during2 = keys.verifyBearer(b.secret);
    await keys.revoke(b.id);
    const v2 = await during2;
    assert.deepEqual([v2.ok, !v2.ok && v2.reason], [false, "revoked"]);
    await Promise.all(ahead2);
  });

  it("revoke: refused at once (also when cached), kept for the audit, the name may be issued again", async () => {
    const a = await keys.issue("clinic-a", CATCHMENT);
    assert.ok((await keys.verifyBearer(a.secret)).ok);
    assert.ok((await keys.verifyBearer(a.secret)).ok, "cached");
    const revoked = await keys.revoke(a.id);
    assert.equal(revoked.state, "revoked");
    for (const v of [await keys.verify("clinic-a", a.secret), await keys.verifyBearer(a.secret)]) {
      assert.deepEqual([v.ok, !v.ok && v.reason, v.key?.id], [false, "revoked", a.id]);
    }
    const row = await store.db.get<{ state: string; secret_hash: string | null; revoked_at: number }>("SELECT * FROM hub_keys WHERE id = ?", [a.id]);
    assert.deepEqual([row?.state, row?.secret_hash], ["revoked", null], "the hash is gone");
    await assert.rejects(keys.rotate(a.id), (e: KeyError) => e.code === "revoked" && e.status === 409);
    await assert.rejects(keys.revoke(a.id), (e: KeyError) => e.code === "revoked");
    await assert.rejects(keys.rotate("0123456789abcdef"), (e: KeyError) => e.code === "no-key" && e.status === 404);

    const again = await keys.issue("clinic-a", CATCHMENT);
    assert.notEqual(again.id, a.id);
    assert.ok((await keys.verify("clinic-a", again.secret)).ok);
    assert.equal((await keys.verifyBearer(a.secret)).ok, false, "the old token still names the revoked key");
    assert.deepEqual(
      keys.list().map((k) => [k.name, k.state]),
      [
        ["clinic-a", "active"],
        ["clinic-a", "revoked"],
      ],
    );
    // After a restart too.
    await store.close();
    store = await SyncStore.open(file);
    keys = await KeyStore.of(store.db);
    const v = await keys.verifyBearer(a.secret);
    assert.deepEqual([v.ok, !v.ok && v.reason], [false, "revoked"]);
    assert.ok((await keys.verify("clinic-a", again.secret)).ok);
  });

  it("refuses bad names, bad catchments and a name that is taken", async () => {
    for (const name of ["", "a:b", "a b", "-a", "x".repeat(65), 42, undefined, "é"])
      await assert.rejects(keys.issue(name, CATCHMENT), (e: KeyError) => e.code === "bad-name", String(name));
    for (const c of [
      undefined,
      null,
      [],
      {},
      { locations: "x" },
      { locations: [1] },
      { locations: [""] },
      { locations: [], expression: 3 },
      { locations: [], expression: "record.((" },
    ])
      await assert.rejects(keys.issue("clinic-a", c), (e: KeyError) => e.code === "bad-catchment", JSON.stringify(c));
    await keys.issue("clinic-a", CATCHMENT);
    await assert.rejects(keys.issue("clinic-a", CATCHMENT), (e: KeyError) => e.code === "name-taken" && e.status === 409);
    // Two issues of one name at the same moment: one wins.
    const both = await Promise.allSettled([keys.issue("clinic-c", CATCHMENT), keys.issue("clinic-c", CATCHMENT)]);
    assert.deepEqual(both.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    assert.equal(keys.list().filter((k) => k.name === "clinic-c").length, 1);
  });

  it("records audit rows attributed to the key, and last seen", async () => {
    const a = await keys.issue("clinic-a", CATCHMENT);
    await keys.record([{ direction: "hub", source: "hub", action: "whoami", outcome: "ok", hubKey: a.id, peer: "10.0.0.7", httpStatus: 200 }], a.id);
    await keys.record([{ direction: "hub", source: "hub", action: "whoami", outcome: "refused", reason: "wrong-secret", hubKey: a.id, peer: "10.0.0.8" }]);
    const rows = await store.db.all<{ hub_key: string; peer: string; outcome: string; reason: string | null }>(
      "SELECT hub_key, peer, outcome, reason FROM audit ORDER BY id",
    );
    assert.deepEqual(rows, [
      { hub_key: a.id, peer: "10.0.0.7", outcome: "ok", reason: null },
      { hub_key: a.id, peer: "10.0.0.8", outcome: "refused", reason: "wrong-secret" },
    ]);
    const seen = keys.get(a.id)!.lastSeen!;
    assert.ok(seen > 0);
    const stored = await store.db.get<{ last_seen: number }>("SELECT last_seen FROM hub_keys WHERE id = ?", [a.id]);
    assert.equal(stored?.last_seen, seen);
  });
});

describe("failed-check limiter (lib/hub/rate-limit.ts, manual clock)", () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 1_000_000));

  it("blocks a source after ten failures within a minute, for a minute; other sources are not touched", () => {
    const l = new FailureLimiter({ now: clock });
    for (let i = 1; i <= 9; i++) {
      assert.equal(l.fail("10.0.0.1"), 0, `failure ${i}`);
      now += 1000;
    }
    assert.equal(l.retryAfterMs("10.0.0.1"), 0);
    assert.equal(l.fail("10.0.0.1"), 60_000, "the tenth blocks");
    assert.equal(l.retryAfterMs("10.0.0.1"), 60_000);
    assert.equal(l.retryAfterMs("10.0.0.2"), 0, "another source");
    assert.equal(l.fail("10.0.0.2"), 0);
    now += 59_000;
    assert.equal(l.retryAfterMs("10.0.0.1"), 1000);
    now += 1000;
    assert.equal(l.retryAfterMs("10.0.0.1"), 0, "free again after a minute");
    assert.equal(l.fail("10.0.0.1"), 0, "counting starts over");
  });

  it("counts only failures within the window", () => {
    const l = new FailureLimiter({ now: clock });
    for (let i = 0; i < 30; i++) {
      assert.equal(l.fail("10.0.0.1"), 0, `failure ${i}: one every 7 s is 9 a minute`);
      now += 7000;
    }
    const tight = new FailureLimiter({ now: clock, maxFailures: 3, windowMs: 10_000, blockMs: 5_000 });
    tight.fail("a");
    now += 6000;
    tight.fail("a");
    now += 5000; // the first is out of the window
    assert.equal(tight.fail("a"), 0);
    assert.equal(tight.fail("a"), 5_000);
  });

  it("keeps memory bounded: sources with nothing recent are swept, then the least recently failed forgotten", () => {
    const l = new FailureLimiter({ now: clock, maxSources: 100, maxFailures: 2 });
    l.fail("attacker");
    l.fail("attacker");
    assert.ok(l.retryAfterMs("attacker") > 0);
    now += 61_000; // the attacker's block is over: swept at the first trim
    for (let i = 0; i < 1000; i++) {
      l.fail(`10.1.${i >> 8}.${i & 255}`);
      assert.ok(l.size <= 100, `size ${l.size}`);
    }
    assert.equal(l.retryAfterMs("attacker"), 0);
    const fresh = new FailureLimiter({ now: clock, maxSources: 10 });
    for (let i = 0; i < 5; i++) fresh.fail(`s${i}`);
    now += 61_000;
    fresh.sweep();
    assert.equal(fresh.size, 0, "nothing recent, nothing blocked: swept");
  });
});

describe("Authorization header (lib/hub/auth.ts)", () => {
  const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
  it("reads Basic name:secret and Bearer tokens; anything else is malformed", () => {
    assert.equal(parseAuthorization(undefined), undefined);
    assert.equal(parseAuthorization(""), undefined);
    assert.deepEqual(parseAuthorization(basic("clinic-a:oms_x:y")), { name: "clinic-a", secret: "oms_x:y" });
    assert.deepEqual(parseAuthorization("bearer  oms_abc"), { token: "oms_abc" });
    for (const h of ["Digest x", "Basic", basic("nocolon"), basic(":secret"), basic("name:"), "Basic !!!", "Bearer a b", `Bearer ${"x".repeat(2000)}`])
      assert.equal(parseAuthorization(h), "malformed", h);
  });
});
