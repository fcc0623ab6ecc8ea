/**
 * A patient the target refuses because another patient there holds one of its identifiers (an idgen
 * collision) is its own outcome: permanent, reason "duplicate-identifier", naming both patients, the
 * identifier value only in `outcome.duplicate`. Against simulated OpenMRS servers, through fhir2 and
 * through REST v1 only; and the rules of lib/push/duplicate-identifier.ts on their own.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim } from "../../sim";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OpenmrsTarget, type WriteRequest } from "../../lib/push/targets";
import { duplicateIdentifierOutcome } from "../../lib/push/duplicate-identifier";
import type { FhirResource } from "../../lib/fhir/convert";
import type { Outcome } from "../../lib/outcome";

const OPENMRS_ID = "05a29f94-c0ed-11e2-94be-8c13b969e334";
const OUTPATIENT = "8d6c993e-c2cc-11de-8d13-0010c6dffd0f";
const HOLDER = "d0000000-0000-4000-8000-0000000000d1";
const HOLDER2 = "d0000000-0000-4000-8000-0000000000d2";

describe("OpenmrsTarget: a duplicate identifier at the target", function () {
  this.timeout(20_000);
  let source: OpenmrsSim;
  let from: OpenmrsServer;
  const opened: { sim: OpenmrsSim; server: OpenmrsServer }[] = [];

  beforeEach(async () => {
    source = new OpenmrsSim({ name: "source", seed: 911 });
    source.generate({ patients: 3, visitsPerPatient: 0 });
    await source.start();
    from = new OpenmrsServer({ url: source.url, username: "admin", password: "Admin123" });
  });
  afterEach(async () => {
    from.close();
    for (const { sim, server } of opened.splice(0)) {
      server.close();
      await sim.stop();
    }
    await source.stop();
  });

  async function target(fhir2: boolean): Promise<{ sim: OpenmrsSim; to: OpenmrsTarget }> {
    const sim = new OpenmrsSim({ name: "target", seed: 912, fhir2 });
    await sim.start();
    const server = new OpenmrsServer({ url: sim.url, username: "admin", password: "Admin123" });
    opened.push({ sim, server });
    return { sim, to: new OpenmrsTarget(server) };
  }

  async function record(uuid: string, created = true): Promise<WriteRequest> {
    const res = await from.fhir.read("Patient", uuid);
    assert.equal(res.status, 200);
    return { action: "upsert", resourceType: "Patient", id: uuid, resource: res.body as FhirResource, created };
  }

  /** The source patient's OpenMRS ID. */
  function openmrsId(uuid: string): string {
    return source.store.patients.get(uuid)!.identifiers.find((i) => i.identifierType === OPENMRS_ID && !i.voided)!.identifier;
  }

  /** Another patient at the target holding `identifier` as its OpenMRS ID. */
  function holder(sim: OpenmrsSim, identifier: string, uuid = HOLDER): void {
    sim.store.createPatient({
      uuid,
      gender: "M",
      names: [{ givenName: "Other", familyName: "Person" }],
      identifiers: [{ identifier, identifierType: OPENMRS_ID, location: OUTPATIENT, preferred: true }],
    });
  }

  /** The source gives `uuid` the OpenMRS ID `value`, which another patient at the target holds. */
  function renumber(uuid: string, value: string, sim: OpenmrsSim): void {
    holder(sim, value, HOLDER2);
    source.store.updatePatient(uuid, { identifiers: [{ identifier: value, identifierType: OPENMRS_ID, location: OUTPATIENT, preferred: true }] });
  }

  function assertDuplicate(outcome: Outcome, patient: string, value: string, status: number, by = HOLDER): void {
    assert.deepEqual([outcome.kind, outcome.reason, outcome.status], ["permanent", "duplicate-identifier", status], outcome.message);
    assert.deepEqual(outcome.duplicate, { identifierType: "OpenMRS ID", identifier: value, holder: `Patient/${by}` });
    assert.match(outcome.message ?? "", new RegExp(`^Patient/${patient} refused: its OpenMRS ID identifier is already held by Patient/${by} on the target`));
    assert.ok(!(outcome.message ?? "").includes(value), `the message does not show the identifier: ${outcome.message}`);
    assert.ok(outcome.operationOutcome, "the server's answer is kept for the dead letter");
  }

  it("fhir2 target: a create refused by REST v1 (400), an update refused by fhir2 (422)", async () => {
    const { sim, to } = await target(true);
    const [p1, p2] = [...source.store.patients.values()].map((p) => p.uuid);
    holder(sim, openmrsId(p1));
    const created = await to.write(await record(p1));
    assertDuplicate(created.outcome, p1, openmrsId(p1), 400);
    assert.equal(sim.store.patients.get(p1), undefined);
    // Without the "created" hint: PUT 404, then the REST create, refused the same way.
    assertDuplicate((await to.write(await record(p1, false))).outcome, p1, openmrsId(p1), 400);

    // p2 is on the target; then the source gives it an identifier another patient holds there: the PUT is refused.
    assert.equal((await to.write(await record(p2))).outcome.kind, "ok");
    renumber(p2, "TAR-77", sim);
    const updated = await to.write(await record(p2, false));
    assertDuplicate(updated.outcome, p2, "TAR-77", 422, HOLDER2);
    assert.match(updated.outcome.message ?? "", /\(PUT .*\/ws\/fhir2\/R4\/Patient\/.*: HTTP 422 \(processing\)\)$/);
  });

  it("REST-only target: create and update refused with the validation error (400)", async () => {
    const { sim, to } = await target(false);
    const [p1, p2] = [...source.store.patients.values()].map((p) => p.uuid);
    holder(sim, openmrsId(p1));
    assertDuplicate((await to.write(await record(p1))).outcome, p1, openmrsId(p1), 400);
    assert.equal((await to.write(await record(p2))).outcome.kind, "ok");
    renumber(p2, "TAR-77", sim);
    assertDuplicate((await to.write(await record(p2, false))).outcome, p2, "TAR-77", 400, HOLDER2);
  });

  it("a voided holder is no collision: the patient is written", async () => {
    const { sim, to } = await target(true);
    const [p1] = [...source.store.patients.values()].map((p) => p.uuid);
    holder(sim, openmrsId(p1));
    sim.store.voidRecord("patient", HOLDER);
    const r = await to.write(await record(p1));
    assert.equal(r.outcome.kind, "ok", r.outcome.message);
    assert.equal(sim.store.patients.get(p1)?.voided, false);
  });
});

