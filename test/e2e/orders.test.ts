/**
 * Drug orders (with their dosing) and test orders end to end (issue 8), through the shipped flows in a
 * real Node-RED process against the simulators: parent -> child through the pull flow, read through fhir2
 * (completed from REST v1: fhir2 leaves out care setting, action, number, frequency and units) and through
 * REST v1 alone (`fhirMode: "rest"`, the Bahmni dialect too), and child -> parent through the push flow.
 * Orders are written through REST `order` with their uuid and number (fhir2 cannot create them). Then
 * clinicians change orders as OpenMRS lets them: a drug order revised (a new REVISE order that stops it),
 * a test order discontinued (a DISCONTINUE order), an order voided; the new orders arrive and stop their
 * previous ones at the target too. Every order is compared field by field on the stored records.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim, type Order } from "../../sim";
import { instantIso } from "../../sim/dates";
import { CARE_SETTINGS, DOSING_UNITS, DRUGS, DURATION_UNITS, ORDER_FREQUENCIES, PROVIDERS, ROUTES } from "../../sim/metadata";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { converged, env, feedNodes, feedsCaughtUp, inject, shippedFlow, until, useE2E, writesAt, type FlowNode, simCall as call } from "../helpers/e2e";

const PULL = shippedFlow("pull-from-parent");
const PUSH = shippedFlow("push-to-parent");
const TYPES = ["drug_order", "test_order"] as const;

const ordersOf = (sim: OpenmrsSim, type: (typeof TYPES)[number]) => [...sim.store.records(type).values()] as Order[];

/** Every order of `source` at `target`, field by field (audit dates aside, date-times as instants); voided ones voided or absent. */
function assertOrdersEqual(source: OpenmrsSim, target: OpenmrsSim): number {
  const fields = (o: Order) => {
    const { auditInfo: _a, dateActivated, dateStopped, autoExpireDate, ...rest } = o;
    void _a;
    return { ...rest, dateActivated: instantIso(dateActivated), dateStopped: instantIso(dateStopped), autoExpireDate: instantIso(autoExpireDate) };
  };
  let live = 0;
  for (const type of TYPES) {
    for (const o of ordersOf(source, type)) {
      const t = target.store.getOf(type, o.uuid) as Order | undefined;
      if (o.voided) {
        assert.ok(!t || t.voided, `${type} ${o.uuid} voided at the source, live at the target`);
        continue;
      }
      assert.ok(t, `${type} ${o.uuid} (${o.action}) missing at the target`);
      assert.deepEqual(fields(t), fields(o), `${type} ${o.uuid}`);
      live++;
    }
    for (const t of ordersOf(target, type))
      if (!t.voided) assert.ok(source.store.getOf(type, t.uuid)?.voided === false, `${type} ${t.uuid} only at the target`);
  }
  return live;
}

/** A drug order with every dosing field, for a patient who has an encounter and no active order of that drug. */
async function seedDrugOrder(sim: OpenmrsSim): Promise<string> {
  const enc = [...sim.store.encounters.values()].find(
    (e) => !e.voided && !ordersOf(sim, "drug_order").some((o) => o.patient === e.patient && o.drug === DRUGS[2].uuid),
  )!;
  const o = await call(sim, "POST", "/ws/rest/v1/order", {
    type: "drugorder",
    patient: enc.patient,
    encounter: enc.uuid,
    orderer: PROVIDERS[1].uuid,
    careSetting: "OUTPATIENT",
    drug: DRUGS[2].uuid,
    dosingType: "org.openmrs.SimpleDosingInstructions",
    dose: 500,
    doseUnits: DOSING_UNITS.mg,
    route: ROUTES.oral,
    frequency: ORDER_FREQUENCIES[1].uuid,
    asNeeded: true,
    duration: 2,
    durationUnits: DURATION_UNITS.weeks,
    quantity: 28,
    quantityUnits: DOSING_UNITS.tablet,
    numRefills: 1,
    dosingInstructions: "With the evening meal",
    instructions: "Check glucose weekly",
    commentToFulfiller: "Generic allowed",
    urgency: "STAT",
  });
  return String(o.uuid);
}

/** Revise the seeded drug order (dose and frequency changed), discontinue a test order, void another order. */
async function changeOrders(sim: OpenmrsSim, drugOrder: string): Promise<{ revision: string; discontinued: string; discontinuation: string; voided: string }> {
  const prev = sim.store.getOf("drug_order", drugOrder) as Order;
  const revision = await call(sim, "POST", "/ws/rest/v1/order", {
    type: "drugorder",
    action: "REVISE",
    previousOrder: prev.uuid,
    patient: prev.patient,
    encounter: prev.encounter,
    orderer: prev.orderer,
    careSetting: prev.careSetting,
    drug: prev.drug,
    dosingType: "org.openmrs.SimpleDosingInstructions",
    dose: 1000,
    doseUnits: DOSING_UNITS.mg,
    route: ROUTES.oral,
    frequency: ORDER_FREQUENCIES[0].uuid,
    quantity: 14,
    quantityUnits: DOSING_UNITS.tablet,
  });
  const test = ordersOf(sim, "test_order").find((o) => !o.voided && o.action === "NEW" && !o.dateStopped)!;
  const dc = await call(sim, "POST", "/ws/rest/v1/order", {
    type: "testorder",
    action: "DISCONTINUE",
    previousOrder: test.uuid,
    patient: test.patient,
    encounter: test.encounter,
    orderer: test.orderer,
    careSetting: test.careSetting,
    concept: test.concept,
    commentToFulfiller: "No longer needed",
  });
  const victim = ordersOf(sim, "drug_order").find((o) => !o.voided && o.uuid !== prev.uuid && o.action === "NEW" && !o.dateStopped)!;
  await call(sim, "DELETE", `/ws/rest/v1/order/${victim.uuid}?reason=entered%20in%20error`);
  return { revision: String(revision.uuid), discontinued: test.uuid, discontinuation: String(dc.uuid), voided: victim.uuid };
}

