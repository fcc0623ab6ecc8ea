/**
 * An idgen collision on the pull path, inside Node-RED (node-red-node-test-helper, the pull nodes
 * against two simulators): the child already holds another patient with the OpenMRS ID of one of the
 * parent's patients. That patient becomes a dead letter with reason duplicate-identifier naming both
 * patients (the identifier only in its encrypted details), the other patients sync, the feed moves on.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim } from "../../sim";
import { alertsIn, caughtMessages, caughtUp, getNode, loadPull, pullFlow, until, usePeers } from "../helpers/red";
import { SyncStore } from "../../lib/store/store";
import { itemDetail } from "../../lib/admin/detail";

const OPENMRS_ID = "05a29f94-c0ed-11e2-94be-8c13b969e334";
const OUTPATIENT = "8d6c993e-c2cc-11de-8d13-0010c6dffd0f";
const HOLDER = "c1d00000-0000-4000-8000-0000000000c1";

describe("pull: a duplicate identifier at the child", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  usePeers("dup-id", { parent: 31, child: 32 }, (peers) => {
    ({ parent, child, db } = peers);
  });

  it("dead-letters the patient with reason duplicate-identifier naming both patients; the others sync", async () => {
    parent.generate({ patients: 6, visitsPerPatient: 0 });
    const uuids = [...parent.store.patients.values()].map((p) => p.uuid);
    const clash = uuids[2];
    const value = parent.store.patients.get(clash)!.identifiers.find((i) => i.identifierType === OPENMRS_ID)!.identifier;
    // The child's own idgen handed the same OpenMRS ID to one of its patients.
    child.store.createPatient({
      uuid: HOLDER,
      gender: "F",
      names: [{ givenName: "Local", familyName: "Patient" }],
      identifiers: [{ identifier: value, identifierType: OPENMRS_ID, location: OUTPATIENT, preferred: true }],
    });

    await loadPull(pullFlow(parent.url, child.url, db));
    const caught = caughtMessages();
    const cycle = caughtUp();
    getNode("feed").receive({});
    const summary = (await cycle) as { payload: { settled: number; deadLettered: number } };
    assert.equal(summary.payload.deadLettered, 1);

    // Nothing else is lost: every other patient is at the child, the holder is untouched.
    for (const uuid of uuids.filter((u) => u !== clash)) assert.ok(child.store.patients.get(uuid), `Patient/${uuid} synced`);
    assert.equal(child.store.patients.get(clash), undefined);
    assert.equal(child.store.patients.get(HOLDER)?.voided, false);
    assert.deepEqual(
      parent.diff(child).filter((d) => !d.includes(clash) && !d.includes(HOLDER)),
      [],
    );

    const store = await SyncStore.open(db);
    let deadLetter: number;
    try {
      const dead = await store.deadLetters({ source: "feed" });
      assert.equal(dead.length, 1);
      const [d] = dead;
      deadLetter = d.id;
      assert.deepEqual([d.record_key, d.reason, d.http_status], [`Patient/${clash}`, "duplicate-identifier", 400]);
      assert.match(d.error ?? "", new RegExp(`^Patient/${clash} refused: its OpenMRS ID identifier is already held by Patient/${HOLDER} on the target`));
      assert.ok(!(d.error ?? "").includes(value), "the error text does not show the identifier");
      assert.deepEqual(JSON.parse(d.details ?? "null"), { duplicate: { identifierType: "OpenMRS ID", identifier: value, holder: `Patient/${HOLDER}` } });
      const raw = await store.db.get<{ details: string }>("SELECT details FROM dead_letters WHERE id = ?", [d.id]);
      assert.ok(!raw!.details.includes(value), "the details are encrypted at rest");

      // What an admin sees: the reason and the message naming both; the details with the other clinical content.
      const shown = await itemDetail(store.db, `dl-${d.id}`, true);
      assert.deepEqual([shown?.reason, shown?.error], ["duplicate-identifier", d.error]);
      assert.deepEqual((shown?.content as { details?: unknown }).details, {
        duplicate: { identifierType: "OpenMRS ID", identifier: value, holder: `Patient/${HOLDER}` },
      });
      const hidden = await itemDetail(store.db, `dl-${d.id}`, false);
      assert.deepEqual(hidden?.content, { hidden: true });
    } finally {
      await store.close();
    }

    // The channel's dead-letter alert names the record and says why, without the identifier.
    await until(() => alertsIn(caught).length > 0, 3000, "dead-letter alert");
    const [alert] = alertsIn(caught);
    assert.deepEqual([alert.alert.kind, alert.alert.records], ["dead-letter", [`Patient/${clash}`]]);
    assert.match(alert.alert.reason ?? "", new RegExp(`Patient/${HOLDER}`));
    assert.ok(!JSON.stringify(alert.alert).includes(value));

    // The admin sorts the two patients out at the child (here: its own patient gets a new number) and retries.
    child.store.updatePatient(HOLDER, { identifiers: [{ identifier: "CHI-RENUMBERED", identifierType: OPENMRS_ID, location: OUTPATIENT, preferred: true }] });
    getNode("feed").receive({ topic: "retry", payload: deadLetter });
    await until(() => !!child.store.patients.get(clash), 5000, "the retried patient at the child");
    assert.deepEqual(
      parent.diff(child).filter((d) => !d.includes(HOLDER)),
      [],
    );
  });
});
