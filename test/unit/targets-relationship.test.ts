/**
 * Writing relationships and persons into a simulated OpenMRS (lib/push/targets.ts): always through REST v1
 * with their uuid (fhir2's RelatedPerson is read only, its Person lacks death), with or without fhir2 on the
 * target. A relationship whose person is not there yet is a retry (missing-reference), one of a relationship
 * type the target lacks waits as missing-metadata; once they are there it is written.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim, type Person, type Relationship } from "../../sim";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OpenmrsTarget } from "../../lib/push/targets";
import { restToFhir, type FhirResource } from "../../lib/fhir/convert";

const AUNT = "8d91a3dc-c2cc-11de-8d13-0010c6dffd0f";
const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") };

describe("OpenmrsTarget: relationships and persons", function () {
  this.timeout(20_000);
  let source: OpenmrsSim;
  let target: OpenmrsSim;
  const servers: OpenmrsServer[] = [];
  let rel: Relationship;
  let relative: Person;

  beforeEach(async () => {
    source = new OpenmrsSim({ name: "source", seed: 41 });
    target = new OpenmrsSim({ name: "target", seed: 42 });
    source.generate({ patients: 1, visitsPerPatient: 0, perPatient: { person: 1 } });
    relative = [...source.store.records("person").values()][0] as Person;
    rel = [...source.store.records("relationship").values()][0] as Relationship;
    source.store.updateOf("relationship", rel.uuid, { relationshipType: AUNT });
    await source.start();
    await target.start();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) s.close();
    await source.stop();
    await target.stop();
  });

  function targetOf(fhirMode: "fhir2" | "rest"): OpenmrsTarget {
    const server = new OpenmrsServer({ url: target.url, username: "admin", password: "Admin123", fhirMode });
    servers.push(server);
    return new OpenmrsTarget(server);
  }
  async function restRecord(kind: "relationship" | "person", uuid: string): Promise<FhirResource> {
    const res = await fetch(`${source.url}/ws/rest/v1/${kind}/${uuid}?v=full`, { headers: AUTH });
    return restToFhir(kind, await res.json());
  }

  for (const mode of ["fhir2", "rest"] as const)
    it(`waits for the persons and the type, then writes through REST with the uuid (${mode})`, async () => {
      const t = targetOf(mode);
      const resource = await restRecord("relationship", rel.uuid);
      const write = () => t.write({ action: "upsert", resourceType: "RelatedPerson", id: rel.uuid, resource, attempt: 2 });

      target.store.lacking.add(AUNT);
      const lacking = await write();
      assert.equal(lacking.outcome.kind, "retry");
      assert.equal(lacking.outcome.reason, "missing-metadata");
      assert.match(lacking.outcome.message ?? "", /relationship type 8d91a3dc/);
      target.store.lacking.delete(AUNT);

      const missing = await write();
      assert.equal(missing.outcome.kind, "retry");
      assert.equal(missing.outcome.reason, "missing-reference");
      assert.match(missing.outcome.message ?? "", new RegExp(`Person/${relative.uuid}`));

      // The persons arrive (the patient through its feed, the relative through the person feed).
      target.store.load(JSON.parse(JSON.stringify({ ...source.store.toData(), types: { ...source.store.toData().types, relationships: [] } })));
      const done = await write();
      assert.equal(done.outcome.kind, "ok", JSON.stringify(done.outcome));
      assert.equal(done.method, "POST");
      assert.match(done.url, /\/ws\/rest\/v1\/relationship$/);
      const { auditInfo: _a, ...copy } = target.store.getOf("relationship", rel.uuid) as Relationship;
      const { auditInfo: _b, ...orig } = source.store.getOf("relationship", rel.uuid) as Relationship;
      void _a;
      void _b;
      assert.deepEqual(copy, orig);
      // Read back as the source wrote it (REST in both modes).
      assert.deepEqual((await t.read("RelatedPerson", rel.uuid))?.relationship, resource.relationship);
      const fhirWrites = target.requests.filter((r) => r.kind === "fhir-write");
      assert.deepEqual(fhirWrites, [], "nothing written through fhir2");
    });

  it("writes a person who is not a patient through REST with its uuids, and updates it in place", async () => {
    const t = targetOf("fhir2");
    const resource = await restRecord("person", relative.uuid);
    const created = await t.write({ action: "upsert", resourceType: "Person", id: relative.uuid, resource });
    assert.equal(created.outcome.kind, "ok", JSON.stringify(created.outcome));
    const stored = () => {
      const { auditInfo: _a, ...p } = target.store.getOf("person", relative.uuid) as Person;
      void _a;
      return p;
    };
    const { auditInfo: _s, ...orig } = relative;
    void _s;
    assert.deepEqual(stored(), orig);
    const changed = { ...resource, gender: relative.gender === "M" ? "female" : "male" };
    const updated = await t.write({ action: "upsert", resourceType: "Person", id: relative.uuid, resource: changed });
    assert.equal(updated.outcome.kind, "ok");
    assert.equal(updated.method, "POST");
    assert.equal(stored().gender, relative.gender === "M" ? "F" : "M");
    assert.equal(stored().names[0].uuid, relative.names[0].uuid, "its name kept, not added again");
  });
});
