/**
 * Catch-up benchmark: a 10,000-entry backlog in the parent simulator copied into an empty child.
 * Three contenders in one run, interleaved, each repeated; medians reported:
 *   ours    Node-RED with flows/pull-from-parent.json (feeds, fhir-fetch, fhir-push, SQLite store, FULL sync)
 *   raw     a plain concurrent HTTP client doing the same requests (same page walk, same record GETs,
 *           same PUT / POST-on-404 writes, same concurrency) with no Node-RED and no store: the limit
 *   sync2   a sequential loop as Sync 2.0 runs it: per entry GET the parent's record, GET the child's,
 *           then write (one request at a time)
 * Simulators run in their own processes. Elapsed time is measured at the simulators: from the first
 * request at the parent to the last write at the child.
 *
 *   npm run bench:catchup             (10,000 entries, 3 repetitions; npm run bench runs it among the rest)
 *   npx tsx bench/catchup.ts --patients 300 --reps 1
 *   npx tsx bench/catchup.ts --patients 10000 --reps 1 --only ours,raw      (100,000 entries)
 *   npx tsx bench/catchup.ts --patients 10000 --reps 1 --only ours --heap-mb 128
 *   npx tsx bench/catchup.ts --reps 1 --only ours --encrypt off               (store without encryption)
 *   npx tsx bench/catchup.ts --patients 100 --latency-ms 20                   (a WAN or a busy parent)
 *   npx tsx bench/catchup.ts --reps 1 --only ours --node-arg --max-semi-space-size=4 --nr-log
 *   npx tsx bench/catchup.ts --reps 1 --only ours --snapshots 5               (heap snapshots, see heap-top.ts)
 * The simulators warm up before they listen, and the raw client and the loop run once over a small
 * throwaway backlog before the measured runs (`--no-warm-up`: everything cold); Node-RED starts fresh.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listArg, numberArg } from "./args";
import { json, recordCount, requests, startSim, stopSim, type SimProc } from "./sim-process";
import { OpenmrsSim, compareSnapshots, type Comparable } from "../sim";
import { NodeRedProcess } from "../scripts/node-red-process";
import { agent, rawClient, sync2Loop, warmUpRawClient } from "./raw-client";

const ROOT = path.resolve(__dirname, "..");
const PATIENTS = numberArg("patients", 1000);
const REPS = numberArg("reps", 3);
const CONCURRENCY = numberArg("concurrency", 8);
/** `--profile`: a CPU profile of each Node-RED run in bench/results/profiles/. */
const PROFILE = process.argv.includes("--profile");
/**
 * `--heap-mb N`: caps Node-RED's V8 old space at N MB. With the default heap V8 grows lazily, so peak
 * RSS says little about what is kept; a run that finishes under a small cap shows the live set fits.
 */
const HEAP_MB = numberArg("heap-mb", 0);
/**
 * `--latency-ms N`: every request to the parent simulator waits N ms before it is answered (a WAN or a busy
 * OpenMRS), for all contenders alike: where concurrency pays (issue 11 asks >= 20x the sequential loop).
 */
const LATENCY_MS = numberArg("latency-ms", 0);
/** `--node-arg ARG` (repeatable): a flag for Node-RED's node, e.g. `--node-arg --max-semi-space-size=4`. */
const NODE_ARGS = listArg("node-arg");
/** `--timeline`: print the requests between the deploy and the first write. */
const TIMELINE = process.argv.includes("--timeline");
/** `--nr-log`: Node-RED's log goes to this process's stderr. */
const NR_LOG = process.argv.includes("--nr-log");
/**
 * `--snapshots S`: a heap snapshot of Node-RED every S seconds during the catch-up and one after it, in
 * bench/results/heap/ (summarise with bench/heap-top.ts); `--snapshots end`: only the one after it.
 * Writing one takes seconds and briefly doubles the heap: such a run's speed and peak RSS say nothing,
 * except with `end` (RSS is read before the snapshot).
 */
const SNAPSHOT_S = process.argv.includes("--snapshots") ? numberArg("snapshots", 0) || Infinity : 0;
const HEAP_DIR = path.join(ROOT, "bench/results/heap");
/** `--encrypt off`: Node-RED's store without encryption at rest (default on, as shipped). */
const ENCRYPT_OFF = process.argv.includes("--encrypt") && process.argv[process.argv.indexOf("--encrypt") + 1] === "off";
/** `--only ours,raw`: run only these contenders (the sequential loop takes long at 100,000 entries). */
const ONLY = ((): string[] => {
  const i = process.argv.indexOf("--only");
  return i >= 0 ? process.argv[i + 1].split(",") : ["ours", "raw", "sync2"];
})();
// ---- runs ---------------------------------------------------------------------------------------

