/**
 * The hub's catchment rule (lib/hub/catchment.ts) on real fhir2 and webservices.rest JSON: which patients
 * and locations a record names in either dialect, what the hub learns of a patient's places, and which
 * keys may see it (location lists, several patients, metadata, a JSONata expression).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { allows, compileExpression, learn, MemoryPlaceStore, placeOf } from "../../lib/hub/catchment";

const FIXTURES = path.join(__dirname, "../fixtures/openmrs");
const read = (p: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(FIXTURES, p), "utf8")) as Record<string, unknown>;

const CLINIC_A = "8d6c993e-c2cc-11de-8d13-0010c6dffd0f"; // Outpatient Clinic in the REST fixture
const CLINIC_B = "92ab9667-4686-49af-8be8-65a4b58fc49c"; // the identifier location of the fhir2 fixture
const PATIENT_ENC = "5946f880-b197-400b-9caa-a3c661d23041"; // subject of the fhir2 Encounter/Observation fixtures

describe("hub catchment", () => {
  it("reads patients and locations from REST and fhir2 records", () => {
    const rest = read("openmrs-module-webservices.rest/create_patient_from_get.json");
    assert.deepEqual(placeOf("patient", rest), { patients: ["a65fc361-f6ac-40ba-8485-94749c061509"], locations: [CLINIC_A] });

    // fhir2's test file gives one identifier as an object; served resources have arrays.
    const fhir = read("openmrs-module-fhir2/PatientWebTest_create.json");
    const served = { ...fhir, id: "p-fhir", identifier: [fhir.identifier] };
    assert.deepEqual(placeOf("patient", served), { patients: ["p-fhir"], locations: [CLINIC_B] });

    const enc = read("openmrs-module-fhir2/EncounterWebTest_create.json");
    assert.deepEqual(placeOf("encounter", enc).patients, [PATIENT_ENC]);
    const obs = read("openmrs-module-fhir2/ObservationWebTest_create.json");
    assert.deepEqual(placeOf("observation", obs), { patients: [PATIENT_ENC], locations: [] });

    assert.deepEqual(placeOf("obs", { uuid: "o1", person: { uuid: "p1" }, location: { uuid: "l1" } }), { patients: ["p1"], locations: ["l1"] });
    assert.deepEqual(placeOf("relationship", { personA: { uuid: "a" }, personB: { uuid: "b" } }).patients, ["a", "b"]);
    // The same records as FHIR: a relationship names both persons, a person who is not a patient itself.
    const related = { resourceType: "RelatedPerson", identifier: [{ system: "RelatedPerson", value: "Person/a" }], patient: { reference: "Patient/b" } };
    assert.deepEqual(placeOf("relationship", related).patients, ["a", "b"]);
    assert.deepEqual(placeOf("person", { resourceType: "Person", id: "rel-1" }).patients, ["rel-1"]);
    assert.deepEqual(placeOf("location", { uuid: "l1", display: "Clinic" }), { patients: [], locations: [] });
    assert.deepEqual(placeOf("observation", "not a record"), { patients: [], locations: [] });
  });

  it("lets a key see its patients, metadata, and nothing of another clinic", async () => {
    const places = new MemoryPlaceStore();
    const keyA = { locations: [CLINIC_A] };
    const keyB = { locations: [CLINIC_B] };
    const patient = placeOf("patient", read("openmrs-module-webservices.rest/create_patient_from_get.json"));
    await learn(places, patient);
    assert.equal(await allows(keyA, patient, places), true);
    assert.equal(await allows(keyB, patient, places), false);

    // The patient's observation names no location: the patient's places decide.
    const obs = placeOf("obs", { person: { uuid: patient.patients[0] } });
    assert.equal(await allows(keyA, obs, places), true);
    assert.equal(await allows(keyB, obs, places), false);

    // Metadata goes to every key.
    assert.equal(await allows(keyB, placeOf("location", { uuid: CLINIC_A }), places), true);
  });

  it("places a patient where its encounters are, and keeps records of several patients to keys that hold all", async () => {
    const places = new MemoryPlaceStore();
    const keyB = { locations: [CLINIC_B] };
    const enc = placeOf("encounter", {
      ...read("openmrs-module-fhir2/EncounterWebTest_create.json"),
      location: [{ location: { reference: `Location/${CLINIC_B}` } }],
    });
    assert.equal(await allows(keyB, placeOf("obs", { person: PATIENT_ENC }), places), false);
    await learn(places, enc);
    assert.equal(await allows(keyB, placeOf("obs", { person: PATIENT_ENC }), places), true);

    await places.add("other", [CLINIC_A]);
    const rel = placeOf("relationship", { personA: { uuid: PATIENT_ENC }, personB: { uuid: "other" }, location: { uuid: CLINIC_B } });
    assert.equal(await allows(keyB, rel, places), false, "the other patient is not in B's catchment");
    assert.equal(await allows({ locations: [CLINIC_A, CLINIC_B] }, rel, places), true);
    // A record of several patients teaches nothing about where any of them is.
    await learn(places, rel);
    assert.deepEqual([...(await places.of("other"))], [CLINIC_A]);
  });

  it("lets a JSONata expression admit what the locations do not, and refuses a bad expression", async () => {
    const places = new MemoryPlaceStore();
    const key = { locations: [CLINIC_A], expression: `record.gender = "F" and "district-7" in locations` };
    const place = { patients: ["p9"], locations: ["district-7"] };
    assert.equal(await allows(key, place, places, { gender: "F" }), true);
    assert.equal(await allows(key, place, places, { gender: "M" }), false);
    assert.equal(await allows({ locations: [], expression: `"yes"` }, place, places, {}), false, "only true admits");
    assert.throws(() => compileExpression("record.(("));
  });
});
