/**
 * The push channel inside Node-RED (test helper): the child's own feed -> fhir-fetch -> retry-queue ->
 * fhir-push into the parent, against simulator peers that misbehave on purpose.
 */
import { strict as assert } from "node:assert";
import type { TestFlows } from "node-red-node-test-helper";
import { OpenmrsSim } from "../../sim";
import { SyncStore } from "../../lib/store/store";
import { alertsIn, calls, caughtMessages, CREDS, getNode, helper, lastStatus, NODES, until, usePeers } from "../helpers/red";

describe("push nodes in Node-RED", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  usePeers("push-nodes", { parent: 41, child: 42 }, (peers) => {
    ({ parent, child, db } = peers);
    peers.child.generate({ patients: 12, visitsPerPatient: 0 });
  });

  async function load(queueProps: Record<string, unknown> = {}) {
    const flow: unknown[] = [
      { id: "t1", type: "tab" },
      { id: "parent", type: "openmrs-server", url: parent.url, timeout: 2 },
      { id: "child", type: "openmrs-server", url: child.url, timeout: 2 },
      { id: "store", type: "sync-store", path: db },
      { id: "feed", type: "atom-feed-in", z: "t1", server: "child", store: "store", category: "patient", interval: "0", wires: [["fetch"], []] },
      { id: "fetch", type: "fhir-fetch", z: "t1", server: "child", wires: [["queue"]] },
      { id: "queue", type: "retry-queue", z: "t1", store: "store", concurrency: 3, ...queueProps, wires: [["push"]] },
      { id: "push", type: "fhir-push", z: "t1", targetType: "openmrs", server: "parent", targetRole: "parent", wires: [["written"]] },
      { id: "written", type: "helper", z: "t1" },
      { id: "audit", type: "audit-push", z: "t1", store: "store", server: "parent", instanceId: "clinic-42", interval: 0.2 },
      { id: "catcher", type: "catch", z: "t1", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper", z: "t1" },
    ];
    await helper.load(NODES, flow as TestFlows, { parent: CREDS, child: CREDS });
  }

  /** Everything the child holds is at the parent, each record once. */
  const pushedAll = () => child.diff(parent).length === 0;
  const writes = () => parent.requests.filter((r) => r.kind === "rest-write" || r.kind === "fhir-write");

  it("honours Retry-After on 429: no write reaches the parent before it is over", async () => {
    await load();
    parent.faults.status = { code: 429, count: 1, retryAfter: 2, kinds: ["rest-write", "fhir-write"] };
    getNode("feed").receive({});
    await until(pushedAll, 20_000, "everything at the parent");
    const w = writes();
    const limited = w.find((r) => r.status === 429)!;
    // Writes already under way when the 429 came may land just after it; no new one starts during the wait.
    const after = w.filter((r) => r.at > limited.at + 50);
    assert.ok(after.length > 0);
    assert.ok(after[0].at - limited.at >= 1990, `next write ${after[0].at - limited.at} ms after the 429`);
  });

  it("rides out a burst of 503s and connection resets: everything arrives once, and the holding is said once", async () => {
    await load();
    // Two seconds in which every write gets a 503 or a reset connection, then the parent is back.
    parent.faults.status = { code: 503, rate: 0.7, kinds: ["rest-write", "fhir-write"] };
    parent.faults.resetRate = 0.5;
    getNode("feed").receive({});
    await new Promise((r) => setTimeout(r, 2000));
    parent.faults.status = null;
    parent.faults.resetRate = 0;
    await until(pushedAll, 40_000, "everything at the parent").catch((e: Error) => {
      const w = writes();
      throw new Error(
        `${e.message}; ${child.diff(parent).length} missing; last writes: ${JSON.stringify(w.slice(-6).map((r) => [r.method, r.status, r.fault, r.at - w[0].at]))} status ${JSON.stringify(lastStatus(getNode("queue")))}`,
      );
    });
    const queue = getNode("queue") as unknown as { warn: { getCalls(): { thisValue: unknown; args: unknown[] }[] } };
    const holding = queue.warn.getCalls().filter((c) => c.thisValue === queue && c.args[0] === "retry-queue.alert.target-down");
    assert.ok(holding.length >= 1 && holding.length <= 3, `warned ${holding.length} times`);
    const created = parent.store.events.filter((e) => e.category === "patient" && e.action === "CREATED");
    assert.equal(new Set(created.map((e) => e.object)).size, created.length, "each record created once at the parent");
  });

  it("dead-letters a 422 with the OperationOutcome; retry after the parent accepts, discard another; others undisturbed", async () => {
    const uuids = Object.keys(child.snapshot().patients);
    const [bad1, bad2] = [uuids[2], uuids[7]];
    parent.faults.rejectWrites = [bad1, bad2];
    await load();
    const caught = caughtMessages();
    getNode("feed").receive({});
    await until(() => Object.keys(parent.snapshot().patients).length === uuids.length - 2, 20_000, "the others at the parent");
    // Each refused write at Catch from fhir-push; from the queue one dead-letter alert for the first
    // (the second is counted into a summary a minute later, after this test).
    await until(() => caught.length === 3, 5000, "two errors and an alert at Catch");
    const records = caught.filter((m) => m.topic !== "openmrs-sync/alert").map((m) => m.error);
    assert.equal(records.length, 2);
    assert.ok(records.every((e) => /HTTP 422/.test(e.message) && e.source.id === "push"));
    const [alert] = alertsIn(caught);
    assert.equal(alert.error.source.id, "queue");
    assert.equal(alert.alert.kind, "dead-letter");
    assert.equal(alert.alert.count, 1);
    assert.ok([`Patient/${bad1}`, `Patient/${bad2}`].includes(alert.alert.records![0]));
    const store = await SyncStore.open(db);
    try {
      const dead = await store.deadLetters({ source: "queue" });
      assert.deepEqual(dead.map((d) => d.record_key).sort(), [`Patient/${bad1}`, `Patient/${bad2}`].sort());
      for (const d of dead) {
        assert.equal(d.http_status, 422);
        const oo = JSON.parse(d.operation_outcome ?? "{}") as { error?: { message?: string }; issue?: { diagnostics?: string }[] };
        assert.match(JSON.stringify(oo), /refused/);
      }
      parent.faults.rejectWrites = [];
      const one = dead.find((d) => d.record_key === `Patient/${bad1}`)!;
      const two = dead.find((d) => d.record_key === `Patient/${bad2}`)!;
      getNode("queue").receive({ topic: "retry", payload: one.id });
      getNode("queue").receive({ topic: "discard", payload: two.id });
      await until(() => !!parent.snapshot().patients[bad1], 10_000, "the retried record at the parent");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(parent.snapshot().patients[bad2], undefined, "the discarded one was not sent");
      assert.deepEqual(
        (await store.deadLetters({ state: "discarded" })).map((d) => d.id),
        [two.id],
      );
      assert.deepEqual(
        (await store.deadLetters({ state: "retried" })).map((d) => d.id),
        [one.id],
      );
    } finally {
      await store.close();
    }
  });

  it("pushes its audit rows to the parent's Sync 2.0 audit API, once each (central visibility), and asks a parent that is no hub for a status report once", async () => {
    const bad = Object.keys(child.snapshot().patients)[4];
    parent.faults.rejectWrites = [bad];
    await load();
    getNode("feed").receive({});
    await until(() => Object.keys(parent.snapshot().patients).length === 11, 20_000, "the others at the parent");
    const store = await SyncStore.open(db);
    const rows = async () => (await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM audit"))?.n ?? 0;
    try {
      await until(async () => parent.auditMessages.size > 0 && parent.auditMessages.size === (await rows()), 10_000, "every audit row at the parent");
    } finally {
      await store.close();
    }
    const messages = [...parent.auditMessages.values()] as {
      creatorInstanceId: string;
      success: boolean;
      operation: string;
      resourceName: string;
      details: string;
      availableResourceUrls: string;
    }[];
    assert.deepEqual([...new Set(messages.map((m) => `${m.creatorInstanceId} ${m.operation} ${m.resourceName}`))], ["clinic-42 PUSH patient"]);
    const failed = messages.filter((m) => !m.success);
    assert.equal(failed.length, 1);
    assert.match(failed[0].details, /HTTP 422/);
    assert.match(failed[0].availableResourceUrls, new RegExp(bad));
    assert.equal(messages.filter((m) => m.success).length, 11);
    assert.ok(
      messages.every((m) => !/Data:/.test(m.details)),
      "no clinical content unless switched on",
    );
    // An OpenMRS parent is no hub: it is asked for the status report once (404), not at every round.
    const status = parent.requests.filter((r) => r.path.endsWith("/ws/hub/status"));
    assert.deepEqual(
      status.map((r) => [r.method, r.status]),
      [["POST", 404]],
    );
  });

  it("pauses on 401 with one alert, and resumes by itself when the parent accepts again, with one all-clear", async () => {
    await load();
    const caught = caughtMessages();
    parent.faults.status = { code: 401, count: 3, kinds: ["rest-write", "fhir-write"] };
    getNode("feed").receive({});
    const queue = getNode("queue");
    await until(() => lastStatus(queue)?.text === "retry-queue.status.paused", 10_000, "paused status");
    await until(pushedAll, 30_000, "everything at the parent after the pause");
    await until(() => caught.length >= 2, 5000, "the all-clear at Catch");
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      caught.map((m) => m.error.message),
      ["retry-queue.alert.paused", "retry-queue.alert.resumed"],
      "one alert when it paused, one when it resumed, nothing per probe",
    );
    assert.deepEqual(
      alertsIn(caught).map((m) => [m.alert.kind, m.alert.severity, m.error.source.id]),
      [
        ["paused", "alarm", "queue"],
        ["resumed", "clear", "queue"],
      ],
    );
    assert.ok(calls(queue, "error").length >= 1);
  });
});
