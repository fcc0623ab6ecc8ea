/**
 * The simulator refuses a patient identifier that another non-voided patient holds, as openmrs-core does
 * (sim/identifiers.ts): REST v1 answers 400 with the validation error's globalErrors, fhir2 answers 422
 * with an OperationOutcome; a voided holder does not count. Both APIs find patients by identifier.
 */
import * as assert from "node:assert/strict";
import { OpenmrsSim } from "../../sim";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") };
const JSON_AUTH = { ...AUTH, "content-type": "application/json" };
const FHIR_AUTH = { ...AUTH, "content-type": "application/fhir+json" };
const OPENMRS_ID = "05a29f94-c0ed-11e2-94be-8c13b969e334";
const OLD_ID = "8d79403a-c2cc-11de-8d13-0010c6dffd0f";
const OUTPATIENT = "8d6c993e-c2cc-11de-8d13-0010c6dffd0f";
const A = "a0000000-0000-4000-8000-000000000001";
const B = "b0000000-0000-4000-8000-000000000002";
const C = "c0000000-0000-4000-8000-000000000003";

interface RestError {
  error: { message: string; code: string; globalErrors: { code: string; message: string }[]; fieldErrors: Record<string, unknown> };
}
interface OperationOutcome {
  resourceType: string;
  issue: { severity: string; code: string; diagnostics: string }[];
}

