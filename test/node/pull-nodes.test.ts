/**
 * The pull nodes inside Node-RED (node-red-node-test-helper) against real simulator peers on
 * 127.0.0.1: status lines, errors reaching Catch nodes, close cleaning up, config errors.
 */
import { strict as assert } from "node:assert";
import type { TestFlows } from "node-red-node-test-helper";
import { OpenmrsSim } from "../../sim";
import {
  alertsIn,
  calls,
  caughtErrors,
  caughtMessages,
  caughtUp,
  CREDS,
  getNode,
  helper,
  lastStatus,
  loadPull,
  NODES,
  pullFlow,
  until,
  usePeers,
} from "../helpers/red";
import { FhirPeer } from "../../sim/fhir-peer";
import { SyncStore } from "../../lib/store/store";

/** Node-RED's own Switch node, as integrators filter with it. */
const SWITCH_NODE = require("@node-red/nodes/core/function/10-switch.js") as unknown;

describe("pull nodes in Node-RED", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  usePeers("pull-nodes", { parent: 7, child: 8 }, (peers) => {
    ({ parent, child, db } = peers);
  });

  it("syncs patients from parent to child and says so in the status lines and on output 2", async () => {
    parent.generate({ patients: 12, visitsPerPatient: 0 });
    await loadPull(pullFlow(parent.url, child.url, db));
    const feed = getNode("feed");
    const cycle = caughtUp();
    feed.receive({});
    const msg = await cycle;
    assert.equal((msg.payload as { category: string }).category, "patient");
    assert.equal(Object.keys(child.snapshot().patients).length, 12);
    assert.deepEqual(parent.diff(child), []);
    const status = await until(
      () => {
        const s = lastStatus(feed);
        return s?.text === "atom-feed-in.status.caught-up" ? s : undefined;
      },
      5000,
      "caught-up status",
    );
    assert.deepEqual(status, { fill: "green", shape: "dot", text: "atom-feed-in.status.caught-up" });
    const push = getNode("push");
    const pushStatus = await until(() => lastStatus(push)?.fill === "green" && lastStatus(push), 3000, "push status");
    assert.deepEqual(pushStatus, { fill: "green", shape: "dot", text: "fhir-push.status.counts" });
  });

  it("reports a failing feed to Catch once, keeps the marker, and reads on when the server recovers", async () => {
    parent.generate({ patients: 3, visitsPerPatient: 0 });
    await loadPull(pullFlow(parent.url, child.url, db));
    const caught = caughtErrors();
    parent.faults.status = { code: 500, count: 100, kinds: ["feed"] };
    const feed = getNode("feed");
    feed.receive({});
    await until(() => caught.length === 1, 5000, "error at Catch");
    feed.receive({});
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(caught.length, 1, "the same problem is reported once");
    const err = caught[0];
    assert.match(err.message, /HTTP 500/);
    assert.equal(err.source.id, "feed");
    const s = await until(() => (lastStatus(feed)?.fill === "red" ? lastStatus(feed) : undefined), 2000, "red status");
    assert.match(s.text ?? "", /HTTP 500/);
    assert.equal(Object.keys(child.snapshot().patients).length, 0);
    parent.faults.status = undefined;
    const done = caughtUp();
    feed.receive({});
    await done;
    assert.deepEqual(parent.diff(child), []);
  });

  it("dead-letters an invalid FHIR resource with its validation errors, reports it to Catch, and moves on", async () => {
    parent.generate({ patients: 4, visitsPerPatient: 0 });
    const bad = Object.keys(parent.snapshot().patients)[1];
    parent.faults.invalidFhir = [bad];
    await loadPull(pullFlow(parent.url, child.url, db));
    const caught = caughtMessages();
    const done = caughtUp();
    getNode("feed").receive({});
    await done;
    // The record's error from fhir-fetch, and the feed's dead-letter alert.
    await until(() => caught.length === 2, 3000, "two messages at Catch");
    const err = caught.find((m) => m.error.source.id === "fetch")!.error;
    assert.match(err.message, /fhir-fetch.errors.invalid/);
    const [alert] = alertsIn(caught);
    assert.equal(alert.error.source.id, "feed");
    assert.deepEqual([alert.alert.kind, alert.alert.count, alert.alert.records], ["dead-letter", 1, [`Patient/${bad}`]]);
    assert.equal(Object.keys(child.snapshot().patients).length, 3);
    const store = await SyncStore.open(db);
    try {
      const dead = await store.deadLetters();
      assert.equal(dead.length, 1);
      assert.equal(dead[0].record_key, `Patient/${bad}`);
      assert.equal(dead[0].reason, "invalid-fhir");
      const oo = JSON.parse(dead[0].operation_outcome ?? "{}") as { issue: { diagnostics: string }[] };
      assert.ok(
        oo.issue.some((i) => /gender/.test(i.diagnostics)),
        JSON.stringify(oo),
      );
    } finally {
      await store.close();
    }
  });

  it("settles what a Switch node drops on purpose through sync-settle: filtered at once, nothing retried or dead-lettered", async () => {
    parent.generate({ patients: 10, visitsPerPatient: 0 });
    const uuids = Object.keys(parent.snapshot().patients).sort();
    const keep = new Set(uuids.slice(0, 5));
    // The shipped shape, with a Switch between the feed and fhir-fetch: what it drops goes to sync-settle.
    const flow = pullFlow(parent.url, child.url, db, { ticketTimeout: 600 }) as unknown as Record<string, unknown>[];
    flow.find((n) => n.id === "feed")!.wires = [["filter"], ["done"]];
    flow.push(
      {
        id: "filter",
        type: "switch",
        z: "t1",
        property: "payload.uuid",
        propertyType: "msg",
        rules: [{ t: "regex", v: `^(${[...keep].join("|")})$` }, { t: "else" }],
        checkall: "false",
        outputs: 2,
        wires: [["fetch"], ["settle"]],
      },
      { id: "settle", type: "sync-settle", z: "t1", outcome: "filtered", reason: "not-in-catchment", wires: [[]] },
    );
    await helper.load([...NODES, SWITCH_NODE], flow as unknown as TestFlows, { parent: CREDS, child: CREDS });
    // Caught up means every entry was settled: a dropped one left unsettled would hold this up for the
    // ten-minute ticket timeout (and then be retried and dead-lettered).
    const cycle = caughtUp();
    getNode("feed").receive({});
    const summary = (await Promise.race([
      cycle,
      new Promise((_, reject) => setTimeout(() => reject(new Error("not caught up: a dropped entry is unsettled")), 30_000)),
    ])) as {
      payload: { settled: number; deadLettered: number };
    };
    assert.equal(summary.payload.settled, 10);
    assert.equal(summary.payload.deadLettered, 0);
    assert.deepEqual(Object.keys(child.snapshot().patients).sort(), [...keep].sort());
    assert.equal(parent.requests.filter((r) => r.kind === "fhir-get" && r.uuid && !keep.has(r.uuid)).length, 0, "dropped entries were never fetched");
    const store = await SyncStore.open(db);
    try {
      assert.equal((await store.deadLetters()).length, 0);
      const events = parent.store.categoryEvents("patient");
      assert.equal((await store.getMarker("feed"))?.entryId, `tag:atomfeed.ict4h.org:${events[events.length - 1].uuid}`);
    } finally {
      await store.close();
    }
  });

  it("retries a pull dead letter, or discards it, on an admin's message", async () => {
    parent.generate({ patients: 4, visitsPerPatient: 0 });
    const [bad1, bad2] = Object.keys(parent.snapshot().patients).slice(1, 3);
    parent.faults.invalidFhir = [bad1, bad2];
    await loadPull(pullFlow(parent.url, child.url, db));
    const first = caughtUp();
    getNode("feed").receive({});
    await first;
    const store = await SyncStore.open(db);
    try {
      const dead = await store.deadLetters({ source: "feed" });
      const id1 = dead.find((d) => d.record_key === `Patient/${bad1}`)!.id;
      const id2 = dead.find((d) => d.record_key === `Patient/${bad2}`)!.id;
      parent.faults.invalidFhir = [];
      getNode("feed").receive({ topic: "retry", payload: id1 });
      getNode("feed").receive({ topic: "discard", payload: [id2] });
      await until(() => !!child.snapshot().patients[bad1], 5000, "the retried record at the child");
      await until(async () => (await store.deadLetters({ source: "feed", state: "retried" })).length === 1, 3000, "marked retried");
      assert.equal(child.snapshot().patients[bad2], undefined, "the discarded one was not written");
      assert.deepEqual(
        (await store.deadLetters({ source: "feed", state: "discarded" })).map((d) => d.id),
        [id2],
      );
      assert.equal((await store.deadLetters({ source: "feed" })).length, 0);
    } finally {
      await store.close();
    }
  });

  it("stops polling and closes its connections when the flow is stopped", async () => {
    parent.generate({ patients: 2, visitsPerPatient: 0 });
    await loadPull(pullFlow(parent.url, child.url, db, { interval: "0.1" }));
    await until(() => parent.requests.some((r) => r.kind === "feed"), 5000, "a poll");
    await helper.unload();
    const after = parent.requests.length;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(parent.requests.length, after, "no request after close");
  });

  it("closes cleanly while it is still starting, and the next deploy syncs everything (the store is released)", async () => {
    parent.generate({ patients: 6, visitsPerPatient: 0 });
    // Close at different points of start-up: store opening, consumer starting, first walk out.
    for (const delay of [0, 1, 5, 20, 60]) {
      await loadPull(pullFlow(parent.url, child.url, db, { interval: "0.05" }));
      if (delay) await new Promise((r) => setTimeout(r, delay));
      await helper.unload();
      const after = parent.requests.length;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(parent.requests.length, after, `no request after a close ${delay} ms after deploy`);
    }
    // Close while the store cannot open (another process owns it): nothing takes the file afterwards.
    const owner = await SyncStore.open(db, { exclusive: true });
    await loadPull(pullFlow(parent.url, child.url, db, { interval: "0.05" }));
    await until(() => calls(getNode("store"), "error").length > 0, 5000, "the store's open error");
    await helper.unload();
    await owner.close();
    await new Promise((r) => setTimeout(r, 300));
    const again = await SyncStore.open(db, { exclusive: true });
    await again.close();
    await loadPull(pullFlow(parent.url, child.url, db));
    const caught = caughtErrors();
    const done = caughtUp();
    getNode("feed").receive({});
    await done;
    assert.deepEqual(parent.diff(child), []);
    assert.deepEqual(caught, [], "the store was released by every close (no lock error)");
  });

  it("refuses to start without its config and says why", async () => {
    const lonely: unknown[] = [{ id: "feed", type: "atom-feed-in", category: "patient" }];
    await helper.load(NODES, lonely as TestFlows);
    const feed = getNode("feed");
    assert.deepEqual(lastStatus(feed), { fill: "red", shape: "ring", text: "atom-feed-in.status.not-configured" });
    assert.equal(calls(feed, "error")[0].args[0], "atom-feed-in.errors.missing-config");
  });

  it("starts after an entry of a copied database; an unknown entry or a bad start is an error that delivers nothing", async () => {
    parent.generate({ patients: 12, visitsPerPatient: 0 });
    const events = parent.store.categoryEvents("patient");
    const unknown = "tag:atomfeed.ict4h.org:00000000-0000-4000-8000-000000000000";
    await loadPull(pullFlow(parent.url, child.url, db, { startFrom: "entry", startAt: unknown }));
    const caught = caughtMessages();
    const feed = getNode("feed");
    feed.receive({});
    await until(() => caught.length === 1, 5000, "the error at Catch");
    assert.equal(caught[0].error.message, "atom-feed-in.errors.start-entry-not-found");
    assert.deepEqual(caught[0].payload, {
      category: "patient",
      url: `${parent.url}/ws/atomfeed/patient/recent`,
      error: "atom-feed-in.errors.start-entry-not-found",
    });
    const s = await until(() => (lastStatus(feed)?.fill === "red" ? lastStatus(feed) : undefined), 2000, "red status");
    assert.equal(s.text, "atom-feed-in.status.start-not-found");
    // The texts behind those keys name the entry (the test helper's RED._ gives the key back).
    const texts = (require("../../nodes/atom-feed-in/locales/en-US/atom-feed-in.json") as { "atom-feed-in": Record<string, Record<string, string>> })[
      "atom-feed-in"
    ];
    assert.match(texts.errors["start-entry-not-found"], /__entry__/);
    assert.match(texts.status["start-not-found"], /__entry__/);
    assert.equal(child.requests.filter((r) => r.kind === "rest-write" || r.kind === "fhir-write").length, 0);
    const store = await SyncStore.open(db);
    try {
      assert.equal(await store.getMarker("feed"), undefined, "no marker stored");
    } finally {
      await store.close();
    }

    // A start that is not an entry id or a time is refused; a reset to a real entry starts after it.
    feed.receive({ reset: { time: "yesterday" } });
    await until(() => caught.length === 2, 5000, "the refused reset at Catch");
    assert.match(caught[1].error.message, /atom-feed-in\.errors\.invalid-time$/);
    const done = caughtUp();
    feed.receive({ reset: { entry: events[8].uuid } });
    await done;
    assert.deepEqual(
      Object.keys(child.snapshot().patients).sort(),
      events
        .slice(9)
        .map((e) => e.object)
        .sort(),
    );

    // A start value from an environment variable that is not set: the node does not start.
    await helper.unload();
    await loadPull(pullFlow(parent.url, child.url, db, { startFrom: "time", startAt: "${OPENMRS_SYNC_TEST_UNSET}" }));
    assert.deepEqual(lastStatus(getNode("feed")), { fill: "red", shape: "ring", text: "atom-feed-in.status.bad-start" });
    assert.equal(calls(getNode("feed"), "error")[0].args[0], "atom-feed-in.errors.start-env-unset");
  });

  it("writes the same records into a third-party FHIR server with their ids", async () => {
    const peer = new FhirPeer();
    const peerUrl = await peer.start();
    try {
      parent.generate({ patients: 5, visitsPerPatient: 0 });
      await helper.load(
        NODES,
        [
          { id: "t1", type: "tab" },
          { id: "parent", type: "openmrs-server", url: parent.url },
          { id: "fhir", type: "fhir-server", url: peerUrl },
          { id: "store", type: "sync-store", path: db },
          { id: "feed", type: "atom-feed-in", z: "t1", server: "parent", store: "store", category: "patient", interval: "0", wires: [["fetch"], ["done"]] },
          { id: "fetch", type: "fhir-fetch", z: "t1", server: "parent", wires: [["push"]] },
          { id: "push", type: "fhir-push", z: "t1", targetType: "fhir", fhirServer: "fhir", wires: [[]] },
          { id: "done", type: "helper", z: "t1" },
          { id: "catcher", type: "catch", z: "t1", scope: null, uncaught: false, wires: [["caught"]] },
          { id: "caught", type: "helper", z: "t1" },
        ] as TestFlows,
        { parent: CREDS },
      );
      const caught = caughtErrors();
      const done = caughtUp();
      getNode("feed").receive({});
      await done;
      assert.deepEqual(
        caught.map((e) => e.message),
        [],
      );
      for (const uuid of Object.keys(parent.snapshot().patients)) {
        const res = await fetch(`${peerUrl}/Patient/${uuid}`);
        assert.equal(res.status, 200, uuid);
        const body = (await res.json()) as { id: string; resourceType: string };
        assert.equal(body.id, uuid);
      }
    } finally {
      await peer.stop();
    }
  });
});
