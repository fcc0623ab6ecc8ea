/**
 * The ceiling of the catch-up benchmark on this machine: the raw client of bench/catchup.ts (same code)
 * against two trivial `node:http` servers that answer pre-rendered bodies (bench/fixed-server.ts): the
 * parent's real feed pages and fhir2 resources, and for every write at the child one fixed REST answer.
 * Whatever rate this reaches is the most the raw client can show against any simulator here. Each
 * repetition then runs the same client against the simulators (dist/sim/cli.js, after `npm run build`),
 * so both figures see the same machine load; CPU seconds are per process.
 *
 *   npx tsx bench/ceiling.ts [--patients 1000] [--reps 3] [--concurrency 8] [--no-sim] [--sim-profile]
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { numberArg } from "./args";
import { agent, CATEGORIES, rawClient, warmUpRawClient } from "./raw-client";
import { startSim, stopSim } from "./sim-process";
import { OpenmrsSim, restRep, toFhir } from "../sim";
import { renderFeedPage } from "../sim/feed";
import { FHIR_TYPE_OF, RECORD_TYPES } from "../sim/model";
import { ATOM_TYPE, FHIR_TYPE, JSON_TYPE } from "../sim/reply";

const ROOT = path.resolve(__dirname, "..");
const PATIENTS = numberArg("patients", 1000);
const REPS = numberArg("reps", 3);
const CONCURRENCY = numberArg("concurrency", 8);
const BASE = "http://127.0.0.1:1/openmrs";
const PAGE_SIZE = 5;
/** `--no-sim`: only the trivial servers (by default each repetition also runs against the simulators). */
const WITH_SIM = !process.argv.includes("--no-sim");

interface Answer {
  status: number;
  type: string;
  body: string;
}

function parentRoutes(sim: OpenmrsSim): Record<string, Answer> {
  const routes: Record<string, Answer> = {};
  for (const category of CATEGORIES) {
    const feedBase = `${BASE}/ws/atomfeed/${category}`;
    const last = Math.ceil(sim.store.categoryEvents(category).length / PAGE_SIZE);
    for (const page of ["recent" as const, ...Array.from({ length: last }, (_, i) => i + 1)]) {
      const selfUrl = `${feedBase}/${page}`;
      const body = renderFeedPage(sim.store, { category, page, selfUrl, feedBase, pageSize: PAGE_SIZE, dialect: sim.store.opts.dialect });
      routes[new URL(selfUrl).pathname] = { status: 200, type: ATOM_TYPE, body: body ?? "" };
    }
  }
  for (const type of RECORD_TYPES) {
    for (const rec of sim.store.table(type).values()) {
      routes[`/openmrs/ws/fhir2/R4/${FHIR_TYPE_OF[type]}/${rec.uuid}`] = { status: 200, type: FHIR_TYPE, body: JSON.stringify(toFhir(type, rec)) };
    }
  }
  return routes;
}

function startFixed(routesFile: string): Promise<Proc> {
  const proc = spawn(process.execPath, ["-r", "tsx/cjs", path.join(ROOT, "bench/fixed-server.ts"), routesFile], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.on("exit", (code) => reject(new Error(`fixed server exited ${code}`)));
  });
}

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Proc {
  proc: ChildProcess;
  url: string;
}

async function run(name: string, parent: Proc, child: Proc, entries: number): Promise<number> {
  const parent0 = cpuSeconds(parent.proc.pid);
  const child0 = cpuSeconds(child.proc.pid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  await rawClient(parent.url, child.url, CONCURRENCY);
  const seconds = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  const cpu = (pid: number | undefined, c0: number) => (cpuSeconds(pid) - c0).toFixed(1);
  console.log(
    `  ${name.padEnd(7)} ${seconds.toFixed(1)} s, ${(entries / seconds).toFixed(0)} entries/s; CPU s: client ${((own.user + own.system) / 1e6).toFixed(1)}, ` +
      `parent ${cpu(parent.proc.pid, parent0)}, child ${cpu(child.proc.pid, child0)}`,
  );
  return entries / seconds;
}

function stop(p: Proc): Promise<void> {
  if (p.proc.exitCode !== null) return Promise.resolve();
  const done = new Promise<void>((r) => p.proc.once("exit", () => r()));
  p.proc.kill("SIGTERM");
  return done;
}

function summary(name: string, rates: number[]): string {
  const v = [...rates].sort((a, b) => a - b);
  return `${name} median ${v[Math.floor(v.length / 2)].toFixed(0)} entries/s (min ${v[0].toFixed(0)}, max ${v[v.length - 1].toFixed(0)})`;
}

/**
 * Writes the simulator's data file and the trivial servers' answers; returns the number of feed entries.
 * The generated store is not kept: in this process it would only make the raw client's collections slower.
 */
function prepare(dir: string, dataFile: string): number {
  const sim = new OpenmrsSim({ name: "parent", dialect: "sync2", seed: 42, dataFile });
  sim.generate({ patients: PATIENTS, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
  sim.save();
  const someObs = sim.store.obs.values().next().value;
  const created: Answer = { status: 201, type: JSON_TYPE, body: someObs ? JSON.stringify(restRep(sim.store, BASE, "obs", someObs)) : "{}" };
  fs.writeFileSync(path.join(dir, "parent.json"), JSON.stringify({ routes: parentRoutes(sim), fallback: { status: 404, type: JSON_TYPE, body: "{}" } }));
  fs.writeFileSync(path.join(dir, "child.json"), JSON.stringify({ routes: {}, fallback: created }));
  return sim.store.events.length;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-ceiling-"));
  const dataFile = path.join(dir, "sim-parent.json");
  const entries = prepare(dir, dataFile);
  console.log(`backlog: ${entries} feed entries; concurrency ${CONCURRENCY}; trivial = pre-rendered bodies, sim = dist/sim/cli.js`);
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ");
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}, load ${load()}`);
  const fixedParent = await startFixed(path.join(dir, "parent.json"));
  const simParent = WITH_SIM ? await startSim("parent", dataFile) : undefined;
  const rates: Record<string, number[]> = { trivial: [], sim: [] };
  if (!process.argv.includes("--no-warm-up")) await warmUpRawClient(dir);
  for (let rep = 1; rep <= REPS; rep++) {
    console.log(`rep ${rep} (load ${load()})`);
    const fixedChild = await startFixed(path.join(dir, "child.json"));
    rates.trivial.push(await run("trivial", fixedParent, fixedChild, entries));
    await stop(fixedChild);
    if (simParent) {
      const simChild = await startSim("child");
      rates.sim.push(await run("sim", simParent, simChild, entries));
      await stopSim(simChild);
    }
  }
  console.log(`\nraw client: ${summary("trivial servers (the ceiling)", rates.trivial)}`);
  if (simParent) console.log(`raw client: ${summary("simulators", rates.sim)}`);
  await stop(fixedParent);
  if (simParent) await stopSim(simParent);
  agent.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
