/**
 * Writing conditions into a simulated OpenMRS (lib/push/targets.ts): through fhir2 (PUT in place; a new
 * one through REST v1 with its uuid, since fhir2 cannot create under an id), and through REST v1 only,
 * where an edit would be saved under a new uuid (ConditionServiceImpl.saveCondition) and is therefore
 * not posted. Missing patients and concepts are retries, as for the other types.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim, type Condition } from "../../sim";
import { ciel } from "../../sim/metadata";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OpenmrsTarget, type WriteRequest } from "../../lib/push/targets";
import type { FhirResource } from "../../lib/fhir/convert";

describe("OpenmrsTarget: conditions", function () {
  this.timeout(20_000);
  let source: OpenmrsSim;
  let target: OpenmrsSim;
  let from: OpenmrsServer;
  const servers: OpenmrsServer[] = [];
  let patient: string;
  let uuid: string;

  beforeEach(async () => {
    source = new OpenmrsSim({ name: "source", seed: 11 });
    target = new OpenmrsSim({ name: "target", seed: 12 });
    source.generate({ patients: 1, visitsPerPatient: 0 });
    patient = [...source.store.patients.values()][0].uuid;
    uuid = source.store.createOf("condition", {
      patient,
      coded: ciel(117399),
      clinicalStatus: "ACTIVE",
      verificationStatus: "CONFIRMED",
      onsetDate: "2024-01-02T03:04:05.000+0000",
      additionalDetail: "On treatment.",
    }).uuid;
    await source.start();
    await target.start();
    from = new OpenmrsServer({ url: source.url, username: "admin", password: "Admin123" });
  });
  afterEach(async () => {
    from.close();
    for (const s of servers.splice(0)) s.close();
    await source.stop();
    await target.stop();
  });

  function targetOf(fhirMode: "fhir2" | "rest"): OpenmrsTarget {
    const server = new OpenmrsServer({ url: target.url, username: "admin", password: "Admin123", fhirMode });
    servers.push(server);
    return new OpenmrsTarget(server);
  }
  async function read(type: string, id: string): Promise<FhirResource> {
    const res = await from.fhir.read(type, id);
    assert.equal(res.status, 200);
    return res.body as FhirResource;
  }
  const req = async (over: Partial<WriteRequest> = {}): Promise<WriteRequest> => ({
    action: "upsert",
    resourceType: "Condition",
    id: uuid,
    resource: await read("Condition", uuid),
    ...over,
  });
  const copy = () => target.store.getOf("condition", uuid) as Condition | undefined;
  const writes = () => target.requests.filter((r) => r.kind === "rest-write" || r.kind === "fhir-write").map((r) => `${r.method} ${r.path.split("?")[0]}`);

  it("fhir2: waits for the patient and the concept, creates through REST with the uuid, updates in place, deletes by voiding", async () => {
    const to = targetOf("fhir2");
    // (What is there is cached for ten minutes, so the concept goes missing first.)
    target.store.lacking.add(ciel(117399));
    const noConcept = await to.write(await req());
    assert.deepEqual([noConcept.outcome.kind, noConcept.outcome.reason], ["retry", "missing-metadata"]);
    assert.match(noConcept.outcome.message ?? "", /concept 117399A+ \(Hypertension\)/);
    target.store.lacking.delete(ciel(117399));

    const noPatient = await to.write(await req());
    assert.deepEqual([noPatient.outcome.kind, noPatient.outcome.reason], ["retry", "missing-reference"]);
    assert.match(noPatient.outcome.message ?? "", new RegExp(`Patient/${patient}`));
    assert.equal((await to.write({ action: "upsert", resourceType: "Patient", id: patient, resource: await read("Patient", patient) })).outcome.kind, "ok");

    target.resetStats();
    target.requests.length = 0;
    const created = await to.write(await req());
    assert.equal(created.outcome.kind, "ok");
    assert.deepEqual(writes(), [`PUT /openmrs/ws/fhir2/R4/Condition/${uuid}`, "POST /openmrs/ws/rest/v1/condition"]);
    assert.deepEqual(target.diff(source), []);

    // Edited in place at the source (through fhir2, as O3 does): in place at the target too.
    source.store.updateOf("condition", uuid, { clinicalStatus: "INACTIVE", endDate: "2024-05-01T00:00:00.000+0000" });
    target.requests.length = 0;
    assert.equal((await to.write(await req())).outcome.kind, "ok");
    assert.deepEqual(writes(), [`PUT /openmrs/ws/fhir2/R4/Condition/${uuid}`]);
    assert.equal(copy()!.clinicalStatus, "INACTIVE");
    assert.equal(target.store.records("condition").size, 1, "no second condition");
    assert.deepEqual(source.diff(target), []);

    assert.equal((await to.write({ action: "delete", resourceType: "Condition", id: uuid, restKind: "condition" })).outcome.kind, "ok");
    assert.equal(copy()!.voided, true);
  });

  it("REST only: creates with the uuid, leaves an equal copy alone, refuses an edit rather than fork the condition", async () => {
    const to = targetOf("rest");
    assert.equal((await to.write({ action: "upsert", resourceType: "Patient", id: patient, resource: await read("Patient", patient) })).outcome.kind, "ok");
    const created = await to.write(await req({ created: true }));
    assert.deepEqual([created.outcome.kind, created.outcome.reason], ["ok", "created"]);
    assert.deepEqual(source.diff(target), []);

    target.requests.length = 0;
    const again = await to.write(await req());
    assert.deepEqual([again.outcome.kind, again.outcome.reason], ["ok", "already-equal"]);
    assert.deepEqual(writes(), [], "nothing posted");

    source.store.updateOf("condition", uuid, { additionalDetail: "Changed at the source, in place." });
    const edit = await to.write(await req());
    assert.deepEqual([edit.outcome.kind, edit.outcome.reason], ["permanent", "versioned-on-rest"]);
    assert.match(edit.outcome.message ?? "", /new uuid/);
    assert.deepEqual(writes(), [], "nothing posted");
    assert.equal(target.store.records("condition").size, 1);
    assert.equal(copy()!.voided, false);

    assert.equal((await to.write({ action: "delete", resourceType: "Condition", id: uuid })).outcome.kind, "ok");
    assert.equal(copy()!.voided, true);
    assert.deepEqual(writes(), [`DELETE /openmrs/ws/rest/v1/condition/${uuid}`]);
  });

  it("reads the target's copy through either API (what conflict detection compares)", async () => {
    const fhir2 = targetOf("fhir2");
    const rest = targetOf("rest");
    assert.equal(await fhir2.read("Condition", uuid), undefined);
    await rest.write({ action: "upsert", resourceType: "Patient", id: patient, resource: await read("Patient", patient) });
    await rest.write(await req({ created: true }));
    const a = await fhir2.read("Condition", uuid);
    const b = await rest.read("Condition", uuid);
    assert.equal(a?.resourceType, "Condition");
    assert.deepEqual(b?.code, a?.code);
    assert.deepEqual(b?.clinicalStatus, a?.clinicalStatus);
    assert.equal(b?.onsetDateTime, a?.onsetDateTime);
  });
});
