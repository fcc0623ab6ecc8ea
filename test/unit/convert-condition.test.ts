/**
 * The Condition converter (lib/fhir/types/condition.ts) both ways, against real fhir2 JSON
 * (test/fixtures/openmrs/SOURCES.md) and a REST v1 representation shaped as ConditionResource2_2 serves it.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fhirReferences, fhirToRestCreate, restKindOf, restKindOfFhir, restToFhir, type FhirResource } from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";
import { metadataRefs } from "../../lib/openmrs/metadata-check";
import { PermanentError } from "../../lib/outcome";
import { sameRestContent } from "../../lib/push/versioned";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const fixture = (rel: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), "utf8")) as Record<string, unknown>;

const CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category";
const NON_CODED = "http://fhir.openmrs.org/ext/non-coded-condition";
const BASE = "http://localhost:8080/openmrs/ws/rest/v1";

/**
 * ConditionResource2_2's full representation (uuid, display, condition, patient REF, clinicalStatus,
 * verificationStatus, previousVersion, onsetDate, endDate, additionalDetail, voided, auditInfo, links),
 * with the values of webservices.rest's conditionTestDataset.xml, condition_id 1 (no REST condition JSON
 * exists as data in the repositories searched; SOURCES.md).
 */
function restCondition(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid: "c1d4185b-0364-4978-a635-3165a82a3178",
    display: "Concept 1",
    condition: {
      coded: {
        uuid: "62a26128-006f-4e77-859b-4aa502e3dd62",
        display: "Concept 1",
        links: [{ rel: "self", uri: `${BASE}/concept/62a26128-006f-4e77-859b-4aa502e3dd62` }],
      },
    },
    patient: { uuid: "da7f524f-27ce-4bb2-86d6-6d1d05312bd5", display: "101-6 - Horatio Hornblower", links: [] },
    clinicalStatus: "ACTIVE",
    verificationStatus: "CONFIRMED",
    previousVersion: null,
    onsetDate: "2017-01-12T00:00:00.000+0000",
    endDate: null,
    additionalDetail: null,
    voided: false,
    auditInfo: { creator: { uuid: "1010d442-e134-11de-babe-001e378eb67e", display: "admin" }, dateCreated: "2015-01-12T00:00:00.000+0000", dateChanged: null },
    links: [{ rel: "self", uri: `${BASE}/condition/c1d4185b-0364-4978-a635-3165a82a3178` }],
    resourceVersion: "2.2",
    ...over,
  };
}

