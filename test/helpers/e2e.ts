/** Shared pieces of the end-to-end tests: flows as shipped, env for Node-RED, waiting, store reads. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ENTRY_ID_PREFIX, type OpenmrsSim } from "../../sim";
import { SyncStore } from "../../lib/store/store";
import { NodeRedProcess } from "../../scripts/node-red-process";

const ROOT = path.resolve(__dirname, "../..");

export interface FlowNode {
  id: string;
  type: string;
  category?: string;
  server?: string;
  [k: string]: unknown;
}

export function shippedFlow(name: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(ROOT, "flows", `${name}.json`), "utf8")) as FlowNode[];
}

/** Node-RED's environment for the shipped flows: the two servers (a simulator or its process), the store, the poll. */
export function env(parent: { url: string }, child: { url: string }, db: string, pollSeconds = "1"): Record<string, string> {
  return {
    OPENMRS_PARENT_URL: parent.url,
    OPENMRS_PARENT_USER: "admin",
    OPENMRS_PARENT_PASSWORD: "Admin123",
    OPENMRS_CHILD_URL: child.url,
    OPENMRS_CHILD_USER: "admin",
    OPENMRS_CHILD_PASSWORD: "Admin123",
    SYNC_DB_PATH: db,
    SYNC_POLL_SECONDS: pollSeconds,
  };
}

export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until `target` holds exactly `source`'s records and stays so for a moment. */
export async function converged(source: OpenmrsSim, target: OpenmrsSim, ms: number): Promise<void> {
  let last: string[] = [];
  await until(
    async () => {
      last = source.diff(target);
      if (last.length) return false;
      await new Promise((r) => setTimeout(r, 1500));
      last = source.diff(target);
      return last.length === 0;
    },
    ms,
    "the target to converge",
  ).catch((err: Error) => {
    throw new Error(`${err.message}; first differences:\n${last.slice(0, 10).join("\n")}`);
  });
}

export function feedNodes(flow: FlowNode[], server: string): { id: string; category: string }[] {
  // A disabled feed (`d: true`: an optional category the implementer has not turned on) reads nothing.
  return flow.filter((n) => n.type === "atom-feed-in" && n.server === server && n.d !== true).map((n) => ({ id: n.id, category: n.category! }));
}

/** True when every feed's marker stands on the newest entry of its category at `sim`. */
export async function feedsCaughtUp(db: string, sim: OpenmrsSim, feeds: { id: string; category: string }[]): Promise<boolean> {
  // Read-only, as a tool would look. A store Node-RED has not opened or set up yet (no file, no
  // tables) is not caught up.
  const store = await SyncStore.open(db, { readOnly: true }).catch(() => undefined);
  if (!store) return false;
  try {
    for (const f of feeds) {
      const events = sim.store.categoryEvents(f.category);
      if (!events.length) continue;
      const marker = await store.getMarker(f.id).catch(() => undefined);
      if (marker?.entryId !== ENTRY_ID_PREFIX + events[events.length - 1].uuid) return false;
    }
    return true;
  } finally {
    await store.close();
  }
}

/** Presses an inject node through the admin API, optionally with other property values. */
export async function inject(nodeRed: NodeRedProcess, id: string, props?: { p: string; v: unknown; vt: string }[]): Promise<void> {
  const res = await fetch(`${nodeRed.url}/inject/${id}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(props ? { __user_inject_props__: props } : {}),
  });
  if (res.status !== 200) throw new Error(`inject ${id}: HTTP ${res.status} ${await res.text()}`);
}

/** Writes at a simulator (REST or fhir2). */
export function writesAt(sim: OpenmrsSim, since = 0) {
  return sim.requests.filter((r) => r.at >= since && (r.kind === "rest-write" || r.kind === "fhir-write"));
}

/**
 * Mocha hooks shared by the end-to-end tests: a temp dir per test (given to `setDir`), and afterwards
 * Node-RED's log on failure, Node-RED and the simulators stopped (from `running`), the dir removed.
 */
export function useE2E(
  name: string,
  setDir: (dir: string) => void,
  running: () => { nodeRed?: NodeRedProcess; sims: (OpenmrsSim | undefined)[] },
  reset: () => void,
): void {
  let dir = "";
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    setDir(dir);
  });
  afterEach(async function () {
    const { nodeRed, sims } = running();
    if (this.currentTest?.state === "failed" && nodeRed) console.log(nodeRed.log.slice(-6000));
    await nodeRed?.stop();
    for (const sim of sims) await sim?.stop();
    reset();
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * One round of the shipped two-way flow started with a long poll interval: pull (inject pull_now) until
 * the pull feeds stand on the parent's newest entries, then push (push_now) until the push feeds stand on
 * the child's.
 */
export async function syncTwoWayOnce(nodeRed: NodeRedProcess, db: string, parent: OpenmrsSim, child: OpenmrsSim, flow: FlowNode[]): Promise<void> {
  await inject(nodeRed, "pull_now");
  await until(() => feedsCaughtUp(db, parent, feedNodes(flow, "omrs_parent")), 60_000, "pull caught up");
  await inject(nodeRed, "push_now");
  await until(() => feedsCaughtUp(db, child, feedNodes(flow, "omrs_child")), 60_000, "push caught up");
}

/**
 * Mocha hooks and a start for the tests that run the shipped two-way flow between two simulators:
 * `start(parent, child, mode)` starts both, and Node-RED with both servers in `mode` (fhir2 or REST v1 only)
 * polling by hand; it returns one round of sync (syncTwoWayOnce). All are stopped after each test.
 */
export function useTwoWay(name: string): {
  start(parent: OpenmrsSim, child: OpenmrsSim, mode: "fhir2" | "rest"): Promise<{ nodeRed: NodeRedProcess; syncOnce: () => Promise<void> }>;
} {
  const flow = shippedFlow("two-way");
  let dir = "";
  let running: { nodeRed?: NodeRedProcess; sims: OpenmrsSim[] } = { sims: [] };
  useE2E(
    name,
    (d) => (dir = d),
    () => running,
    () => (running = { sims: [] }),
  );
  return {
    async start(parent, child, mode) {
      running.sims.push(parent, child);
      await parent.start();
      await child.start();
      const db = path.join(dir, "sync.db");
      const flows = flow.map((n) => (n.type === "openmrs-server" ? { ...n, fhirMode: mode } : n));
      const nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows, env: env(parent, child, db, "3600") });
      running.nodeRed = nodeRed;
      await nodeRed.start();
      return { nodeRed, syncOnce: () => syncTwoWayOnce(nodeRed, db, parent, child, flow) };
    },
  };
}

/** True when the store's durable queues hold nothing: every item taken into custody is settled. */
export async function queueEmpty(db: string): Promise<boolean> {
  const store = await SyncStore.open(db, { readOnly: true }).catch(() => undefined);
  if (!store) return false;
  try {
    return (await store.db.get<{ n: number }>("SELECT count(*) AS n FROM queue_items"))?.n === 0;
  } finally {
    await store.close();
  }
}

/** Basic auth of the simulators' admin, with a JSON body. */
export const SIM_AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64"), "content-type": "application/json" };

/** A request to a simulator as its admin; asserts it succeeded and gives its JSON answer ({} when empty). */
export async function simCall(sim: OpenmrsSim, method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${sim.url}${p}`, { method, headers: SIM_AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.ok(res.status < 300, `${method} ${p}: HTTP ${res.status} ${await res.clone().text()}`);
  const text = await res.text();
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}