interface Result {
  contender: string;
  /** CPU seconds used by the contender's own process (not the simulators). */
  cpuSeconds?: number;
  simCpuSeconds?: number;
  /** The same, split: the parent simulator (feeds, reads) and the child (writes). */
  parentCpuSeconds?: number;
  childCpuSeconds?: number;
  seconds: number;
  entriesPerSecond: number;
  requests: number;
  peakRssMb?: number;
  /** Node-RED's RSS once the catch-up is done (before it stops). */
  endRssMb?: number;
  /** Deploy ("Started flows") to the first write at the child, ms. */
  firstWriteMs?: number;
}

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** VmHWM (the peak) or VmRSS (now) of a process, MB. */
function peakRssMb(pid: number | undefined, field = "VmHWM"): number | undefined {
  if (!pid) return undefined;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

interface Run {
  rss?: () => number;
  rssNow?: () => number | undefined;
  cpu?: () => number;
  stop?: () => Promise<void>;
  /** Called once the child has every record (a last heap snapshot). */
  done?: () => Promise<void>;
  startedAt?: number;
}

/**
 * The signal that makes Node-RED write a heap snapshot: not SIGUSR2, on which red.js stops (for nodemon),
 * and not SIGUSR1 (the inspector's); SIGWINCH is ignored by a process that has no handler for it.
 */
const SNAPSHOT_SIGNAL = "SIGWINCH";

/** Asks Node-RED (started with --heapsnapshot-signal) for a heap snapshot; resolves once it is written. */
async function heapSnapshot(pid: number | undefined): Promise<void> {
  if (!pid) return;
  const before = new Set(fs.readdirSync(HEAP_DIR));
  try {
    process.kill(pid, SNAPSHOT_SIGNAL);
  } catch {
    return; // gone
  }
  const until = Date.now() + 120_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const added = fs.readdirSync(HEAP_DIR).filter((f) => !before.has(f) && f.endsWith(".heapsnapshot"));
    // Written when its size stops changing.
    if (added.length) {
      const f = path.join(HEAP_DIR, added[0]);
      const a = fs.statSync(f).size;
      await new Promise((r) => setTimeout(r, 1000));
      if (a > 0 && fs.statSync(f).size === a) {
        console.log(`  heap snapshot ${path.relative(ROOT, f)} (${(a / 2 ** 20).toFixed(0)} MB file)`);
        return;
      }
    }
    if (Date.now() > until) return;
  }
}