describe("drug and test orders end to end (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-orders",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  async function run(flow: FlowNode[], mode: "fhir2" | "rest" | "auto"): Promise<string> {
    const db = path.join(dir, "sync.db");
    const nodes = flow.map((n) => (n.type === "openmrs-server" ? { ...n, fhirMode: mode } : n));
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: nodes, env: env(parent!, child!, db, "3600") });
    await nodeRed.start();
    return db;
  }

  function assertChanges(source: OpenmrsSim, target: OpenmrsSim, drugOrder: string, c: Awaited<ReturnType<typeof changeOrders>>): void {
    const rev = target.store.getOf("drug_order", c.revision) as Order;
    assert.deepEqual([rev.action, rev.previousOrder, rev.dose, rev.frequency], ["REVISE", drugOrder, 1000, ORDER_FREQUENCIES[0].uuid]);
    assert.ok((target.store.getOf("drug_order", drugOrder) as Order).dateStopped, "the revised order is stopped at the target");
    const dc = target.store.getOf("test_order", c.discontinuation) as Order;
    assert.deepEqual([dc.action, dc.previousOrder], ["DISCONTINUE", c.discontinued]);
    assert.ok((target.store.getOf("test_order", c.discontinued) as Order).dateStopped, "the discontinued order is stopped at the target");
    assert.equal((target.store.getOf("drug_order", c.voided) as Order).voided, true);
    void source;
  }

  for (const mode of ["fhir2", "rest"] as const)
    it(`pull: orders with dosing, then a revision, a discontinuation and a void at the parent, arrive at the child (through ${mode})`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 101, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 102 });
      parent.generate({ patients: 5, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { drug_order: 1, test_order: 1 } });
      await parent.start();
      await child.start();
      const drugOrder = await seedDrugOrder(parent);
      const db = await run(PULL, mode);
      const feeds = feedNodes(PULL, "omrs_parent");
      const at = (c: string) => feeds.findIndex((f) => f.category === c);
      assert.deepEqual(
        ["encounter", "drug_order", "test_order"].map(at).map((i, _, all) => i >= 0 && i >= all[0]),
        [true, true, true],
        "the pull flow reads the order feeds after the encounters",
      );
      const pull = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, feeds), 90_000, "pull caught up");
        await converged(parent!, child!, 60_000);
      };
      await pull();
      assert.equal(assertOrdersEqual(parent, child), 11);
      const seeded = child.store.getOf("drug_order", drugOrder) as Order;
      assert.deepEqual(
        [
          seeded.dose,
          seeded.doseUnits,
          seeded.route,
          seeded.frequency,
          seeded.duration,
          seeded.durationUnits,
          seeded.quantity,
          seeded.asNeeded,
          seeded.careSetting,
        ],
        [500, DOSING_UNITS.mg, ROUTES.oral, ORDER_FREQUENCIES[1].uuid, 2, DURATION_UNITS.weeks, 28, true, CARE_SETTINGS[0].uuid],
      );

      const since = Date.now();
      const c = await changeOrders(parent, drugOrder);
      await pull();
      assert.equal(assertOrdersEqual(parent, child), 12);
      assertChanges(parent, child, drugOrder, c);
      const writes = writesAt(child, since).filter((w) => /order|MedicationRequest|ServiceRequest/.test(w.path));
      assert.ok(writes.length > 0);
      for (const w of writes) assert.ok(w.status < 300, `${w.method} ${w.path}: ${w.status}`);
      assert.ok(!writes.some((w) => w.path.includes("/fhir2/")), "orders are never written through fhir2");
      if (mode === "rest")
        for (const sim of [parent, child])
          assert.deepEqual(
            sim.requests.filter((r) => r.kind === "fhir-get" || r.kind === "fhir-write"),
            [],
            "REST v1 alone",
          );
      assert.deepEqual(parent.diff(child), []);
    });

  it("push: the clinic's orders, then a revision, a discontinuation and a void, arrive at the parent", async () => {
    child = new OpenmrsSim({ name: "child", seed: 103 });
    parent = new OpenmrsSim({ name: "parent", seed: 104 });
    child.generate({ patients: 4, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { drug_order: 1, test_order: 1 } });
    await child.start();
    await parent.start();
    const drugOrder = await seedDrugOrder(child);
    const db = await run(PUSH, "auto");
    const feeds = feedNodes(PUSH, "omrs_child");
    const push = async () => {
      await inject(nodeRed!, "push_now");
      await until(() => feedsCaughtUp(db, child!, feeds), 90_000, "push caught up");
      await converged(child!, parent!, 90_000);
    };
    await push();
    assert.equal(assertOrdersEqual(child, parent), 9);
    const c = await changeOrders(child, drugOrder);
    await push();
    assert.equal(assertOrdersEqual(child, parent), 10);
    assertChanges(child, parent, drugOrder, c);
    assert.deepEqual(child.diff(parent), []);
  });
});
