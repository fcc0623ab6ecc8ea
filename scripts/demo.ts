/**
 * npm start: a simulated parent OpenMRS with a few hundred patients (visits, encounters,
 * observations) that keeps changing, an empty simulated child whose clinicians also work, and
 * Node-RED on 127.0.0.1:1880 with the "two-way" flow deployed (pull from the parent, push to the
 * parent through the durable queue, on one store). Prints progress until Ctrl-C; a second start
 * reuses the data in .demo/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenmrsSim } from "../sim";
import { NodeRedProcess } from "./node-red-process";

const ROOT = fs.existsSync(path.resolve(__dirname, "../package.json")) ? path.resolve(__dirname, "..") : path.resolve(__dirname, "../..");
const DATA = path.resolve(process.env.DEMO_DIR ?? path.join(ROOT, ".demo"));
const PARENT_PORT = Number(process.env.DEMO_PARENT_PORT) || 18081;
const CHILD_PORT = Number(process.env.DEMO_CHILD_PORT) || 18080;
const NODE_RED_PORT = Number(process.env.PORT) || 1880;
const USER = "admin";
const PASSWORD = "Admin123";

function counts(sim: OpenmrsSim): string {
  const s = sim.snapshot();
  const live = (m: Record<string, { voided: boolean }>) => Object.values(m).filter((r) => !r.voided).length;
  return `${live(s.patients)} patients, ${live(s.visits)} visits, ${live(s.encounters)} encounters, ${live(s.obs)} obs`;
}

async function main(): Promise<void> {
  fs.mkdirSync(DATA, { recursive: true });
  const parent = new OpenmrsSim({ name: "parent", dataFile: path.join(DATA, "parent.json"), dialect: "mixed", seed: 1, username: USER, password: PASSWORD });
  const child = new OpenmrsSim({ name: "child", dataFile: path.join(DATA, "child.json"), seed: 2, username: USER, password: PASSWORD });
  const fresh = Object.keys(parent.snapshot().patients).length === 0;
  if (fresh) parent.generate({ patients: 300, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
  const parentUrl = await parent.start(PARENT_PORT);
  const childUrl = await child.start(CHILD_PORT);
  parent.startChanges(3000, 1);
  child.startChanges(7000, 1);

  const userDir = path.join(DATA, "node-red");
  const firstRun = !fs.existsSync(path.join(userDir, "flows.json"));
  const flows = JSON.parse(fs.readFileSync(path.join(ROOT, "flows", "two-way.json"), "utf8")) as unknown[];
  const nodeRed = new NodeRedProcess({
    userDir,
    port: NODE_RED_PORT,
    flows: firstRun ? flows : undefined,
    logFile: path.join(DATA, "node-red.log"),
    env: {
      OPENMRS_PARENT_URL: parentUrl,
      OPENMRS_PARENT_USER: USER,
      OPENMRS_PARENT_PASSWORD: PASSWORD,
      OPENMRS_CHILD_URL: childUrl,
      OPENMRS_CHILD_USER: USER,
      OPENMRS_CHILD_PASSWORD: PASSWORD,
      SYNC_DB_PATH: path.join(DATA, "openmrs-sync.db"),
      SYNC_POLL_SECONDS: process.env.SYNC_POLL_SECONDS ?? "5",
    },
  });
  await nodeRed.start();

  console.log("");
  console.log(`  parent OpenMRS (simulated): ${parentUrl}   ${fresh ? "generated" : "reused"}: ${counts(parent)}`);
  console.log(`  child OpenMRS (simulated):  ${childUrl}`);
  console.log(`  Node-RED editor:            ${nodeRed.url}/`);
  console.log(`  data:                       ${DATA}  (delete it to start over; Node-RED's log is node-red.log there)`);
  console.log("  Ctrl-C stops everything.");
  console.log("");

  const progress = setInterval(() => {
    // The comparison covers both directions: records missing or different on either side.
    const diff = parent.diff(child).length;
    const state = diff === 0 ? "in sync" : `${diff} difference${diff === 1 ? "" : "s"} left`;
    console.log(`  ${new Date().toISOString().slice(11, 19)}  parent ${counts(parent)} | child ${counts(child)}  (${state})`);
  }, 5000);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(progress);
    console.log("\n  stopping…");
    await nodeRed.stop();
    parent.stopChanges();
    await Promise.all([parent.stop(), child.stop()]);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
