/**
 * A clinic's catch-up through a hub against pulling the parent directly (issue 10). A backlog at a
 * simulated parent is copied into an empty simulated child by the shipped pull flow in a Node-RED process,
 *   direct  its parent being the simulated parent;
 *   hub     its parent being a hub Node-RED (shipped flows/hub.json, a key with catchment `*`) whose feeds
 *           have already relayed the whole backlog (its feed_events per category equal the parent's).
 * Each is timed from the clinic's deploy to the last write at the child (the child simulator's request
 * log), reps interleaved (direct, hub, direct, hub…), the child compared with the parent after each.
 * The hub is started once, before the reps; its CPU seconds and RSS are read from /proc during each hub rep.
 *
 *   npm run build && npx tsx bench/hub-catchup.ts [--patients 250] [--reps 3] [--hub-profile]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { numberArg } from "./args";
import { cpuSeconds, median, procRssMb, spread } from "./stats";
import { json, recordCount, requests, startSim, stopSim, type SimProc } from "./sim-process";
import { OpenmrsSim, compareSnapshots, type Comparable } from "../sim";
import { NodeRedProcess } from "../scripts/node-red-process";
import { SyncStore } from "../lib/store/store";

const ROOT = path.resolve(__dirname, "..");
const PATIENTS = numberArg("patients", 250);
const REPS = numberArg("reps", 3);
/** `--hub-profile`: a CPU profile of the hub Node-RED in bench/results/profiles/ (written when it stops). */
const HUB_PROFILE = process.argv.includes("--hub-profile");

type Node = { id: string; type: string; category?: string };
const flow = (name: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "flows", `${name}.json`), "utf8")) as Node[];
const PULL = flow("pull-from-parent");
const HUB = flow("hub");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rep {
  mode: "direct" | "hub";
  rep: number;
  seconds: number;
  entriesPerSecond: number;
  clinicCpuSeconds: number;
  clinicPeakRssMb?: number;
  hubCpuSeconds?: number;
  hubPeakRssMb?: number;
  parentRequests: number;
}

async function clinicRun(
  mode: Rep["mode"],
  rep: number,
  dir: string,
  parent: SimProc,
  parentUrl: string,
  user: string,
  password: string,
  entries: number,
  expected: string,
  hub?: NodeRedProcess,
): Promise<Rep> {
  const child = await startSim("child");
  const records = await recordCount(parent);
  const userDir = path.join(dir, `clinic-${mode}-${rep}`);
  const nr = new NodeRedProcess({
    userDir,
    flows: [],
    env: {
      OPENMRS_PARENT_URL: parentUrl,
      OPENMRS_PARENT_USER: user,
      OPENMRS_PARENT_PASSWORD: password,
      OPENMRS_CHILD_URL: child.url,
      OPENMRS_CHILD_USER: "admin",
      OPENMRS_CHILD_PASSWORD: "Admin123",
      SYNC_DB_PATH: path.join(userDir, "sync.db"),
      SYNC_POLL_SECONDS: "3600",
    },
  });
  await nr.start();
  const hubCpu0 = cpuSeconds(hub?.pid);
  let hubRss = 0;
  let clinicRss = 0;
  const sampler = setInterval(() => {
    hubRss = Math.max(hubRss, procRssMb(hub?.pid, "VmRSS") ?? 0);
    clinicRss = Math.max(clinicRss, procRssMb(nr.pid, "VmRSS") ?? 0);
  }, 200);
  const since = Date.now();
  const startedAt = since;
  await nr.deploy(PULL);
  try {
    const deadline = Date.now() + 30 * 60_000;
    while ((await recordCount(child)) < records) {
      if (Date.now() > deadline) throw new Error(`${mode}: did not finish`);
      await sleep(250);
    }
    const hubCpu = cpuSeconds(hub?.pid) - hubCpu0;
    const clinicCpu = cpuSeconds(nr.pid);
    const writes = (await requests(child, since)).filter((r) => r.at >= since && r.method !== "GET").map((r) => r.at);
    const parentRequests = (await requests(parent, since)).filter((r) => r.at >= since).length;
    const diff = compareSnapshots(JSON.parse(expected) as Comparable, await json<Comparable>(`${child.admin}/__sim/snapshot`));
    if (diff.length) throw new Error(`${mode}: child differs from parent:\n${diff.slice(0, 5).join("\n")}`);
    const seconds = (Math.max(...writes) - startedAt) / 1000;
    return {
      mode,
      rep,
      seconds,
      entriesPerSecond: entries / seconds,
      clinicCpuSeconds: clinicCpu,
      clinicPeakRssMb: Math.max(clinicRss, procRssMb(nr.pid) ?? 0),
      ...(hub ? { hubCpuSeconds: hubCpu, hubPeakRssMb: hubRss } : {}),
      parentRequests,
    };
  } finally {
    clearInterval(sampler);
    await nr.stop();
    await stopSim(child);
  }
}