async function measure(
  contender: string,
  parent: SimProc,
  entries: number,
  /** The parent's snapshot as JSON text (a string costs the raw client's garbage collector nothing). */
  expected: string,
  run: (child: SimProc) => Promise<Run>,
): Promise<Result> {
  const child = await startSim("child");
  const since = Date.now();
  const records = await recordCount(parent);
  const parentCpu0 = cpuSeconds(parent.proc.pid);
  const childCpu0 = cpuSeconds(child.proc.pid);
  const own0 = process.cpuUsage();
  const { rss, rssNow, cpu, stop, startedAt, done } = await run(child);
  const deadline = Date.now() + 30 * 60_000;
  while ((await recordCount(child)) < records) {
    if (Date.now() > deadline) throw new Error(`${contender}: did not finish`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const peakRss = rss?.();
  const endRss = rssNow?.();
  await done?.();
  const ownCpu = cpu
    ? cpu()
    : (() => {
        const u = process.cpuUsage(own0);
        return (u.user + u.system) / 1e6;
      })();
  const parentCpu = cpuSeconds(parent.proc.pid) - parentCpu0;
  const childCpu = cpuSeconds(child.proc.pid) - childCpu0;
  const parentReqs = (await requests(parent, since)).filter((r) => r.at >= since);
  const childReqs = (await requests(child, since)).filter((r) => r.at >= since);
  // Node-RED from the deploy (the POST /flows that starts the flow), the others from their first request.
  const t0 = startedAt ?? Math.min(...parentReqs.map((r) => r.at));
  const writes = childReqs.filter((r) => r.method !== "GET").map((r) => r.at);
  const t1 = Math.max(...writes);
  // Node-RED: from the deploy to the first write at the child.
  const firstWriteMs = startedAt !== undefined ? Math.min(...writes) - startedAt : undefined;
  // `--timeline`: the first requests at each simulator, ms after the deploy (what comes before the first write).
  if (TIMELINE && startedAt !== undefined) {
    const first = [...parentReqs.map((r) => ({ ...r, at: r.at, who: "parent" })), ...childReqs.map((r) => ({ ...r, who: "child" }))]
      .sort((a, b) => a.at - b.at)
      .filter((r) => r.at <= Math.min(...writes));
    for (const r of first.slice(0, 40)) console.log(`    +${r.at - startedAt} ms ${r.who} ${r.method} ${r.path} ${r.status} (${r.durationMs} ms)`);
    // Then the whole run by kind of request (feed pages per category, reads and writes per type): first
    // and last, ms after the deploy, and how many.
    const spans = new Map<string, { first: number; last: number; n: number }>();
    const all = [...parentReqs.map((r) => ({ ...r, who: "parent" })), ...childReqs.map((r) => ({ ...r, who: "child" }))];
    for (const r of all) {
      const k = `${r.who} ${r.method} ${r.path
        .replace(/^\/openmrs\/ws\//, "")
        .split("/")
        .slice(0, 3)
        .join("/")
        .replace(/\/[0-9a-f-]{36}.*$|\/\d+$|\/recent$|\?.*$/, "")}`;
      const sp = spans.get(k) ?? { first: Infinity, last: 0, n: 0 };
      sp.first = Math.min(sp.first, r.at - startedAt);
      sp.last = Math.max(sp.last, r.at - startedAt);
      sp.n++;
      spans.set(k, sp);
    }
    for (const [k, sp] of [...spans].sort((a, b) => a[1].first - b[1].first)) console.log(`    ${k}: ${sp.n} from +${sp.first} to +${sp.last} ms`);
  }
  const diff = compareSnapshots(JSON.parse(expected) as Comparable, await json<Comparable>(`${child.admin}/__sim/snapshot`));
  if (diff.length) throw new Error(`${contender}: child differs from parent:\n${diff.slice(0, 5).join("\n")}`);
  if (stop) await stop();
  await stopSim(child);
  const seconds = (t1 - t0) / 1000;
  return {
    contender,
    seconds,
    entriesPerSecond: entries / seconds,
    requests: parentReqs.length + childReqs.length,
    peakRssMb: peakRss,
    endRssMb: endRss,
    cpuSeconds: ownCpu,
    simCpuSeconds: parentCpu + childCpu,
    parentCpuSeconds: parentCpu,
    childCpuSeconds: childCpu,
    firstWriteMs,
  };
}

/**
 * Writes the parent's data file. The generated store is dropped once saved: kept in this process, it made
 * every major collection of the in-process clients (raw, sync2) mark 10,000 records they never use.
 */
function generate(dataFile: string): { entries: number; records: number; expected: string } {
  const gen = new OpenmrsSim({ name: "parent", dialect: "sync2", seed: 42, dataFile });
  gen.generate({ patients: PATIENTS, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
  gen.save();
  return { entries: gen.store.events.length, records: gen.store.recordCount(), expected: JSON.stringify(gen.snapshot()) };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-catchup-"));
  const dataFile = path.join(dir, "parent.json");
  const { entries, records, expected } = generate(dataFile);
  const parent = await startSim("parent", dataFile);
  if (LATENCY_MS > 0) {
    await json(`${parent.admin}/__sim/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ slowMs: LATENCY_MS }),
    });
  }
  console.log(`backlog: ${entries} feed entries (${records} records) at ${parent.url}${LATENCY_MS ? `, ${LATENCY_MS} ms added to every parent request` : ""}`);
  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; concurrency ${CONCURRENCY}`,
  );

  const flows = JSON.parse(fs.readFileSync(path.join(ROOT, "flows/pull-from-parent.json"), "utf8")) as { type: string; maxInFlight?: number }[];
  for (const n of flows) if (n.type === "atom-feed-in") n.maxInFlight = CONCURRENCY;
  // `--encrypt off`: the store keeps clinical content plain (to measure what encryption at rest costs).
  for (const n of flows as { type: string; encrypt?: boolean }[]) if (n.type === "sync-store" && ENCRYPT_OFF) n.encrypt = false;

  const contenders: Record<string, (child: SimProc, rep: number) => Promise<Run>> = {
    ours: async (child, rep) => {
      const userDir = path.join(dir, `nr-${rep}`);
      // Started with no flows, then the flow is deployed over the admin API: the catch-up and the first
      // write are counted from that deploy, as a user deploying it in the editor sees them.
      const nr = new NodeRedProcess({
        userDir,
        flows: [],
        nodeArgs: [
          ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${path.join(ROOT, "bench/results/profiles")}`] : []),
          ...(HEAP_MB ? [`--max-old-space-size=${HEAP_MB}`] : []),
          ...(SNAPSHOT_S ? [`--heapsnapshot-signal=${SNAPSHOT_SIGNAL}`, `--diagnostic-dir=${HEAP_DIR}`] : []),
          ...NODE_ARGS,
        ],
        logFile: NR_LOG ? "/dev/stderr" : undefined,
        env: {
          OPENMRS_PARENT_URL: parent.url,
          OPENMRS_PARENT_USER: "admin",
          OPENMRS_PARENT_PASSWORD: "Admin123",
          OPENMRS_CHILD_URL: child.url,
          OPENMRS_CHILD_USER: "admin",
          OPENMRS_CHILD_PASSWORD: "Admin123",
          SYNC_DB_PATH: path.join(userDir, "sync.db"),
          SYNC_POLL_SECONDS: "3600",
        },
      });
      if (SNAPSHOT_S) fs.mkdirSync(HEAP_DIR, { recursive: true });
      await nr.start();
      const startedAt = Date.now();
      if (TIMELINE) console.log(`    deploy at ${startedAt}`);
      await nr.deploy(flows);
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, peakRssMb(nr.pid) ?? 0)), 200);
      let snapshotting: Promise<void> = Promise.resolve();
      const snapshots =
        SNAPSHOT_S && Number.isFinite(SNAPSHOT_S)
          ? setInterval(() => {
              snapshotting = snapshotting.then(() => heapSnapshot(nr.pid));
            }, SNAPSHOT_S * 1000)
          : undefined;
      return {
        startedAt,
        rss: () => Math.max(peak, peakRssMb(nr.pid) ?? 0),
        rssNow: () => peakRssMb(nr.pid, "VmRSS"),
        cpu: () => cpuSeconds(nr.pid),
        done: async () => {
          clearInterval(snapshots);
          await snapshotting;
          if (SNAPSHOT_S) await heapSnapshot(nr.pid);
        },
        stop: async () => {
          clearInterval(sampler);
          await nr.stop();
        },
      };
    },
    raw: async (child) => {
      await rawClient(parent.url, child.url, CONCURRENCY);
      return {};
    },
    sync2: async (child) => {
      await sync2Loop(parent.url, child.url);
      return {};
    },
  };
  const cpu = (r: Result) =>
    `CPU ${r.cpuSeconds?.toFixed(1)} s (sims ${r.simCpuSeconds?.toFixed(1)} s: parent ${r.parentCpuSeconds?.toFixed(1)}, child ${r.childCpuSeconds?.toFixed(1)})`;
  const results: Result[] = [];
  // The in-process clients are measured warm (`--no-warm-up`: cold, and the simulators too).
  if (!process.argv.includes("--no-warm-up") && (ONLY.includes("raw") || ONLY.includes("sync2"))) await warmUpRawClient(dir);
  for (let rep = 1; rep <= REPS; rep++) {
    for (const name of ONLY) {
      const r = await measure(name, parent, entries, expected, (child) => contenders[name](child, rep));
      results.push(r);
      const rss =
        (r.peakRssMb !== undefined ? `, peak RSS ${r.peakRssMb} MB (${r.endRssMb} at the end)` : "") +
        (r.firstWriteMs !== undefined ? `, first write ${r.firstWriteMs} ms after deploy` : "");
      console.log(`  rep ${rep} ${(name + ":").padEnd(6)} ${r.seconds.toFixed(1)} s, ${r.entriesPerSecond.toFixed(0)} entries/s${rss}, ${cpu(r)}`);
    }
  }
  const median = (c: string) => {
    if (!ONLY.includes(c)) return NaN;
    const v = results
      .filter((r) => r.contender === c)
      .map((r) => r.entriesPerSecond)
      .sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const ours = median("ours");
  const raw = median("raw");
  const sync2 = median("sync2");
  const rss = results.filter((r) => r.contender === "ours").map((r) => r.peakRssMb ?? 0);
  console.log("");
  console.log(`median entries/s: ours ${ours.toFixed(0)}, raw client ${raw.toFixed(0)}, sync2-style loop ${sync2.toFixed(0)}`);
  console.log(`ratio ours/raw = ${(ours / raw).toFixed(2)} (goal >= 0.5); ours/sync2 = ${(ours / sync2).toFixed(1)}x`);
  const sorted = [...rss].sort((a, b) => a - b);
  console.log(`Node-RED peak RSS: ${Math.max(...rss)} MB (max over reps), median ${sorted[Math.floor(sorted.length / 2)]} MB`);
  if (SNAPSHOT_S && Number.isFinite(SNAPSHOT_S)) console.log("(heap snapshots were taken: peak RSS includes writing them)");
  // `--out FILE`: where the figures go (npm run bench collects them); default bench/results/catchup.json.
  const outFile = listArg("out")[0] ?? path.join(ROOT, "bench", "results", "catchup.json");
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(
    outFile,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        entries,
        patients: PATIENTS,
        reps: REPS,
        concurrency: CONCURRENCY,
        latencyMs: LATENCY_MS,
        nodeArgs: NODE_ARGS,
        results,
        median: { ours, raw, sync2 },
      },
      null,
      2,
    ),
  );
  await stopSim(parent);
  agent.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
