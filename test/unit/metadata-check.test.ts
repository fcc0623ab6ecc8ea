/**
 * Metadata check (issue 8): which metadata a record names (lib/openmrs/metadata-check.ts), whether the
 * target has it (against the simulator on port 0, a concept it lacks and then installs), the outcome of a
 * write that needs what the target lacks (lib/push/targets.ts), and the alerts that say so once
 * (lib/push/missing-metadata.ts, on a manual clock).
 */
import { strict as assert } from "node:assert";
import { ManualClock } from "../../lib/engine/clock";
import { fhirToRestCreate, restToFhir } from "../../lib/fhir/convert";
import { MetadataCheck, metadataRefs, metadataText, type MetadataRef } from "../../lib/openmrs/metadata-check";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { MissingMetadataAlerts, type MetadataAlert } from "../../lib/push/missing-metadata";
import { OpenmrsTarget } from "../../lib/push/targets";
import { OpenmrsSim } from "../../sim";
import { ciel, ENCOUNTER_TYPES, LOCATIONS } from "../../sim/metadata";
import { restRep } from "../../sim/rest";

const WEIGHT = ciel(5089);
const MALARIA = ciel(32);
const POSITIVE = ciel(703);

function refsOf(resource: Record<string, unknown>): MetadataRef[] {
  const { kind, body } = fhirToRestCreate(resource as never);
  return metadataRefs(kind, body, resource, resource.valueCodeableConcept !== undefined);
}

describe("metadata check", function () {
  this.timeout(30_000);
  let sim: OpenmrsSim;
  let server: OpenmrsServer;

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "child", seed: 5 });
    await sim.start();
    server = new OpenmrsServer({ url: sim.url, username: "admin", password: "Admin123", timeoutMs: 5_000 });
  });
  afterEach(async () => {
    await sim.stop();
  });

  function fhirOf(type: "patient" | "encounter" | "obs", uuid: string): Record<string, unknown> {
    return restToFhir(type, restRep(sim.store, sim.url, type, sim.store.get(type, uuid)!));
  }

  it("names the concepts of an observation (question and coded answer) with the names the record gives them", () => {
    const p = sim.store.createPatient({ gender: "F", names: [{ givenName: "Ada", familyName: "Obi" }] });
    const coded = sim.store.createObs({ person: p.uuid, concept: MALARIA, value: POSITIVE });
    const text = sim.store.createObs({ person: p.uuid, concept: ciel(162169), value: "5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    assert.deepEqual(refsOf(fhirOf("obs", coded.uuid)), [
      { kind: "concept", uuid: MALARIA, display: "Malaria smear, qualitative" },
      { kind: "concept", uuid: POSITIVE, display: "Positive" },
    ]);
    assert.deepEqual(
      refsOf(fhirOf("obs", text.uuid)).map((r) => r.uuid),
      [ciel(162169)],
      "a text value that looks like a uuid is text",
    );
  });

  it("names an encounter's type and location, and a patient's identifier types and locations", () => {
    const p = sim.store.createPatient({
      gender: "M",
      names: [{ givenName: "Bo", familyName: "Li" }],
      identifiers: [{ identifier: "100-8", identifierType: "05a29f94-c0ed-11e2-94be-8c13b969e334", location: LOCATIONS[1].uuid }],
    });
    const e = sim.store.createEncounter({ patient: p.uuid, encounterType: ENCOUNTER_TYPES[0].uuid, location: LOCATIONS[0].uuid });
    assert.deepEqual(
      refsOf(fhirOf("encounter", e.uuid)).map((r) => `${r.kind}/${r.uuid}`),
      [`encountertype/${ENCOUNTER_TYPES[0].uuid}`, `location/${LOCATIONS[0].uuid}`],
    );
    assert.deepEqual(
      refsOf(fhirOf("patient", p.uuid)).map((r) => `${r.kind}/${r.uuid}`),
      ["patientidentifiertype/05a29f94-c0ed-11e2-94be-8c13b969e334", `location/${LOCATIONS[1].uuid}`],
    );
    assert.equal(metadataText({ kind: "encountertype", uuid: "x", display: "Vitals" }), "encounter type x (Vitals)");
  });

  it("asks the target once per piece while it has it, and again at every check while it lacks it", async () => {
    const check = new MetadataCheck(server);
    const refs: MetadataRef[] = [
      { kind: "concept", uuid: WEIGHT },
      { kind: "location", uuid: LOCATIONS[0].uuid },
    ];
    sim.store.lacking.add(WEIGHT);
    const gets = () => sim.requests.filter((r) => r.method === "GET" && /\/(concept|location)\//.test(r.path)).length;
    assert.deepEqual(
      (await Promise.all([check.missing(refs), check.missing(refs), check.missing(refs)])).map((m) => m.map((r) => r.uuid)),
      [[WEIGHT], [WEIGHT], [WEIGHT]],
    );
    assert.equal(gets(), 2, "three records checked at once share one request per piece");
    assert.deepEqual(await check.missing(refs), [refs[0]]);
    assert.equal(gets(), 3, "the location is cached, the missing concept asked again");
    sim.store.lacking.delete(WEIGHT);
    assert.deepEqual(await check.missing(refs), [], "installed: no restart needed");
    assert.deepEqual(await check.missing(refs), []);
    assert.equal(gets(), 4);
  });

  it("a write that needs a concept the target lacks is a retry naming it, and nothing is written; once installed it is written", async () => {
    const parent = new OpenmrsSim({ name: "parent", seed: 6 });
    await parent.start();
    try {
      const p = parent.store.createPatient({ gender: "F", names: [{ givenName: "Ada", familyName: "Obi" }] });
      const o = parent.store.createObs({ person: p.uuid, concept: WEIGHT, value: 61 });
      sim.store.createPatient({ uuid: p.uuid, gender: "F", names: [{ givenName: "Ada", familyName: "Obi" }] });
      const resource = restToFhir("obs", restRep(parent.store, parent.url, "obs", o));
      sim.store.lacking.add(WEIGHT);
      const target = new OpenmrsTarget(server);
      const before = sim.requests.filter((r) => r.method !== "GET").length;
      const waiting = await target.write({ action: "upsert", resourceType: "Observation", id: o.uuid, resource, created: true });
      assert.equal(waiting.outcome.kind, "retry");
      assert.equal(waiting.outcome.reason, "missing-metadata");
      assert.match(waiting.outcome.message ?? "", new RegExp(`Observation/${o.uuid} needs concept ${WEIGHT} \\(Weight \\(kg\\)\\)`));
      assert.deepEqual(waiting.outcome.missing, [{ kind: "concept", uuid: WEIGHT, display: "Weight (kg)" }]);
      assert.equal(sim.requests.filter((r) => r.method !== "GET").length, before, "nothing was sent to be refused");
      sim.store.lacking.delete(WEIGHT);
      const written = await target.write({ action: "upsert", resourceType: "Observation", id: o.uuid, resource, created: true, attempt: 2 });
      assert.equal(written.outcome.kind, "ok", JSON.stringify(written.outcome));
      assert.equal(sim.store.get("obs", o.uuid)?.concept, WEIGHT);
    } finally {
      await parent.stop();
    }
  });
});

