/**
 * Orders: the simulator's drug and test orders (sim/types/order.ts: immutable, REVISE / DISCONTINUE
 * stop the previous order, REST update refused, fhir2 read-only), the converter (lib/fhir/types/order.ts)
 * both ways against real JSON (test/fixtures/openmrs/SOURCES.md), and writing them into a simulated
 * OpenMRS (lib/push/targets.ts): created through REST `order` with the uuid and the number, an equal copy
 * left alone, a different one refused as immutable, a revision arriving as a new order.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenmrsSim, type Order } from "../../sim";
import { CARE_SETTINGS, DOSING_UNITS, DRUGS, DURATION_UNITS, ORDER_FREQUENCIES, PROVIDERS, ROUTES, TEST_CONCEPTS } from "../../sim/metadata";
import { fhirReferences, fhirToRestCreate, restKindOfFhir, restToFhir, type FhirResource } from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";
import { metadataRefs } from "../../lib/openmrs/metadata-check";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { fetchRecord } from "../../lib/openmrs/fetch-record";
import { OpenmrsTarget, type WriteRequest } from "../../lib/push/targets";
import { describeEntry } from "../../lib/atom/entry";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64"), "content-type": "application/json" };
const ORDER = "6b1d6c4e-0f3a-4d2b-9a8e-1c2d3e4f5a60";
const OUTPATIENT = CARE_SETTINGS[0].uuid;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

function dosing(): Json {
  return {
    drug: DRUGS[0].uuid,
    dosingType: "org.openmrs.SimpleDosingInstructions",
    dose: 1,
    doseUnits: DOSING_UNITS.capsule,
    route: ROUTES.oral,
    frequency: ORDER_FREQUENCIES[2].uuid,
    asNeeded: false,
    duration: 7,
    durationUnits: DURATION_UNITS.days,
    quantity: 21,
    quantityUnits: DOSING_UNITS.capsule,
    numRefills: 0,
    instructions: "Take after meals",
  };
}

/** `asNeeded: false` is REST's default: the body leaves it out. */
function withoutAsNeeded(d: Json): Json {
  const { asNeeded: _a, ...rest } = d;
  void _a;
  return rest;
}

