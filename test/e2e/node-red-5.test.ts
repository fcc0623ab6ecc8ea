/**
 * Node-RED 5.0 on Node 22 (scripts/node-red-5.ts), with this package installed from `npm pack` as a user
 * installs it, not loaded from the repository: the shipped two-way flow syncs both ways against the
 * simulators, the admin API answers, and the editor's node list holds our types without errors. The
 * first run installs Node 22 and Node-RED 5 into .cache/node-red-5 (CI does it before the tests).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { ensureNodeRed5, type NodeRed5 } from "../../scripts/node-red-5";
import { converged, env, shippedFlow, useE2E } from "../helpers/e2e";

const ROOT = path.resolve(__dirname, "../..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { name: string; "node-red": { nodes: Record<string, string> } };
const TWO_WAY = shippedFlow("two-way");

interface NodeSet {
  id: string;
  module: string;
  types: string[];
  enabled: boolean;
  err?: unknown;
}

describe("Node-RED 5 on Node 22, the package installed from npm pack", function () {
  this.timeout(180_000);
  let runtime: NodeRed5;
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  before(async function () {
    // Cold: Node 22 and Node-RED 5 from the registry and sqlite3 compiled (about 2 minutes here).
    // Warm: an npm pack and a hash (a second or two), a few more when the package changed.
    this.timeout(20 * 60_000);
    runtime = await ensureNodeRed5();
  });

  useE2E(
    "e2e-node-red-5",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  async function getJson<T>(route: string): Promise<T> {
    const res = await fetch(`${nodeRed!.url}${route}`, { headers: { accept: "application/json" } });
    assert.equal(res.status, 200, `GET ${route}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  }

  it("syncs both ways with the two-way flow; the admin API and the node list work", async () => {
    parent = new OpenmrsSim({ name: "parent", seed: 951 });
    child = new OpenmrsSim({ name: "child", seed: 952 });
    parent.generate({ patients: 20, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 2 });
    await parent.start();
    await child.start();
    const db = path.join(dir, "sync.db");
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: TWO_WAY, env: env(parent, child, db), runtime });
    await nodeRed.start(60_000);

    // The runtime is Node-RED 5 on Node 22, and our package is the installed one.
    assert.match(nodeRed.log, /Node-RED version: v5\.0\.\d+/);
    assert.match(nodeRed.log, /Node\.js\s+version: v22\.\d+\.\d+/);
    assert.equal((await getJson<{ version: string }>("/settings")).version, runtime.nodeRedVersion);
    const mod = await getJson<{ path: string; version: string }>(`/nodes/${PKG.name}`);
    assert.equal(path.dirname(mod.path), path.join(runtime.dir, "node_modules"), "loaded from the installed package, not the repository");

    // Parent -> child, then the clinic's own work child -> parent.
    await converged(parent, child, 90_000);
    child.generate({ patients: 5, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
    child.mutate(5);
    await converged(child, parent, 90_000);

    const { channels } = await getJson<{ channels: { id: string; kind: string; gate: string }[] }>("/openmrs-sync/channels");
    const feeds = TWO_WAY.filter((n) => n.type === "atom-feed-in" && !n.d).map((n) => n.id);
    assert.deepEqual(
      channels
        .filter((c) => c.kind === "feed")
        .map((c) => c.id)
        .sort(),
      feeds.sort(),
    );
    assert.deepEqual(
      channels.filter((c) => c.kind === "queue").map((c) => c.id),
      ["push_queue"],
    );
    for (const c of channels) assert.equal(c.gate, "open", `${c.id}: ${c.gate}`);

    const ours = (await getJson<NodeSet[]>("/nodes")).filter((s) => s.module === PKG.name);
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), Object.keys(PKG["node-red"].nodes).sort());
    for (const s of ours) {
      assert.equal(s.enabled, true, s.id);
      assert.equal(s.err, undefined, `${s.id}: ${String(s.err)}`);
    }
    assert.ok(nodeRed.running);
  });
});
