/**
 * Hub keys in a real Node-RED process with adminAuth on (an admin with "*", a read-only user, a user
 * with flows.read only) and a flow that is nothing but a sync-store (a hub with keys only: the key routes
 * open the store). The four key routes with and without permission; then the hub's whoami route with no
 * key, a wrong key, good keys (Basic and bearer), a key of another child, a rotated key and a revoked one,
 * all in the same process (no restart); then 30 wrong attempts from one source: 429 with Retry-After once
 * it has failed ten times, and then also for a good key from that source (the limiter blocks the source,
 * not the key: every request of this test comes from 127.0.0.1). Nothing secret reaches the audit,
 * the key list or Node-RED's log.
 */
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { useE2E } from "../helpers/e2e";

const bcrypt = require("bcryptjs") as { hashSync(s: string, rounds: number): string };

const ADMIN = { username: "admin", password: "admin-pass-1" };
const READER = { username: "reader", password: "reader-pass-1" };
const OTHER = { username: "flows-only", password: "flows-pass-1" };
const CATCHMENT = { locations: ["aff27d58-a15c-49a6-9beb-d30dcfc0c66e"] };

interface Reply {
  status: number;
  json: Record<string, unknown>;
  headers: Headers;
  text: string;
}

describe("hub keys (real Node-RED, adminAuth on)", function () {
  this.timeout(180_000);
  let dir: string;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-hub-keys",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [] }),
    () => (nodeRed = undefined),
  );

  async function token(user: { username: string; password: string }, scope: string): Promise<string> {
    const res = await fetch(`${nodeRed!.url}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: "node-red-admin", grant_type: "password", scope, ...user }),
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function reply(res: Response): Promise<Reply> {
    const text = await res.text();
    const json = /^application\/json/.test(res.headers.get("content-type") ?? "") ? (JSON.parse(text) as Record<string, unknown>) : { text };
    return { status: res.status, json, headers: res.headers, text };
  }

  /** The admin API. */
  async function call(method: "GET" | "POST" | "DELETE", route: string, tok?: string, body?: unknown, extra: Record<string, string> = {}): Promise<Reply> {
    const res = await fetch(`${nodeRed!.url}/openmrs-sync/${route}`, {
      method,
      headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body ? { "content-type": "application/json" } : {}), ...extra },
      body: body ? JSON.stringify(body) : undefined,
    });
    return reply(res);
  }

  /** The hub's whoami route, as a child calls it. */
  async function whoami(auth?: { basic: [string, string] } | { bearer: string }): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (auth && "basic" in auth) headers.authorization = `Basic ${Buffer.from(auth.basic.join(":")).toString("base64")}`;
    if (auth && "bearer" in auth) headers.authorization = `Bearer ${auth.bearer}`;
    return reply(await fetch(`${nodeRed!.url}/openmrs/ws/hub/whoami`, { headers }));
  }

  const refused = (r: Reply, what: string) => {
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.equal(r.headers.get("www-authenticate"), 'Basic realm="openmrs-sync"', what);
    assert.deepEqual(r.json, { error: "unauthorized" }, `${what}: no data`);
  };

  it("issues, lists, rotates and revokes keys through the admin API; whoami lets in only the current secret of an active key, with no restart; brute force is rate-limited", async () => {
    const settingsFile = path.join(dir, "admin-settings.js");
    const users = [
      { username: ADMIN.username, password: bcrypt.hashSync(ADMIN.password, 8), permissions: "*" },
      { username: READER.username, password: bcrypt.hashSync(READER.password, 8), permissions: ["read", "openmrs-sync.read"] },
      { username: OTHER.username, password: bcrypt.hashSync(OTHER.password, 8), permissions: ["flows.read"] },
    ];
    fs.writeFileSync(settingsFile, `module.exports = { adminAuth: { type: "credentials", users: ${JSON.stringify(users)} } };\n`);
    const db = path.join(dir, "hub.db");
    nodeRed = new NodeRedProcess({
      userDir: path.join(dir, "nr"),
      flows: [{ id: "hub_store", type: "sync-store", name: "hub", path: db }],
      extraSettings: settingsFile,
    });
    await nodeRed.start();
    const pid = nodeRed.pid;

    // ---- the admin routes and their permissions -------------------------------------------------------
    for (const [m, r] of [
      ["GET", "keys"],
      ["POST", "keys"],
      ["POST", "keys/0123456789abcdef/rotate"],
      ["DELETE", "keys/0123456789abcdef"],
    ] as const)
      assert.equal((await call(m, r, undefined, m === "POST" ? { name: "x", catchment: CATCHMENT } : undefined)).status, 401, `${m} ${r} without a token`);
    const admin = await token(ADMIN, "*");
    const reader = await token(READER, "");
    const other = await token(OTHER, "");
    assert.equal((await call("GET", "keys", other)).status, 403, "a user without openmrs-sync.read");
    const empty = await call("GET", "keys", reader);
    assert.deepEqual([empty.status, empty.json.keys], [200, []]);
    assert.equal((await call("POST", "keys", reader, { name: "clinic-a", catchment: CATCHMENT })).status, 403, "the read-only user issues nothing");

    const issuedA = await call("POST", "keys", admin, { name: "clinic-a", catchment: CATCHMENT });
    assert.equal(issuedA.status, 201, issuedA.text);
    assert.equal(issuedA.headers.get("cache-control"), "no-store");
    const a = issuedA.json as { id: string; name: string; secret: string; store: string };
    assert.equal(a.name, "clinic-a");
    assert.equal(a.store, "hub_store");
    assert.match(a.secret, /^oms_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const b = (await call("POST", "keys", admin, { name: "clinic-b", catchment: CATCHMENT })).json as { id: string; secret: string };
    const secrets = [a.secret, b.secret];
    const dup = await call("POST", "keys", admin, { name: "clinic-a", catchment: CATCHMENT });
    assert.deepEqual([dup.status, dup.json.error], [409, "name-taken"]);
    const bad = await call("POST", "keys", admin, { name: "clinic a:1", catchment: CATCHMENT });
    assert.deepEqual([bad.status, bad.json.error], [400, "bad-name"]);
    assert.equal((await call("POST", "keys", admin, { name: "clinic-c" })).json.error, "bad-catchment");
    const evil = await call("POST", "keys", admin, { name: "clinic-e", catchment: CATCHMENT }, { origin: "http://evil.example" });
    assert.deepEqual([evil.status, evil.json.error], [403, "cross-origin"]);

    const listed = await call("GET", "keys", reader);
    assert.equal(listed.status, 200);
    const keys = listed.json.keys as { id: string; name: string; state: string; catchment: unknown; lastSeen: string | null; lag: unknown }[];
    assert.deepEqual(keys.map((k) => [k.name, k.state]).sort(), [
      ["clinic-a", "active"],
      ["clinic-b", "active"],
    ]);
    assert.deepEqual(keys.find((k) => k.id === a.id)?.catchment, CATCHMENT);
    assert.ok(
      secrets.every((s) => !listed.text.includes(s) && !listed.text.includes(s.slice(-43))),
      "no secret in the list",
    );
    assert.ok(!/secret|scrypt/.test(listed.text), "nor a hash");
    // The read-only user may not rotate or revoke a real key; nothing changes.
    assert.equal((await call("POST", `keys/${a.id}/rotate`, reader)).status, 403);
    assert.equal((await call("DELETE", `keys/${a.id}`, reader)).status, 403);
    assert.equal((await call("POST", "keys/0123456789abcdef/rotate", admin)).status, 404);

    // ---- whoami -----------------------------------------------------------------------------------------
    refused(await whoami(), "no key");
    refused(await whoami({ basic: ["clinic-a", `oms_${a.id}_${crypto.randomBytes(32).toString("base64url")}`] }), "a wrong key");
    for (const auth of [{ basic: ["clinic-a", a.secret] as [string, string] }, { bearer: a.secret }]) {
      const r = await whoami(auth);
      assert.deepEqual([r.status, r.json], [200, { key: "clinic-a" }], JSON.stringify(Object.keys(auth)));
    }
    assert.deepEqual((await whoami({ bearer: b.secret })).json, { key: "clinic-b" });
    refused(await whoami({ basic: ["clinic-a", b.secret] }), "a key of another child");

    const rotated = await call("POST", `keys/${a.id}/rotate`, admin);
    assert.equal(rotated.status, 200);
    const a2 = rotated.json as { id: string; name: string; secret: string };
    assert.deepEqual([a2.id, a2.name], [a.id, "clinic-a"]);
    assert.notEqual(a2.secret, a.secret);
    secrets.push(a2.secret);
    refused(await whoami({ basic: ["clinic-a", a.secret] }), "the old secret after rotate (Basic)");
    refused(await whoami({ bearer: a.secret }), "the old secret after rotate (bearer)");
    assert.deepEqual((await whoami({ basic: ["clinic-a", a2.secret] })).json, { key: "clinic-a" });
    assert.deepEqual((await whoami({ bearer: a2.secret })).json, { key: "clinic-a" });

    const revoked = await call("DELETE", `keys/${b.id}`, admin);
    assert.deepEqual([revoked.status, (revoked.json.key as { state: string }).state], [200, "revoked"]);
    refused(await whoami({ bearer: b.secret }), "a revoked key (bearer)");
    refused(await whoami({ basic: ["clinic-b", b.secret] }), "a revoked key (Basic)");
    assert.equal((await call("DELETE", `keys/${b.id}`, admin)).status, 409, "revoked already");

    const after = (await call("GET", "keys", reader)).json.keys as { id: string; state: string; lastSeen: string | null; rotatedAt: string | null }[];
    const ka = after.find((k) => k.id === a.id)!;
    assert.ok(ka.lastSeen && ka.rotatedAt, "a's last seen and rotation");
    assert.equal(after.find((k) => k.id === b.id)?.state, "revoked");

    // Every key operation and check is in the audit, attributed to its key.
    const auditA = (await call("GET", `audit?key=${a.id}&limit=1000`, reader)).json.items as {
      action: string;
      outcome: string;
      reason: string | null;
      peer: string;
    }[];
    const summary = auditA.map((r) => `${r.action}:${r.outcome}:${r.reason ?? ""}`);
    for (const s of ["key-issue:ok:", "key-rotate:ok:", "whoami:ok:", "whoami:refused:wrong-secret"])
      assert.ok(summary.includes(s), `${s} in ${summary.join(", ")}`);
    assert.ok(
      auditA.every((r) => r.peer),
      "each row names the address",
    );
    const auditB = (await call("GET", `audit?key=${b.id}`, reader)).json.items as { action: string; reason: string | null }[];
    assert.ok(auditB.some((r) => r.action === "key-revoke") && auditB.some((r) => r.reason === "revoked"));

    // ---- brute force from one source --------------------------------------------------------------------
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 30; i++) {
      const r = await whoami({ bearer: `oms_${a.id}_${crypto.randomBytes(32).toString("base64url")}` });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get("retry-after");
        assert.deepEqual(r.json, { error: "rate-limited" });
      }
    }
    const first429 = statuses.indexOf(429);
    assert.ok(first429 > 0 && first429 <= 10, `statuses: ${statuses.join(" ")}`);
    assert.ok(statuses.slice(0, first429).every((s) => s === 401) && statuses.slice(first429).every((s) => s === 429), statuses.join(" "));
    assert.ok(statuses.filter((s) => s === 429).length >= 20);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
    // The source is blocked, not the key: a good key from the same address waits too.
    const good = await whoami({ bearer: a2.secret });
    assert.equal(good.status, 429);
    assert.ok(Number(good.headers.get("retry-after")) >= 1);
    const limited = (await call("GET", `audit?key=${a.id}&outcome=refused&limit=1000`, reader)).json.items as { reason: string; httpStatus: number }[];
    assert.equal(limited.filter((r) => r.reason === "rate-limited").length, 1, "one row when the source is blocked, not one per 429");

    // ---- the same process throughout; nothing secret anywhere -------------------------------------------
    assert.equal(nodeRed.pid, pid);
    assert.equal(nodeRed.exits, 0);
    const audit = (await call("GET", "audit?limit=1000", admin)).text;
    for (const s of secrets) {
      for (const where of [audit, nodeRed.log]) assert.ok(!where.includes(s) && !where.includes(s.slice(-43)), "a secret in the audit or the log");
    }
  });
});
