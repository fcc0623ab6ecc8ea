/**
 * The simulator's conditions (sim/types/condition.ts, the first registered record type): REST v1
 * `condition` and fhir2 `Condition` as the real modules behave, the feed, the generator, persistence and
 * the comparison.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OpenmrsSim, type Condition } from "../../sim";
import { ciel } from "../../sim/metadata";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") };
const JSON_AUTH = { ...AUTH, "content-type": "application/json" };
const FHIR_AUTH = { ...AUTH, "content-type": "application/fhir+json" };
const HYPERTENSION = ciel(117399);
const ASTHMA = ciel(121375);
const COND_UUID = "0f5b5ac4-8a3a-4b52-9f33-2a5c5c1f0c01";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

describe("simulator: conditions (a registered record type)", function () {
  let sim: OpenmrsSim;
  let url: string;
  let patient: string;

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 7 });
    url = await sim.start();
    sim.generate({ patients: 2, visitsPerPatient: 0 });
    patient = [...sim.store.patients.values()][0].uuid;
  });
  afterEach(() => sim.stop());

  const rest = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${url}/ws/rest/v1/${p}`, { method, headers: JSON_AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const fhir = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${url}/ws/fhir2/R4/${p}`, { method, headers: FHIR_AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const stored = (uuid: string) => sim.store.getOf("condition", uuid) as Condition | undefined;
  const events = () => sim.store.categoryEvents("condition").map((e) => `${e.action} ${e.object}`);
  const create = (extra: Json = {}) =>
    rest("POST", "condition", {
      uuid: COND_UUID,
      patient,
      condition: { coded: HYPERTENSION },
      clinicalStatus: "ACTIVE",
      verificationStatus: "CONFIRMED",
      onsetDate: "2024-03-01T08:00:00.000+0000",
      additionalDetail: "Diagnosed at the district hospital.",
      ...extra,
    });

  describe("REST v1", () => {
    it("creates with the given uuid and serves the full representation; the feed says CREATED in both link forms", async () => {
      const res = await create();
      assert.equal(res.status, 201);
      const got = await rest("GET", `condition/${COND_UUID}?v=full`);
      assert.equal(got.status, 200);
      const c = got.json;
      assert.equal(c.uuid, COND_UUID);
      assert.equal(c.display, "Hypertension");
      assert.equal(c.condition.coded.uuid, HYPERTENSION);
      assert.equal(c.condition.nonCoded, undefined, "CodedOrFreeTextConverter leaves out what is null");
      assert.equal(c.patient.uuid, patient);
      assert.equal(c.clinicalStatus, "ACTIVE");
      assert.equal(c.verificationStatus, "CONFIRMED");
      assert.equal(c.onsetDate, "2024-03-01T08:00:00.000+0000");
      assert.equal(c.endDate, null);
      assert.equal(c.additionalDetail, "Diagnosed at the district hospital.");
      assert.equal(c.previousVersion, null);
      assert.equal(c.voided, false);
      assert.ok(c.auditInfo.dateCreated);
      assert.deepEqual(events(), [`CREATED ${COND_UUID}`]);
      const e = sim.store.categoryEvents("condition")[0];
      assert.equal(e.title, "Condition");
      assert.deepEqual(JSON.parse(e.content), { rest: `/ws/rest/v1/condition/${COND_UUID}?v=full`, fhir: `/ws/fhir2/R4/Condition/${COND_UUID}` });
      const feed = await (await fetch(`${url}/ws/atomfeed/condition/recent`)).text();
      assert.match(feed, /<category term="condition" \/>/);
      assert.match(feed, new RegExp(`/ws/fhir2/R4/Condition/${COND_UUID}`));
    });

    it("takes free text (nonCoded) without a concept", async () => {
      const res = await rest("POST", "condition", { patient, condition: { nonCoded: "Chronic back pain" }, clinicalStatus: "INACTIVE" });
      assert.equal(res.status, 201);
      assert.equal(res.json.display, "Chronic back pain");
      assert.deepEqual(res.json.condition, { nonCoded: "Chronic back pain" });
    });

    it("refuses an unknown concept, a concept the server lacks, an unknown patient, a uuid taken, what cannot be set", async () => {
      const unknown = await create({ condition: { coded: "11111111-2222-3333-4444-555555555555" } });
      assert.equal(unknown.status, 400);
      assert.match(unknown.json.error.message, /Concept with uuid 11111111-2222-3333-4444-555555555555 not found/);
      sim.store.lacking.add(HYPERTENSION);
      const lacking = await create();
      assert.equal(lacking.status, 400);
      assert.match(lacking.json.error.message, new RegExp(`Concept with uuid ${HYPERTENSION} not found`));
      sim.store.lacking.delete(HYPERTENSION);
      assert.equal((await create({ patient: "99999999-2222-3333-4444-555555555555" })).status, 400);
      assert.equal((await create()).status, 201);
      const again = await create();
      assert.equal(again.status, 400);
      assert.match(again.json.error.message, /already exists/);
      const extra = await rest("POST", "condition", { patient, condition: { coded: ASTHMA }, clinicalStatus: "ACTIVE", encounter: "x" });
      assert.equal(extra.status, 400);
      assert.match(extra.json.error.message, /Some properties are not allowed to be set: encounter/);
      assert.equal(sim.store.records("condition").size, 1);
    });

    it("refuses what ConditionValidator refuses (no clinical status, no condition) as a validation error", async () => {
      const noStatus = await rest("POST", "condition", { patient, condition: { coded: ASTHMA } });
      assert.equal(noStatus.status, 400);
      assert.deepEqual(noStatus.json.error.globalErrors, [{ code: "The clinical status is required", message: "The clinical status is required" }]);
      const noCondition = await rest("POST", "condition", { patient, clinicalStatus: "ACTIVE" });
      assert.equal(noCondition.status, 400);
      assert.equal(noCondition.json.error.globalErrors[0].message, "The condition is required");
      const badStatus = await rest("POST", "condition", { patient, condition: { coded: ASTHMA }, clinicalStatus: "CURED" });
      assert.equal(badStatus.status, 400);
    });

    it("an update is versioned: the condition is voided and the change saved under a new uuid (ConditionServiceImpl.saveCondition)", async () => {
      await create();
      const unchanged = await rest("POST", `condition/${COND_UUID}`, { clinicalStatus: "ACTIVE", patient });
      assert.equal(unchanged.status, 200);
      assert.equal(unchanged.json.uuid, COND_UUID, "nothing changed: nothing saved");
      assert.deepEqual(events(), [`CREATED ${COND_UUID}`]);

      const res = await rest("POST", `condition/${COND_UUID}`, { clinicalStatus: "INACTIVE", endDate: "2024-06-01T00:00:00.000+0000" });
      assert.equal(res.status, 200);
      const newUuid = res.json.uuid as string;
      assert.notEqual(newUuid, COND_UUID);
      assert.equal(res.json.previousVersion.uuid, COND_UUID);
      assert.equal(res.json.clinicalStatus, "INACTIVE");
      assert.equal(res.json.additionalDetail, "Diagnosed at the district hospital.", "the rest is copied");
      const old = stored(COND_UUID)!;
      assert.equal(old.voided, true);
      assert.equal(old.voidReason, `Condition replaced by ${newUuid}`);
      assert.equal(old.clinicalStatus, "ACTIVE", "the original keeps what it said");
      assert.deepEqual(events(), [`CREATED ${COND_UUID}`, `UPDATED ${COND_UUID}`, `VOIDED ${COND_UUID}`, `CREATED ${newUuid}`]);

      const patientChange = await rest("POST", `condition/${newUuid}`, { patient: [...sim.store.patients.values()][1].uuid });
      assert.equal(patientChange.status, 400, "patient is not updatable");
    });

    it("DELETE voids in place; GET still serves it (voided); purge removes it; 404 for an unknown uuid", async () => {
      await create();
      const del = await rest("DELETE", `condition/${COND_UUID}?reason=duplicate`);
      assert.equal(del.status, 204);
      const got = await rest("GET", `condition/${COND_UUID}`);
      assert.equal(got.json.voided, true);
      assert.equal(got.json.auditInfo.voidReason, "duplicate");
      assert.deepEqual(events(), [`CREATED ${COND_UUID}`, `UPDATED ${COND_UUID}`, `VOIDED ${COND_UUID}`]);
      assert.equal((await fhir("GET", `Condition/${COND_UUID}`)).status, 410);
      assert.equal((await rest("GET", "condition/99999999-2222-3333-4444-555555555555")).status, 404);
      assert.equal((await rest("POST", "condition/99999999-2222-3333-4444-555555555555", { clinicalStatus: "ACTIVE" })).status, 404);
      assert.equal((await rest("DELETE", `condition/${COND_UUID}?purge=true`)).status, 204);
      assert.equal(stored(COND_UUID), undefined);
      assert.equal(events().at(-1), `DELETED ${COND_UUID}`);
    });

    it("lists a patient's live conditions (?patientUuid=)", async () => {
      await create();
      const list = await rest("GET", `condition?patientUuid=${patient}&v=full`);
      assert.deepEqual(
        list.json.results.map((r: Json) => r.uuid),
        [COND_UUID],
      );
      assert.deepEqual((await rest("GET", "condition")).json.results, []);
    });
  });

  describe("fhir2", () => {
    it("serves the Condition as ConditionTranslatorImpl does", async () => {
      await create({ verificationStatus: "PROVISIONAL", endDate: "2024-05-01T00:00:00.000+0000" });
      const res = await fhir("GET", `Condition/${COND_UUID}`);
      assert.equal(res.status, 200);
      const r = res.json;
      const c = stored(COND_UUID)!;
      assert.deepEqual(r, {
        resourceType: "Condition",
        id: COND_UUID,
        meta: r.meta,
        clinicalStatus: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-clinical", code: "active" }] },
        verificationStatus: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-ver-status", code: "provisional", display: "PROVISIONAL" }] },
        category: [
          { coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-category", code: "problem-list-item", display: "Problem List Item" }] },
        ],
        code: { coding: [{ code: HYPERTENSION, display: "Hypertension" }] },
        subject: { reference: `Patient/${patient}`, type: "Patient" },
        onsetDateTime: "2024-03-01T08:00:00.000+00:00",
        abatementDateTime: "2024-05-01T00:00:00.000+00:00",
        recordedDate: c.auditInfo.dateCreated.replace(/(\d\d)(\d\d)$/, "$1:$2"),
        recorder: { reference: "Practitioner/1c3db49d-440a-11e6-a65c-00e04c680037", type: "Practitioner" },
        note: [{ text: "Diagnosed at the district hospital." }],
      });
      assert.match(r.meta.versionId, /^\d+$/);
    });

    it("maps every clinical status but ACTIVE to inactive (HISTORY_OF, RESOLVED...)", async () => {
      await create({ clinicalStatus: "RESOLVED" });
      assert.equal((await fhir("GET", `Condition/${COND_UUID}`)).json.clinicalStatus.coding[0].code, "inactive");
    });

    it("PUT updates in place and keeps note, onset and abatement the resource leaves out", async () => {
      await create();
      const r = (await fhir("GET", `Condition/${COND_UUID}`)).json;
      delete r.note;
      delete r.onsetDateTime;
      r.clinicalStatus.coding[0].code = "inactive";
      r.abatementDateTime = "2024-07-01T10:00:00+00:00";
      r.code = { coding: [{ code: ASTHMA }] };
      const put = await fhir("PUT", `Condition/${COND_UUID}`, r);
      assert.equal(put.status, 200);
      assert.equal(put.json.id, COND_UUID);
      const c = stored(COND_UUID)!;
      assert.equal(c.voided, false);
      assert.equal(c.clinicalStatus, "INACTIVE");
      assert.equal(c.coded, ASTHMA);
      assert.equal(c.additionalDetail, "Diagnosed at the district hospital.", "no note: kept");
      assert.equal(c.onsetDate, "2024-03-01T08:00:00.000+0000", "no onset: kept");
      assert.equal(c.endDate, "2024-07-01T10:00:00.000+0000");
      assert.equal(c.verificationStatus, "CONFIRMED");
      assert.deepEqual(events(), [`CREATED ${COND_UUID}`, `UPDATED ${COND_UUID}`]);
      // verificationStatus absent: null (the translator sets it whatever it is)
      delete r.verificationStatus;
      await fhir("PUT", `Condition/${COND_UUID}`, r);
      assert.equal(stored(COND_UUID)!.verificationStatus, null);
    });

    it("PUT of an unknown id is 404 (no create under an id); id mismatch 400; unknown concept 400; no clinical status 422", async () => {
      await create();
      const r = (await fhir("GET", `Condition/${COND_UUID}`)).json;
      const other = "77777777-2222-3333-4444-555555555555";
      const unknown = await fhir("PUT", `Condition/${other}`, { ...r, id: other });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.resourceType, "OperationOutcome");
      assert.equal((await fhir("PUT", `Condition/${other}`, r)).status, 400);
      const concept = await fhir("PUT", `Condition/${COND_UUID}`, { ...r, code: { coding: [{ code: "11111111-2222-3333-4444-555555555555" }] } });
      assert.equal(concept.status, 400);
      assert.match(concept.json.issue[0].diagnostics, /Concept with uuid 11111111-2222-3333-4444-555555555555 not found/);
      const noStatus = await fhir("PUT", `Condition/${COND_UUID}`, { ...r, clinicalStatus: undefined });
      assert.equal(noStatus.status, 422);
      assert.match(noStatus.json.issue[0].diagnostics, /failed to validate with reason: The clinical status is required/);
      const diagnosis = await fhir("PUT", `Condition/${COND_UUID}`, {
        ...r,
        category: [{ coding: [{ system: "http://snomed.info/sct", code: "55607006" }] }],
      });
      assert.equal(diagnosis.status, 500, "FhirConditionServiceImpl.update: a category it cannot type is a NullPointerException");
      assert.equal(stored(COND_UUID)!.coded, HYPERTENSION, "nothing was saved");
    });

    it("POST creates under a new uuid; DELETE voids (410 after), unknown 404", async () => {
      const created = await fhir("POST", "Condition", {
        resourceType: "Condition",
        clinicalStatus: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-clinical", code: "active" }] },
        code: { coding: [{ code: ASTHMA }] },
        extension: [{ url: "http://fhir.openmrs.org/ext/non-coded-condition", valueString: "since childhood" }],
        subject: { reference: `Patient/${patient}` },
      });
      assert.equal(created.status, 201);
      const id = created.json.id as string;
      assert.equal(stored(id)!.nonCoded, "since childhood");
      assert.equal((await fhir("DELETE", `Condition/${id}`)).status, 200);
      assert.equal(stored(id)!.voided, true);
      assert.equal((await fhir("GET", `Condition/${id}`)).status, 410);
      assert.equal((await fhir("DELETE", "Condition/77777777-2222-3333-4444-555555555555")).status, 404);
      assert.equal((await fhir("GET", "Condition/77777777-2222-3333-4444-555555555555")).status, 404);
    });
  });

  describe("generator, persistence, comparison", () => {
    it("makes conditions only when asked: a seed's other records are the same with or without", () => {
      const a = new OpenmrsSim({ name: "x", seed: 42 });
      const b = new OpenmrsSim({ name: "x", seed: 42 });
      a.generate({ patients: 4 });
      b.generate({ patients: 4, conditionsPerPatient: 2 });
      // The same records (by uuid: datetimes are drawn relative to the time of generation).
      const ids = (sim: OpenmrsSim) => ({
        patients: Object.keys(sim.snapshot().patients),
        visits: Object.keys(sim.snapshot().visits),
        encounters: Object.keys(sim.snapshot().encounters),
        obs: Object.keys(sim.snapshot().obs),
        values: Object.values(sim.snapshot().obs).map((o) => o.value),
      });
      assert.deepEqual(ids(a), ids(b));
      assert.equal(a.store.records("condition").size, 0);
      assert.equal(b.store.records("condition").size, 8);
      assert.equal(b.store.categoryEvents("condition").length, 8);
      b.mutate(60);
      assert.ok(b.store.categoryEvents("condition").length > 8, "changes of conditions join the mutations once there are some");
    });

    it("keeps conditions in the data file and compares them field by field", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-cond-"));
      try {
        const file = path.join(dir, "data.json");
        const a = new OpenmrsSim({ name: "a", seed: 3, dataFile: file });
        a.generate({ patients: 3, conditionsPerPatient: 1 });
        a.save();
        const b = new OpenmrsSim({ name: "b", dataFile: file });
        assert.equal(b.store.records("condition").size, 3);
        assert.deepEqual(a.diff(b), []);
        const c = [...b.store.records("condition").values()][0] as Condition;
        b.store.updateOf("condition", c.uuid, { additionalDetail: "changed" });
        assert.deepEqual(a.diff(b), [`condition ${c.uuid}: additionalDetail: parent ${JSON.stringify(c.additionalDetail)} != child "changed"`]);
        b.store.voidOf("condition", c.uuid);
        assert.deepEqual(a.diff(b), [`condition ${c.uuid}: active on parent but voided on child`]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
