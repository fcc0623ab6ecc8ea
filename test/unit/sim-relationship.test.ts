/**
 * The simulator's relationships (sim/types/relationship.ts): REST v1 `relationship` as webservices.rest
 * serves and refuses it, fhir2's read-only, one-sided `RelatedPerson`, the feed (with omod-atomfeed's
 * default `Relationship` link), the generator and the comparison.
 */
import * as assert from "node:assert/strict";
import { OpenmrsSim, type Relationship } from "../../sim";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") };
const JSON_AUTH = { ...AUTH, "content-type": "application/json" };
const FHIR_AUTH = { ...AUTH, "content-type": "application/fhir+json" };
const PARENT_CHILD = "8d91a210-c2cc-11de-8d13-0010c6dffd0f";
const SIBLING = "8d91a01c-c2cc-11de-8d13-0010c6dffd0f";
const REL_UUID = "2b1c7e0e-4f4d-4d4b-9a55-0d4b1e6f7a01";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

describe("simulator: relationships (a registered record type)", function () {
  let sim: OpenmrsSim;
  let url: string;
  let a: string;
  let b: string;

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 9 });
    url = await sim.start();
    sim.generate({ patients: 3, visitsPerPatient: 0 });
    [a, b] = [...sim.store.patients.values()].map((p) => p.uuid);
  });
  afterEach(() => sim.stop());

  const call = async (prefix: string, headers: Record<string, string>, method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${url}${prefix}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const rest = (method: string, p: string, body?: unknown) => call("/ws/rest/v1/", JSON_AUTH, method, p, body);
  const fhir = (method: string, p: string, body?: unknown) => call("/ws/fhir2/R4/", FHIR_AUTH, method, p, body);
  const stored = (uuid: string) => sim.store.getOf("relationship", uuid) as Relationship | undefined;
  const create = (extra: Json = {}) =>
    rest("POST", "relationship", {
      uuid: REL_UUID,
      personA: a,
      relationshipType: PARENT_CHILD,
      personB: b,
      startDate: "2020-05-01T00:00:00.000+0000",
      ...extra,
    });

  it("REST: creates under the given uuid and serves the full representation (RelationshipResource1_9)", async () => {
    const res = await create();
    assert.equal(res.status, 201);
    const got = await rest("GET", `relationship/${REL_UUID}?v=full`);
    assert.equal(got.status, 200);
    const r = got.json;
    assert.equal(r.uuid, REL_UUID);
    assert.match(r.display, / is the Parent of /);
    assert.equal(r.personA.uuid, a);
    assert.equal(r.personB.uuid, b);
    assert.ok(r.personA.gender && "birthdate" in r.personA, "persons in their representation");
    assert.equal(r.relationshipType.uuid, PARENT_CHILD);
    assert.equal(r.relationshipType.aIsToB, "Parent");
    assert.equal(r.relationshipType.bIsToA, "Child");
    assert.equal(r.startDate, stored(REL_UUID)!.startDate);
    assert.equal(r.endDate, null);
    assert.equal(r.voided, false);
    assert.equal(r.resourceVersion, "1.9");
    assert.deepEqual(
      sim.store.categoryEvents("relationship").map((e) => e.action),
      ["CREATED"],
    );
  });

  it("REST: refuses what openmrs-core refuses", async () => {
    assert.equal((await create({ personB: a })).status, 400, "A = B");
    assert.equal((await create({ endDate: "2019-01-01T00:00:00.000+0000" })).status, 400, "end before start");
    assert.equal((await create({ startDate: new Date(Date.now() + 86_400_000 * 3).toISOString() })).status, 400, "start in the future");
    assert.equal((await create({ relationshipType: "00000000-0000-0000-0000-000000000000" })).status, 400, "unknown type");
    assert.equal((await create({ personB: "00000000-0000-0000-0000-000000000001" })).status, 400, "unknown person");
    sim.store.lacking.add(PARENT_CHILD);
    assert.equal((await create()).status, 400, "a type this server lacks");
    sim.store.lacking.delete(PARENT_CHILD);
    assert.equal((await create()).status, 201);
    assert.equal((await create()).status, 400, "the same uuid twice");
  });

  it("REST: updates type and dates in place; persons only when posted back unchanged; DELETE voids", async () => {
    await create();
    assert.equal(
      (await rest("POST", `relationship/${REL_UUID}`, { personA: a, relationshipType: SIBLING, endDate: "2024-01-01T00:00:00.000+0000" })).status,
      200,
    );
    assert.equal(stored(REL_UUID)!.relationshipType, SIBLING);
    assert.ok(stored(REL_UUID)!.endDate?.startsWith("2024-01-01"));
    const refused = await rest("POST", `relationship/${REL_UUID}`, { personB: [...sim.store.patients.values()][2].uuid });
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(refused.json), /not allowed to be set: personB/);
    assert.equal((await rest("DELETE", `relationship/${REL_UUID}?reason=wrong`)).status, 204);
    assert.equal(stored(REL_UUID)!.voided, true);
    assert.deepEqual(
      sim.store.categoryEvents("relationship").map((e) => e.action),
      ["CREATED", "UPDATED", "UPDATED", "VOIDED"],
    );
  });

  it("fhir2: RelatedPerson is read only and one-sided (person A, B as patient, no type)", async () => {
    await create();
    const got = await fhir("GET", `RelatedPerson/${REL_UUID}`);
    assert.equal(got.status, 200);
    const r = got.json;
    assert.equal(r.resourceType, "RelatedPerson");
    assert.deepEqual(r.identifier, [{ system: "RelatedPerson", value: `Person/${a}` }]);
    assert.equal(r.patient.reference, `Patient/${b}`);
    assert.equal(r.active, true);
    assert.equal(r.period.start.slice(0, 10), "2020-05-01");
    assert.equal(r.relationship, undefined, "fhir2 serves no relationship type");
    assert.equal(r.meta, undefined);
    const person = sim.store.patients.get(a)!;
    assert.equal(r.name[0].family, person.names[0].familyName);
    for (const [method, p] of [
      ["PUT", `RelatedPerson/${REL_UUID}`],
      ["POST", "RelatedPerson"],
      ["DELETE", `RelatedPerson/${REL_UUID}`],
    ] as const) {
      const res = await fhir(method, p, { ...r });
      assert.equal(res.status, 400, `${method} ${p}`);
      assert.match(JSON.stringify(res.json), /does not know how to handle/);
    }
    assert.equal(stored(REL_UUID)!.voided, false);
  });

  it("feed: links the relationship as omod-atomfeed's default configuration does (/ws/fhir2/R4/Relationship)", async () => {
    await create();
    const e = sim.store.categoryEvents("relationship")[0];
    assert.equal(e.title, "Relationship");
    assert.deepEqual(JSON.parse(e.content), { rest: `/ws/rest/v1/relationship/${REL_UUID}?v=full`, fhir: `/ws/fhir2/R4/Relationship/${REL_UUID}` });
  });

  it("generator and comparison: relationships between patients, compared field by field", async () => {
    const other = new OpenmrsSim({ name: "child", seed: 10 });
    try {
      sim.generate({ patients: 4, visitsPerPatient: 0, perPatient: { relationship: 1 } });
      const rels = [...sim.store.records("relationship").values()] as Relationship[];
      assert.ok(rels.length >= 3);
      for (const r of rels) assert.ok(sim.store.patients.has(r.personA) && sim.store.patients.has(r.personB) && r.personA !== r.personB);
      other.store.load(sim.store.toData());
      assert.deepEqual(sim.diff(other), []);
      other.store.updateOf("relationship", rels[0].uuid, { relationshipType: rels[0].relationshipType === SIBLING ? PARENT_CHILD : SIBLING });
      assert.equal(sim.diff(other).length, 1);
    } finally {
      await other.stop();
    }
  });
});
