/**
 * Simulators in their own processes for the benchmarks (dist/sim/cli.js), so their CPU is not the
 * benchmark's: start, stop, and read their request log and record count over their admin routes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
/**
 * `--sim-profile` on a benchmark's command line: each simulator process writes a V8 CPU profile to
 * bench/results/profiles/ when it stops (summarise with `npx tsx bench/profile-top.ts FILES`).
 */
const PROFILE_ARGS = process.argv.includes("--sim-profile") ? ["--cpu-prof", `--cpu-prof-dir=${path.join(ROOT, "bench/results/profiles")}`] : [];

/**
 * Simulators warm their JIT up before they listen (`--warm-up`, see sim/warmup.ts), so that a run measures
 * a simulator answering at its steady pace rather than one still compiling; `--no-warm-up` on a
 * benchmark's command line starts them cold.
 */
const WARM_UP = process.argv.includes("--no-warm-up") ? [] : ["--warm-up"];

export interface SimProc {
  proc: ChildProcess;
  url: string;
  admin: string;
}

export async function startSim(role: string, data?: string, extra: string[] = []): Promise<SimProc> {
  const argv = [...PROFILE_ARGS, path.join(ROOT, "dist/sim/cli.js"), "--role", role, "--port", "0", ...(data ? ["--data", data] : []), ...WARM_UP, ...extra];
  const proc = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`sim ${role} exited ${code}`)));
  });
  return { proc, url, admin: new URL(url).origin };
}

export async function stopSim(s: SimProc): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const done = new Promise((r) => s.proc.once("exit", r));
  s.proc.kill("SIGTERM");
  await done;
}

export async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  return (await res.json()) as T;
}

export interface ReqLog {
  at: number;
  kind: string;
  method: string;
  status: number;
  path: string;
  durationMs: number;
}

export async function requests(sim: SimProc, since: number): Promise<ReqLog[]> {
  const r = await json<ReqLog[] | { requests: ReqLog[] }>(`${sim.admin}/__sim/requests?since=${since}`);
  return Array.isArray(r) ? r : r.requests;
}

export async function recordCount(sim: SimProc): Promise<number> {
  return (await json<{ records: number }>(`${sim.admin}/__sim/count`)).records;
}
