/**
 * Channel alerts inside Node-RED (test helper) against real simulator peers over HTTP: what a Catch node
 * scoped to the channel nodes receives, as in the prebuilt flows. One alert per change of state: a burst
 * of refusals is one dead-letter alert (and one summary of the rest), not one per record; a queue whose
 * target is down says backing-up once and drained once; an idle poll says nothing.
 * The alert window is a few seconds here (the node's "Alert window"), a minute by default.
 */
import { strict as assert } from "node:assert";
import type { TestFlows } from "node-red-node-test-helper";
import { OpenmrsSim } from "../../sim";
import { SyncStore } from "../../lib/store/store";
import {
  alertsIn,
  calls,
  caughtMessages,
  caughtUp,
  CREDS,
  getNode,
  helper,
  loadPull,
  NODES,
  pullFlow,
  until,
  usePeers,
  type CaughtMessage,
} from "../helpers/red";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Catch node scoped to the channel nodes, as the prebuilt flows have it, into the helper "alerts". */
function alertCatch(scope: string[]): unknown[] {
  return [
    { id: "alertCatch", type: "catch", z: "t1", scope, uncaught: false, wires: [["alerts"]] },
    { id: "alerts", type: "helper", z: "t1" },
  ];
}

/** The test pull flow with its Catch node scoped to the feed (the helper loads one Catch node per flow). */
function scopedPull(flow: TestFlows): TestFlows {
  return (flow as unknown as Record<string, unknown>[]).map((n) =>
    n.id === "catcher" ? { ...n, scope: ["feed"], wires: [["alerts"]] } : n.id === "caught" ? { ...n, id: "alerts" } : n,
  ) as unknown as TestFlows;
}

const describeAll = (ms: CaughtMessage[]) => JSON.stringify(ms.map((m) => [m.error.source.id, m.error.message, m.alert?.kind, m.alert?.count]));

