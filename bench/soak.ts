/**
 * Soak: the demo scenario (npm start) for ten minutes, on a busy machine if asked. Both simulators keep
 * changing; every 5 s the "differences left" between parent and child is sampled. After the first
 * catch-up it must stay bounded (a stall shows as a number that keeps growing). Prints the maximum,
 * the median and the last value, and writes bench/results/soak.json.
 *
 *   npx tsx bench/soak.ts [--minutes 10] [--busy 2]
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { numberArg } from "./args";
import { startScenario } from "../scripts/scenario";

const MINUTES = numberArg("minutes", 10);
const BUSY = numberArg("busy", 0);
const ROOT = path.resolve(__dirname, "..");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "soak-"));
  const busy = Array.from({ length: BUSY }, () => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
  const s = await startScenario({ dir });
  const started = Date.now();
  const samples: { t: number; diff: number }[] = [];
  let caughtUpAt: number | undefined;
  console.log(
    `soak: ${MINUTES} min of the demo scenario, ${BUSY} busy-loop process(es); ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}`,
  );
  try {
    while (Date.now() - started < MINUTES * 60_000) {
      await new Promise((r) => setTimeout(r, 5000));
      const diff = s.parent.diff(s.child).length;
      const t = (Date.now() - started) / 1000;
      samples.push({ t, diff });
      if (caughtUpAt === undefined && diff <= 20) caughtUpAt = t;
      if (samples.length % 12 === 0) console.log(`  ${Math.round(t)} s: ${diff} differences left`);
      if (!s.nodeRed.running) throw new Error("Node-RED exited");
    }
  } finally {
    await s.stop();
    for (const p of busy) p.kill("SIGKILL");
  }
  const after = samples.filter((x) => caughtUpAt !== undefined && x.t > caughtUpAt).map((x) => x.diff);
  const lastHalf = samples.slice(Math.floor(samples.length / 2)).map((x) => x.diff);
  const result = {
    minutes: MINUTES,
    busy: BUSY,
    firstCatchUpSeconds: caughtUpAt,
    maxAfterCatchUp: after.length ? Math.max(...after) : undefined,
    medianAfterCatchUp: median(after),
    maxSecondHalf: Math.max(...lastHalf),
    last: samples[samples.length - 1]?.diff,
    samples,
  };
  console.log(
    `first catch-up after ${caughtUpAt ?? "never"} s; after it: max ${result.maxAfterCatchUp} differences left, median ${result.medianAfterCatchUp}; ` +
      `max in the second half ${result.maxSecondHalf}; last ${result.last}`,
  );
  fs.mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
  fs.writeFileSync(path.join(ROOT, "bench/results/soak.json"), JSON.stringify(result, null, 2));
  fs.rmSync(dir, { recursive: true, force: true });
  if (caughtUpAt === undefined) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
