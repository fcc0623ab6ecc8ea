/**
 * A child that lacks a concept (issue 8, "Metadata check"), through the pull nodes in Node-RED: the
 * observations of that concept wait with the outcome missing-metadata (no dead letter), the admin is told
 * once which concept to install, the other observations go through; once the concept is installed on the
 * child the waiting ones arrive without a restart and the admin is told so.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim } from "../../sim";
import { ciel, VISIT_TYPES } from "../../sim/metadata";
import { caughtMessages, caughtUp, getNode, loadPull, pullFlow, until, usePeers, type CaughtMessage } from "../helpers/red";

const WEIGHT = ciel(5089);
const NOTE = ciel(162169);

interface MetadataAlertMessage extends CaughtMessage {
  alert: CaughtMessage["alert"] & { metadata: { kind: string; uuid: string; display?: string }; records: number };
}

function metadataAlerts(caught: CaughtMessage[]): MetadataAlertMessage[] {
  return caught.filter((m): m is MetadataAlertMessage => m.topic === "openmrs-sync/alert" && String(m.alert?.kind).includes("metadata"));
}

describe("pull to a child that lacks a concept", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  usePeers("pull-metadata", { parent: 21, child: 22 }, (peers) => {
    ({ parent, child, db } = peers);
  });

  it("waits with missing-metadata, says so once, and goes through once the concept is installed", async () => {
    const p = parent.store.createPatient({ gender: "F", names: [{ givenName: "Ada", familyName: "Obi" }] });
    const weights = [61, 62, 63].map((value) => parent.store.createObs({ person: p.uuid, concept: WEIGHT, value }).uuid);
    const note = parent.store.createObs({ person: p.uuid, concept: NOTE, value: "well" }).uuid;
    child.store.lacking.add(WEIGHT);

    // The patient feed first; its "caught up" output starts the observation feed.
    const flow = pullFlow(parent.url, child.url, db, { category: "observation" });
    (flow as unknown[]).push({
      id: "patients",
      type: "atom-feed-in",
      z: "t1",
      server: "parent",
      store: "store",
      category: "patient",
      interval: "0",
      wires: [["fetch"], ["feed"]],
    });
    await loadPull(flow);
    const caught = caughtMessages();
    const cycle = caughtUp();
    getNode("patients").receive({});
    await cycle;
    assert.ok(child.store.get("patient", p.uuid), "the patient first");
    assert.ok(child.store.get("obs", note), "an observation of a concept the child has goes through");
    for (const w of weights) assert.equal(child.store.get("obs", w), undefined, "those of the missing concept wait");

    const said = await until(() => metadataAlerts(caught).length > 0 && metadataAlerts(caught), 10_000, "the missing-metadata alert");
    assert.equal(said.length, 1, "said once, not once per record");
    assert.equal(String(said[0].alert.kind), "missing-metadata");
    assert.deepEqual(said[0].alert.metadata, { kind: "concept", uuid: WEIGHT, display: "Weight (kg)" });
    // (node-red-node-test-helper's RED._ answers the key: the text itself is in the locale file)
    assert.equal(said[0].payload, "fhir-push.alert.missing-metadata");
    assert.equal(said[0].alert.records, 1);
    const others = caught.filter((m) => m.topic !== "openmrs-sync/alert");
    assert.deepEqual(
      others.map((m) => m.error.message),
      [],
      "no per-record error",
    );

    // No dead letter: the waiting observations arrive below without anyone retrying them.
    child.store.lacking.delete(WEIGHT);
    await until(() => weights.every((w) => child.store.get("obs", w)), 30_000, "the waiting observations after the concept is installed");
    assert.deepEqual(parent.diff(child), []);
    const installed = await until(() => metadataAlerts(caught).find((m) => String(m.alert.kind) === "metadata-installed"), 10_000, "the all-clear");
    assert.equal(installed.alert.records, 3);
    assert.equal(installed.payload, "fhir-push.alert.metadata-installed");
  });
  it("a visit at a location the child lacks waits; once the location feed (location sync turned on) brings the location, it goes through", async () => {
    const district = parent.store.createOf("location", { name: "Gulu District", tags: ["Visit Location"] }).uuid;
    const clinic = parent.store.createOf("location", { name: "Awach HC III", address: { cityVillage: "Awach" }, parent: district }).uuid;
    const p = parent.store.createPatient({ gender: "M", names: [{ givenName: "Okello", familyName: "Peter" }] });
    const visit = parent.store.createVisit({
      patient: p.uuid,
      visitType: VISIT_TYPES[0].uuid,
      startDatetime: "2025-03-01T08:00:00.000+0000",
      location: clinic,
    }).uuid;

    // Patients, then visits (the chain's "caught up" output); the location feed runs when triggered.
    const flow = pullFlow(parent.url, child.url, db, { category: "visit" });
    (flow as unknown[]).push(
      { id: "patients", type: "atom-feed-in", z: "t1", server: "parent", store: "store", category: "patient", interval: "0", wires: [["fetch"], ["feed"]] },
      { id: "locations", type: "atom-feed-in", z: "t1", server: "parent", store: "store", category: "location", interval: "0", wires: [["fetch"], []] },
    );
    await loadPull(flow);
    const caught = caughtMessages();
    const cycle = caughtUp();
    getNode("patients").receive({});
    await cycle;
    assert.ok(child.store.get("patient", p.uuid), "the patient");
    assert.equal(child.store.get("visit", visit), undefined, "the visit waits for its location");
    const said = await until(() => metadataAlerts(caught).find((m) => String(m.alert.kind) === "missing-metadata"), 10_000, "the missing-metadata alert");
    assert.deepEqual(said.alert.metadata, { kind: "location", uuid: clinic });

    getNode("locations").receive({});
    await until(() => child.store.get("visit", visit) !== undefined, 30_000, "the visit once the location is synced");
    assert.equal(child.store.get("visit", visit)!.location, clinic);
    assert.equal(child.store.getOf("location", clinic)?.voided, false);
    assert.deepEqual(parent.diff(child), []);
  });
});
