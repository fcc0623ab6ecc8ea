/** Shared pieces for tests that run our nodes inside node-red-node-test-helper. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import helper, { type TestFlows } from "node-red-node-test-helper";
import { OpenmrsSim } from "../../sim";
import { ALERT_TOPIC, type Alert } from "../../lib/engine/alerts";

helper.init(require.resolve("node-red"));

export { helper };

const dist = (t: string) => require(path.resolve(__dirname, `../../dist/nodes/${t}/${t}.js`));
export const NODES = ["openmrs-server", "fhir-server", "sync-store", "atom-feed-in", "fhir-fetch", "fhir-push", "retry-queue", "audit-push", "sync-settle"].map(
  dist,
);
export const CREDS = { username: "admin", password: "Admin123" };

export interface SpyCall {
  args: unknown[];
  thisValue: unknown;
}
export interface HelperNode {
  on(event: string, fn: (...args: unknown[]) => void): void;
  receive(msg: unknown): void;
  status: { getCalls(): SpyCall[] };
  error: { getCalls(): SpyCall[] };
}

export function getNode(id: string): HelperNode {
  return helper.getNode(id) as unknown as HelperNode;
}

/** The runtime's spies are on Node.prototype, shared by all nodes: pick this node's calls. */
export function calls(node: HelperNode, spy: "status" | "error"): SpyCall[] {
  return node[spy].getCalls().filter((c) => c.thisValue === node);
}

export function lastStatus(node: HelperNode): { fill?: string; shape?: string; text?: string } | undefined {
  const c = calls(node, "status");
  return c.length ? (c[c.length - 1].args[0] as { fill?: string; text?: string }) : undefined;
}

export async function until<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000, what = "condition"): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** parent feed -> fetch -> push into child, with a Catch node; helpers "written", "done" (caught up), "caught". */
export function pullFlow(
  parentUrl: string,
  childUrl: string,
  db: string,
  feedProps: Record<string, unknown> = {},
  serverProps: Record<string, unknown> = {},
): TestFlows {
  const flow: unknown[] = [
    { id: "t1", type: "tab" },
    { id: "parent", type: "openmrs-server", url: parentUrl, timeout: 2, ...serverProps },
    { id: "child", type: "openmrs-server", url: childUrl, timeout: 2 },
    { id: "store", type: "sync-store", path: db },
    {
      id: "feed",
      type: "atom-feed-in",
      z: "t1",
      server: "parent",
      store: "store",
      category: "patient",
      interval: "0",
      maxInFlight: 4,
      ticketTimeout: 30,
      ...feedProps,
      wires: [["fetch"], ["done"]],
    },
    { id: "fetch", type: "fhir-fetch", z: "t1", server: "parent", wires: [["push"]] },
    { id: "push", type: "fhir-push", z: "t1", targetType: "openmrs", server: "child", wires: [["written"]] },
    { id: "written", type: "helper", z: "t1" },
    { id: "done", type: "helper", z: "t1" },
    { id: "catcher", type: "catch", z: "t1", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: "t1" },
  ];
  return flow as TestFlows;
}

export function loadPull(flow: TestFlows): Promise<void> {
  return helper.load(NODES, flow, { parent: CREDS, child: CREDS });
}

/** Collects what reaches the Catch node. */
export function caughtErrors(): { message: string; source: { id: string } }[] {
  const out: { message: string; source: { id: string } }[] = [];
  getNode("caught").on("input", (m) => out.push((m as { error: { message: string; source: { id: string } } }).error));
  return out;
}

/** A message as a Catch node passes it on: a channel's alert, or any other error with its msg. */
export interface CaughtMessage {
  topic?: string;
  payload?: unknown;
  alert?: Alert & { name: string };
  error: { message: string; source: { id: string } };
}

/** Collects the whole messages that reach the helper node `id` (wired from a Catch node). */
export function caughtMessages(id = "caught"): CaughtMessage[] {
  const out: CaughtMessage[] = [];
  getNode(id).on("input", (m) => out.push(m as CaughtMessage));
  return out;
}

/** The channels' alerts among caught messages. */
export function alertsIn(caught: CaughtMessage[]): (CaughtMessage & { alert: Alert & { name: string } })[] {
  return caught.filter((m): m is CaughtMessage & { alert: Alert & { name: string } } => m.topic === ALERT_TOPIC && m.alert !== undefined);
}

export function caughtUp(): Promise<Record<string, unknown>> {
  return new Promise((resolve) => getNode("done").on("input", (m) => resolve(m as Record<string, unknown>)));
}

export interface Peers {
  parent: OpenmrsSim;
  child: OpenmrsSim;
  dir: string;
  db: string;
}

/**
 * Mocha hooks shared by the node tests: the test helper's server, and for each test a fresh parent
 * and child simulator on port 0 and a store path in a temp dir, all stopped and removed afterwards.
 * `bind` receives them (before the simulators start, so it may generate data).
 */
export function usePeers(name: string, seeds: { parent: number; child: number }, bind: (peers: Peers) => void): void {
  let peers: Peers | undefined;
  before(function (done) {
    helper.startServer(done);
  });
  after(function (done) {
    helper.stopServer(done);
  });
  beforeEach(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    peers = {
      dir,
      db: path.join(dir, "sync.db"),
      parent: new OpenmrsSim({ name: "parent", seed: seeds.parent }),
      child: new OpenmrsSim({ name: "child", seed: seeds.child }),
    };
    bind(peers);
    await peers.parent.start();
    await peers.child.start();
  });
  afterEach(async () => {
    await helper.unload();
    await peers?.parent.stop();
    await peers?.child.stop();
    if (peers) fs.rmSync(peers.dir, { recursive: true, force: true });
  });
}
