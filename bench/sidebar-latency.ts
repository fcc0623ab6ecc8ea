/**
 * Sync sidebar update delay during a catch-up: a parent simulator (its own process) with a patient backlog, the shipped
 * pull flow deployed into a real Node-RED while the editor is open in Chromium on the Sync tab. The page
 * records every time the patient feed's "sent" tile changes (a MutationObserver, wall clock); the child
 * simulator records when each write was answered. For each value the tile showed, the delay is the time
 * from the write that made that many (the n-th answered write) to the tile showing it: the settlement
 * commit, the change sampling, the comms ping, the API call and the redraw together. Prints the median,
 * p90, p99 and max delay and the catch-up rate.
 *
 *   npm run build && npx tsx bench/sidebar-latency.ts [--patients 10000]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { numberArg } from "./args";
import { OpenmrsSim } from "../sim";
import { recordCount, requests, startSim, stopSim } from "./sim-process";
import { NodeRedProcess } from "../scripts/node-red-process";
import { BrowserSession, editorReady } from "../test/helpers/browser";
import { env, shippedFlow } from "../test/helpers/e2e";

const PATIENTS = numberArg("patients", 10_000);
const CHANNEL = "pull_feed_patient";

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-sidebar-"));
  // The backlog: patients only, so the patient feed's channel carries the whole catch-up.
  const dataFile = path.join(dir, "parent.json");
  const gen = new OpenmrsSim({ name: "parent", seed: 7, dataFile });
  gen.generate({ patients: PATIENTS, visitsPerPatient: 0 });
  gen.save();
  const parent = await startSim("parent", dataFile);
  const child = await startSim("child");
  const db = path.join(dir, "sync.db");
  const nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: [], env: env(parent, child, db, "1") });
  const browser = new BrowserSession();
  try {
    await nodeRed.start();
    const { page, errors } = await browser.open(`${nodeRed.url}/`);
    await editorReady(page);
    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show("openmrs-sync"));
    // Every change of the tile, with the wall clock (same machine clock as the simulators').
    await page.evaluate((channel) => {
      const seen: { t: number; v: number }[] = [];
      (window as unknown as { __sent: typeof seen }).__sent = seen;
      const root = document.querySelector(".openmrs-sync-sidebar")!;
      new MutationObserver(() => {
        const tile = root.querySelector(`.openmrs-sync-channel[data-channel="${channel}"] [data-count="sent"] .openmrs-sync-count-n`);
        const v = tile ? Number(tile.textContent) : NaN;
        if (!Number.isNaN(v) && (!seen.length || seen[seen.length - 1].v !== v)) seen.push({ t: Date.now(), v });
      }).observe(root, { childList: true, subtree: true, characterData: true });
    }, CHANNEL);
    const started = Date.now();
    await nodeRed.deploy(shippedFlow("pull-from-parent"));
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      const shown = await page.evaluate(() => {
        const s = (window as unknown as { __sent: { v: number }[] }).__sent;
        return s.length ? s[s.length - 1].v : 0;
      });
      if (shown >= PATIENTS) break;
      if (Date.now() > deadline) throw new Error(`the sidebar shows ${shown} of ${PATIENTS}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const seen = await page.evaluate(() => (window as unknown as { __sent: { t: number; v: number }[] }).__sent);
    const answered = (await requests(child, started))
      .filter((r) => r.at >= started && r.method !== "GET" && r.status < 300)
      .map((r) => r.at + r.durationMs)
      .sort((a, b) => a - b);
    const delays = seen.filter((s) => s.v > 0 && s.v <= answered.length).map((s) => s.t - answered[s.v - 1]);
    const sorted = [...delays].sort((a, b) => a - b);
    const seconds = (answered[answered.length - 1] - answered[0]) / 1000;
    const result = {
      at: new Date().toISOString(),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}`,
      patients: PATIENTS,
      entriesPerSecond: Math.round(answered.length / seconds),
      updates: seen.length,
      updatesPerSecond: +(seen.length / seconds).toFixed(1),
      delayMs: { median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] },
      childRecords: await recordCount(child),
      pageErrors: errors.length,
    };
    console.log(JSON.stringify(result, null, 2));
    fs.mkdirSync(path.join(__dirname, "results"), { recursive: true });
    fs.writeFileSync(path.join(__dirname, "results", "sidebar-latency.json"), JSON.stringify(result, null, 2));
  } finally {
    await browser.close();
    await nodeRed.stop();
    await stopSim(parent);
    await stopSim(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
