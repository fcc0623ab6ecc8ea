/**
 * `npm run bench`: the measurements of issue 11 in one run, one table, and every figure in
 * bench/results/<YYYY-MM-DD>.json with the machine (cpu, cores, memory, load average before and after),
 * Node and Node-RED versions. Each part runs in its own process (bench/catchup.ts, bench/push-drain.ts),
 * one after the other; within a part the contenders are interleaved and repeated, medians reported.
 *
 *   npm run bench                          default run (about 10 minutes on 2 busy cores)
 *   npm run bench -- --full                also the 100,000-entry catch-up (about 4 more minutes)
 *   npm run bench -- --reps 5 --latency-reps 3 --latency-patients 100 --push-items 5000 --concurrency 8
 *   npm run bench -- --node-arg --max-old-space-size=96     (Node-RED's node flags instead of the shipped ones)
 *
 * Rows: catch-up of 10,000 entries from deploy vs the raw client; peak RSS and entries/s at 1,000, 10,000
 * (and with --full 100,000) entries; deploy to first write; with 20 ms added to every parent request, ours
 * vs the sequential Sync 2.0-style loop and vs the raw client at the same concurrency; the push drain of
 * 10,000 queued items vs the raw client.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listArg, numberArg } from "./args";
import { median, spread } from "./stats";
import { NODE_RED_NODE_FLAGS } from "../scripts/node-red-process";

const ROOT = path.resolve(__dirname, "..");
const FULL = process.argv.includes("--full");
const REPS = numberArg("reps", 3);
const LATENCY_REPS = numberArg("latency-reps", 1);
const PUSH_ITEMS = numberArg("push-items", 10_000);
const CONCURRENCY = numberArg("concurrency", 8);
const LATENCY_CONCURRENCY = numberArg("latency-concurrency", 32);
/** Patients of the latency run (10 entries each): 3,000 entries, so that the flow's start is not most of it. */
const LATENCY_PATIENTS = numberArg("latency-patients", 300);
/** Node-RED's node flags: the shipped ones (scripts/node-red-process.ts) unless given. */
const NODE_ARGS = listArg("node-arg").length ? listArg("node-arg") : NODE_RED_NODE_FLAGS;

interface CatchupResult {
  contender: string;
  entriesPerSecond: number;
  seconds: number;
  peakRssMb?: number;
  endRssMb?: number;
  firstWriteMs?: number;
  cpuSeconds?: number;
}
interface CatchupFile {
  entries: number;
  results: CatchupResult[];
}
interface DrainFile {
  items: number;
  results: { contender: string; itemsPerSecond: number; peakRssMb?: number; cpuSeconds?: number }[];
}

function run(script: string, args: string[], out: string): Promise<void> {
  const nodeArgs = NODE_ARGS.flatMap((a) => ["--node-arg", a]);
  const argv = [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), path.join(ROOT, "bench", script), ...args, ...nodeArgs, "--out", out];
  console.log(`\n$ tsx bench/${script} ${[...args, ...nodeArgs].join(" ")}`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: "inherit", cwd: ROOT });
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`bench/${script} exited ${code}`))));
  });
}

const read = <T>(f: string): T => JSON.parse(fs.readFileSync(f, "utf8")) as T;
const load = () => os.loadavg().map((x) => Number(x.toFixed(2)));

