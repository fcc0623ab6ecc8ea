/**
 * Push-drain benchmark: 10,000 items already queued in the retry-queue of the shipped push flow
 * (flows/push-to-parent.json: retry-queue → fhir-push → the parent) drained by Node-RED, against a raw
 * concurrent `node:http` client doing the same writes at the same concurrency. Interleaved reps, medians.
 *
 *   npx tsx bench/push-drain.ts [--items 10000] [--reps 3] [--concurrency 8] [--node-arg ARG] [--out FILE]
 *
 * The backlog is written into the store file before Node-RED starts (lib/queue/durable-queue.ts, under the
 * queue node's id, encrypted with the key given to Node-RED in SYNC_STORE_KEY), so the run times the drain
 * alone. Time is measured at the parent simulator (its own process): first request to last write, for both.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { listArg, numberArg } from "./args";
import { patient } from "./patient";
import { recordCount, requests, startSim, stopSim } from "./sim-process";
import { cpuSeconds, median, procRssMb, spread } from "./stats";
import { DurableQueue } from "../lib/queue/durable-queue";
import { SyncStore } from "../lib/store/store";
import { generateKey, parseKey } from "../lib/store/cipher";
import { fhirToRestCreate, type FhirResource } from "../lib/fhir/convert";
import { NodeRedProcess } from "../scripts/node-red-process";

const ROOT = path.resolve(__dirname, "..");
const ITEMS = numberArg("items", 10_000);
const REPS = numberArg("reps", 3);
const CONCURRENCY = numberArg("concurrency", 8);
const NODE_ARGS = listArg("node-arg");
const OUT = listArg("out")[0];
const AUTH = "Basic " + Buffer.from("admin:Admin123").toString("base64");
const QUEUE_ID = "push_queue";
const STORE_ID = "sync_store";

export interface DrainResult {
  contender: "ours" | "raw";
  seconds: number;
  itemsPerSecond: number;
  requests: number;
  cpuSeconds?: number;
  peakRssMb?: number;
}

/**
 * The same requests as fhir-push into an OpenMRS parent for a record it has not seen: read the parent's
 * copy (FHIR, 404: no conflict), create it (REST), read it back (what the target kept, lib/sync/verify.ts).
 */
async function rawDrain(url: string, resources: FhirResource[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const send = (method: string, target: string, body?: unknown) =>
    new Promise<number>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const headers: http.OutgoingHttpHeaders = { authorization: AUTH, accept: "application/json" };
      if (data) Object.assign(headers, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
      const req = http.request(target, { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (method === "GET" && res.statusCode === 200) JSON.parse(Buffer.concat(chunks).toString());
          resolve(res.statusCode ?? 0);
        });
      });
      req.on("error", reject);
      req.end(data);
    });
  let i = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (i < resources.length) {
        const r = resources[i++];
        const fhirUrl = `${url}/ws/fhir2/R4/${r.resourceType}/${r.id}`;
        await send("GET", fhirUrl);
        const { kind, body } = fhirToRestCreate(r);
        await send("POST", `${url}/ws/rest/v1/${kind}`, body);
        await send("GET", fhirUrl);
      }
    }),
  );
  agent.destroy();
}