describe("fhir/convert: Condition", () => {
  it("knows the kind both ways, and that a condition needs its patient on the target first", () => {
    assert.equal(restKindOf("condition"), "condition");
    assert.equal(restKindOf("Condition"), "condition");
    assert.equal(restKindOfFhir({ resourceType: "Condition" }), "condition");
    const r = fixture("openmrs-module-fhir2/ConditionWebTest_create.json") as FhirResource;
    assert.deepEqual(fhirReferences(r), [{ resourceType: "Patient", id: "da7f524f-27ce-4bb2-86d6-6d1d05312bd5" }]);
  });

  describe("REST -> FHIR", () => {
    it("serves the REST condition as ConditionTranslatorImpl does, valid R4", () => {
      const fhir = restToFhir("condition", restCondition());
      assert.deepEqual(fhir, {
        resourceType: "Condition",
        id: "c1d4185b-0364-4978-a635-3165a82a3178",
        meta: { versionId: String(Date.UTC(2015, 0, 12)), lastUpdated: "2015-01-12T00:00:00.000+00:00" },
        clinicalStatus: { coding: [{ system: CLINICAL, code: "active" }] },
        verificationStatus: { coding: [{ system: VERIFICATION, code: "confirmed", display: "CONFIRMED" }] },
        category: [{ coding: [{ system: CATEGORY, code: "problem-list-item", display: "Problem List Item" }] }],
        code: { coding: [{ code: "62a26128-006f-4e77-859b-4aa502e3dd62", display: "Concept 1" }] },
        subject: { reference: "Patient/da7f524f-27ce-4bb2-86d6-6d1d05312bd5", type: "Patient" },
        onsetDateTime: "2017-01-12T00:00:00.000+00:00",
        recordedDate: "2015-01-12T00:00:00.000+00:00",
      });
      assert.deepEqual(validateResource(fhir).errors, []);
    });

    it("carries free text, the end date and the additional detail; a provisional status", () => {
      const fhir = restToFhir(
        "condition",
        restCondition({
          condition: { nonCoded: "Non coded condition" },
          verificationStatus: "PROVISIONAL",
          endDate: "2017-03-01T10:30:00.000+0300",
          additionalDetail: "Some extra details.",
        }),
      );
      assert.deepEqual(fhir.extension, [{ url: NON_CODED, valueString: "Non coded condition" }]);
      assert.equal(fhir.code, undefined);
      assert.deepEqual(fhir.verificationStatus, { coding: [{ system: VERIFICATION, code: "provisional", display: "PROVISIONAL" }] });
      assert.equal(fhir.abatementDateTime, "2017-03-01T10:30:00.000+03:00");
      assert.deepEqual(fhir.note, [{ text: "Some extra details." }]);
      assert.deepEqual(validateResource(fhir).errors, []);
    });

    it("makes every clinical status but ACTIVE inactive, as fhir2 does (the finer status is lost)", () => {
      for (const status of ["INACTIVE", "HISTORY_OF", "RECURRENCE", "RELAPSE", "REMISSION", "RESOLVED"]) {
        const fhir = restToFhir("condition", restCondition({ clinicalStatus: status }));
        assert.deepEqual(fhir.clinicalStatus, { coding: [{ system: CLINICAL, code: "inactive" }] }, status);
        assert.equal(fhirToRestCreate(fhir).body.clinicalStatus, "INACTIVE");
      }
    });

    it("refuses a representation without a uuid or a patient", () => {
      assert.throws(() => restToFhir("condition", restCondition({ uuid: undefined })), PermanentError);
      assert.throws(() => restToFhir("condition", restCondition({ patient: null })), PermanentError);
    });
  });

  describe("FHIR -> REST create body", () => {
    it("reads fhir2's own create body (ConditionWebTest_create.json): the concept-uuid coding, not the CIEL mapping", () => {
      const r = fixture("openmrs-module-fhir2/ConditionWebTest_create.json") as FhirResource;
      assert.deepEqual(fhirToRestCreate(r), {
        kind: "condition",
        body: {
          uuid: "a6867095-e2b1-4a68-9aaa-0d161a37ce9c",
          patient: "da7f524f-27ce-4bb2-86d6-6d1d05312bd5",
          condition: { coded: "116128AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
          clinicalStatus: "ACTIVE",
        },
      });
    });

    it("reads what a real fhir2 served (openmrs-spa.org), active and inactive", () => {
      const bundle = fixture("openmrs-esm-patient-chart/conditions_bundle.json") as { entry: { resource: FhirResource }[] };
      const [active, inactive] = bundle.entry.map((e) => fhirToRestCreate(e.resource));
      assert.deepEqual(active.body, {
        uuid: "f4ee2cfe-3880-4ea2-a5a6-82aa8a0f6389",
        patient: "8673ee4f-e2ab-4077-ba55-4980f408773e",
        condition: { coded: "117399AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
        clinicalStatus: "ACTIVE",
        onsetDate: "2020-08-19T00:00:00.000+0000",
      });
      assert.equal(inactive.body.clinicalStatus, "INACTIVE");
      assert.equal(inactive.body.onsetDate, "2020-07-01T00:00:00.000+0000");
      for (const e of bundle.entry) assert.deepEqual(validateResource(e.resource).errors, []);
    });

    it("goes REST -> FHIR -> REST without losing a creatable property", () => {
      const rep = restCondition({
        condition: { coded: { uuid: "62a26128-006f-4e77-859b-4aa502e3dd62", display: "Concept 1" }, nonCoded: "left knee" },
        clinicalStatus: "INACTIVE",
        verificationStatus: "PROVISIONAL",
        endDate: "2017-03-01T10:30:00.000+0300",
        additionalDetail: "Some extra details.",
      });
      const { body } = fhirToRestCreate(restToFhir("condition", rep));
      assert.deepEqual(body, {
        uuid: "c1d4185b-0364-4978-a635-3165a82a3178",
        patient: "da7f524f-27ce-4bb2-86d6-6d1d05312bd5",
        condition: { coded: "62a26128-006f-4e77-859b-4aa502e3dd62", nonCoded: "left knee" },
        clinicalStatus: "INACTIVE",
        verificationStatus: "PROVISIONAL",
        onsetDate: "2017-01-12T00:00:00.000+0000",
        endDate: "2017-03-01T10:30:00.000+0300",
        additionalDetail: "Some extra details.",
      });
      // The same condition in another server's time zone says the same.
      const shifted = { ...body, onsetDate: "2017-01-12T03:00:00.000+0300" };
      assert.ok(sameRestContent(body, shifted));
      assert.ok(!sameRestContent(body, { ...body, clinicalStatus: "ACTIVE" }));
    });

    it("takes onsetPeriod / abatementPeriod as the translator does; refuses an encounter diagnosis and a condition with nothing to say", () => {
      const base = fixture("openmrs-module-fhir2/ConditionWebTest_create.json") as FhirResource;
      const periods = fhirToRestCreate({ ...base, onsetPeriod: { start: "2020-01-01" }, abatementPeriod: { end: "2020-02-01T00:00:00Z" } }).body;
      assert.equal(periods.onsetDate, "2020-01-01T00:00:00.000+0000");
      assert.equal(periods.endDate, "2020-02-01T00:00:00.000+0000");
      const diagnosis = { ...base, category: [{ coding: [{ system: CATEGORY, code: "encounter-diagnosis" }] }] };
      assert.throws(() => fhirToRestCreate(diagnosis), /encounter diagnosis/);
      assert.throws(() => fhirToRestCreate({ ...base, code: undefined }), /neither a concept code nor non-coded text/);
      assert.throws(() => fhirToRestCreate({ ...base, subject: undefined }), /no Patient subject/);
    });
  });

  it("names the condition's concept as metadata the target must have (free text needs none)", () => {
    const fhir = restToFhir("condition", restCondition());
    const { kind, body } = fhirToRestCreate(fhir);
    assert.deepEqual(metadataRefs(kind, body, fhir), [{ kind: "concept", uuid: "62a26128-006f-4e77-859b-4aa502e3dd62", display: "Concept 1" }]);
    const free = restToFhir("condition", restCondition({ condition: { nonCoded: "x" } }));
    const rest = fhirToRestCreate(free);
    assert.deepEqual(metadataRefs(rest.kind, rest.body, free), []);
  });
});
