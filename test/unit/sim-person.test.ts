/**
 * The simulator's persons who are not patients (sim/types/person.ts): REST v1 `person` for them and for
 * patients' persons, fhir2 `Person` (PersonTranslatorImpl: no death, a link to the Patient for a patient),
 * the feed, the uuid shared with patients, the generator (relatives with their relationships).
 */
import * as assert from "node:assert/strict";
import { OpenmrsSim, type Person, type Relationship } from "../../sim";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") };
const JSON_AUTH = { ...AUTH, "content-type": "application/json" };
const PHONE = "14d4f066-15f5-102d-96e4-000c29c2a5d7";
const CIVIL = "8d871f2a-c2cc-11de-8d13-0010c6dffd0f";
const UUID = "5c0f7b2e-1d2a-4e55-8b0b-0d2f3a4b5c01";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

describe("simulator: persons who are not patients (a registered record type)", function () {
  let sim: OpenmrsSim;
  let url: string;

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 11 });
    url = await sim.start();
    sim.generate({ patients: 2, visitsPerPatient: 0 });
  });
  afterEach(() => sim.stop());

  const call = async (prefix: string, method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${url}${prefix}${p}`, { method, headers: JSON_AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const rest = (method: string, p: string, body?: unknown) => call("/ws/rest/v1/", method, p, body);
  const fhir = (method: string, p: string, body?: unknown) => call("/ws/fhir2/R4/", method, p, body);
  const stored = () => sim.store.getOf("person", UUID) as Person | undefined;
  const create = () =>
    rest("POST", "person", {
      uuid: UUID,
      gender: "F",
      birthdate: "1970-03-04",
      dead: true,
      deathDate: "2025-06-07T08:09:10.000+0000",
      names: [{ givenName: "Mercy", familyName: "Kamau", preferred: true }],
      addresses: [{ cityVillage: "Kisumu", country: "Kenya" }],
      attributes: [
        { attributeType: PHONE, value: "+254 700 111 222" },
        { attributeType: CIVIL, value: "Married" },
      ],
    });

  it("REST: creates a person under the given uuid and serves it as a patient's person is served", async () => {
    assert.equal((await create()).status, 201);
    const r = (await rest("GET", `person/${UUID}?v=full`)).json;
    assert.equal(r.uuid, UUID);
    assert.equal(r.display, "Mercy Kamau");
    assert.equal(r.gender, "F");
    assert.equal(r.dead, true);
    assert.equal(r.deathDate, stored()!.deathDate);
    assert.equal(r.names[0].givenName, "Mercy");
    assert.equal(r.addresses[0].cityVillage, "Kisumu");
    assert.equal(r.attributes.length, 2);
    assert.equal((await rest("GET", `patient/${UUID}`)).status, 404, "not a patient");
    assert.deepEqual(
      sim.store.categoryEvents("person").map((e) => e.action),
      ["CREATED"],
    );
    const patient = [...sim.store.patients.values()][0];
    assert.equal((await rest("GET", `person/${patient.uuid}?v=full`)).json.uuid, patient.uuid, "a patient's person");
  });

  it("REST: updates in place (an attribute of a type replaced, its uuid kept); DELETE voids; a uuid is a person's or a patient's", async () => {
    await create();
    const phone = stored()!.attributes!.find((a) => a.attributeType === PHONE)!;
    assert.equal((await rest("POST", `person/${UUID}`, { gender: "M", attributes: [{ attributeType: PHONE, value: "+254 799 000 000" }] })).status, 200);
    const p = stored()!;
    assert.equal(p.gender, "M");
    assert.deepEqual(
      p.attributes!.filter((a) => !a.voided).map((a) => [a.uuid === phone.uuid, a.value]),
      [
        [true, "+254 799 000 000"],
        [false, "Married"],
      ],
    );
    assert.equal((await rest("DELETE", `person/${UUID}`)).status, 204);
    assert.equal(stored()!.voided, true);
    const patient = [...sim.store.patients.values()][0];
    assert.equal((await rest("POST", "person", { uuid: patient.uuid, gender: "F", names: [{ givenName: "A", familyName: "B" }] })).status, 400);
    assert.throws(() => sim.store.createPatient({ uuid: UUID, gender: "F", names: [{ givenName: "A", familyName: "B" }] }), /already exists/);
    assert.equal((await rest("POST", "person", { gender: "F", names: [] })).status, 400, "a person needs a name");
  });

  it("fhir2: Person as PersonTranslatorImpl serves it (no death; a patient's person links to the Patient); writes not simulated", async () => {
    await create();
    const r = (await fhir("GET", `Person/${UUID}`)).json;
    assert.equal(r.resourceType, "Person");
    assert.equal(r.active, true);
    assert.equal(r.gender, "female");
    assert.equal(r.birthDate, "1970-03-04");
    assert.equal(r.name[0].family, "Kamau");
    assert.equal(r.address[0].city, "Kisumu");
    assert.equal(r.telecom[0].value, "+254 700 111 222");
    assert.equal(r.extension.length, 2);
    assert.equal(r.deceasedDateTime, undefined);
    assert.equal(r.link, undefined);
    const patient = [...sim.store.patients.values()][0];
    const pp = (await fhir("GET", `Person/${patient.uuid}`)).json;
    assert.equal(pp.id, patient.uuid);
    assert.deepEqual(pp.link, [{ target: { reference: `Patient/${patient.uuid}`, type: "Patient" } }]);
    assert.equal((await fhir("PUT", `Person/${UUID}`, r)).status, 400);
  });

  it("generator: relatives who are not patients, each with a relationship to the patient; compared by diff", async () => {
    const other = new OpenmrsSim({ name: "child", seed: 12 });
    try {
      sim.generate({ patients: 3, visitsPerPatient: 0, perPatient: { person: 1 } });
      const persons = [...sim.store.records("person").values()] as Person[];
      assert.equal(persons.length, 3);
      const rels = [...sim.store.records("relationship").values()] as Relationship[];
      for (const p of persons) assert.ok(rels.some((r) => r.personA === p.uuid && sim.store.patients.has(r.personB)));
      other.store.load(sim.store.toData());
      assert.deepEqual(sim.diff(other), []);
      other.store.updateOf("person", persons[0].uuid, { gender: persons[0].gender === "M" ? "F" : "M" });
      assert.equal(sim.diff(other).length, 1);
    } finally {
      await other.stop();
    }
  });
});
