/**
 * End to end: Node-RED (a real process, the shipped flows/pull-from-parent.json) + a simulated parent
 * + a simulated child over HTTP on 127.0.0.1. Counts requests at the simulators.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim, ENTRY_ID_PREFIX } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { FhirPeer } from "../../sim/fhir-peer";
import { SyncStore } from "../../lib/store/store";
import { converged, env, feedNodes, shippedFlow, until, useE2E } from "../helpers/e2e";

const PULL_FLOW = shippedFlow("pull-from-parent");
const FEEDS = feedNodes(PULL_FLOW, "omrs_parent");

/** Entry ids the store counts as settled: everything up to each feed's marker, plus out-of-order rows. */
async function settledEntries(db: string, parent: OpenmrsSim): Promise<Set<string>> {
  const store = await SyncStore.open(db);
  const settled = new Set<string>();
  try {
    for (const feed of FEEDS) {
      const ids = parent.store.categoryEvents(feed.category).map((e) => ENTRY_ID_PREFIX + e.uuid);
      const marker = await store.getMarker(feed.id);
      if (marker?.entryId) {
        const idx = ids.indexOf(marker.entryId);
        assert.ok(idx >= 0, `marker ${marker.entryId} of ${feed.id} is a real entry`);
        for (let i = 0; i <= idx; i++) settled.add(ids[i]);
      }
      for (const id of await store.settledEntries(feed.id)) settled.add(id);
    }
  } finally {
    await store.close();
  }
  return settled;
}