describe("OpenMRS simulator: patient identifiers are unique", function () {
  let sim: OpenmrsSim;
  let url: string;

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "ids", seed: 5 });
    url = await sim.start();
  });
  afterEach(() => sim.stop());

  function patientBody(uuid: string, identifier: string, type = OPENMRS_ID): Record<string, unknown> {
    return {
      uuid,
      person: { gender: "F", birthdate: "1990-05-04", names: [{ givenName: "Ada", familyName: "Okello", preferred: true }] },
      identifiers: [{ identifier, identifierType: type, location: OUTPATIENT, preferred: true }],
    };
  }

  function post(path: string, body: unknown): Promise<Response> {
    return fetch(`${url}/ws/rest/v1/${path}`, { method: "POST", headers: JSON_AUTH, body: JSON.stringify(body) });
  }

  async function create(uuid: string, identifier: string, type = OPENMRS_ID): Promise<Response> {
    return post("patient", patientBody(uuid, identifier, type));
  }

  async function assertRestRefusal(res: Response, identifier: string): Promise<void> {
    const body = await res.clone().text();
    assert.equal(res.status, 400, body);
    const message = `Identifier ${identifier} already in use by another patient`;
    assert.deepEqual(JSON.parse(body) as RestError, {
      error: {
        message: "Invalid Submission",
        code: "webservices.rest.error.invalid.submission",
        globalErrors: [{ code: message, message }],
        fieldErrors: {},
      },
    });
  }

  it("REST create: refused when another patient holds the identifier; the same value of another type is fine", async () => {
    assert.equal((await create(A, "10001Y")).status, 201);
    const events = sim.store.events.length;
    await assertRestRefusal(await create(B, "10001Y"), "10001Y");
    assert.equal(sim.store.patients.get(B), undefined, "nothing saved");
    assert.equal(sim.store.events.length, events, "no event");
    assert.equal((await create(B, "10001Y", OLD_ID)).status, 201, "another identifier type");
  });

  it("REST update: refused when it would give the patient another patient's identifier", async () => {
    assert.equal((await create(A, "10001Y")).status, 201);
    assert.equal((await create(B, "20002Y")).status, 201);
    const res = await post(`patient/${B}`, { identifiers: [{ identifier: "10001Y", identifierType: OPENMRS_ID, location: OUTPATIENT, preferred: true }] });
    await assertRestRefusal(res, "10001Y");
    assert.deepEqual(
      sim.store.patients
        .get(B)
        ?.identifiers.filter((i) => !i.voided)
        .map((i) => i.identifier),
      ["20002Y"],
    );
    // Saving a patient with its own identifiers again is no collision.
    assert.equal((await post(`patient/${A}`, { identifiers: [{ identifier: "10001Y", identifierType: OPENMRS_ID, location: OUTPATIENT }] })).status, 200);
  });

  it("fhir2 PUT and POST: 422 with the validation message in an OperationOutcome", async () => {
    assert.equal((await create(A, "10001Y")).status, 201);
    assert.equal((await create(B, "20002Y")).status, 201);
    const patient = (await (await fetch(`${url}/ws/fhir2/R4/Patient/${B}`, { headers: AUTH })).json()) as { identifier: { value: string }[] };
    patient.identifier[0].value = "10001Y";
    const put = await fetch(`${url}/ws/fhir2/R4/Patient/${B}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify(patient) });
    assert.equal(put.status, 422);
    const oo = (await put.json()) as OperationOutcome;
    assert.equal(oo.resourceType, "OperationOutcome");
    assert.deepEqual([oo.issue[0].severity, oo.issue[0].code], ["error", "processing"]);
    assert.match(oo.issue[0].diagnostics, /^'Patient#\d+' failed to validate with reason: Identifier 10001Y already in use by another patient$/);
    assert.equal(sim.store.patients.get(B)?.identifiers.find((i) => !i.voided)?.identifier, "20002Y");

    const { id: _id, ...fresh } = patient as { id?: string };
    void _id;
    const postRes = await fetch(`${url}/ws/fhir2/R4/Patient`, { method: "POST", headers: FHIR_AUTH, body: JSON.stringify(fresh) });
    assert.equal(postRes.status, 422);
    assert.equal(
      ((await postRes.json()) as OperationOutcome).issue[0].diagnostics,
      "'Patient#null' failed to validate with reason: Identifier 10001Y already in use by another patient",
    );
  });

  it("allows the identifier when its holder is voided, and refuses to unvoid the holder then", async () => {
    assert.equal((await create(A, "10001Y")).status, 201);
    assert.equal((await fetch(`${url}/ws/rest/v1/patient/${A}`, { method: "DELETE", headers: AUTH })).status, 204);
    assert.equal((await create(B, "10001Y")).status, 201, "the holder is voided");
    await assertRestRefusal(await post(`patient/${A}`, { voided: false }), "10001Y");
    assert.equal(sim.store.patients.get(A)?.voided, true);
  });

  it("finds non-voided patients by identifier through REST and fhir2", async () => {
    assert.equal((await create(A, "10001Y")).status, 201);
    assert.equal((await fetch(`${url}/ws/rest/v1/patient/${A}`, { method: "DELETE", headers: AUTH })).status, 204);
    assert.equal((await create(B, "10001Y")).status, 201);
    assert.equal((await create(C, "10001Y", OLD_ID)).status, 201);

    const rest = (await (await fetch(`${url}/ws/rest/v1/patient?identifier=10001Y&v=full`, { headers: AUTH })).json()) as {
      results: { uuid: string; identifiers: { identifier: string }[] }[];
    };
    assert.deepEqual(rest.results.map((r) => r.uuid).sort(), [B, C]);
    assert.equal(rest.results[0].identifiers[0].identifier, "10001Y");

    const bundle = (await (await fetch(`${url}/ws/fhir2/R4/Patient?identifier=10001Y`, { headers: AUTH })).json()) as {
      resourceType: string;
      type: string;
      total: number;
      entry: { resource: { id: string; resourceType: string } }[];
    };
    assert.deepEqual([bundle.resourceType, bundle.type, bundle.total], ["Bundle", "searchset", 2]);
    assert.deepEqual(bundle.entry.map((e) => e.resource.id).sort(), [B, C]);
    const typed = (await (await fetch(`${url}/ws/fhir2/R4/Patient?identifier=${encodeURIComponent("OpenMRS ID|10001Y")}`, { headers: AUTH })).json()) as {
      entry: { resource: { id: string } }[];
    };
    assert.deepEqual(
      typed.entry.map((e) => e.resource.id),
      [B],
    );
    const none = (await (await fetch(`${url}/ws/fhir2/R4/Patient?identifier=nobody`, { headers: AUTH })).json()) as { total: number; entry?: unknown };
    assert.deepEqual([none.total, none.entry], [0, undefined]);
  });

  it("generates unique identifiers carrying the simulator's prefix", () => {
    sim.generate({ patients: 400, visitsPerPatient: 0 });
    const seen = new Set<string>();
    for (const p of sim.store.patients.values()) {
      for (const i of p.identifiers.filter((x) => !x.voided)) {
        assert.ok(!seen.has(`${i.identifierType} ${i.identifier}`), i.identifier);
        seen.add(`${i.identifierType} ${i.identifier}`);
        assert.match(i.identifier, /IDS/);
      }
    }
  });
});
