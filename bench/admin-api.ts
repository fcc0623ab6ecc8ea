/**
 * Admin API latency: a store with 100,000 audit rows and 10,000 dead letters (encrypted, as the
 * sync-store node writes them), a real Node-RED running the two-way flow on it with adminAuth on, and
 * N sequential calls of each route with a bearer token. Prints median and p99 per route.
 *
 *   npm run build && npx tsx bench/admin-api.ts [--calls 100] [--audit 100000] [--dead 10000]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { numberArg } from "./args";
import { OpenmrsSim } from "../sim";
import { NodeRedProcess } from "../scripts/node-red-process";
import { SyncStore } from "../lib/store/store";
import { resolveKeys } from "../lib/store/key-source";
import { env, shippedFlow } from "../test/helpers/e2e";
import { seed } from "../test/helpers/admin-seed";

const bcrypt = require("bcryptjs") as { hashSync(s: string, rounds: number): string };

const CALLS = numberArg("calls", 100);
const AUDIT = numberArg("audit", 100_000);
const DEAD = numberArg("dead", 10_000);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-admin-"));
  const db = path.join(dir, "sync.db");
  const keys = resolveKeys(db, { generate: true });
  const t0 = performance.now();
  const store = await SyncStore.open(db, { encryption: { mode: "on", key: keys.key, older: keys.older } });
  // 4 of every 7 seeded dead letters are still dead (the others retried, requeued or discarded).
  await seed(store, { deadLetters: Math.ceil((DEAD * 7) / 4), audit: AUDIT, feedRetries: 200, conflicts: 50, feed: "pull_feed_patient", queue: "push_queue" });
  const counts = await store.db.get<{ a: number; d: number }>(
    "SELECT (SELECT COUNT(*) FROM audit) AS a, (SELECT COUNT(*) FROM dead_letters WHERE state='dead') AS d",
  );
  await store.close();
  console.log(`seeded ${counts?.a} audit rows, ${counts?.d} dead letters in ${Math.round(performance.now() - t0)} ms`);

  const parent = new OpenmrsSim({ name: "parent", seed: 1 });
  const child = new OpenmrsSim({ name: "child", seed: 2 });
  parent.generate({ patients: 5, visitsPerPatient: 0 });
  await parent.start();
  await child.start();
  const settings = path.join(dir, "settings.js");
  const users = [{ username: "admin", password: bcrypt.hashSync("bench-pass", 8), permissions: "*" }];
  fs.writeFileSync(settings, `module.exports = { adminAuth: { type: "credentials", users: ${JSON.stringify(users)} } };\n`);
  const nodeRed = new NodeRedProcess({
    userDir: path.join(dir, "nr"),
    flows: shippedFlow("two-way"),
    env: env(parent, child, db, "30"),
    extraSettings: settings,
  });
  try {
    await nodeRed.start();
    const res = await fetch(`${nodeRed.url}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: "node-red-admin", grant_type: "password", scope: "*", username: "admin", password: "bench-pass" }),
    });
    const token = ((await res.json()) as { access_token: string }).access_token;
    const get = async (route: string): Promise<number> => {
      const t = performance.now();
      const r = await fetch(`${nodeRed.url}/openmrs-sync/${route}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await r.json()) as { items?: unknown[]; channels?: unknown[] };
      const ms = performance.now() - t;
      if (r.status !== 200) throw new Error(`${route}: HTTP ${r.status} ${JSON.stringify(body)}`);
      return ms;
    };
    // Wait until the store is open (the channels list it).
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${nodeRed.url}/openmrs-sync/items?limit=1`, { headers: { authorization: `Bearer ${token}` } });
      if (r.status === 200) break;
      await new Promise((x) => setTimeout(x, 200));
    }
    const routes = [
      "channels",
      "items?status=dead&limit=100",
      "items?limit=100",
      "items?status=dead&limit=100&cursor=dl-9000",
      "audit?limit=100",
      "audit?limit=100&outcome=permanent",
    ];
    const results: Record<string, { median: number; p99: number; n: number }> = {};
    for (const route of routes) for (let i = 0; i < 5; i++) await get(route); // warm-up
    // Interleaved, so a noisy neighbour hurts every route alike.
    const times = new Map<string, number[]>(routes.map((r) => [r, []]));
    for (let i = 0; i < CALLS; i++) for (const route of routes) times.get(route)!.push(await get(route));
    for (const [route, t] of times) {
      const s = [...t].sort((a, b) => a - b);
      results[route] = { median: +quantile(s, 0.5).toFixed(2), p99: +quantile(s, 0.99).toFixed(2), n: s.length };
    }
    console.table(results);
    fs.mkdirSync(path.join(__dirname, "results"), { recursive: true });
    fs.writeFileSync(
      path.join(__dirname, "results", "admin-api.json"),
      JSON.stringify({ at: new Date().toISOString(), audit: counts?.a, dead: counts?.d, calls: CALLS, results }, null, 2),
    );
  } finally {
    await nodeRed.stop();
    await parent.stop();
    await child.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
