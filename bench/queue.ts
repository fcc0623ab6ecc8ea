/**
 * retry-queue benchmark (lib/queue/durable-queue.ts on a real SQLite file, synchronous=FULL, WAL):
 *  1. durable enqueue/s of 100,000 FHIR Patient messages (each acknowledged only after COMMIT);
 *  2. claim+settle/s draining that backlog, per 10,000-item slice (does it slow down as it shrinks?);
 *  3. RSS before, after the enqueue and during the drain (the backlog must live on disk);
 *  4. drain of a 10,000-item backlog into a simulated parent (queue + OpenMRS writer, no Node-RED)
 *     vs a raw concurrent node:http client doing the same requests (same concurrency): the ratio.
 *
 *   npm run bench:queue   (= node --expose-gc -r tsx/cjs bench/queue.ts [--items 100000] [--drain 10000] [--concurrency 16])
 *
 * Clinical content is stored plain here unless `--encrypt 1` (AES-256-GCM, as the sync-store node
 * does by default). `--compare-encryption <reps>` runs only 1.–2., without and with encryption
 * interleaved, reps times each, and prints the medians (the cost of encryption at rest).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { numberArg } from "./args";
import { recordCount, startSim, stopSim } from "./sim-process";
import { DurableQueue } from "../lib/queue/durable-queue";
import type { Ticket } from "../lib/engine/ticket";
import { SyncStore, type EncryptionOptions } from "../lib/store/store";
import { generateKey, parseKey } from "../lib/store/cipher";
import { OpenmrsServer } from "../lib/openmrs/server";
import { OpenmrsTarget } from "../lib/push/targets";
import { fhirToRestCreate, type FhirResource } from "../lib/fhir/convert";
import { patient } from "./patient";

/** Settlements committed (durable), not just handed to the store. */
function settledCount(q: DurableQueue): number {
  const s = q.stats();
  return s.ok + s.filtered + s.held + s.dead;
}

const ITEMS = numberArg("items", 100_000);
const DRAIN = numberArg("drain", 10_000);
const CONCURRENCY = numberArg("concurrency", 16);
const ENCRYPT = numberArg("encrypt", 0) === 1;
const COMPARE = numberArg("compare-encryption", 0);
const KEY = parseKey(generateKey());
const encryption = (on: boolean): EncryptionOptions => (on ? { mode: "on", key: KEY } : { mode: "off" });

/** RSS after a full GC when run with --expose-gc (npm run bench:queue does), so garbage is not counted as backlog. */
const rssMb = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return Math.round(process.memoryUsage().rss / 2 ** 20);
};

async function measureQueue(dir: string, encrypt: boolean): Promise<{ enqueuePerSec: number; claimSettlePerSec: number }> {
  const file = path.join(dir, `queue-${Date.now()}.db`);
  const store = await SyncStore.open(file, { synchronous: "FULL", encryption: encryption(encrypt) });
  await store.sealing;
  const settings = await store.db.all<Record<string, unknown>>("PRAGMA journal_mode");
  const sync = await store.db.get<{ synchronous: number }>("PRAGMA synchronous");
  console.log(
    `SQLite ${(await store.db.get<{ v: string }>("SELECT sqlite_version() AS v"))!.v}: journal_mode=${String(settings[0]?.journal_mode)}, synchronous=${sync?.synchronous} (2 = FULL), group commit; encryption ${encrypt ? "on" : "off"}`,
  );
  const rss0 = rssMb();
  let delivered: Ticket[] = [];
  let settleNow = false;
  const queue = new DurableQueue({
    id: "bench",
    store,
    storeId: "bench",
    concurrency: CONCURRENCY,
    events: {
      deliver: (_body, ticket) => {
        if (settleNow) setImmediate(() => queue.settle(ticket, { kind: "ok", reason: "ok", status: 200 }));
        else delivered.push(ticket);
      },
    },
  });
  // 1. enqueue, with many outstanding (as several flows would); each resolves only after COMMIT.
  const t0 = Date.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < ITEMS; i++) {
    const p: Promise<unknown> = queue
      .enqueue({ key: `Patient/${i}`, body: { topic: `Patient/${i}`, action: "upsert", payload: patient(i) } })
      .then(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 256) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const enqueueSec = (Date.now() - t0) / 1000;
  const rss1 = rssMb();
  console.log(
    `enqueue: ${ITEMS} in ${enqueueSec.toFixed(1)} s = ${Math.round(ITEMS / enqueueSec)} durable enqueue/s (${store.db.commits} commits); RSS ${rss0} -> ${rss1} MB`,
  );

  // 2. claim + settle the whole backlog.
  await queue.start();
  settleNow = true;
  for (const t of delivered) queue.settle(t, { kind: "ok", reason: "ok", status: 200 });
  delivered = [];
  const slices: number[] = [];
  let peak = rssMb();
  let samples = 0;
  const t1 = Date.now();
  let mark = t1;
  let nextSlice = 10_000;
  // Settlements count once they are committed (durable), not when they are handed to the store.
  while (settledCount(queue) < ITEMS) {
    await new Promise((r) => setTimeout(r, 20));
    if (++samples % 25 === 0) peak = Math.max(peak, rssMb());
    while (settledCount(queue) >= nextSlice) {
      const now = Date.now();
      slices.push(10_000 / ((now - mark) / 1000));
      mark = now;
      nextSlice += 10_000;
    }
  }
  const drainSec = (Date.now() - t1) / 1000;
  console.log(
    `claim+settle: ${ITEMS} in ${drainSec.toFixed(1)} s = ${Math.round(ITEMS / drainSec)}/s; per 10,000 slice: ${slices.map((x) => Math.round(x)).join(", ")}`,
  );
  console.log(
    `RSS after GC: ${rss0} MB empty, ${rss1} MB with ${ITEMS} queued, peak ${peak} MB while draining (growth ${Math.max(rss1, peak) - rss0} MB)${(globalThis as { gc?: unknown }).gc ? "" : " [run with --expose-gc for figures without garbage]"}`,
  );
  await queue.stop();
  await store.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  return { enqueuePerSec: ITEMS / enqueueSec, claimSettlePerSec: ITEMS / drainSec };
}