/** Writes the backlog into the store file the flow's sync-store opens, as the retry-queue node would. */
async function prefill(file: string, key: string, resources: FhirResource[]): Promise<void> {
  const store = await SyncStore.open(file, { synchronous: "FULL", encryption: { mode: "on", key: parseKey(key) } });
  await store.sealing;
  const queue = new DurableQueue({ id: QUEUE_ID, store, storeId: STORE_ID, concurrency: CONCURRENCY, events: { deliver: () => undefined } });
  await Promise.all(
    resources.map((r) =>
      queue.enqueue({
        key: `Patient/${r.id}`,
        body: { topic: `Patient/${r.id}`, action: "upsert", payload: r, entry: { id: `tag:bench,${r.id}`, action: "CREATED" } },
      }),
    ),
  );
  await store.close();
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-push-"));
  const resources = Array.from({ length: ITEMS }, (_, i) => patient(i));
  const results: DrainResult[] = [];
  console.log(`push drain: ${ITEMS} queued items, concurrency ${CONCURRENCY}, ${REPS} interleaved reps`);
  try {
    for (let rep = 1; rep <= REPS; rep++) {
      for (const who of ["ours", "raw"] as const) {
        const parent = await startSim("parent");
        const since = Date.now();
        let cpu: number | undefined;
        let peak: number | undefined;
        if (who === "raw") {
          const c0 = process.cpuUsage();
          await rawDrain(parent.url, resources);
          const c = process.cpuUsage(c0);
          cpu = (c.user + c.system) / 1e6;
        } else {
          const userDir = path.join(dir, `push-${rep}`);
          fs.mkdirSync(userDir, { recursive: true });
          const key = generateKey();
          const db = path.join(userDir, "sync.db");
          await prefill(db, key, resources);
          const flows = JSON.parse(fs.readFileSync(path.join(ROOT, "flows/push-to-parent.json"), "utf8")) as { id: string; concurrency?: number }[];
          for (const n of flows) if (n.id === QUEUE_ID) n.concurrency = CONCURRENCY;
          // The child's feeds are read too (as shipped) but hold nothing: an empty child simulator.
          const child = await startSim("child");
          const nr = new NodeRedProcess({
            userDir,
            flows,
            nodeArgs: NODE_ARGS,
            env: {
              OPENMRS_PARENT_URL: parent.url,
              OPENMRS_PARENT_USER: "admin",
              OPENMRS_PARENT_PASSWORD: "Admin123",
              OPENMRS_CHILD_URL: child.url,
              OPENMRS_CHILD_USER: "admin",
              OPENMRS_CHILD_PASSWORD: "Admin123",
              SYNC_DB_PATH: db,
              SYNC_STORE_KEY: key,
              SYNC_POLL_SECONDS: "3600",
            },
          });
          const starting = nr.start();
          let maxRss = 0;
          const sampler = setInterval(() => (maxRss = Math.max(maxRss, procRssMb(nr.pid) ?? 0)), 200);
          try {
            await starting;
            const deadline = Date.now() + 20 * 60_000;
            while ((await recordCount(parent)) < ITEMS) {
              if (Date.now() > deadline) throw new Error("ours: the drain did not finish");
              if (!nr.running) throw new Error(`ours: Node-RED exited:\n${nr.log.slice(-3000)}`);
              await new Promise((r) => setTimeout(r, 100));
            }
            peak = Math.max(maxRss, procRssMb(nr.pid) ?? 0);
            cpu = cpuSeconds(nr.pid);
          } finally {
            clearInterval(sampler);
            await nr.stop();
            await stopSim(child);
          }
        }
        const n = await recordCount(parent);
        if (n !== ITEMS) throw new Error(`${who}: parent holds ${n} of ${ITEMS}`);
        const reqs = (await requests(parent, since)).filter((r) => r.at >= since && !r.path.includes("/__sim"));
        // The items' writes (not the audit rows the flow's audit-push posts to the parent).
        const writes = reqs.filter((r) => r.kind === "rest-write" || r.kind === "fhir-write");
        const t0 = Math.min(...reqs.map((r) => r.at));
        const t1 = Math.max(...writes.map((r) => r.at));
        const seconds = (t1 - t0) / 1000;
        await stopSim(parent);
        const r: DrainResult = { contender: who, seconds, itemsPerSecond: ITEMS / seconds, requests: reqs.length, cpuSeconds: cpu, peakRssMb: peak };
        results.push(r);
        const kinds = new Map<string, number>();
        for (const q of reqs) kinds.set(`${q.method} ${q.kind}`, (kinds.get(`${q.method} ${q.kind}`) ?? 0) + 1);
        console.log(
          `  rep ${rep} ${who.padEnd(4)} ${seconds.toFixed(1)} s, ${Math.round(r.itemsPerSecond)} items/s, CPU ${cpu?.toFixed(1)} s` +
            `${peak ? `, peak RSS ${peak} MB` : ""}; requests: ${[...kinds].map(([k, v]) => `${k} ${v}`).join(", ")}`,
        );
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const m = (who: string) => median(results.filter((r) => r.contender === who).map((r) => r.itemsPerSecond));
  const s = (who: string) => spread(results.filter((r) => r.contender === who).map((r) => r.itemsPerSecond));
  console.log(
    `median items/s: ours ${Math.round(m("ours"))} (${s("ours")}), raw ${Math.round(m("raw"))} (${s("raw")}); ratio ${(m("ours") / m("raw")).toFixed(2)}`,
  );
  if (OUT) fs.writeFileSync(OUT, JSON.stringify({ items: ITEMS, reps: REPS, concurrency: CONCURRENCY, nodeArgs: NODE_ARGS, results }, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