describe("missing-metadata alerts", () => {
  let clock: ManualClock;
  let got: MetadataAlert[];
  let alerts: MissingMetadataAlerts;
  const weight: MetadataRef = { kind: "concept", uuid: WEIGHT, display: "Weight (kg)" };
  const vitals: MetadataRef = { kind: "encountertype", uuid: ENCOUNTER_TYPES[0].uuid };
  const said = () => got.map((a) => `${a.kind}${a.summary ? "(summary)" : ""}:${a.metadata.kind}:${a.records}`);

  beforeEach(() => {
    clock = new ManualClock();
    got = [];
    alerts = new MissingMetadataAlerts({ clock, windowMs: 60_000, emit: (a) => got.push(a) });
  });
  afterEach(() => alerts.stop());

  it("says once what is missing, summarises the records that come to wait, and says when it is there", () => {
    alerts.waits("Observation/1", [weight]);
    assert.deepEqual(said(), ["missing-metadata:concept:1"]);
    assert.equal(got[0].severity, "alarm");
    for (let i = 2; i <= 12; i++) alerts.waits(`Observation/${i}`, [weight]);
    // The same records retried: no new words.
    for (let r = 0; r < 5; r++) for (let i = 1; i <= 12; i++) alerts.waits(`Observation/${i}`, [weight]);
    assert.equal(got.length, 1, "retries say nothing");
    clock.advance(60_000);
    assert.deepEqual(said(), ["missing-metadata:concept:1", "missing-metadata(summary):concept:12"]);
    assert.equal(got[1].named.length, 10, "ten records named at most");
    clock.advance(600_000);
    assert.equal(got.length, 2, "a window in which no new record came to wait is silent");
    alerts.written("Observation/5");
    assert.deepEqual(said().slice(2), ["metadata-installed:concept:12"]);
    assert.equal(got[2].severity, "clear");
    alerts.written("Observation/6");
    clock.advance(600_000);
    assert.equal(got.length, 3, "said once");
  });

  it("keeps each piece apart; a record written that waited for nothing says nothing", () => {
    alerts.written("Patient/1");
    alerts.waits("Encounter/1", [vitals]);
    alerts.waits("Observation/1", [weight]);
    alerts.waits("Observation/2", [weight]);
    alerts.written("Encounter/1");
    clock.advance(60_000);
    assert.deepEqual(said(), [
      "missing-metadata:encountertype:1",
      "missing-metadata:concept:1",
      "metadata-installed:encountertype:1",
      "missing-metadata(summary):concept:2",
    ]);
  });
});
