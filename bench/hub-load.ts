/**
 * How many children one hub can serve: a real hub Node-RED (sync-store + atom-feed-out), --categories feeds
 * of --events events each, every event concerning a patient at one of --locations locations, and --keys
 * keys each limited to one location (so every page is filtered per key, as a catchment does). Children
 * poll each category's `recent` page once per --poll seconds with the ETag they last got (If-None-Match:
 * 304 while nothing changed, as a polling child does), and one event in a hundred polls is new (the recent
 * page changes). The load is open-loop: requests start at a fixed rate whatever the answers do, stepping
 * up (--rates) for --seconds each, latency counted from each request's planned start. A step passes when
 * it kept up (≥ 95% of the planned rate), had no error, and its 95th percentile stayed under --p95-ms.
 * Children served = the highest passing rate × poll seconds ÷ categories. The load generator runs on the
 * same machine, so the figure is a lower bound.
 *
 *   npm run build && npx tsx bench/hub-load.ts [--rates 25,50,100,200,400,800] [--seconds 10] [--keys 50]
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { listArg, numberArg } from "./args";
import { cpuSeconds, procRssMb } from "./stats";
import { SyncStore } from "../lib/store/store";
import { FeedPublisher } from "../lib/atom/publisher";
import { KeyStore } from "../lib/hub/keys";
import { NodeRedProcess } from "../scripts/node-red-process";

const CATEGORIES = numberArg("categories", 10);
const EVENTS = numberArg("events", 200);
const LOCATIONS = numberArg("locations", 20);
const KEYS = numberArg("keys", 50);
const POLL_S = numberArg("poll", 30);
const SECONDS = numberArg("seconds", 10);
const P95_MS = numberArg("p95-ms", 1000);
const RATES = (listArg("rates").length ? listArg("rates").flatMap((r) => r.split(",")) : ["25", "50", "100", "200", "400", "800"]).map(Number);

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function get(url: string, headers: Record<string, string>): Promise<{ status: number; etag?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag }));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const location = (i: number) => `loc-${i % LOCATIONS}`;
const category = (c: number) => `cat${c}`;

function event(c: number, i: number) {
  const patient = `p-${c}-${i}`;
  return {
    category: category(c),
    title: "Patient",
    tags: ["UPDATED"],
    content: JSON.stringify({ rest: `/ws/rest/v1/patient/${patient}?v=full`, fhir: `/ws/fhir2/R4/Patient/${patient}` }),
    place: { patients: [{ id: patient, locations: [location(i)] }], locations: [] },
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-hub-load-"));
  const db = path.join(dir, "hub.db");
  // Events and keys go into the store before Node-RED starts (a key's scrypt hash takes ~0.1 s).
  const store = await SyncStore.open(db);
  const pub = FeedPublisher.of(store.db);
  for (let c = 0; c < CATEGORIES; c++) for (let i = 0; i < EVENTS; i++) await pub.publish(event(c, i));
  const keys = await KeyStore.of(store.db);
  const secrets: string[] = [];
  for (let k = 0; k < KEYS; k++) secrets.push((await keys.issue(`clinic-${k}`, { locations: [location(k)] })).secret);
  await store.close();

  const flow = [
    { id: "store", type: "sync-store", name: "hub", path: db },
    { id: "tab", type: "tab", label: "bench" },
    { id: "out", type: "atom-feed-out", z: "tab", store: "store", category: "", dialect: "sync2", wires: [[]] },
    // prettier-ignore
    { id: "new_event", type: "inject", z: "tab", props: [{ p: "category", v: "cat0", vt: "str" }, { p: "content", v: '{"rest":"/ws/rest/v1/patient/new?v=full"}', vt: "str" }], wires: [["out"]] },
  ];
  const hub = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: flow });
  await hub.start();
  const rows: { rate: number; achieved: number; p50: number; p95: number; p99: number; errors: number; cpu: number; pass: boolean }[] = [];
  try {
    // Every child once: its key checked (the slow hash once per key), each category's ETag.
    const etags = new Map<string, string>();
    const url = (c: number) => `${hub.url}/openmrs/ws/atomfeed/${category(c)}/recent`;
    const auth = (k: number) => ({ authorization: `Bearer ${secrets[k]}` });
    for (let k = 0; k < KEYS; k++)
      for (let c = 0; c < CATEGORIES; c++) {
        const r = await get(url(c), auth(k));
        if (r.status !== 200) throw new Error(`warm-up: ${r.status}`);
        etags.set(`${k}/${c}`, r.etag!);
      }
    let published = 0;
    for (const rate of RATES) {
      const latencies: number[] = [];
      let errors = 0;
      let done = 0;
      const n = Math.round(rate * SECONDS);
      const cpu0 = cpuSeconds(hub.pid);
      const t0 = performance.now();
      const pending: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const planned = t0 + (i * 1000) / rate;
        const wait = planned - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const k = Math.floor(Math.random() * KEYS);
        const c = Math.floor(Math.random() * CATEGORIES);
        // One poll in a hundred comes after a new event (an inject node into the hub's atom-feed-out).
        if (i % 100 === 99) {
          const props = [{ p: "category", v: category(published++ % CATEGORIES), vt: "str" }];
          void fetch(`${hub.url}/inject/new_event`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ __user_inject_props__: props }),
          }).catch(() => undefined);
        }
        const tag = `${k}/${c}`;
        pending.push(
          get(url(c), { ...auth(k), "if-none-match": etags.get(tag) ?? "" }).then(
            (r) => {
              if (r.status === 200 && r.etag) etags.set(tag, r.etag);
              if (r.status !== 200 && r.status !== 304) errors++;
              latencies.push(performance.now() - planned);
              done++;
            },
            () => {
              errors++;
            },
          ),
        );
      }
      await Promise.all(pending);
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = (cpuSeconds(hub.pid) - cpu0) / elapsed;
      const achieved = done / Math.max(elapsed, SECONDS);
      const p95 = pct(latencies, 95);
      const row = {
        rate,
        achieved,
        p50: pct(latencies, 50),
        p95,
        p99: pct(latencies, 99),
        errors,
        cpu,
        pass: errors === 0 && achieved >= rate * 0.95 && p95 < P95_MS,
      };
      rows.push(row);
      console.log(
        `${String(rate).padStart(5)} req/s planned: ${achieved.toFixed(0).padStart(5)} done/s, p50 ${row.p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms, p99 ${row.p99.toFixed(0)} ms, ${errors} errors, hub CPU ${(cpu * 100).toFixed(0)}% of a core ${row.pass ? "" : " ← over"}`,
      );
      if (!row.pass) break;
    }
    const best = rows.filter((r) => r.pass).at(-1);
    const children = best ? Math.floor((best.rate * POLL_S) / CATEGORIES) : 0;
    const load = os.loadavg()[0];
    console.log(
      `\n${KEYS} keys, ${CATEGORIES} categories × ${EVENTS} events, each page filtered per key; ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, load ${load.toFixed(1)}, hub peak RSS ${procRssMb(hub.pid)?.toFixed(0)} MB`,
    );
    console.log(
      best
        ? `highest rate kept (p95 < ${P95_MS} ms, no error): ${best.rate} polls/s → ${children} children polling ${CATEGORIES} categories every ${POLL_S} s`
        : "no rate kept up",
    );
    fs.mkdirSync(path.resolve(__dirname, "results"), { recursive: true });
    const file = path.resolve(__dirname, "results", `hub-load-${new Date().toISOString().slice(0, 10)}.json`);
    fs.writeFileSync(
      file,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), loadAfter: os.loadavg() },
          node: process.version,
          params: { CATEGORIES, EVENTS, LOCATIONS, KEYS, POLL_S, SECONDS, P95_MS },
          steps: rows,
          children,
          published,
        },
        null,
        2,
      ),
    );
    console.log(`written ${file}`);
  } finally {
    await hub.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