describe("channel alerts in Node-RED", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  usePeers("alert-nodes", { parent: 51, child: 52 }, (peers) => {
    ({ parent, child, db } = peers);
  });

  async function deadLetters(): Promise<number> {
    const store = await SyncStore.open(db);
    try {
      return (await store.deadLetters({ source: "feed" })).length;
    } finally {
      await store.close();
    }
  }

  it("a burst of refused writes is one dead-letter alert and one summary, not one per record; retried, they say nothing more", async () => {
    parent.generate({ patients: 12, visitsPerPatient: 0 });
    const refused = Object.keys(parent.snapshot().patients).slice(0, 8);
    child.faults.rejectWrites = refused;
    await loadPull(scopedPull(pullFlow(parent.url, child.url, db, { alertSeconds: 3 })));
    const alerts = caughtMessages("alerts");
    const first = caughtUp();
    getNode("feed").receive({});
    await first;
    await until(async () => (await deadLetters()) === refused.length, 5000, "every refused record dead-lettered");
    await until(() => alerts.length > 0, 3000, "the first alert");
    await sleep(300);
    assert.equal(alerts.length, 1, `one alert for ${refused.length} dead letters: ${describeAll(alerts)}`);
    const [one] = alertsIn(alerts);
    assert.equal(one.topic, "openmrs-sync/alert");
    assert.equal(one.error.source.id, "feed");
    assert.equal(one.error.message, "atom-feed-in.alert.dead-letter");
    assert.equal(one.payload, one.error.message, "the text is the payload");
    assert.deepEqual([one.alert.kind, one.alert.severity, one.alert.count, one.alert.channel, one.alert.name], ["dead-letter", "alarm", 1, "feed", "patient"]);
    assert.ok(refused.map((u) => `Patient/${u}`).includes(one.alert.records![0]));
    assert.equal(one.alert.attempts, 1);
    assert.match(one.alert.reason ?? "", /422/);
    // Each record's own error is still raised by fhir-push (an unscoped Catch gets those): the scoped one spares the admin.
    assert.equal(calls(getNode("push"), "error").length, refused.length);

    // The rest of the burst: one summary when the window ends.
    await until(() => alerts.length === 2, 5000, "the summary");
    const summary = alertsIn(alerts)[1];
    assert.deepEqual([summary.alert.kind, summary.alert.summary, summary.alert.count], ["dead-letter", true, refused.length - 1]);
    assert.equal(summary.error.message, "atom-feed-in.alert.dead-letter-more");
    assert.deepEqual([one.alert.records![0], ...summary.alert.records!].sort(), refused.map((u) => `Patient/${u}`).sort(), "every refused record named once");

    // The child accepts again; the admin retries the dead letters: written, and nothing more is said.
    child.faults.rejectWrites = [];
    getNode("feed").receive({ topic: "retry", payload: "all" });
    await until(() => Object.keys(child.snapshot().patients).length === 12, 10_000, "the retried records at the child");
    await sleep(3500);
    assert.equal(alerts.length, 2, `nothing after the retry: ${describeAll(alerts)}`);

    // A poll with nothing new is not an alert.
    const idle = caughtUp();
    getNode("feed").receive({});
    await idle;
    await sleep(500);
    assert.equal(alerts.length, 2, describeAll(alerts));
  });

  it("a queue whose target is down says backing-up once, and drained once when the target is back", async () => {
    child.generate({ patients: 12, visitsPerPatient: 0 });
    const flow: unknown[] = [
      { id: "t1", type: "tab" },
      { id: "parent", type: "openmrs-server", url: parent.url, timeout: 2 },
      { id: "child", type: "openmrs-server", url: child.url, timeout: 2 },
      { id: "store", type: "sync-store", path: db },
      {
        id: "feed",
        type: "atom-feed-in",
        z: "t1",
        server: "child",
        store: "store",
        category: "patient",
        interval: "0",
        alertSeconds: 2,
        wires: [["fetch"], []],
      },
      { id: "fetch", type: "fhir-fetch", z: "t1", server: "child", wires: [["queue"]] },
      { id: "queue", type: "retry-queue", z: "t1", store: "store", concurrency: 3, alertSeconds: 2, wires: [["push"]] },
      { id: "push", type: "fhir-push", z: "t1", targetType: "openmrs", server: "parent", targetRole: "parent", wires: [[]] },
      ...alertCatch(["feed", "queue"]),
    ];
    await helper.load(NODES, flow as TestFlows, { parent: CREDS, child: CREDS });
    const alerts = caughtMessages("alerts");
    parent.faults.down = true;
    getNode("feed").receive({});
    await until(() => alerts.length > 0, 10_000, "backing-up");
    // Probes keep failing for a while: nothing new to say.
    await sleep(3000);
    assert.deepEqual(
      alertsIn(alerts).map((m) => [m.error.source.id, m.alert.kind, m.alert.rule, m.alert.backlog]),
      [["queue", "backing-up", "stalled", 12]],
      describeAll(alerts),
    );
    assert.equal(alerts[0].error.message, "retry-queue.alert.backing-up-stalled");
    assert.equal(Object.keys(parent.snapshot().patients).length, 0);
    // Waiting for the target was a warning (the log and the debug pane), not a Catch alert.
    const queue = getNode("queue") as unknown as { warn: { getCalls(): { thisValue: unknown; args: unknown[] }[] } };
    assert.deepEqual(
      queue.warn
        .getCalls()
        .filter((c) => c.thisValue === queue)
        .map((c) => c.args[0]),
      ["retry-queue.alert.target-down"],
    );

    parent.faults.down = false;
    await until(() => child.diff(parent).length === 0, 40_000, "everything at the parent");
    await until(() => alerts.length > 1, 5000, "drained");
    await sleep(500);
    assert.deepEqual(
      alertsIn(alerts).map((m) => [m.alert.kind, m.alert.severity]),
      [
        ["backing-up", "alarm"],
        ["drained", "clear"],
      ],
      describeAll(alerts),
    );
    assert.equal(alerts[1].error.source.id, "queue");
    assert.equal(alerts[1].alert!.backlog, 0);
  });

  it("idle polls say nothing at all", async () => {
    parent.generate({ patients: 3, visitsPerPatient: 0 });
    // Unscoped: nothing at all reaches it.
    await loadPull(pullFlow(parent.url, child.url, db, { alertSeconds: 0.5, alertBacklog: 1 }));
    const first = caughtUp();
    getNode("feed").receive({});
    await first;
    const everything = caughtMessages("caught");
    const feed = getNode("feed") as unknown as { warn: { getCalls(): { thisValue: unknown }[] } };
    const warnsBefore = feed.warn.getCalls().filter((c) => c.thisValue === feed).length;
    for (let i = 0; i < 5; i++) {
      const cycle = caughtUp();
      getNode("feed").receive({});
      await cycle;
      await sleep(300);
    }
    await sleep(1000);
    assert.deepEqual(everything, [], "nothing at Catch");
    assert.equal(feed.warn.getCalls().filter((c) => c.thisValue === feed).length, warnsBefore, "no warning");
  });
});
