/**
 * Encounter diagnoses: the simulator's REST v1 encounter `diagnoses` (EncounterResource2_2, sim/diagnoses.ts)
 * and the converter (lib/fhir/types/encounter-diagnoses.ts) both ways, with fhir2's own diagnosis Condition
 * (test/fixtures/openmrs/SOURCES.md) as a contained Condition; the references and metadata they add.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fhirReferences, fhirToRestCreate, restToFhir, type FhirResource } from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";
import { metadataRefs } from "../../lib/openmrs/metadata-check";
import { OpenmrsSim } from "../../sim";
import { ciel } from "../../sim/metadata";
import type { Encounter } from "../../sim/model";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64"), "content-type": "application/json" };
const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const MALARIA = ciel(160148);
const RANK_URL = "http://fhir.openmrs.org/R4/StructureDefinition/diagnosis-rank";
const NON_CODED = "http://fhir.openmrs.org/ext/non-coded-condition";
const CONDITION_LINK = "http://fhir.openmrs.org/ext/diagnosis/condition";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

describe("encounter diagnoses", () => {
  let sim: OpenmrsSim;
  let url: string;
  let enc: Encounter;
  let condition: string;

  before(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 21 });
    url = await sim.start();
    sim.generate({ patients: 1, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 0 });
    enc = [...sim.store.encounters.values()][0];
    condition = sim.store.createOf("condition", { patient: enc.patient, coded: MALARIA, clinicalStatus: "ACTIVE" }).uuid;
  });
  after(() => sim.stop());

  const rest = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: Json }> => {
    const res = await fetch(`${url}/ws/rest/v1/${p}`, { method, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };

  it("simulator: REST encounter takes and serves diagnoses (coded and non-coded, certainty, rank, condition)", async () => {
    const events = sim.store.categoryEvents("encounter").length;
    const res = await rest("POST", `encounter/${enc.uuid}`, {
      diagnoses: [
        { diagnosis: { coded: MALARIA }, certainty: "CONFIRMED", rank: 1, condition },
        { diagnosis: { nonCoded: "Suspected typhoid" }, certainty: "PROVISIONAL", rank: 2 },
      ],
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(sim.store.categoryEvents("encounter").length, events + 1, "saving diagnoses is an encounter event");
    const got = (await rest("GET", `encounter/${enc.uuid}?v=full`)).json;
    assert.equal(got.resourceVersion, "2.2");
    assert.equal(got.diagnoses.length, 2);
    const [a, b] = got.diagnoses as Json[];
    assert.equal(a.diagnosis.coded.uuid, MALARIA);
    assert.equal(a.certainty, "CONFIRMED");
    assert.equal(a.rank, 1);
    assert.equal(a.condition.uuid, condition);
    assert.equal(a.encounter.uuid, enc.uuid);
    assert.equal(b.diagnosis.coded, null);
    assert.equal(b.diagnosis.nonCoded, "Suspected typhoid");
    assert.equal(b.display, "Suspected typhoid");
    // Naming one of them only: the other is voided (and no longer served).
    assert.equal(
      (await rest("POST", `encounter/${enc.uuid}`, { diagnoses: [{ uuid: a.uuid, diagnosis: { coded: MALARIA }, certainty: "PROVISIONAL", rank: 1 }] })).status,
      200,
    );
    const stored = sim.store.encounters.get(enc.uuid)!.diagnoses!;
    assert.deepEqual(
      stored.map((d) => [d.uuid, d.certainty, d.voided]),
      [
        [a.uuid, "PROVISIONAL", false],
        [b.uuid, "PROVISIONAL", true],
      ],
    );
    assert.equal((await rest("GET", `encounter/${enc.uuid}?v=full`)).json.diagnoses.length, 1);
  });

  it("simulator: refuses a diagnosis without diagnosis, certainty or rank, or of an unknown concept", async () => {
    for (const d of [
      { certainty: "CONFIRMED", rank: 1 },
      { diagnosis: { coded: MALARIA }, rank: 1 },
      { diagnosis: { coded: MALARIA }, certainty: "CONFIRMED" },
      { diagnosis: { coded: MALARIA }, certainty: "MAYBE", rank: 1 },
      { diagnosis: { coded: ciel(1) }, certainty: "CONFIRMED", rank: 1 },
    ])
      assert.equal((await rest("POST", `encounter/${enc.uuid}`, { diagnoses: [d] })).status, 400, JSON.stringify(d));
  });

  it("converter: REST diagnoses <-> contained Conditions as fhir2's DiagnosisTranslatorImpl writes them; valid R4", async () => {
    await rest("POST", `encounter/${enc.uuid}`, {
      diagnoses: [
        { diagnosis: { coded: MALARIA }, certainty: "CONFIRMED", rank: 1, condition },
        { diagnosis: { nonCoded: "Suspected typhoid" }, certainty: "PROVISIONAL", rank: 2 },
      ],
    });
    const rep = (await rest("GET", `encounter/${enc.uuid}?v=full`)).json;
    const r = restToFhir("encounter", rep);
    const contained = r.contained as Json[];
    assert.equal(contained.length, 2);
    const coded = contained.find((c) => c.code)!;
    assert.deepEqual(coded.category[0].coding[0], {
      system: "http://terminology.hl7.org/CodeSystem/condition-category",
      code: "encounter-diagnosis",
      display: "Encounter Diagnosis",
    });
    assert.equal(coded.code.coding[0].code, MALARIA);
    assert.equal(coded.verificationStatus.coding[0].code, "confirmed");
    assert.deepEqual(coded.extension, [{ url: RANK_URL, valueInteger: 1 }]);
    assert.equal(coded.subject.reference, `Patient/${enc.patient}`);
    const free = contained.find((c) => !c.code)!;
    assert.deepEqual(free.extension, [
      { url: NON_CODED, valueString: "Suspected typhoid" },
      { url: RANK_URL, valueInteger: 2 },
    ]);
    assert.equal(free.verificationStatus.coding[0].code, "provisional");
    const diagnosis = r.diagnosis as Json[];
    assert.deepEqual(
      diagnosis.map((d) => [d.condition.reference, d.rank]),
      [
        [`#${coded.id}`, 1],
        [`#${free.id}`, 2],
      ],
    );
    assert.deepEqual(diagnosis[0].extension, [{ url: CONDITION_LINK, valueReference: { reference: `Condition/${condition}`, type: "Condition" } }]);
    const v = validateResource(r);
    assert.ok(v.valid, v.errors.join("; "));

    const { body } = fhirToRestCreate(r);
    assert.deepEqual(body.diagnoses, [
      { uuid: coded.id, diagnosis: { coded: MALARIA }, encounter: enc.uuid, patient: enc.patient, condition, certainty: "CONFIRMED", rank: 1 },
      {
        uuid: free.id,
        diagnosis: { nonCoded: "Suspected typhoid" },
        encounter: enc.uuid,
        patient: enc.patient,
        condition: null,
        certainty: "PROVISIONAL",
        rank: 2,
      },
    ]);
    // The encounter waits for the condition its diagnosis is about, and names the diagnosis concept as metadata.
    assert.ok(fhirReferences(r).some((x) => x.resourceType === "Condition" && x.id === condition));
    assert.ok(metadataRefs("encounter", body, r).some((m) => m.kind === "concept" && m.uuid === MALARIA));
  });

  it("converter: fhir2's own diagnosis Condition, contained in an Encounter, is a REST diagnosis", () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, "openmrs-module-fhir2/ConditionDiagnosis_create.json"), "utf8")) as Json;
    const encounter: FhirResource = {
      resourceType: "Encounter",
      id: "6519d653-393b-4118-9c83-a3715b82d4ac",
      subject: fixture.subject,
      contained: [{ ...fixture, id: "d1" }],
      diagnosis: [{ condition: { reference: "#d1" } }],
    };
    const { body } = fhirToRestCreate(encounter);
    assert.deepEqual(body.diagnoses, [
      {
        uuid: "d1",
        diagnosis: { coded: "116128AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
        encounter: "6519d653-393b-4118-9c83-a3715b82d4ac",
        patient: "5946f880-b197-400b-9caa-a3c661d23041",
        condition: null,
        certainty: "CONFIRMED",
        rank: 1,
      },
    ]);
  });
});