describe("duplicateIdentifierOutcome", () => {
  const me = "a0000000-0000-4000-8000-000000000001";
  const other = "b0000000-0000-4000-8000-000000000002";
  const identifier = (value: string, code = OPENMRS_ID, text = "OpenMRS ID") => ({ value, type: { coding: [{ code }], text } });
  const patient = (id: string, ...ids: ReturnType<typeof identifier>[]): FhirResource => ({ resourceType: "Patient", id, identifier: ids });
  const req: WriteRequest = {
    action: "upsert",
    resourceType: "Patient",
    id: me,
    resource: patient(me, identifier("10001Y"), identifier("OLD-7", "old-type", "Old")),
  };
  const german: Outcome = {
    kind: "permanent",
    reason: "http-422",
    status: 422,
    message: "PUT x: HTTP 422 (processing)",
    operationOutcome: {
      resourceType: "OperationOutcome",
      issue: [
        { code: "processing", diagnostics: "'Patient#3' failed to validate with reason: Kennung 10001Y wird bereits von einem anderen Patienten verwendet." },
      ],
    },
  };

  it("names the holder whatever the server's language, once the search confirms it", async () => {
    const searched: string[] = [];
    const out = await duplicateIdentifierOutcome(req, german, (value) => {
      searched.push(value);
      return Promise.resolve([patient(other, identifier("10001Y"))]);
    });
    assert.deepEqual(searched, ["10001Y"], "only the value the refusal names is looked up");
    assert.equal(out?.reason, "duplicate-identifier");
    assert.deepEqual(out?.duplicate, { identifierType: "OpenMRS ID", identifier: "10001Y", holder: `Patient/${other}` });
  });

  it("keeps the ordinary outcome when the search does not confirm it", async () => {
    const cases: [string, () => Promise<FhirResource[]>][] = [
      ["nobody holds it", () => Promise.resolve([])],
      ["only the record itself", () => Promise.resolve([patient(me, identifier("10001Y"))])],
      ["another type", () => Promise.resolve([patient(other, identifier("10001Y", "old-type", "Old"))])],
      ["a voided holder", () => Promise.resolve([{ ...patient(other, identifier("10001Y")), active: false }])],
      ["an id that is not one", () => Promise.resolve([patient("../x", identifier("10001Y"))])],
      ["the search failed", () => Promise.reject(new Error("ECONNRESET"))],
    ];
    for (const [what, find] of cases) assert.equal(await duplicateIdentifierOutcome(req, german, find), undefined, what);
  });

  it("looks nothing up when the refusal names none of the record's identifiers, or is no refusal", async () => {
    let calls = 0;
    const find = () => {
      calls++;
      return Promise.resolve([patient(other, identifier("10001Y"))]);
    };
    const other400: Outcome = { ...german, operationOutcome: { error: { message: "[Invalid Submission : Patient#3 10001YZ not valid]" } } };
    assert.equal(await duplicateIdentifierOutcome(req, other400, find), undefined);
    assert.equal(await duplicateIdentifierOutcome(req, { ...german, kind: "retry", status: 503 }, find), undefined);
    assert.equal(await duplicateIdentifierOutcome({ ...req, resourceType: "Encounter" }, german, find), undefined);
    assert.equal(await duplicateIdentifierOutcome({ ...req, action: "delete" }, german, find), undefined);
    assert.equal(calls, 0);
  });
});
