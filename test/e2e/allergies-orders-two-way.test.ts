/**
 * Allergies and orders through the shipped two-way flow (issue 8): what the child pulled from the parent is
 * not written back to it (echo suppression over records that fhir2 reads but REST writes), and a change made
 * at the clinic afterwards (an allergy edited under its patient, a drug order revised) reaches the parent.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim, type Allergy, type Order } from "../../sim";
import { ciel, DOSING_UNITS, ORDER_FREQUENCIES, ROUTES } from "../../sim/metadata";
import { converged, useTwoWay, writesAt, simCall as call } from "../helpers/e2e";

describe("allergies and orders two-way (Node-RED + simulators)", function () {
  this.timeout(300_000);
  const twoWay = useTwoWay("e2e-allergies-orders-two-way");

  for (const mode of ["fhir2", "rest"] as const)
    it(`pulled records are not pushed back; the clinic's edit and revision reach the parent (${mode})`, async () => {
      const parent = new OpenmrsSim({ name: "parent", seed: 111 });
      const child = new OpenmrsSim({ name: "child", seed: 112 });
      parent.generate({
        patients: 4,
        visitsPerPatient: 1,
        encountersPerVisit: 1,
        obsPerEncounter: 0,
        perPatient: { allergy: 1, drug_order: 1, test_order: 1 },
      });
      const { syncOnce } = await twoWay.start(parent, child, mode);
      await syncOnce();
      await converged(parent, child, 60_000);
      assert.ok(child.store.records("allergy").size >= 4 && child.store.records("drug_order").size === 4 && child.store.records("test_order").size === 4);

      const since = Date.now();
      await syncOnce();
      assert.deepEqual(
        writesAt(parent, since).map((w) => `${w.method} ${w.path}`),
        [],
        "nothing written back to the parent",
      );

      const allergy = [...child.store.records("allergy").values()][0] as Allergy;
      await call(child, "POST", `/ws/rest/v1/patient/${allergy.patient}/allergy/${allergy.uuid}`, {
        comment: "Confirmed at the clinic.",
        reactions: [{ reaction: ciel(5978) }],
      });
      const prev = [...child.store.records("drug_order").values()].find((o) => (o as Order).dosingType === "org.openmrs.SimpleDosingInstructions") as Order;
      const revision = await call(child, "POST", "/ws/rest/v1/order", {
        type: "drugorder",
        action: "REVISE",
        previousOrder: prev.uuid,
        patient: prev.patient,
        encounter: prev.encounter,
        orderer: prev.orderer,
        careSetting: prev.careSetting,
        drug: prev.drug,
        dose: 3,
        doseUnits: DOSING_UNITS.tablet,
        route: ROUTES.oral,
        frequency: ORDER_FREQUENCIES[0].uuid,
      });
      await syncOnce();
      await converged(child, parent, 60_000);
      assert.equal((parent.store.getOf("allergy", allergy.uuid) as Allergy).comment, "Confirmed at the clinic.");
      assert.deepEqual(
        (parent.store.getOf("allergy", allergy.uuid) as Allergy).reactions.map((r) => r.reaction),
        [ciel(5978)],
      );
      const rev = parent.store.getOf("drug_order", String(revision.uuid)) as Order;
      assert.deepEqual([rev.action, rev.previousOrder, rev.dose], ["REVISE", prev.uuid, 3]);
      assert.ok((parent.store.getOf("drug_order", prev.uuid) as Order).dateStopped, "the revised order stopped at the parent");
      assert.deepEqual(parent.diff(child), []);
    });
});
