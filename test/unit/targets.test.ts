/**
 * How a refused write of a record that refers to others is classified, against simulated OpenMRS
 * servers: retried while a record it refers to is missing on the target; retried once when all are
 * there (one may have arrived between the refusal and the check); dead-lettered when refused again.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim } from "../../sim";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OpenmrsTarget, type WriteRequest } from "../../lib/push/targets";
import type { FhirResource } from "../../lib/fhir/convert";

describe("OpenmrsTarget: refusals of records that refer to others", function () {
  this.timeout(20_000);
  let source: OpenmrsSim;
  let target: OpenmrsSim;
  let from: OpenmrsServer;
  let to: OpenmrsTarget;
  let server: OpenmrsServer;

  beforeEach(async () => {
    source = new OpenmrsSim({ name: "source", seed: 901 });
    target = new OpenmrsSim({ name: "target", seed: 902 });
    source.generate({ patients: 2, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 0 });
    await source.start();
    await target.start();
    from = new OpenmrsServer({ url: source.url, username: "admin", password: "Admin123" });
    server = new OpenmrsServer({ url: target.url, username: "admin", password: "Admin123" });
    to = new OpenmrsTarget(server);
  });
  afterEach(async () => {
    from.close();
    server.close();
    await source.stop();
    await target.stop();
  });

  async function record(type: string, uuid: string): Promise<WriteRequest> {
    const res = await from.fhir.read(type, uuid);
    assert.equal(res.status, 200);
    return { action: "upsert", resourceType: type, id: uuid, resource: res.body as FhirResource, created: true };
  }

  it("retries while the visit is missing, once more when it is there, then dead-letters", async () => {
    const [p1, p2] = [...source.store.patients.values()].map((p) => p.uuid);
    const encounterOf = (patient: string) => [...source.store.encounters.values()].find((e) => e.patient === patient)!;
    const visitOf = (patient: string) => [...source.store.visits.values()].find((v) => v.patient === patient)!;
    // Patient 1 and its visit are on the target; patient 2 is, its visit is not.
    for (const req of [await record("Patient", p1), await record("Encounter", visitOf(p1).uuid), await record("Patient", p2)]) {
      assert.equal((await to.write(req)).outcome.kind, "ok");
    }
    const missingVisit = await to.write({ ...(await record("Encounter", encounterOf(p2).uuid)), attempt: 7 });
    assert.deepEqual([missingVisit.outcome.kind, missingVisit.outcome.reason], ["retry", "missing-reference"]);
    assert.match(missingVisit.outcome.message ?? "", new RegExp(`Encounter/${visitOf(p2).uuid}`));

    // Everything it refers to is there, and the target still refuses it.
    const encounter = encounterOf(p1).uuid;
    target.faults.rejectWrites = [encounter];
    const first = await to.write({ ...(await record("Encounter", encounter)), attempt: 1 });
    assert.deepEqual([first.outcome.kind, first.outcome.reason], ["retry", "missing-reference"], "once more: the visit may have just arrived");
    const second = await to.write({ ...(await record("Encounter", encounter)), attempt: 2 });
    assert.deepEqual([second.outcome.kind, second.outcome.status], ["permanent", 422], "refused again: the record's own fault");
    target.faults.rejectWrites = [];
    assert.equal((await to.write({ ...(await record("Encounter", encounter)), attempt: 3 })).outcome.kind, "ok");
  });

  it("dead-letters a refused record that refers to nothing at once", async () => {
    const patient = [...source.store.patients.values()][0].uuid;
    target.faults.rejectWrites = [patient];
    const r = await to.write({ ...(await record("Patient", patient)), attempt: 1 });
    assert.deepEqual([r.outcome.kind, r.outcome.status], ["permanent", 422]);
  });
});
