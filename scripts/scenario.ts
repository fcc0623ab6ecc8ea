/**
 * The demo scenario, for npm start and the soak benchmark: a simulated parent OpenMRS with 300 patients
 * (visits, encounters, observations) that keeps changing, a simulated child whose clinicians also work,
 * and Node-RED on 127.0.0.1 running the two-way flow on one store. Data lives in `dir` and is reused.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenmrsSim } from "../sim";
import { NODE_RED_NODE_FLAGS, NodeRedProcess } from "./node-red-process";

const ROOT = fs.existsSync(path.resolve(__dirname, "../package.json")) ? path.resolve(__dirname, "..") : path.resolve(__dirname, "../..");
const USER = "admin";
const PASSWORD = "Admin123";

export interface ScenarioOptions {
  dir: string;
  parentPort?: number;
  childPort?: number;
  nodeRedPort?: number;
  pollSeconds?: string;
}

export interface Scenario {
  parent: OpenmrsSim;
  child: OpenmrsSim;
  nodeRed: NodeRedProcess;
  /** Whether the parent was generated now (false: reused from `dir`). */
  fresh: boolean;
  stop(): Promise<void>;
}

export async function startScenario(o: ScenarioOptions): Promise<Scenario> {
  fs.mkdirSync(o.dir, { recursive: true });
  const parent = new OpenmrsSim({ name: "parent", dataFile: path.join(o.dir, "parent.json"), dialect: "mixed", seed: 1, username: USER, password: PASSWORD });
  const child = new OpenmrsSim({ name: "child", dataFile: path.join(o.dir, "child.json"), seed: 2, username: USER, password: PASSWORD });
  const fresh = Object.keys(parent.snapshot().patients).length === 0;
  if (fresh) parent.generate({ patients: 300, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
  const parentUrl = await parent.start(o.parentPort ?? 0);
  const childUrl = await child.start(o.childPort ?? 0);
  parent.startChanges(3000, 1);
  child.startChanges(7000, 1);
  const userDir = path.join(o.dir, "node-red");
  const firstRun = !fs.existsSync(path.join(userDir, "flows.json"));
  const flows = JSON.parse(fs.readFileSync(path.join(ROOT, "flows", "two-way.json"), "utf8")) as unknown[];
  const nodeRed = new NodeRedProcess({
    userDir,
    port: o.nodeRedPort,
    flows: firstRun ? flows : undefined,
    // As the product runs Node-RED: peak RSS under 150 MB (docs/performance.md).
    nodeArgs: NODE_RED_NODE_FLAGS,
    logFile: path.join(o.dir, "node-red.log"),
    env: {
      OPENMRS_PARENT_URL: parentUrl,
      OPENMRS_PARENT_USER: USER,
      OPENMRS_PARENT_PASSWORD: PASSWORD,
      OPENMRS_CHILD_URL: childUrl,
      OPENMRS_CHILD_USER: USER,
      OPENMRS_CHILD_PASSWORD: PASSWORD,
      SYNC_DB_PATH: path.join(o.dir, "openmrs-sync.db"),
      SYNC_POLL_SECONDS: o.pollSeconds ?? "5",
    },
  });
  await nodeRed.start();
  return {
    parent,
    child,
    nodeRed,
    fresh,
    async stop() {
      parent.stopChanges();
      child.stopChanges();
      await nodeRed.stop();
      await Promise.all([parent.stop(), child.stop()]);
    },
  };
}

/** "300 patients, 300 visits, …" of one simulator, voided records left out. */
export function counts(sim: OpenmrsSim): string {
  const s = sim.snapshot();
  const live = (m: Record<string, { voided: boolean }>) => Object.values(m).filter((r) => !r.voided).length;
  return `${live(s.patients)} patients, ${live(s.visits)} visits, ${live(s.encounters)} encounters, ${live(s.obs)} obs`;
}