function stat(rs: { contender: string }[], who: string, pick: (r: never) => number | undefined) {
  const v = rs
    .filter((r) => r.contender === who)
    .map((r) => pick(r as never) ?? NaN)
    .filter((x) => !Number.isNaN(x));
  return { median: median(v), values: v, spread: spread(v) };
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-all-"));
  // The commit measured (read now: the build npm run bench made is of this one).
  let commit = "";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    // not a checkout
  }
  const started = new Date();
  const loadBefore = load();
  const f = (n: string) => path.join(tmp, `${n}.json`);
  const c = String(CONCURRENCY);
  // 1,000 patients = 10,000 feed entries (1 visit, 2 encounters, 3 obs each).
  await run("catchup.ts", ["--patients", "1000", "--reps", String(REPS), "--only", "ours,raw", "--concurrency", c], f("c10k"));
  await run("catchup.ts", ["--patients", "100", "--reps", String(REPS), "--only", "ours", "--concurrency", c], f("c1k"));
  if (FULL) await run("catchup.ts", ["--patients", "10000", "--reps", "1", "--only", "ours", "--concurrency", c], f("c100k"));
  await run(
    "catchup.ts",
    ["--patients", String(LATENCY_PATIENTS), "--reps", String(LATENCY_REPS), "--latency-ms", "20", "--concurrency", String(LATENCY_CONCURRENCY)],
    f("latency"),
  );
  await run("push-drain.ts", ["--items", String(PUSH_ITEMS), "--reps", String(REPS), "--concurrency", c], f("push"));
  const loadAfter = load();

  const c10k = read<CatchupFile>(f("c10k"));
  const c1k = read<CatchupFile>(f("c1k"));
  const c100k = FULL ? read<CatchupFile>(f("c100k")) : undefined;
  const lat = read<CatchupFile>(f("latency"));
  const push = read<DrainFile>(f("push"));
  const eps = (r: CatchupResult) => r.entriesPerSecond;
  const rss = (r: CatchupResult) => r.peakRssMb;
  const ours10k = stat(c10k.results, "ours", eps);
  const raw10k = stat(c10k.results, "raw", eps);
  const first = stat(c10k.results, "ours", (r: CatchupResult) => r.firstWriteMs);
  const growth = [
    { entries: c1k.entries, eps: stat(c1k.results, "ours", eps), rss: stat(c1k.results, "ours", rss) },
    { entries: c10k.entries, eps: ours10k, rss: stat(c10k.results, "ours", rss) },
    ...(c100k ? [{ entries: c100k.entries, eps: stat(c100k.results, "ours", eps), rss: stat(c100k.results, "ours", rss) }] : []),
  ];
  const latOurs = stat(lat.results, "ours", eps);
  const latRaw = stat(lat.results, "raw", eps);
  const latLoop = stat(lat.results, "sync2", eps);
  const ips = (r: { itemsPerSecond: number }) => r.itemsPerSecond;
  const pushOurs = stat(push.results, "ours", ips);
  const pushRaw = stat(push.results, "raw", ips);
  const pushRss = stat(push.results, "ours", (r: { peakRssMb?: number }) => r.peakRssMb);

  const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "—");
  const rows: [string, string, string, string, string][] = [
    [
      `catch-up ${n0(c10k.entries)} entries from deploy, entries/s`,
      `${n0(ours10k.median)} (${ours10k.spread})`,
      `raw ${n0(raw10k.median)} (${raw10k.spread})`,
      (ours10k.median / raw10k.median).toFixed(2),
      "≥ 0.6 of raw",
    ],
    ...growth.map((g): [string, string, string, string, string] => [
      `peak RSS at ${n0(g.entries)} entries, MB (entries/s)`,
      `${n0(g.rss.median)} (${g.rss.spread}) at ${n0(g.eps.median)}/s`,
      "",
      "",
      "≤ 150 MB, within 10%",
    ]),
    [`deploy → first write, ms`, `${n0(first.median)} (${first.spread})`, "", "", "≤ 500 ms"],
    [
      `20 ms per parent request, ${n0(lat.entries)} entries, entries/s`,
      `${n0(latOurs.median)} (${latOurs.spread})`,
      `loop ${n0(latLoop.median)}; raw ${n0(latRaw.median)}`,
      `${(latOurs.median / latLoop.median).toFixed(1)}× loop; ${(latOurs.median / latRaw.median).toFixed(2)} of raw`,
      "≥ 20× loop, ≥ 0.8 of raw",
    ],
    [
      `push drain of ${n0(push.items)} queued items, items/s`,
      `${n0(pushOurs.median)} (${pushOurs.spread}), peak RSS ${n0(pushRss.median)} MB`,
      `raw ${n0(pushRaw.median)} (${pushRaw.spread})`,
      (pushOurs.median / pushRaw.median).toFixed(2),
      "≥ 0.8 of raw",
    ],
  ];
  const head: [string, string, string, string, string] = ["measure", "ours: median (spread)", "reference", "ratio", "goal"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(" | ")} |`;
  const cpus = os.cpus();
  const nodeRed = read<{ version: string }>(path.join(ROOT, "node_modules/node-red/package.json")).version;
  console.log("");
  console.log(
    `${cpus.length} × ${cpus[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}, Node-RED ${nodeRed}; ` +
      `load average ${loadBefore.join(" ")} before, ${loadAfter.join(" ")} after; Node-RED node flags: ${NODE_ARGS.join(" ") || "none"}` +
      `; ${REPS} interleaved reps (latency: ${LATENCY_REPS}), concurrency ${CONCURRENCY} (latency: ${LATENCY_CONCURRENCY})${FULL ? "" : "; 100,000 entries: --full"}`,
  );
  console.log(line(head));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(r));

  const date = started.toISOString().slice(0, 10);
  const outDir = path.join(ROOT, "bench/results");
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `${date}.json`);
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        commit,
        machine: {
          cpuModel: cpus[0]?.model,
          cores: cpus.length,
          memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
          loadAverageBefore: loadBefore,
          loadAverageAfter: loadAfter,
        },
        node: process.version,
        nodeRed,
        nodeRedNodeFlags: NODE_ARGS,
        options: {
          reps: REPS,
          latencyReps: LATENCY_REPS,
          latencyPatients: LATENCY_PATIENTS,
          concurrency: CONCURRENCY,
          latencyConcurrency: LATENCY_CONCURRENCY,
          full: FULL,
        },
        summary: {
          catchup10k: { ours: ours10k, raw: raw10k, ratio: ours10k.median / raw10k.median, goal: 0.6 },
          growth,
          deployToFirstWriteMs: first,
          latency20ms: { ours: latOurs, raw: latRaw, loop: latLoop, timesLoop: latOurs.median / latLoop.median, ofRaw: latOurs.median / latRaw.median },
          pushDrain: { ours: pushOurs, raw: pushRaw, ratio: pushOurs.median / pushRaw.median, peakRssMb: pushRss, goal: 0.8 },
        },
        table: [head, ...rows],
        runs: { catchup10k: c10k, catchup1k: c1k, catchup100k: c100k, latency20ms: lat, pushDrain: push },
      },
      null,
      2,
    ),
  );
  console.log(`\nfigures: ${path.relative(ROOT, out)}`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
