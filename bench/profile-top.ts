/**
 * Summarises V8 .cpuprofile files (node --cpu-prof): the functions with the most self time, and self
 * time per source file. For finding where a simulator or client process spends its CPU.
 *
 *   npx tsx bench/profile-top.ts bench/results/profiles/CPU.*.cpuprofile [--top 25] [--skip-ms 3000]
 * `--skip-ms N` leaves out the first N ms of each profile (start-up, data load, warm-up).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { numberArg } from "./args";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const TOP = numberArg("top", 25);
const SKIP_MS = numberArg("skip-ms", 0);

function shortUrl(url: string): string {
  if (!url) return "(native)";
  const u = url.replace(/^file:\/\//, "");
  const nm = u.lastIndexOf("node_modules/");
  if (nm >= 0) return u.slice(nm + "node_modules/".length);
  if (u.startsWith("node:")) return u;
  return path.relative(process.cwd(), u) || u;
}

function summarise(file: string): void {
  const p = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = 0;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (at >= SKIP_MS * 1000) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const name = n.callFrame.functionName || "(anonymous)";
    if (name === "(idle)") {
      idle += us;
      continue;
    }
    total += us;
    const where = shortUrl(n.callFrame.url);
    const key = `${name}  ${where}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ""}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    files.set(where, (files.get(where) ?? 0) + us);
  }
  const ms = (us: number) => (us / 1000).toFixed(0).padStart(6);
  const pct = (us: number) => ((100 * us) / total).toFixed(1).padStart(5);
  console.log(`\n${path.basename(file)}: ${ms(total)} ms busy, ${ms(idle)} ms idle, wall ${ms(p.endTime - p.startTime - SKIP_MS * 1000)} ms`);
  console.log("  self ms    %   function");
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${ms(us)} ${pct(us)}   ${k}`);
  console.log("  self ms    %   file");
  for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${ms(us)} ${pct(us)}   ${k}`);
}

for (const f of process.argv.slice(2).filter((a) => a.endsWith(".cpuprofile"))) summarise(f);