describe("pull end to end (Node-RED + parent sim + child sim)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-pull",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  it("copies 1,000+ entries of both dialects exactly, and after kill -9 mid-sync finishes without re-fetching anything settled", async () => {
    parent = new OpenmrsSim({ name: "parent", dialect: "mixed", seed: 11 });
    child = new OpenmrsSim({ name: "child", seed: 12 });
    parent.generate({ patients: 100, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 2 });
    parent.mutate(400);
    // Voided records of every kind, some never seen by the child alive.
    const snap = parent.snapshot();
    const live = <T extends { voided: boolean }>(m: Record<string, T>) =>
      Object.entries(m)
        .filter(([, r]) => !r.voided)
        .map(([u]) => u);
    parent.store.voidRecord("patient", live(snap.patients)[3], "duplicate");
    parent.store.voidRecord("encounter", live(snap.encounters)[5], "entered in error");
    parent.store.voidRecord("obs", live(snap.obs)[7], "wrong value");
    const entries = parent.store.events.length;
    assert.ok(entries >= 1000, `feed holds ${entries} entries`);
    const byDialect = new Set(parent.store.events.map((e) => (e.content.startsWith("{") ? "sync2" : "bahmni")));
    assert.deepEqual([...byDialect].sort(), ["bahmni", "sync2"]);
    const voided = Object.values(parent.snapshot().patients).filter((p) => p.voided).length;
    assert.ok(voided >= 1);
    parent.faults.slowMs = 4; // slow enough to stop it in the middle
    await parent.start();
    await child.start();

    const db = path.join(dir, "sync.db");
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: PULL_FLOW, env: env(parent, child, db) });
    await nodeRed.start();
    const total = child.store.recordCount.bind(child.store);
    const parentTotal = parent.store.recordCount();
    await until(() => total() >= parentTotal * 0.3, 120_000, "a third of the records at the child");
    await nodeRed.kill9();
    const atKill = total();
    assert.ok(atKill < parentTotal, `killed mid-sync (${atKill} of ${parentTotal})`);

    const settled = await settledEntries(db, parent);
    assert.ok(settled.size > 0 && settled.size < entries, `settled ${settled.size} of ${entries} before the kill`);
    const restartAt = Date.now();
    parent.faults.slowMs = 0;
    await nodeRed.start();
    await converged(parent, child, 180_000);

    const after = parent.requests.filter((r) => r.at >= restartAt && (r.kind === "fhir-get" || r.kind === "rest-get") && r.entry);
    const refetched = after.filter((r) => settled.has(r.entry!));
    assert.deepEqual(
      refetched.map((r) => `${r.entry} ${r.path}`),
      [],
      "nothing settled before the kill was fetched again",
    );
    assert.ok(
      after.length > 0 && after.length <= entries - settled.size + FEEDS.length * 8,
      `${after.length} record fetches after restart for ${entries - settled.size} unsettled entries`,
    );
    assert.doesNotMatch(nodeRed.log, /uncaught|Unhandled|TypeError/i);
  });

  it("lands the same records, with their ids, in a third-party FHIR server (Medplum)", async () => {
    parent = new OpenmrsSim({ name: "parent", dialect: "mixed", seed: 31 });
    child = new OpenmrsSim({ name: "child", seed: 32 });
    parent.generate({ patients: 20, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 2 });
    parent.mutate(30);
    await parent.start();
    await child.start();
    const peer = new FhirPeer();
    const peerUrl = await peer.start();
    try {
      // The shipped pull flow with the target swapped for a fhir-server config node.
      const flow = PULL_FLOW.map((n) => (n.type === "fhir-push" ? { ...n, targetType: "fhir", fhirServer: "peer" } : n));
      flow.push({ id: "peer", type: "fhir-server", name: "medplum", url: peerUrl, timeout: 30 });
      nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: flow, env: env(parent, child, path.join(dir, "sync.db")) });
      await nodeRed.start();
      const snap = parent.snapshot();
      const expected = [
        ...Object.entries(snap.patients).map(([id, r]) => ["Patient", id, r.voided] as const),
        ...Object.entries(snap.visits).map(([id, r]) => ["Encounter", id, r.voided] as const),
        ...Object.entries(snap.encounters).map(([id, r]) => ["Encounter", id, r.voided] as const),
        ...Object.entries(snap.obs).map(([id, r]) => ["Observation", id, r.voided] as const),
      ];
      const status = async (type: string, id: string) => (await fetch(`${peerUrl}/${type}/${id}`)).status;
      await until(
        async () => {
          for (const [type, id, voided] of expected) if (!voided && (await status(type, id)) !== 200) return false;
          return true;
        },
        120_000,
        "every live record at the FHIR server",
      );
      for (const [type, id, voided] of expected) {
        const res = await fetch(`${peerUrl}/${type}/${id}`);
        if (voided) assert.notEqual(res.status, 200, `${type}/${id} is voided at the source`);
        else assert.equal(((await res.json()) as { id: string }).id, id);
      }
      assert.doesNotMatch(nodeRed.log, /\[error\]/);
    } finally {
      await peer.stop();
    }
  });

  it("offers the prebuilt flows in Import ▸ Examples", async () => {
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr") });
    await nodeRed.start();
    const modules = (await (await fetch(`${nodeRed.url}/library/examples/flows/`, { headers: { accept: "application/json" } })).json()) as string[];
    assert.ok(modules.includes("node-red-contrib-openmrs-sync"));
    const flow = (await (await fetch(`${nodeRed.url}/library/examples/flows/node-red-contrib-openmrs-sync/pull-from-parent`)).json()) as unknown[];
    assert.deepEqual(flow, PULL_FLOW);
  });

  it("copies through REST v1 alone (Bahmni dialect, no fhir2 on either side)", async () => {
    parent = new OpenmrsSim({ name: "parent", dialect: "bahmni", fhir2: false, seed: 21 });
    child = new OpenmrsSim({ name: "child", fhir2: false, seed: 22 });
    parent.generate({ patients: 25, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 3 });
    parent.mutate(60);
    await parent.start();
    await child.start();
    const db = path.join(dir, "sync.db");
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: PULL_FLOW, env: env(parent, child, db) });
    await nodeRed.start();
    await converged(parent, child, 120_000);
    assert.equal(parent.requests.filter((r) => r.kind === "fhir-get" && r.uuid).length, 0, "no record read through fhir2");
    assert.ok(child.requests.some((r) => r.kind === "rest-write"));
  });
});
