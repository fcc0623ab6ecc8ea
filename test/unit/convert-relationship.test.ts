/**
 * The Relationship converter (lib/fhir/types/relationship.ts) both ways: a REST v1 representation shaped
 * as RelationshipResource1_9 serves it (no REST relationship JSON exists as data in the repositories
 * searched: webservices.rest's RelationshipController1_9Test builds its bodies in Java), read from the
 * simulator's REST route so every field has its real shape; fhir2's own RelatedPerson example
 * (test/fixtures/openmrs/SOURCES.md) for what cannot be converted; the references a relationship waits for;
 * its metadata (the relationship type).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fhirReferences, fhirToRestCreate, restKindOf, restKindOfFhir, restToFhir, type FhirResource } from "../../lib/fhir/convert";
import { parseContent, describeEntry } from "../../lib/atom/entry";
import { validateResource } from "../../lib/fhir/validate";
import { metadataRefs } from "../../lib/openmrs/metadata-check";
import { PermanentError } from "../../lib/outcome";
import { OpenmrsSim } from "../../sim";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const PARENT_CHILD = "8d91a210-c2cc-11de-8d13-0010c6dffd0f";
const TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/relationship-type";
const PERSON_B = "http://fhir.openmrs.org/ext/relationship/person-b";
const UUID = "2b1c7e0e-4f4d-4d4b-9a55-0d4b1e6f7a01";

describe("convert: relationship <-> RelatedPerson", () => {
  let sim: OpenmrsSim;
  let rep: Record<string, unknown>;
  let a: string;
  let b: string;

  before(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 5 }); // a server in UTC: +0300 is stored as 07:00 +0000
    const url = await sim.start();
    sim.generate({ patients: 2, visitsPerPatient: 0 });
    [a, b] = [...sim.store.patients.values()].map((p) => p.uuid);
    sim.store.createOf("relationship", {
      uuid: UUID,
      personA: a,
      personB: b,
      relationshipType: PARENT_CHILD,
      startDate: "2020-05-01T10:00:00.000+0300",
      endDate: "2024-02-03T00:00:00.000+0000",
    });
    const res = await fetch(`${url}/ws/rest/v1/relationship/${UUID}?v=full`, {
      headers: { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") },
    });
    rep = (await res.json()) as Record<string, unknown>;
  });
  after(() => sim.stop());

  it("kinds: REST `relationship` and FHIR RelatedPerson", () => {
    assert.equal(restKindOf("relationship"), "relationship");
    assert.equal(restKindOfFhir({ resourceType: "RelatedPerson" }), "relationship");
  });

  it("REST -> RelatedPerson: person A as fhir2 names it, person B, the type and the period; valid R4", () => {
    const r = restToFhir("relationship", rep);
    assert.equal(r.resourceType, "RelatedPerson");
    assert.equal(r.id, UUID);
    assert.deepEqual(r.identifier, [{ system: "RelatedPerson", value: `Person/${a}` }]);
    assert.equal((r.patient as { reference: string }).reference, `Patient/${b}`);
    assert.deepEqual(
      (r.extension as { url: string; valueReference: { reference: string } }[]).map((e) => [e.url, e.valueReference.reference]),
      [[PERSON_B, `Person/${b}`]],
    );
    assert.deepEqual(r.relationship, [{ coding: [{ system: TYPE_SYSTEM, code: PARENT_CHILD, display: "Parent/Child" }] }]);
    assert.deepEqual(r.period, { start: "2020-05-01T07:00:00.000+00:00", end: "2024-02-03T00:00:00.000+00:00" });
    assert.equal(r.active, undefined, "active depends on the clock: left out");
    const v = validateResource(r);
    assert.ok(v.valid, v.errors.join("; "));
  });

  it("RelatedPerson -> REST create body with the uuid; back again the same", () => {
    const r = restToFhir("relationship", rep);
    const { kind, body } = fhirToRestCreate(r);
    assert.equal(kind, "relationship");
    assert.deepEqual(body, {
      uuid: UUID,
      personA: a,
      relationshipType: PARENT_CHILD,
      personB: b,
      startDate: "2020-05-01T07:00:00.000+0000",
      endDate: "2024-02-03T00:00:00.000+0000",
    });
    // Without the pack's extension, person B is fhir2's `patient`.
    const { extension: _e, ...plain } = r;
    void _e;
    assert.equal(fhirToRestCreate(plain).body.personB, b);
  });

  it("waits for both persons (Person references: a patient is a person too)", () => {
    assert.deepEqual(fhirReferences(restToFhir("relationship", rep)), [
      { resourceType: "Person", id: a },
      { resourceType: "Person", id: b },
    ]);
  });

  it("names its relationship type as metadata the target must have", () => {
    const r = restToFhir("relationship", rep);
    const { kind, body } = fhirToRestCreate(r);
    assert.deepEqual(metadataRefs(kind, body, r), [{ kind: "relationshiptype", uuid: PARENT_CHILD, display: "Parent/Child" }]);
  });

  it("a RelatedPerson as fhir2 serves it (no type) or from elsewhere (fhir2's HL7 example) is refused, not guessed", () => {
    const example = JSON.parse(fs.readFileSync(path.join(FIXTURES, "openmrs-module-fhir2/relatedperson-example.json"), "utf8")) as FhirResource;
    assert.throws(
      () => fhirToRestCreate(example),
      (e: unknown) => e instanceof PermanentError && /person A/.test(e.message),
    );
    const fromFhir2 = {
      resourceType: "RelatedPerson",
      id: UUID,
      identifier: [{ system: "RelatedPerson", value: `Person/${a}` }],
      patient: { reference: `Patient/${b}` },
    };
    assert.throws(
      () => fhirToRestCreate(fromFhir2),
      (e: unknown) => e instanceof PermanentError && /no relationship type/.test(e.message),
    );
  });

  it("a feed entry linking the default configuration's /ws/fhir2/R4/Relationship is a RelatedPerson", () => {
    const content = JSON.stringify({ rest: `/ws/rest/v1/relationship/${UUID}?v=full`, fhir: `/ws/fhir2/R4/Relationship/${UUID}` });
    assert.equal(parseContent(content).dialect, "sync2");
    const entry = describeEntry({ id: "tag:x", title: "Relationship", updated: "", categories: ["relationship", "UPDATED"], content, page: "p" });
    assert.equal(entry.resourceType, "RelatedPerson");
    assert.equal(entry.restResource, "relationship");
    assert.equal(entry.uuid, UUID);
  });
});