describe("orders", function () {
  this.timeout(20_000);
  let sim: OpenmrsSim;
  let patient: string;
  let encounter: string;
  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 5 });
    await sim.start();
    sim.generate({ patients: 1, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 0 });
    patient = [...sim.store.patients.values()][0].uuid;
    encounter = [...sim.store.encounters.values()][0].uuid;
  });
  afterEach(() => sim.stop());
  const call = async (s: OpenmrsSim, method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${s.url}${p}`, { method, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const newDrugOrder = (extra: Json = {}) =>
    call(sim, "POST", "/ws/rest/v1/order", {
      type: "drugorder",
      uuid: ORDER,
      action: "NEW",
      patient,
      encounter,
      orderer: PROVIDERS[1].uuid,
      careSetting: "OUTPATIENT",
      dateActivated: "2026-11-20T10:00:00.000+0000",
      ...dosing(),
      ...extra,
    });
  const stored = (uuid: string) => sim.store.getOf("drug_order", uuid) as Order;

  describe("simulator", () => {
    it("REST: creates a drug order with its dosing; refuses an update; a REVISE stops the previous one, a DISCONTINUE too; duplicates refused", async () => {
      const created = await newDrugOrder();
      assert.equal(created.status, 201, JSON.stringify(created.json));
      assert.equal(created.json.type, "drugorder");
      assert.equal(created.json.orderNumber, "ORD-1");
      assert.equal(created.json.careSetting.uuid, OUTPATIENT);
      assert.equal(created.json.frequency.uuid, ORDER_FREQUENCIES[2].uuid);
      assert.equal(stored(ORDER).concept, DRUGS[0].concept, "the concept is the drug's");

      const edit = await call(sim, "POST", `/ws/rest/v1/order/${ORDER}`, { dose: 2 });
      assert.equal(edit.status, 400);
      assert.match(JSON.stringify(edit.json), /does not support/i);
      assert.equal((await newDrugOrder({ uuid: undefined, orderNumber: undefined })).status, 400, "a second active order of the drug");

      const revised = await newDrugOrder({ uuid: undefined, action: "REVISE", previousOrder: ORDER, dose: 2, dateActivated: "2026-11-22T08:00:00.000+0000" });
      assert.equal(revised.status, 201, JSON.stringify(revised.json));
      assert.equal(stored(ORDER).dateStopped !== null, true);
      assert.equal(new Date(stored(ORDER).dateStopped!.replace(/([+-]\d\d)(\d\d)$/, "$1:$2")).toISOString(), "2026-11-22T07:59:59.000Z");
      assert.equal((await newDrugOrder({ uuid: undefined, action: "REVISE", previousOrder: ORDER })).status, 400, "a stopped order cannot be revised");

      const dc = await call(sim, "POST", "/ws/rest/v1/order", {
        type: "drugorder",
        action: "DISCONTINUE",
        previousOrder: revised.json.uuid,
        patient,
        encounter,
        orderer: PROVIDERS[0].uuid,
        careSetting: OUTPATIENT,
        drug: DRUGS[0].uuid,
        dosingType: "org.openmrs.FreeTextDosingInstructions",
        dosingInstructions: "stop",
      });
      assert.equal(dc.status, 201, JSON.stringify(dc.json));
      assert.equal(stored(String(revised.json.uuid)).dateStopped !== null, true);
      const r = await call(sim, "GET", `/ws/fhir2/R4/MedicationRequest/${String(revised.json.uuid)}`);
      assert.equal(r.json.status, "cancelled");
      assert.equal(r.json.priorPrescription.reference, `MedicationRequest/${ORDER}`);
      assert.equal((await call(sim, "PUT", `/ws/fhir2/R4/MedicationRequest/${ORDER}`, { ...r.json, id: ORDER })).status, 400, "fhir2 cannot update it");
      assert.equal((await call(sim, "DELETE", `/ws/fhir2/R4/MedicationRequest/${ORDER}`)).status, 400, "nor delete it");
      assert.deepEqual(
        sim.store.categoryEvents("drug_order").map((e) => e.action),
        ["CREATED", "UPDATED", "CREATED", "UPDATED", "CREATED"],
      );
      assert.equal(JSON.parse(sim.store.categoryEvents("drug_order")[0].content).rest, `/ws/rest/v1/order/${ORDER}?v=full`);
      assert.equal((await call(sim, "DELETE", `/ws/rest/v1/order/${ORDER}`)).status, 204);
      assert.equal(stored(ORDER).voided, true);
      assert.equal((await call(sim, "GET", `/ws/fhir2/R4/MedicationRequest/${ORDER}`)).status, 410);
    });

    it("REST: a test order; fhir2 ServiceRequest", async () => {
      const t = await call(sim, "POST", "/ws/rest/v1/order", {
        type: "testorder",
        patient,
        encounter,
        orderer: PROVIDERS[0].uuid,
        careSetting: "INPATIENT",
        concept: TEST_CONCEPTS[1].uuid,
        urgency: "STAT",
        clinicalHistory: "Fatigue",
      });
      assert.equal(t.status, 201, JSON.stringify(t.json));
      const sr = await call(sim, "GET", `/ws/fhir2/R4/ServiceRequest/${String(t.json.uuid)}`);
      assert.equal(sr.json.status, "active");
      assert.equal(sr.json.code.coding[0].code, TEST_CONCEPTS[1].uuid);
      assert.equal(sr.json.requester.reference, `Practitioner/${PROVIDERS[0].uuid}`);
    });
  });

  describe("converter", () => {
    it("the demo server's test order -> ServiceRequest (valid R4) -> the REST create body", () => {
      const rep = (JSON.parse(fs.readFileSync(path.join(FIXTURES, "openmrs-contrib-rest-api-docs/orders_testorder.json"), "utf8")) as { results: Json[] })
        .results[0];
      const r = restToFhir("order", rep);
      assert.deepEqual(validateResource(r), { valid: true, errors: [] });
      assert.equal(r.resourceType, "ServiceRequest");
      assert.equal(restKindOfFhir(r), "order");
      assert.deepEqual(fhirReferences(r), [
        { resourceType: "Patient", id: "96be32d2-9367-4d1d-a285-79a5e5db12b8" },
        { resourceType: "Encounter", id: "69f83020-caf2-4c9e-bca7-89b8e62b52e1" },
      ]);
      const { kind, body } = fhirToRestCreate(r);
      assert.equal(kind, "order");
      assert.deepEqual(body, {
        uuid: "8f9e24b4-0498-493c-b87c-ae1535551345",
        type: "testorder",
        orderNumber: "ORD-1",
        action: "NEW",
        patient: "96be32d2-9367-4d1d-a285-79a5e5db12b8",
        encounter: "69f83020-caf2-4c9e-bca7-89b8e62b52e1",
        orderer: "f9badd80-ab76-11e2-9e96-0800200c9a66",
        careSetting: "c365e560-c3ec-11e3-9c1a-0800200c9a66",
        dateActivated: "2018-10-16T12:08:43.000+0000",
        urgency: "ROUTINE",
        concept: "5087AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      });
      assert.deepEqual(
        metadataRefs("order", body, r).map((m) => m.kind),
        ["concept", "caresetting", "provider"],
      );
      assert.throws(() => fhirToRestCreate({ ...r, extension: undefined }), /care setting/);
    });

    it("a drug order with its dosing, read through fhir2 and completed from REST, round-trips to the create body", async () => {
      await newDrugOrder();
      const server = new OpenmrsServer({ url: sim.url, username: "admin", password: "Admin123", fhirMode: "fhir2" });
      try {
        const entry = describeEntry({
          id: "e1",
          title: "DrugOrder",
          updated: "",
          categories: ["drug_order"],
          content: `/openmrs/ws/rest/v1/order/${ORDER}?v=full`,
          page: "",
        });
        assert.equal(entry.resourceType, "MedicationRequest", "the category names the type of an order/{uuid} link");
        const fetched = await fetchRecord(server, await server.profile(), {
          ...entry,
          links: { ...entry.links, fhir: `/ws/fhir2/R4/MedicationRequest/${ORDER}` },
        });
        const r = fetched.resource!;
        assert.equal(fetched.via, "fhir2");
        assert.deepEqual(validateResource(r), { valid: true, errors: [] });
        const { body } = fhirToRestCreate(r);
        assert.deepEqual(body, {
          uuid: ORDER,
          type: "drugorder",
          orderNumber: "ORD-1",
          action: "NEW",
          patient,
          encounter,
          orderer: PROVIDERS[1].uuid,
          careSetting: OUTPATIENT,
          dateActivated: stored(ORDER).dateActivated,
          urgency: "ROUTINE",
          ...withoutAsNeeded(dosing()),
        });
      } finally {
        server.close();
      }
    });
  });

  describe("OpenmrsTarget", () => {
    for (const mode of ["fhir2", "rest"] as const)
      it(`${mode}: creates through REST with uuid and number; an equal copy is left alone, a different one refused; a revision arrives; a delete voids`, async () => {
        await newDrugOrder();
        const target = new OpenmrsSim({ name: "target", seed: 6 });
        await target.start();
        const from = new OpenmrsServer({ url: sim.url, username: "admin", password: "Admin123" });
        const to = new OpenmrsServer({ url: target.url, username: "admin", password: "Admin123", fhirMode: mode });
        try {
          const t = new OpenmrsTarget(to);
          const read = async (type: string, id: string): Promise<FhirResource> => {
            if (type === "MedicationRequest") return restToFhir("order", (await call(sim, "GET", `/ws/rest/v1/order/${id}?v=full`)).json);
            return (await from.fhir.read(type, id)).body as FhirResource;
          };
          const write = async (type: string, id: string, over: Partial<WriteRequest> = {}) =>
            t.write({ action: "upsert", resourceType: type, id, resource: await read(type, id), ...over });
          target.store.lacking.add(DRUGS[0].uuid);
          target.store.lacking.add(ORDER_FREQUENCIES[2].uuid);
          const noDrug = await write("MedicationRequest", ORDER);
          assert.deepEqual([noDrug.outcome.kind, noDrug.outcome.reason], ["retry", "missing-metadata"]);
          assert.match(noDrug.outcome.message ?? "", /drug 3cfcf118.*order frequency 160866OF/);
          target.store.lacking.clear();
          const first = await write("MedicationRequest", ORDER);
          assert.deepEqual([first.outcome.kind, first.outcome.reason], ["retry", "missing-reference"]);
          assert.equal((await write("Patient", patient)).outcome.kind, "ok");
          const visit = [...sim.store.visits.values()][0].uuid;
          assert.equal((await write("Encounter", visit, { restKind: "visit" })).outcome.kind, "ok");
          assert.equal((await write("Encounter", encounter)).outcome.kind, "ok");
          const created = await write("MedicationRequest", ORDER);
          assert.deepEqual([created.outcome.kind, created.outcome.reason], ["ok", "created"]);
          const copy = target.store.getOf("drug_order", ORDER) as Order;
          assert.equal(copy.orderNumber, "ORD-1");
          assert.equal(copy.dose, 1);
          assert.equal(copy.frequency, ORDER_FREQUENCIES[2].uuid);

          const again = await write("MedicationRequest", ORDER);
          assert.deepEqual([again.outcome.kind, again.outcome.reason], ["ok", "already-equal"]);
          const changed = await t.write({
            action: "upsert",
            resourceType: "MedicationRequest",
            id: ORDER,
            resource: { ...(await read("MedicationRequest", ORDER)), note: [{ text: "edited" }] },
          });
          assert.deepEqual([changed.outcome.kind, changed.outcome.reason], ["permanent", "order-immutable"]);
          assert.match(changed.outcome.message ?? "", /REVISE or DISCONTINUE/);

          const revised = await newDrugOrder({
            uuid: undefined,
            orderNumber: undefined,
            action: "REVISE",
            previousOrder: ORDER,
            dose: 2,
            dateActivated: "2026-11-22T08:00:00.000+0000",
          });
          const rev = String(revised.json.uuid);
          assert.equal((await write("MedicationRequest", ORDER)).outcome.reason, "already-equal", "the previous order, stopped at the source, says the same");
          assert.equal((await write("MedicationRequest", rev, { created: true })).outcome.kind, "ok");
          assert.equal((target.store.getOf("drug_order", rev) as Order).previousOrder, ORDER);
          assert.equal(copy.dateStopped === null, true, "the record read before");
          assert.equal(
            (target.store.getOf("drug_order", ORDER) as Order).dateStopped,
            sim.store.getOf("drug_order", ORDER) && target.store.dt((sim.store.getOf("drug_order", ORDER) as Order).dateStopped, "x"),
          );
          assert.deepEqual(
            target.diff(sim).filter((d) => /order/i.test(JSON.stringify(d))),
            [],
          );

          const del = await t.write({ action: "delete", resourceType: "MedicationRequest", id: rev, restKind: "order" });
          assert.equal(del.outcome.kind, "ok");
          assert.equal((target.store.getOf("drug_order", rev) as Order).voided, true);
        } finally {
          from.close();
          to.close();
          await target.stop();
        }
      });
  });
});
