/**
 * Locations synced as records (issue 8, "when the implementer wants that"), through the shipped pull flow
 * in a real Node-RED process against the simulators, read through fhir2 and through REST v1 alone. As
 * shipped, the location feed node is disabled: an encounter at a location the child lacks waits. The
 * implementer enables the node (here: the flow redeployed without `d: true`); the locations arrive, a
 * child location with its parent, field by field, and the waiting encounter goes through. Then a location
 * is renamed and one retired at the parent.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { ENCOUNTER_TYPES, VISIT_TYPES } from "../../sim/metadata";
import type { Location } from "../../sim/types/location";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { converged, env, feedNodes, feedsCaughtUp, inject, shippedFlow, until, useE2E, type FlowNode, simCall } from "../helpers/e2e";

const PULL = shippedFlow("pull-from-parent");
const PUSH = shippedFlow("push-to-parent");

/** Every location record of `source` at `target`, field by field; returns how many live ones. */
function assertLocationsEqual(source: OpenmrsSim, target: OpenmrsSim): number {
  let live = 0;
  for (const l of source.store.records("location").values() as IterableIterator<Location>) {
    const t = target.store.getOf("location", l.uuid) as Location | undefined;
    assert.ok(t, `location ${l.uuid} missing at the target`);
    if (l.voided) {
      assert.ok(t.voided, `location ${l.uuid} retired at the source, not at the target`);
      continue;
    }
    const fields = (x: Location) => ({ name: x.name, description: x.description, address: x.address, parent: x.parent, tags: x.tags, retired: x.voided });
    assert.deepEqual(fields(t), fields(l), `location ${l.uuid}`);
    live++;
  }
  return live;
}

describe("locations synced as records (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-locations",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  for (const mode of ["fhir2", "rest"] as const)
    it(`as shipped an encounter at a new location waits; with the location feed enabled the locations (parent, tags, address) and the encounter arrive (through ${mode})`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 101, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 102 });
      parent.generate({ patients: 3, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
      const district = parent.store.createOf("location", {
        name: "Gulu District",
        description: "District office",
        address: { cityVillage: "Gulu", stateProvince: "Northern", country: "Uganda", postalCode: "256", address1: "Plot 1" },
        tags: ["Visit Location"],
      }).uuid;
      const clinic = parent.store.createOf("location", {
        name: "Awach HC III",
        address: { cityVillage: "Awach", address2: "Main road" },
        parent: district,
        tags: ["Login Location", "Visit Location"],
      }).uuid;
      const patient = [...parent.store.patients.values()][0].uuid;
      const visit = parent.store.createVisit({ patient, visitType: VISIT_TYPES[0].uuid, startDatetime: "2025-03-01T08:00:00.000+0000", location: clinic }).uuid;
      const encounter = parent.store.createEncounter({
        patient,
        visit,
        encounterType: ENCOUNTER_TYPES[0].uuid,
        encounterDatetime: "2025-03-01T08:10:00.000+0000",
        location: clinic,
      }).uuid;
      await parent.start();
      await child.start();
      const db = path.join(dir, "sync.db");
      const withMode = (flow: FlowNode[]) => flow.map((n) => (n.type === "openmrs-server" ? { ...n, fhirMode: mode } : n));
      nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: withMode(PULL), env: env(parent, child, db, "3600") });
      await nodeRed.start();

      // As shipped: no location feed; the visit and encounter at the clinic wait.
      assert.ok(
        PULL.some((n) => n.type === "atom-feed-in" && n.category === "location" && n.d === true),
        "the location feed node ships disabled",
      );
      await inject(nodeRed, "pull_now");
      // (The visit and encounter feeds cannot catch up while a record waits: everything else arrives.)
      const others = [...parent.store.encounters.values()].filter((e) => e.uuid !== encounter).map((e) => e.uuid);
      await until(() => others.every((e) => child!.store.get("encounter", e) !== undefined), 90_000, "the other encounters");
      assert.equal(child.store.get("visit", visit), undefined, "the visit waits for its location");
      assert.equal(child.store.get("encounter", encounter), undefined, "the encounter waits for its location");
      assert.equal(child.store.getOf("location", clinic), undefined);

      // The implementer enables the location feed node.
      const enabled = withMode(PULL).map((n) => (n.type === "atom-feed-in" && n.category === "location" ? { ...n, d: false } : n));
      await nodeRed.deploy(enabled);
      await inject(nodeRed, "pull_now");
      await until(() => feedsCaughtUp(db, parent!, feedNodes(enabled, "omrs_parent")), 90_000, "pull with locations caught up");
      await converged(parent, child, 90_000);
      assert.equal(assertLocationsEqual(parent, child), 2);
      assert.equal(child.store.get("encounter", encounter)?.location, clinic, "the waiting encounter went through");

      // A rename and a retirement at the parent.
      await simCall(parent, "POST", `/ws/rest/v1/location/${district}`, { name: "Gulu District Health Office", tags: ["Visit Location", "Admin"] });
      await simCall(parent, "DELETE", `/ws/rest/v1/location/${clinic}?reason=merged`);
      await inject(nodeRed, "pull_now");
      await until(() => feedsCaughtUp(db, parent!, feedNodes(enabled, "omrs_parent")), 90_000, "pull caught up again");
      await converged(parent, child, 90_000);
      assert.equal(assertLocationsEqual(parent, child), 1);
      assert.equal((child.store.getOf("location", district) as Location).name, "Gulu District Health Office");
      assert.equal((child.store.getOf("location", clinic) as Location).voided, true);
      if (mode === "rest")
        for (const sim of [parent, child])
          assert.deepEqual(
            sim.requests.filter((r) => r.kind === "fhir-get" || r.kind === "fhir-write"),
            [],
            "REST v1 alone",
          );
      assert.deepEqual(parent.diff(child), []);
    });
  it("push, with the child's location feed enabled: a location made at the clinic, and a visit at it, arrive at the parent", async () => {
    child = new OpenmrsSim({ name: "child", seed: 103 });
    parent = new OpenmrsSim({ name: "parent", seed: 104 });
    child.generate({ patients: 2, visitsPerPatient: 0 });
    const room = child.store.createOf("location", {
      name: "Outreach tent",
      description: "Mobile clinic",
      address: { cityVillage: "Lira" },
      tags: ["Visit Location"],
    }).uuid;
    const patient = [...child.store.patients.values()][0].uuid;
    const visit = child.store.createVisit({ patient, visitType: VISIT_TYPES[0].uuid, startDatetime: "2025-04-01T08:00:00.000+0000", location: room }).uuid;
    await child.start();
    await parent.start();
    const db = path.join(dir, "sync.db");
    const enabled = PUSH.map((n) => (n.type === "atom-feed-in" && n.category === "location" ? { ...n, d: false } : n));
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: enabled, env: env(parent, child, db, "3600") });
    await nodeRed.start();
    await inject(nodeRed, "push_now");
    await until(() => feedsCaughtUp(db, child!, feedNodes(enabled, "omrs_child")), 90_000, "push caught up");
    await converged(child, parent, 90_000);
    assert.equal(assertLocationsEqual(child, parent), 1);
    assert.equal(parent.store.get("visit", visit)?.location, room);
    assert.deepEqual(child.diff(parent), []);
  });
});