/** Waits until the hub's store holds, per relayed category, as many events as the parent's feed has. */
async function hubAtHead(db: string, want: Map<string, number>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (fs.existsSync(db)) {
      const store = await SyncStore.open(db, { readOnly: true });
      try {
        const rows = await store.db.all<{ category: string; n: number }>("SELECT category, COUNT(*) AS n FROM feed_events GROUP BY category");
        const have = new Map(rows.map((r) => [r.category, r.n]));
        if ([...want].every(([c, n]) => (have.get(c) ?? 0) >= n)) return (Date.now() - t0) / 1000;
      } catch {
        // the table is not there yet
      } finally {
        await store.close();
      }
    }
    if (Date.now() - t0 > 30 * 60_000) throw new Error("the hub did not reach the parent's head");
    await sleep(1000);
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-hub-catchup-"));
  const dataFile = path.join(dir, "parent.json");
  const gen = new OpenmrsSim({ name: "parent", dialect: "sync2", seed: 42, dataFile });
  gen.generate({ patients: PATIENTS, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
  gen.save();
  const entries = gen.store.events.length;
  const expected = JSON.stringify(gen.snapshot());
  const relayed = HUB.filter((n) => n.type === "atom-feed-in" && n.category).map((n) => n.category!);
  const want = new Map(relayed.map((c) => [c, new Set(gen.store.categoryEvents(c).map((e) => e.uuid)).size]));
  const parent = await startSim("parent", dataFile);
  const cpu = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}`;
  const loadBefore = os.loadavg();
  console.log(`backlog: ${entries} feed entries at ${parent.url}; machine ${cpu}, load ${loadBefore.map((l) => l.toFixed(1)).join(" ")}`);

  const hubDb = path.join(dir, "hub.db");
  const hub = new NodeRedProcess({
    userDir: path.join(dir, "hub"),
    flows: HUB,
    nodeArgs: HUB_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${path.join(ROOT, "bench/results/profiles")}`] : [],
    env: { SYNC_DB_PATH: hubDb, OPENMRS_PARENT_URL: parent.url, OPENMRS_PARENT_USER: "admin", OPENMRS_PARENT_PASSWORD: "Admin123", SYNC_POLL_SECONDS: "5" },
  });
  await hub.start();
  const relaySeconds = await hubAtHead(hubDb, want);
  const relayCpu = cpuSeconds(hub.pid);
  console.log(`hub relayed the backlog in ${relaySeconds.toFixed(0)} s (hub CPU ${relayCpu.toFixed(1)} s)`);

  const reps: Rep[] = [];
  try {
    for (let rep = 1; rep <= REPS; rep++) {
      const d = await clinicRun("direct", rep, dir, parent, parent.url, "admin", "Admin123", entries, expected);
      reps.push(d);
      console.log(`  rep ${rep} direct: ${d.seconds.toFixed(1)} s, clinic CPU ${d.clinicCpuSeconds.toFixed(1)} s`);
      const res = await fetch(`${hub.url}/openmrs-sync/keys`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: `clinic-${rep}`, catchment: { locations: ["*"] } }),
      });
      if (res.status !== 201) throw new Error(`key: ${res.status}`);
      const key = (await res.json()) as { name: string; secret: string };
      const h = await clinicRun("hub", rep, dir, parent, `${hub.url}/openmrs`, key.name, key.secret, entries, expected, hub);
      reps.push(h);
      console.log(
        `  rep ${rep} hub:    ${h.seconds.toFixed(1)} s, clinic CPU ${h.clinicCpuSeconds.toFixed(1)} s, hub CPU ${h.hubCpuSeconds?.toFixed(1)} s, hub RSS ${h.hubPeakRssMb} MB`,
      );
    }
  } finally {
    await hub.stop();
    await stopSim(parent);
  }
  const of = (m: Rep["mode"], f: (r: Rep) => number) => reps.filter((r) => r.mode === m).map(f);
  const direct = median(of("direct", (r) => r.seconds));
  const viaHub = median(of("hub", (r) => r.seconds));
  const loadAfter = os.loadavg();
  const summary = {
    direct: {
      medianSeconds: direct,
      spread: spread(
        of("direct", (r) => r.seconds),
        1,
      ),
      clinicCpuSeconds: median(of("direct", (r) => r.clinicCpuSeconds)),
    },
    hub: {
      medianSeconds: viaHub,
      spread: spread(
        of("hub", (r) => r.seconds),
        1,
      ),
      clinicCpuSeconds: median(of("hub", (r) => r.clinicCpuSeconds)),
      hubCpuSeconds: median(of("hub", (r) => r.hubCpuSeconds ?? 0)),
      hubPeakRssMb: Math.max(...of("hub", (r) => r.hubPeakRssMb ?? 0)),
    },
    ratio: viaHub / direct,
  };
  console.log(
    `\nmedian: direct ${direct.toFixed(1)} s (${summary.direct.spread}), hub ${viaHub.toFixed(1)} s (${summary.hub.spread}); hub/direct = ${summary.ratio.toFixed(2)}`,
  );
  console.log(`load before ${loadBefore.map((l) => l.toFixed(1)).join(" ")}, after ${loadAfter.map((l) => l.toFixed(1)).join(" ")}`);
  const file = path.join(ROOT, "bench/results", `hub-catchup-${new Date().toISOString().slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: { cpu, memGiB: Math.round(os.totalmem() / 2 ** 30), loadBefore, loadAfter },
        node: process.version,
        entries,
        patients: PATIENTS,
        hubRelay: { seconds: relaySeconds, cpuSeconds: relayCpu },
        reps,
        summary,
      },
      null,
      2,
    ),
  );
  console.log(`written ${path.relative(ROOT, file)}`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
