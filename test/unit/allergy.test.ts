/**
 * Allergies: the simulator's (sim/types/allergy.ts, a REST v1 patient sub-resource and fhir2
 * AllergyIntolerance as the real modules behave), the converter (lib/fhir/types/allergy.ts) both ways
 * against real JSON (test/fixtures/openmrs/SOURCES.md), and writing them into a simulated OpenMRS
 * (lib/push/targets.ts) through REST v1 under the patient, with fhir2 or without.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenmrsSim, type Allergy } from "../../sim";
import { ciel, OTHER_NON_CODED, SEVERITY_CONCEPTS } from "../../sim/metadata";
import { fhirReferences, fhirToRestCreate, restKindOf, restKindOfFhir, restToFhir, type FhirResource } from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";
import { metadataRefs } from "../../lib/openmrs/metadata-check";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OpenmrsTarget, type WriteRequest } from "../../lib/push/targets";
import { writeRequestOf } from "../../lib/message";
import { describeEntry } from "../../lib/atom/entry";
import { fetchRecord } from "../../lib/openmrs/fetch-record";
import { validAllergy } from "../../lib/fhir/convert";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const fixture = (rel: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), "utf8")) as Record<string, unknown>;
const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") };
const PENICILLINS = ciel(70116);
const RASH = ciel(512);
const NAUSEA = ciel(5978);
const ALLERGY = "2a0b9f4e-6c1d-4a5e-9b8f-0c7d6e5f4a31";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = Record<string, any>;

describe("allergies", function () {
  this.timeout(20_000);

  describe("simulator: REST v1 sub-resource and fhir2 AllergyIntolerance", () => {
    let sim: OpenmrsSim;
    let url: string;
    let patient: string;
    let other: string;
    beforeEach(async () => {
      sim = new OpenmrsSim({ name: "parent", seed: 7 });
      url = await sim.start();
      sim.generate({ patients: 2, visitsPerPatient: 0 });
      [patient, other] = [...sim.store.patients.values()].map((p) => p.uuid);
    });
    afterEach(() => sim.stop());

    const call = async (method: string, p: string, body?: unknown, fhir = false): Promise<{ status: number; json: Json }> => {
      const res = await fetch(`${url}${p}`, {
        method,
        headers: { ...AUTH, "content-type": fhir ? "application/fhir+json" : "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
    };
    const stored = () => sim.store.getOf("allergy", ALLERGY) as Allergy | undefined;
    const create = () =>
      call("POST", `/ws/rest/v1/patient/${patient}/allergy`, {
        uuid: ALLERGY,
        allergen: { allergenType: "DRUG", codedAllergen: { uuid: PENICILLINS } },
        severity: { uuid: SEVERITY_CONCEPTS.severe },
        comment: "Since childhood.",
        reactions: [{ reaction: { uuid: RASH } }],
      });

    it("REST: under its patient only; creates with the uuid, updates in place, refuses what it does not allow, voids, refuses purge", async () => {
      assert.equal((await call("POST", "/ws/rest/v1/allergy", { allergen: {} })).status, 404, "no top-level allergy resource");
      const created = await create();
      assert.equal(created.status, 201);
      assert.equal(created.json.display, "Penicillins");
      assert.equal(created.json.links[0].uri, `${url}/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}`);
      assert.deepEqual(stored()!.reactions, [{ reaction: RASH, reactionNonCoded: null }]);
      assert.equal((await call("GET", `/ws/rest/v1/patient/${other}/allergy/${ALLERGY}`)).status, 404, "another patient's path");
      const again = await call("POST", `/ws/rest/v1/patient/${patient}/allergy`, { allergen: { allergenType: "DRUG", codedAllergen: PENICILLINS } });
      assert.equal(again.status, 400);
      assert.match(JSON.stringify(again.json), /duplicateAllergen/);
      const refused = await call("POST", `/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}`, { patient: other });
      assert.equal(refused.status, 400);
      assert.match(JSON.stringify(refused.json), /not allowed to be set: patient/);

      const updated = await call("POST", `/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}`, { reactions: [{ reaction: NAUSEA }], comment: null });
      assert.equal(updated.status, 200);
      assert.equal(stored()!.uuid, ALLERGY, "in place");
      assert.deepEqual(stored()!.reactions, [{ reaction: NAUSEA, reactionNonCoded: null }], "replaced");
      assert.equal(stored()!.comment, null);
      const full = await call("GET", `/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}?v=full`);
      assert.equal(full.json.allergen.allergenType, "DRUG");
      assert.equal(full.json.severity.uuid, SEVERITY_CONCEPTS.severe);
      assert.equal(full.json.voided, false);

      assert.equal((await call("DELETE", `/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}?purge=true`)).status, 400);
      assert.equal((await call("DELETE", `/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}`)).status, 204);
      assert.equal(stored()!.voided, true);
      assert.deepEqual(
        sim.store.categoryEvents("allergy").map((e) => e.action),
        ["CREATED", "UPDATED", "UPDATED", "VOIDED"],
      );
      const link = JSON.parse(sim.store.categoryEvents("allergy")[0].content) as { rest: string; fhir: string };
      assert.equal(link.rest, `/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}?v=full`);
      assert.equal(link.fhir, `/ws/fhir2/R4/AllergyIntolerance/${ALLERGY}`);
    });

    it("fhir2: serves the translator's resource; a PUT keeps the allergen and APPENDS reactions; inactive voids; voided is 410", async () => {
      await create();
      const r = await call("GET", `/ws/fhir2/R4/AllergyIntolerance/${ALLERGY}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.category, ["medication"]);
      assert.equal(r.json.criticality, "high");
      assert.equal(r.json.code.coding[0].code, PENICILLINS);
      assert.equal(r.json.reaction[0].severity, "severe");
      assert.equal(r.json.reaction[0].manifestation[0].coding[0].code, RASH);
      assert.deepEqual(r.json.note, [{ text: "Since childhood." }]);
      assert.equal(r.json.verificationStatus.coding[0].code, "confirmed");

      const put = await call("PUT", `/ws/fhir2/R4/AllergyIntolerance/${ALLERGY}`, { ...r.json, code: { coding: [{ code: ciel(71617) }] } }, true);
      assert.equal(put.status, 200);
      assert.equal(stored()!.codedAllergen, PENICILLINS, "the allergen of an existing allergy is kept");
      assert.deepEqual(
        stored()!.reactions.map((x) => x.reaction),
        [RASH, RASH],
        "the reactions sent are appended to the stored ones",
      );
      const inactive = {
        ...r.json,
        clinicalStatus: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "inactive" }] },
      };
      assert.equal((await call("PUT", `/ws/fhir2/R4/AllergyIntolerance/${ALLERGY}`, inactive, true)).status, 200);
      assert.equal(stored()!.voided, true);
      assert.equal((await call("GET", `/ws/fhir2/R4/AllergyIntolerance/${ALLERGY}`)).status, 410);

      // fhir2's own create example (AllergyIntoleranceWebTest_create.json), for a patient and concepts this server has.
      const example = fixture("openmrs-module-fhir2/AllergyIntoleranceWebTest_create.json");
      const posted = await call(
        "POST",
        "/ws/fhir2/R4/AllergyIntolerance",
        {
          ...example,
          patient: { reference: `Patient/${other}` },
          code: { coding: [{ code: ciel(162302) }] },
          reaction: [{ manifestation: [{ coding: [{ code: NAUSEA }], text: "manifestation text" }], severity: "severe" }],
        },
        true,
      );
      assert.equal(posted.status, 201);
      const made = sim.store.getOf("allergy", String(posted.json.id)) as Allergy;
      assert.deepEqual([made.allergenType, made.severity, made.reactions[0].reaction], ["DRUG", SEVERITY_CONCEPTS.severe, NAUSEA]);
    });
  });

  describe("converter", () => {
    const demo = (fixture("openmrs-contrib-rest-api-docs/patient_allergies.json").results as Json[])[0];

    it("REST v1 (demo server's allergy) -> AllergyIntolerance as fhir2 serves it, valid R4", () => {
      assert.equal(restKindOf("allergy"), "allergy");
      const r = restToFhir("allergy", demo);
      assert.deepEqual(validateResource(r), { valid: true, errors: [] });
      assert.equal(r.id, "2d440f27-7a87-4a14-bd21-efb5e99c58dc");
      assert.deepEqual(r.category, ["medication"]);
      assert.equal(r.criticality, "high");
      assert.deepEqual(r.code, { coding: [{ code: "162298AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", display: "ACE inhibitors" }], text: "ACE inhibitors" });
      assert.deepEqual(r.patient, { reference: "Patient/3d808dc6-e9b8-4ade-b3fd-32bb0eb08f87", type: "Patient" });
      assert.deepEqual(r.note, [{ text: "take precautions can cause problems" }]);
      const reaction = (r.reaction as Json[])[0];
      assert.equal(reaction.severity, "severe");
      assert.deepEqual(
        (reaction.manifestation as Json[]).map((m) => m.coding[0].code),
        ["1067AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "139084AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "159098AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
      );
      assert.equal(restKindOfFhir(r), "allergy");
      assert.deepEqual(fhirReferences(r), [{ resourceType: "Patient", id: "3d808dc6-e9b8-4ade-b3fd-32bb0eb08f87" }]);
    });

    it("AllergyIntolerance -> the REST create body, round trip of the demo allergy; fhir2's create example; metadata named", () => {
      const { kind, body } = fhirToRestCreate(restToFhir("allergy", demo));
      assert.equal(kind, "allergy");
      assert.deepEqual(body, {
        uuid: "2d440f27-7a87-4a14-bd21-efb5e99c58dc",
        patient: "3d808dc6-e9b8-4ade-b3fd-32bb0eb08f87",
        allergen: { allergenType: "DRUG", codedAllergen: "162298AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
        severity: "1500AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        comment: "take precautions can cause problems",
        reactions: [
          { reaction: "1067AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
          { reaction: "139084AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
          { reaction: "159098AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
        ],
      });
      assert.deepEqual(
        metadataRefs("allergy", body, {}).map((m) => `${m.kind} ${m.uuid}`),
        [
          "concept 1500AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "concept 162298AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "concept 1067AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "concept 139084AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "concept 159098AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
      );
      const example = { ...fixture("openmrs-module-fhir2/AllergyIntoleranceWebTest_create.json"), id: ALLERGY };
      const fromExample = fhirToRestCreate(example as FhirResource).body;
      assert.deepEqual(fromExample.allergen, { allergenType: "DRUG", codedAllergen: "5085AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
      assert.equal(fromExample.severity, "1500AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
      assert.deepEqual(fromExample.reactions, [{ reaction: "5088AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }]);
      // Free text: the "Other non-coded" concept carries it, as code.text (and manifestation text).
      const free = fhirToRestCreate({
        resourceType: "AllergyIntolerance",
        id: ALLERGY,
        patient: { reference: "Patient/p1" },
        code: { coding: [{ code: OTHER_NON_CODED }], text: "Bee stings" },
        reaction: [{ manifestation: [{ coding: [{ code: OTHER_NON_CODED }], text: "Swelling" }] }],
      }).body;
      assert.deepEqual(free.allergen, { allergenType: "OTHER", codedAllergen: OTHER_NON_CODED, nonCodedAllergen: "Bee stings" });
      assert.deepEqual(free.reactions, [{ reaction: OTHER_NON_CODED, reactionNonCoded: "Swelling" }]);
      assert.equal(free.severity, null);
    });

    it("fhir2's reaction without manifestation (invalid R4) is dropped; the severity is read back from criticality", () => {
      const served = {
        resourceType: "AllergyIntolerance",
        id: ALLERGY,
        patient: { reference: "Patient/p1" },
        code: { coding: [{ code: PENICILLINS }] },
        criticality: "low",
        reaction: [{ substance: { coding: [{ code: PENICILLINS }] }, severity: "mild" }],
      };
      const fixed = validAllergy(served);
      assert.equal(fixed.reaction, undefined);
      assert.deepEqual(validateResource(fixed), { valid: true, errors: [] });
      assert.equal(fhirToRestCreate(fixed).body.severity, SEVERITY_CONCEPTS.mild);
    });

    it("without fhir2, omod-atomfeed's default allergy link (no patient) is refused, never skipped as not found", async () => {
      const sim = new OpenmrsSim({ name: "s", seed: 3 });
      await sim.start();
      const server = new OpenmrsServer({ url: sim.url, username: "admin", password: "Admin123", fhirMode: "rest" });
      try {
        const entry = describeEntry({
          id: "e1",
          title: "Allergy",
          updated: "",
          categories: ["allergy"],
          content: `/openmrs/ws/rest/v1/allergy/${ALLERGY}?v=full`,
          page: "",
        });
        await assert.rejects(fetchRecord(server, await server.profile(), entry), /only under their patient/);
      } finally {
        server.close();
        await sim.stop();
      }
    });

    it("a delete's message names the patient of the sub-resource from the feed link", () => {
      const req = writeRequestOf({
        action: "delete",
        payload: { resourceType: "AllergyIntolerance", id: ALLERGY },
        entry: { action: "VOIDED", links: { rest: `/openmrs/ws/rest/v1/patient/3d808dc6-e9b8-4ade-b3fd-32bb0eb08f87/allergy/${ALLERGY}?v=full` } },
      });
      assert.equal(req.parent, "3d808dc6-e9b8-4ade-b3fd-32bb0eb08f87");
    });
  });

  describe("OpenmrsTarget", () => {
    let source: OpenmrsSim;
    let target: OpenmrsSim;
    let from: OpenmrsServer;
    const servers: OpenmrsServer[] = [];
    let patient: string;
    beforeEach(async () => {
      source = new OpenmrsSim({ name: "source", seed: 11 });
      target = new OpenmrsSim({ name: "target", seed: 12 });
      source.generate({ patients: 1, visitsPerPatient: 0 });
      patient = [...source.store.patients.values()][0].uuid;
      source.store.createOf("allergy", {
        uuid: ALLERGY,
        patient,
        allergenType: "DRUG",
        codedAllergen: PENICILLINS,
        severity: SEVERITY_CONCEPTS.moderate,
        comment: "Since childhood.",
        reactions: [{ reaction: RASH, reactionNonCoded: null }],
      });
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
    const targetOf = (fhirMode: "fhir2" | "rest") => {
      const server = new OpenmrsServer({ url: target.url, username: "admin", password: "Admin123", fhirMode });
      servers.push(server);
      return new OpenmrsTarget(server);
    };
    const read = async (type: string, id: string) => (await from.fhir.read(type, id)).body as FhirResource;
    const req = async (over: Partial<WriteRequest> = {}): Promise<WriteRequest> => ({
      action: "upsert",
      resourceType: "AllergyIntolerance",
      id: ALLERGY,
      resource: await read("AllergyIntolerance", ALLERGY),
      ...over,
    });
    const copy = () => target.store.getOf("allergy", ALLERGY) as Allergy | undefined;
    const writes = () => target.requests.filter((r) => r.kind === "rest-write" || r.kind === "fhir-write").map((r) => `${r.method} ${r.path.split("?")[0]}`);

    for (const mode of ["fhir2", "rest"] as const)
      it(`${mode}: waits for the patient, creates under it with the uuid, edits in place through REST (reactions replaced), deletes`, async () => {
        const to = targetOf(mode);
        target.store.lacking.add(RASH);
        const noConcept = await to.write(await req());
        assert.deepEqual([noConcept.outcome.kind, noConcept.outcome.reason], ["retry", "missing-metadata"]);
        assert.match(noConcept.outcome.message ?? "", /concept 512A+ \(Rash\)/);
        target.store.lacking.delete(RASH);
        const noPatient = await to.write(await req({ created: true }));
        assert.deepEqual([noPatient.outcome.kind, noPatient.outcome.reason], ["retry", "missing-reference"]);
        assert.equal((await to.write({ action: "upsert", resourceType: "Patient", id: patient, resource: await read("Patient", patient) })).outcome.kind, "ok");

        target.requests.length = 0;
        const created = await to.write(await req({ created: true }));
        assert.deepEqual([created.outcome.kind, created.outcome.reason], ["ok", "created"]);
        assert.deepEqual(writes(), [`POST /openmrs/ws/rest/v1/patient/${patient}/allergy`]);
        assert.deepEqual(source.diff(target), []);

        source.store.updateOf("allergy", ALLERGY, {
          reactions: [{ reaction: NAUSEA, reactionNonCoded: null }],
          comment: null,
          severity: SEVERITY_CONCEPTS.mild,
        });
        target.requests.length = 0;
        assert.equal((await to.write(await req())).outcome.kind, "ok");
        assert.deepEqual(writes(), [`POST /openmrs/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}`], "REST, never fhir2's appending PUT");
        assert.deepEqual(copy()!.reactions, [{ reaction: NAUSEA, reactionNonCoded: null }]);
        assert.equal(copy()!.comment, null);
        assert.deepEqual(source.diff(target), []);
        const back = await to.read("AllergyIntolerance", ALLERGY, "allergy", undefined, patient);
        assert.equal((back?.reaction as Json[])[0].severity, "mild");

        target.requests.length = 0;
        const del = await to.write({ action: "delete", resourceType: "AllergyIntolerance", id: ALLERGY, restKind: "allergy", parent: patient });
        assert.equal(del.outcome.kind, "ok");
        assert.equal(copy()!.voided, true);
        assert.deepEqual(writes(), [
          mode === "fhir2" ? `DELETE /openmrs/ws/fhir2/R4/AllergyIntolerance/${ALLERGY}` : `DELETE /openmrs/ws/rest/v1/patient/${patient}/allergy/${ALLERGY}`,
        ]);
      });
  });
});
