/**
 * Per-request cost of the hub's key check with 1,000 keys (lib/hub/keys.ts, lib/hub/auth.ts), on a real
 * store file (synchronous=FULL):
 *
 *  - the first check of a secret: scrypt (N=2^15, r=8, p=1) against the stored hash, one at a time;
 *  - later checks (the cached path): an HMAC-SHA256 of the presented secret compared with the one kept
 *    for the key, Basic (by name) and bearer (by the id in the token) alternately;
 *  - the same through the express middleware with fake requests (header parsing, limiter, key lookup),
 *    without the audit write, and then with it (each admitted request writes one audit row and the
 *    key's last seen, group-committed): N requests until the store has written them all, divided by N.
 *
 * All 1,000 keys are in memory; the cached checks cycle through the keys checked once before (the sample),
 * since a first check of each of the 1,000 would take 1,000 slow hashes. Prints medians of --runs runs.
 *
 *   npx tsx bench/key-check.ts [--keys 1000] [--uncached 30] [--cached 100000] [--audited 2000] [--runs 5]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import type { Request, Response } from "express";
import { numberArg } from "./args";
import { SyncStore } from "../lib/store/store";
import { HASH_PARAMS, KeyStore, type IssuedKey } from "../lib/hub/keys";
import { keyAuth } from "../lib/hub/auth";
import { FailureLimiter } from "../lib/hub/rate-limit";

const KEYS = numberArg("keys", 1000);
const UNCACHED = numberArg("uncached", 30);
const CACHED = numberArg("cached", 100_000);
const AUDITED = numberArg("audited", 2000);
const RUNS = numberArg("runs", 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(2)} µs`);

function fakeRequest(authorization: string): Request {
  return { headers: { authorization }, ip: "10.0.0.1", path: "/whoami" } as unknown as Request;
}

/** A response that fails the benchmark when the middleware answers instead of letting the request in. */
function fakeResponse(fail: (err: Error) => void): Response {
  const res = {
    statusCode: 200,
    headersSent: false,
    set: () => res,
    status: (c: number) => ((res.statusCode = c), res),
    json: () => (fail(new Error(`answered ${res.statusCode}`)), res),
  };
  return res as unknown as Response;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-keys-"));
  const store = await SyncStore.open(path.join(dir, "hub.db"));
  try {
    const keys = await KeyStore.of(store.db);
    console.log(`scrypt N=${HASH_PARAMS.N} r=${HASH_PARAMS.r} p=${HASH_PARAMS.p}, ${KEYS} keys`);
    let t = performance.now();
    const issued: IssuedKey[] = [];
    for (let i = 0; i < KEYS; i += 8) {
      const batch = Array.from({ length: Math.min(8, KEYS - i) }, (_, j) => keys.issue(`clinic-${i + j}`, { locations: [`loc-${i + j}`] }));
      issued.push(...(await Promise.all(batch)));
    }
    console.log(`issued ${KEYS} keys in ${((performance.now() - t) / 1000).toFixed(1)} s (8 at a time)`);

    // First checks: the slow hash. Each key once, one after the other.
    const sample = issued.slice(0, UNCACHED);
    const first: number[] = [];
    for (const k of sample) {
      t = performance.now();
      const v = await keys.verifyBearer(k.secret);
      first.push(performance.now() - t);
      if (!v.ok) throw new Error("a good key refused");
    }
    console.log(`first check (scrypt): median ${fmt(median(first))}, max ${fmt(Math.max(...first))} over ${first.length} keys`);

    // Cached checks, Basic and bearer alternately.
    const cached: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      t = performance.now();
      for (let i = 0; i < CACHED; i++) {
        const k = sample[i % sample.length];
        const v = await (i & 1 ? keys.verify(k.name, k.secret) : keys.verifyBearer(k.secret));
        if (!v.ok) throw new Error("a good key refused");
      }
      cached.push((performance.now() - t) / CACHED);
    }
    console.log(`cached check: median ${fmt(median(cached))} per check (runs: ${cached.map(fmt).join(", ")})`);

    // Through the middleware, without the audit write.
    const record = keys.record.bind(keys);
    keys.record = () => Promise.resolve();
    const limiter = new FailureLimiter();
    const auth = keyAuth({ stores: () => Promise.resolve({ open: [{ id: "hub", keys }], unavailable: 0 }), limiter, action: "whoami" });
    const headers = sample.map((k, i) => (i & 1 ? `Bearer ${k.secret}` : `Basic ${Buffer.from(`${k.name}:${k.secret}`).toString("base64")}`));
    const through = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await new Promise<void>((resolve, reject) => {
          const res = fakeResponse(reject);
          // next() without an error: let in; anything else is a failure of the benchmark.
          auth(fakeRequest(headers[i % headers.length]), res, (err?: unknown) => (err ? reject(new Error("refused")) : resolve()));
        });
      }
    };
    const bare: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      t = performance.now();
      await through(CACHED / 4);
      bare.push((performance.now() - t) / (CACHED / 4));
    }
    console.log(`middleware, no audit: median ${fmt(median(bare))} per request (runs: ${bare.map(fmt).join(", ")})`);

    // With the audit row and last seen written (group-committed; synchronous=FULL).
    keys.record = record;
    const audited: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      t = performance.now();
      await through(AUDITED);
      await store.db.drained(60_000);
      audited.push((performance.now() - t) / AUDITED);
    }
    const rows = await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM audit");
    console.log(`middleware + audit write: median ${fmt(median(audited))} per request (runs: ${audited.map(fmt).join(", ")}; ${rows?.n} audit rows)`);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
