/**
 * The simulator's cohorts (sim/types/cohort.ts): REST v1 `cohort` with its `membership` sub-resource and
 * fhir2 `Group` as the real modules behave, the feed and the comparison.
 */
import * as assert from "node:assert/strict";
import { OpenmrsSim } from "../../sim";
import { GROUP_DESCRIPTION_URL, liveMembers, type Cohort } from "../../sim/types/cohort";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64"), "content-type": "application/json" };
const COHORT = "5e3a2f0b-0c7d-4f43-9d4b-2b8e0b1c7a01";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

describe("simulator: cohorts (REST cohort + membership, fhir2 Group)", function () {
  let sim: OpenmrsSim;
  let url: string;
  let patients: string[];

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 9 });
    url = await sim.start();
    sim.generate({ patients: 3, visitsPerPatient: 0 });
    patients = [...sim.store.patients.values()].map((p) => p.uuid);
  });
  afterEach(() => sim.stop());

  const call = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${url}${p}`, { method, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const stored = () => sim.store.getOf("cohort", COHORT) as Cohort | undefined;
  const events = () => sim.store.categoryEvents("cohort").map((e) => e.action);

  it("REST: creates with the uuid (memberIds required, only empty), adds and voids memberships, size counts live ones", async () => {
    assert.equal((await call("POST", "/ws/rest/v1/cohort", { uuid: COHORT, name: "ANC", description: "x" })).status, 400);
    assert.equal((await call("POST", "/ws/rest/v1/cohort", { uuid: COHORT, name: "ANC", description: "x", memberIds: [2, 6] })).status, 400);
    const created = await call("POST", "/ws/rest/v1/cohort", { uuid: COHORT, name: "ANC", description: "Antenatal clients", memberIds: [] });
    assert.equal(created.status, 201);
    assert.deepEqual([created.json.uuid, created.json.display, created.json.size, created.json.members], [COHORT, "ANC", 0, undefined]);
    const m1 = await call("POST", `/ws/rest/v1/cohort/${COHORT}/membership`, { patientUuid: patients[0], startDate: "2025-01-02T03:04:05.000+0000" });
    assert.equal(m1.status, 201);
    assert.equal(m1.json.patientUuid, patients[0]);
    await call("POST", `/ws/rest/v1/cohort/${COHORT}/membership`, { patientUuid: patients[1] });
    assert.equal((await call("POST", `/ws/rest/v1/cohort/${COHORT}/membership`, { patientUuid: "no-such-patient-0000000000000000000000" })).status, 400);
    assert.equal((await call("DELETE", `/ws/rest/v1/cohort/${COHORT}/membership/${m1.json.uuid}`)).status, 204);
    const list = await call("GET", `/ws/rest/v1/cohort/${COHORT}/membership?v=full`);
    assert.deepEqual(
      list.json.results.map((m: Json) => [m.patientUuid, m.voided]),
      [
        [patients[0], true],
        [patients[1], false],
      ],
    );
    assert.equal((await call("GET", `/ws/rest/v1/cohort/${COHORT}?v=full`)).json.size, 1);
    assert.deepEqual(liveMembers(stored()!), [patients[1]]);
    assert.equal((await call("POST", `/ws/rest/v1/cohort/${COHORT}`, { name: "ANC 2026", memberIds: [] })).status, 400);
    assert.equal((await call("POST", `/ws/rest/v1/cohort/${COHORT}`, { name: "ANC 2026" })).json.name, "ANC 2026");
    assert.equal((await call("DELETE", `/ws/rest/v1/cohort/${COHORT}?reason=closed`)).status, 204);
    assert.equal(stored()!.voided, true);
    assert.deepEqual(events(), ["CREATED", "UPDATED", "UPDATED", "UPDATED", "UPDATED", "UPDATED", "VOIDED"]);
  });

  it("fhir2 Group: served as GroupTranslatorImpl does (members of every membership, quantity of live ones); PUT adds members, never removes; no upsert", async () => {
    sim.store.createOf("cohort", { uuid: COHORT, name: "TB", description: "TB clients", members: [patients[0], patients[1]] });
    const m0 = stored()!.memberships[0].uuid;
    sim.store.updateOf("cohort", COHORT, { remove: [m0] });
    const g = (await call("GET", `/ws/fhir2/R4/Group/${COHORT}`)).json;
    assert.equal(g.resourceType, "Group");
    assert.deepEqual([g.name, g.active, g.type, g.actual, g.quantity], ["TB", true, "person", true, 1]);
    assert.deepEqual(g.extension, [{ url: GROUP_DESCRIPTION_URL, valueString: "TB clients" }]);
    assert.deepEqual(
      g.member.map((m: Json) => m.entity.reference),
      [`Patient/${patients[0]}`, `Patient/${patients[1]}`],
    );
    const put = await call("PUT", `/ws/fhir2/R4/Group/${COHORT}`, { ...g, name: "TB 2026", member: [{ entity: { reference: `Patient/${patients[2]}` } }] });
    assert.equal(put.status, 200);
    assert.deepEqual(liveMembers(stored()!), [patients[1], patients[2]].sort());
    assert.equal(stored()!.name, "TB 2026");
    await call("PUT", `/ws/fhir2/R4/Group/${COHORT}`, { resourceType: "Group", id: COHORT, active: false });
    assert.equal(stored()!.voided, true);
    assert.equal((await call("GET", `/ws/fhir2/R4/Group/${COHORT}`)).status, 410);
    const other = "5e3a2f0b-0c7d-4f43-9d4b-2b8e0b1c7a02";
    assert.equal((await call("PUT", `/ws/fhir2/R4/Group/${other}`, { resourceType: "Group", id: other, name: "x" })).status, 404);
  });

  it("the comparison sees names, descriptions, live members and voiding", () => {
    const child = new OpenmrsSim({ name: "child", seed: 9 });
    child.generate({ patients: 3, visitsPerPatient: 0 });
    sim.store.createOf("cohort", { uuid: COHORT, name: "TB", description: "d", members: [patients[0]] });
    child.store.createOf("cohort", { uuid: COHORT, name: "TB", description: "d", members: [] });
    const ofCohort = () => sim.diff(child).filter((d) => d.includes(COHORT));
    assert.equal(ofCohort().length, 1);
    child.store.updateOf("cohort", COHORT, { add: [{ patient: patients[0] }] });
    assert.deepEqual(ofCohort(), []);
    child.store.voidOf("cohort", COHORT, "closed");
    assert.equal(ofCohort().length, 1);
  });
});
