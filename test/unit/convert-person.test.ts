/**
 * The Person converter (lib/fhir/types/person.ts, a person who is not a patient) both ways, with the person
 * of webservices.rest's own patient representation (test/fixtures/openmrs/SOURCES.md) as a REST person;
 * the same person fields as a Patient's (shared code); and a person feed entry of a patient, settled as the
 * patient feed's (lib/openmrs/fetch-record.ts).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describeEntry } from "../../lib/atom/entry";
import { fhirReferences, fhirToRestCreate, restKindOf, restKindOfFhir, restToFhir } from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";
import { fetchRecord } from "../../lib/openmrs/fetch-record";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OpenmrsSim } from "../../sim";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const DECEASED = "http://fhir.openmrs.org/ext/person/deceased";
const restPatient = () =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, "openmrs-module-webservices.rest/create_patient_from_get.json"), "utf8")) as Record<string, unknown>;

describe("convert: person (not a patient) <-> Person", () => {
  it("kinds: REST `person` and FHIR Person", () => {
    assert.equal(restKindOf("person"), "person");
    assert.equal(restKindOfFhir({ resourceType: "Person" }), "person");
  });

  it("a REST person -> Person with the patient mapping's names, addresses, gender, birth date, attributes; valid R4", () => {
    const rep = restPatient().person as Record<string, unknown>;
    const r = restToFhir("person", rep);
    const asPatient = restToFhir("patient", restPatient());
    assert.equal(r.resourceType, "Person");
    assert.equal(r.id, rep.uuid);
    assert.equal(r.active, true);
    for (const k of ["name", "address", "gender", "birthDate", "telecom"]) assert.deepEqual(r[k], asPatient[k], k);
    const v = validateResource(r);
    assert.ok(v.valid, v.errors.join("; "));
  });

  it("Person -> REST create body with every uuid; a death rides on the pack's extension", () => {
    const rep: Record<string, unknown> = { ...(restPatient().person as Record<string, unknown>), dead: true, deathDate: "2025-06-07T08:09:10.000+0300" };
    const r = restToFhir("person", rep);
    assert.deepEqual(
      (r.extension as { url: string; valueDateTime?: string }[]).filter((e) => e.url === DECEASED),
      [{ url: DECEASED, valueDateTime: "2025-06-07T08:09:10.000+03:00" }],
    );
    assert.equal(r.deceasedDateTime, undefined, "R4 Person has no deceased element");
    const { kind, body } = fhirToRestCreate(r, { attributeTypes: new Map([["Caste", "55e6ce9e-25bf-11e3-a013-3c0754156a5d"]]) });
    assert.equal(kind, "person");
    assert.equal(body.uuid, rep.uuid);
    assert.equal(body.dead, true);
    assert.equal(body.deathDate, "2025-06-07T08:09:10.000+0300");
    assert.equal(body.gender, rep.gender);
    const names = body.names as { uuid: string; givenName: string }[];
    assert.deepEqual(
      names.map((n) => [n.uuid, n.givenName]),
      [["0a6e7017-e6e7-42f0-ba99-c6d82eecb164", "Jonnea"]],
    );
    assert.equal((body.addresses as { uuid: string }[])[0].uuid, "ebd2ed47-6d13-41a0-bc6b-c1ce6b10da25");
    assert.deepEqual(fhirReferences(r), [], "a person refers to no other record");
    // The Patient body has the same person fields (one mapping, not two).
    const patientBody = fhirToRestCreate(restToFhir("patient", restPatient())).body.person as Record<string, unknown>;
    assert.deepEqual(patientBody.names, body.names);
    assert.deepEqual(patientBody.addresses, body.addresses);
  });

  describe("a person feed entry", () => {
    let sim: OpenmrsSim;
    let server: OpenmrsServer;
    before(async () => {
      sim = new OpenmrsSim({ name: "parent", seed: 31 });
      await sim.start();
      sim.generate({ patients: 1, visitsPerPatient: 0, perPatient: { person: 1 } });
      server = new OpenmrsServer({ url: sim.url, username: "admin", password: "Admin123" });
    });
    after(() => sim.stop());

    const entry = (uuid: string, action = "UPDATED") =>
      describeEntry({
        id: `tag:${uuid}`,
        title: "Person",
        updated: "",
        categories: ["person", action],
        content: JSON.stringify({ rest: `/ws/rest/v1/person/${uuid}?v=full`, fhir: `/ws/fhir2/R4/Person/${uuid}` }),
        page: "p",
      });

    it("of a patient is settled as the patient feed's, even a void (nothing written)", async () => {
      const patient = [...sim.store.patients.values()][0].uuid;
      for (const action of ["UPDATED", "VOIDED"]) {
        const rec = await fetchRecord(server, await server.profile(), entry(patient, action));
        assert.equal(rec.filtered?.reason, "patient-person", action);
        assert.equal(rec.resource, undefined);
      }
    });

    it("of a person who is not a patient is read through REST (even with fhir2) as a Person", async () => {
      const person = [...sim.store.records("person").values()][0].uuid;
      const rec = await fetchRecord(server, await server.profile(), entry(person));
      assert.equal(rec.filtered, undefined);
      assert.equal(rec.via, "rest");
      assert.equal(rec.resource?.resourceType, "Person");
      assert.equal(rec.resource?.id, person);
    });
  });
});