/** 1.–2. without and with encryption, interleaved; medians. */
async function compareEncryption(dir: string, reps: number): Promise<void> {
  const runs: Record<"off" | "on", { enqueuePerSec: number; claimSettlePerSec: number }[]> = { off: [], on: [] };
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of ["off", "on"] as const) runs[mode].push(await measureQueue(dir, mode === "on"));
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  for (const mode of ["off", "on"] as const) {
    const r = runs[mode];
    console.log(
      `encryption ${mode}: median claim+settle ${Math.round(median(r.map((x) => x.claimSettlePerSec)))}/s (runs ${r.map((x) => Math.round(x.claimSettlePerSec)).join(", ")}); ` +
        `median durable enqueue ${Math.round(median(r.map((x) => x.enqueuePerSec)))}/s (runs ${r.map((x) => Math.round(x.enqueuePerSec)).join(", ")})`,
    );
  }
  const ratio = median(runs.on.map((x) => x.claimSettlePerSec)) / median(runs.off.map((x) => x.claimSettlePerSec));
  console.log(`claim+settle with encryption / without: ${ratio.toFixed(2)} (${reps} interleaved reps, ${ITEMS} items each)`);
}

// ---- 4. drain into a simulated parent vs the raw client --------------------------------------

const AUTH = "Basic " + Buffer.from("admin:Admin123").toString("base64");

async function rawDrain(url: string, resources: FhirResource[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const post = (body: unknown, kind: string) =>
    new Promise<number>((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = http.request(
        `${url}/ws/rest/v1/${kind}`,
        { method: "POST", agent, headers: { authorization: AUTH, "content-type": "application/json", "content-length": Buffer.byteLength(data) } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(data);
    });
  let i = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (i < resources.length) {
        const r = resources[i++];
        const { kind, body } = fhirToRestCreate(r);
        await post(body, kind);
      }
    }),
  );
  agent.destroy();
}

async function queueDrain(dir: string, url: string, resources: FhirResource[]): Promise<number> {
  const store = await SyncStore.open(path.join(dir, `drain-${Date.now()}.db`), { encryption: encryption(ENCRYPT) });
  const target = new OpenmrsTarget(new OpenmrsServer({ url, username: "admin", password: "Admin123" }));
  const queue: DurableQueue = new DurableQueue({
    id: "drain",
    store,
    storeId: "drain",
    concurrency: CONCURRENCY,
    events: {
      deliver: (body, ticket) => {
        const resource = body.payload as FhirResource;
        void target
          .write({ action: "upsert", resourceType: resource.resourceType, id: resource.id!, resource, created: true })
          .then((r) => queue.settle(ticket, r.outcome));
      },
    },
  });
  await Promise.all(resources.map((r) => queue.enqueue({ key: `Patient/${r.id}`, body: { payload: r, entry: { action: "CREATED" } } })));
  // The backlog is in place: time the drain only.
  const t0 = Date.now();
  await queue.start();
  while (settledCount(queue) < resources.length) await new Promise((r) => setTimeout(r, 5));
  const sec = (Date.now() - t0) / 1000;
  await queue.stop();
  await store.close();
  return sec;
}

async function measureDrain(dir: string): Promise<void> {
  const resources = Array.from({ length: DRAIN }, (_, i) => patient(i));
  const results: { who: string; sec: number }[] = [];
  for (let rep = 0; rep < 3; rep++) {
    for (const who of ["queue", "raw"]) {
      const parent = await startSim("parent");
      let sec: number;
      if (who === "raw") {
        const t0 = Date.now();
        await rawDrain(parent.url, resources);
        sec = (Date.now() - t0) / 1000;
      } else sec = await queueDrain(dir, parent.url, resources);
      const n = await recordCount(parent);
      if (n !== DRAIN) throw new Error(`${who}: parent holds ${n} of ${DRAIN}`);
      await stopSim(parent);
      results.push({ who, sec });
      console.log(`  drain ${DRAIN} (${who}): ${sec.toFixed(1)} s = ${Math.round(DRAIN / sec)}/s`);
    }
  }
  const med = (who: string) =>
    results
      .filter((r) => r.who === who)
      .map((r) => r.sec)
      .sort((a, b) => a - b)[1];
  console.log(
    `drain median: queue ${med("queue").toFixed(1)} s, raw ${med("raw").toFixed(1)} s; ratio (raw time / queue time) = ${(med("raw") / med("queue")).toFixed(2)}`,
  );
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-queue-"));
  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; concurrency ${CONCURRENCY}`,
  );
  try {
    if (COMPARE > 0) await compareEncryption(dir, COMPARE);
    else {
      await measureQueue(dir, ENCRYPT);
      await measureDrain(dir);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
