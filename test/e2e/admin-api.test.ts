/**
 * The admin API in a real Node-RED process with adminAuth on (two users: an admin with "*", a read-only
 * user with ["read", "openmrs-sync.read"]), the shipped pull flow, a simulated parent and a child that
 * refuses the writes of two patients, so their entries end in the dead letter. Without a token: 401.
 * The read-only user lists channels, items, audit and conflicts, and gets 403 on every action. The
 * admin retries the dead letters through the API once the child accepts, and the child holds them.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { env, shippedFlow, until, useE2E } from "../helpers/e2e";

// Node-RED's own bcrypt (a dependency of @node-red/editor-api), for the users' password hashes.
const bcrypt = require("bcryptjs") as { hashSync(s: string, rounds: number): string };

const ADMIN = { username: "admin", password: "admin-pass-1" };
const READER = { username: "reader", password: "reader-pass-1" };
/** May read flows, not this API. */
const OTHER = { username: "flows-only", password: "flows-pass-1" };

describe("admin API (real Node-RED, adminAuth on)", function () {
  this.timeout(180_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-admin",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  async function token(user: { username: string; password: string }, scope: string): Promise<string> {
    const res = await fetch(`${nodeRed!.url}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: "node-red-admin", grant_type: "password", scope, ...user }),
    });
    assert.equal(res.status, 200, `token for ${user.username}: ${await res.clone().text()}`);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function call(method: "GET" | "POST", route: string, tok?: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${nodeRed!.url}/openmrs-sync/${route}`, {
      method,
      headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    // Node-RED's own refusals (401) are plain text.
    return {
      status: res.status,
      json: /^application\/json/.test(res.headers.get("content-type") ?? "") ? (JSON.parse(text) as Record<string, unknown>) : { text },
    };
  }

  it("401 without a token, 403 for the read-only user's actions, and the admin retries dead letters until the child holds them", async () => {
    parent = new OpenmrsSim({ name: "parent", seed: 301 });
    child = new OpenmrsSim({ name: "child", seed: 302 });
    parent.generate({ patients: 6, visitsPerPatient: 0 });
    const refused = [...parent.store.patients.values()].slice(0, 2).map((p) => p.uuid);
    child.faults.rejectWrites = refused;
    await parent.start();
    await child.start();
    const settingsFile = path.join(dir, "admin-settings.js");
    const users = [
      { username: ADMIN.username, password: bcrypt.hashSync(ADMIN.password, 8), permissions: "*" },
      { username: READER.username, password: bcrypt.hashSync(READER.password, 8), permissions: ["read", "openmrs-sync.read"] },
      { username: OTHER.username, password: bcrypt.hashSync(OTHER.password, 8), permissions: ["flows.read"] },
    ];
    fs.writeFileSync(settingsFile, `module.exports = { adminAuth: { type: "credentials", users: ${JSON.stringify(users)} } };\n`);
    const db = path.join(dir, "sync.db");
    nodeRed = new NodeRedProcess({
      userDir: path.join(dir, "nr"),
      flows: shippedFlow("pull-from-parent"),
      env: env(parent, child, db),
      extraSettings: settingsFile,
    });
    await nodeRed.start();

    // No token: 401, for reads and actions alike.
    for (const [m, r] of [
      ["GET", "channels"],
      ["GET", "items"],
      ["POST", "items/retry"],
    ] as const)
      assert.equal((await call(m, r)).status, 401, `${m} ${r} without a token`);

    const admin = await token(ADMIN, "*");
    // A read-only user cannot ask for "*": an empty scope is the user's own permissions.
    const reader = await token(READER, "");
    const other = await token(OTHER, "");
    // Reads are guarded too: a user without openmrs-sync.read (nor read, nor *) is refused.
    for (const r of ["channels", "items", "audit", "conflicts"]) assert.equal((await call("GET", r, other)).status, 403, `GET ${r} as a flows-only user`);

    await until(async () => ((await call("GET", "items?status=dead", admin)).json.items as unknown[] | undefined)?.length === 2, 60_000, "two dead letters");
    const uuids = new Set(refused);
    const deadPage = await call("GET", "items?status=dead", reader);
    assert.equal(deadPage.status, 200);
    const dead = deadPage.json.items as { id: string; channel: string; status: string; record: string; attempts: number; error: string }[];
    assert.deepEqual(new Set(dead.map((d) => d.record.split("/")[1])), uuids);
    for (const d of dead) {
      assert.match(d.id, /^dl-\d+$/);
      assert.equal(d.channel, "pull_feed_patient");
      assert.equal(d.status, "dead");
      assert.match(d.record, /^Patient\//);
      assert.ok(d.attempts >= 1);
      assert.ok(d.error, "the error is there");
    }

    // Another web page (Node-RED 4 allows any origin on its admin routes): refused, even with a valid token.
    for (const [method, route] of [
      ["GET", `items/${dead[0].id}`],
      ["POST", `items/${dead[0].id}/discard`],
    ] as const) {
      const res: Response = await fetch(`${nodeRed.url}/openmrs-sync/${route}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, origin: "http://evil.example" },
      });
      assert.equal(res.status, 403, `${method} ${route} from another origin`);
      assert.equal(((await res.json()) as { error: string }).error, "cross-origin");
    }
    // The editor's own origin is fine.
    const own = await fetch(`${nodeRed.url}/openmrs-sync/channels`, { headers: { authorization: `Bearer ${admin}`, origin: nodeRed.url } });
    assert.equal(own.status, 200);

    // The read-only user lists everything...
    const channels = await call("GET", "channels", reader);
    assert.equal(channels.status, 200);
    const rows = channels.json.channels as {
      id: string;
      kind: string;
      gate: string;
      counts: { dead: number; sent: number };
      lastError: unknown;
      lastSuccess: unknown;
      lag: { entries: number } | null;
    }[];
    const patients = rows.find((r) => r.id === "pull_feed_patient");
    assert.ok(patients, `channels: ${JSON.stringify(rows.map((r) => r.id))}`);
    assert.equal(patients.kind, "feed");
    assert.equal(patients.gate, "open");
    assert.equal(patients.counts.dead, 2);
    assert.equal(patients.counts.sent, 4);
    assert.ok(patients.lastError && patients.lastSuccess);
    // Everything read is settled (written or dead-lettered): the marker is at the newest entry read.
    assert.equal(patients.lag?.entries, 0);
    const feeds = shippedFlow("pull-from-parent").filter((n) => n.type === "atom-feed-in" && !n.d).length;
    assert.equal(rows.filter((r) => r.kind === "feed").length, feeds, "one row per feed consumer");
    const detail = await call("GET", `items/${dead[0].id}`, reader);
    assert.equal(detail.status, 200);
    assert.deepEqual((detail.json.item as { content: unknown }).content, { hidden: true }, "audit content is off in the shipped flow");
    const audit = await call("GET", `audit?record=${dead[0].record}&outcome=permanent`, reader);
    assert.equal(audit.status, 200);
    assert.ok((audit.json.items as { record: string }[]).every((a) => a.record === dead[0].record));
    assert.ok((audit.json.items as unknown[]).length >= 1);
    assert.equal((await call("GET", "conflicts", reader)).status, 200);

    // ...and may not act.
    for (const [r, body] of [
      [`items/${dead[0].id}/retry`, undefined],
      [`items/${dead[0].id}/discard`, undefined],
      ["items/retry", {}],
      ["items/discard", {}],
      ["conflicts/1/resolve", { use: "parent" }],
    ] as const)
      assert.equal((await call("POST", r, reader, body)).status, 403, `POST ${r} as the read-only user`);

    // Nothing changed by the refused calls.
    assert.equal(((await call("GET", "items?status=dead", admin)).json.items as unknown[]).length, 2);
    assert.ok(!refused.some((u) => child!.store.patients.has(u)));

    // The child accepts again: the admin retries one by id and the other with a filter.
    child.faults.rejectWrites = [];
    const one = await call("POST", `items/${dead[0].id}/retry`, admin);
    assert.deepEqual([one.status, one.json.affected], [200, 1]);
    const dry = await call("POST", "items/retry", admin, { channel: "pull_feed_patient", dryRun: true });
    assert.deepEqual([dry.status, dry.json.matched, dry.json.affected], [200, 1, 0]);
    const rest = await call("POST", "items/retry", admin, { channel: "pull_feed_patient" });
    assert.deepEqual([rest.status, rest.json.affected], [200, 1]);
    await until(() => refused.every((u) => child!.store.patients.has(u)), 30_000, "the retried patients at the child");
    await until(async () => ((await call("GET", "items?status=dead", admin)).json.items as unknown[]).length === 0, 10_000, "no dead letters left");
    const after = await call("GET", `items/${dead[0].id}`, admin);
    assert.equal((after.json.item as { status: string }).status, "retried");
    // A retried item is no longer a dead letter: retrying it again is refused, nothing is delivered twice.
    assert.equal((await call("POST", `items/${dead[0].id}/retry`, admin)).status, 409);
  });
});
