/**
 * The simulator's locations as records (sim/types/location.ts): REST v1 `location` and fhir2 `Location`
 * as the real modules behave, retiring, the feed, and a location record as metadata other records name.
 */
import * as assert from "node:assert/strict";
import { OpenmrsSim } from "../../sim";
import { VISIT_TYPES } from "../../sim/metadata";
import { ADDRESS_EXT, LOCATION_TAG_SYSTEM, type Location } from "../../sim/types/location";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64"), "content-type": "application/json" };
const DISTRICT = "0a3c7b1e-5d2f-4c6a-9b8e-1f2a3b4c5d01";
const CLINIC = "0a3c7b1e-5d2f-4c6a-9b8e-1f2a3b4c5d02";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

describe("simulator: locations as records (REST location, fhir2 Location)", function () {
  let sim: OpenmrsSim;
  let url: string;

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 5 });
    url = await sim.start();
    sim.generate({ patients: 1, visitsPerPatient: 0 });
  });
  afterEach(() => sim.stop());

  const call = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${url}${p}`, { method, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const stored = (uuid: string) => sim.store.getOf("location", uuid) as Location | undefined;

  it("REST: create with uuid, parent and tags; a parent the server lacks is refused; DELETE retires; events CREATED, UPDATED, RETIRED", async () => {
    assert.equal((await call("POST", "/ws/rest/v1/location", { uuid: CLINIC, name: "Clinic", parentLocation: DISTRICT })).status, 400);
    const d = await call("POST", "/ws/rest/v1/location", {
      uuid: DISTRICT,
      name: "District",
      cityVillage: "Kampala",
      country: "Uganda",
      tags: ["Login Location"],
    });
    assert.equal(d.status, 201);
    const c = await call("POST", "/ws/rest/v1/location", { uuid: CLINIC, name: "Clinic", description: "ANC", address1: "Plot 4", parentLocation: DISTRICT });
    assert.equal(c.status, 201);
    assert.equal(c.json.parentLocation.uuid, DISTRICT);
    const got = (await call("GET", `/ws/rest/v1/location/${DISTRICT}?v=full`)).json;
    assert.deepEqual(
      [got.name, got.cityVillage, got.tags[0].display, got.childLocations[0].uuid, got.retired],
      ["District", "Kampala", "Login Location", CLINIC, false],
    );
    assert.equal((await call("POST", `/ws/rest/v1/location/${CLINIC}`, { retired: true })).status, 400);
    assert.equal((await call("POST", `/ws/rest/v1/location/${CLINIC}`, { name: "Clinic A" })).json.name, "Clinic A");
    assert.equal((await call("DELETE", `/ws/rest/v1/location/${CLINIC}?reason=closed`)).status, 204);
    assert.equal((await call("GET", `/ws/rest/v1/location/${CLINIC}`)).json.retired, true);
    assert.deepEqual(
      sim.store.categoryEvents("location").map((e) => e.action),
      ["CREATED", "CREATED", "UPDATED", "UPDATED", "RETIRED"],
    );
    // The fixed locations are still served as metadata.
    assert.equal((await call("GET", "/ws/rest/v1/location/8d6c993e-c2cc-11de-8d13-0010c6dffd0f")).status, 200);
  });

  it("fhir2: served as LocationTranslatorImpl does (retired still served, inactive); PUT sets four address fields, adds tags, an unknown parent is none", async () => {
    sim.store.createOf("location", { uuid: DISTRICT, name: "District", tags: ["Visit Location"] });
    sim.store.createOf("location", { uuid: CLINIC, name: "Clinic", address: { address1: "Plot 4", cityVillage: "Gulu" }, parent: DISTRICT });
    const l = (await call("GET", `/ws/fhir2/R4/Location/${CLINIC}`)).json;
    assert.deepEqual([l.status, l.name, l.partOf.reference, l.address.city], ["active", "Clinic", `Location/${DISTRICT}`, "Gulu"]);
    assert.deepEqual(l.address.extension, [{ url: ADDRESS_EXT, extension: [{ url: `${ADDRESS_EXT}#address1`, valueString: "Plot 4" }] }]);
    assert.deepEqual((await call("GET", `/ws/fhir2/R4/Location/${DISTRICT}`)).json.meta.tag, [{ system: LOCATION_TAG_SYSTEM, code: "Visit Location" }]);
    const put = await call("PUT", `/ws/fhir2/R4/Location/${CLINIC}`, {
      ...l,
      address: { city: "Lira" },
      meta: { tag: [{ system: LOCATION_TAG_SYSTEM, code: "Login Location" }] },
      partOf: { reference: "Location/0a3c7b1e-5d2f-4c6a-9b8e-1f2a3b4c5dff" },
      status: "inactive",
    });
    assert.equal(put.status, 200);
    const s = stored(CLINIC)!;
    assert.deepEqual([s.address.cityVillage, s.address.address1, s.tags, s.parent, s.voided], ["Lira", "Plot 4", ["Login Location"], null, false]);
    assert.equal((await call("DELETE", `/ws/fhir2/R4/Location/${CLINIC}`)).status, 200);
    assert.equal((await call("GET", `/ws/fhir2/R4/Location/${CLINIC}`)).json.status, "inactive");
  });

  it("a location record is metadata: a visit may name it once it exists; a lacking one is refused until created", () => {
    const patient = [...sim.store.patients.values()][0].uuid;
    const visit = { patient, visitType: VISIT_TYPES[0].uuid, startDatetime: "2025-01-01T08:00:00.000+0000", location: CLINIC };
    assert.throws(() => sim.store.createVisit(visit));
    sim.store.lacking.add(CLINIC);
    sim.store.createOf("location", { uuid: CLINIC, name: "Clinic" });
    assert.equal(sim.store.lacking.has(CLINIC), false);
    assert.equal(sim.store.createVisit(visit).location, CLINIC);
  });
});
