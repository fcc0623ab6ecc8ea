/**
 * Hostile and broken input from a real (simulated) parent: each problem gives a clear error in the
 * debug pane and at Catch, the runtime stays up, the marker does not move past the problem, and the
 * sync completes once the problem is gone.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim, ENTRY_ID_PREFIX } from "../../sim";
import { SyncStore, type FeedMarker } from "../../lib/store/store";
import { caughtErrors, caughtUp, getNode, lastStatus, loadPull, pullFlow, until, usePeers } from "../helpers/red";

describe("hostile input", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  usePeers("hostile", { parent: 31, child: 32 }, (peers) => {
    ({ parent, child, db } = peers);
    peers.parent.generate({ patients: 8, visitsPerPatient: 0 });
  });

  /** The flow syncs the patient feed only. */
  function patientDiff(): string[] {
    return parent.diff(child).filter((d) => d.startsWith("patient"));
  }

  async function marker(): Promise<FeedMarker | undefined> {
    const store = await SyncStore.open(db);
    try {
      return await store.getMarker("feed");
    } finally {
      await store.close();
    }
  }

  /** Syncs once cleanly, so there is a marker to protect. */
  async function firstSync(): Promise<FeedMarker> {
    const done = caughtUp();
    getNode("feed").receive({});
    await done;
    await new Promise((r) => setTimeout(r, 100));
    const m = await marker();
    assert.ok(m?.entryId);
    return m;
  }

  /** Puts a fault on, polls, expects one clear error at Catch, a red status, and an unmoved marker; then recovers. */
  async function expectFeedProblem(fault: () => void, clear: () => void, message: RegExp): Promise<void> {
    await loadPull(pullFlow(parent.url, child.url, db));
    const caught = caughtErrors();
    const before = await firstSync();
    parent.mutate(6);
    fault();
    const feed = getNode("feed");
    feed.receive({});
    await until(() => caught.length > 0, 8000, "an error at Catch");
    assert.equal(caught[0].source.id, "feed");
    assert.match(caught[0].message, message);
    const status = await until(() => (lastStatus(feed)?.fill === "red" ? lastStatus(feed) : undefined), 3000, "red status");
    assert.equal(status.shape, "ring");
    assert.deepEqual(await marker(), before, "the marker did not move");
    clear();
    const done = caughtUp();
    feed.receive({});
    await done;
    assert.deepEqual(patientDiff(), [], "complete after the problem is gone");
  }

  it("malformed XML", async () => {
    await expectFeedProblem(
      () => (parent.faults.malformedFeed = true),
      () => (parent.faults.malformedFeed = false),
      /malformed feed page/,
    );
  });

  it("an XML entity bomb", async () => {
    await expectFeedProblem(
      () => (parent.faults.entityBomb = true),
      () => (parent.faults.entityBomb = false),
      /DTD or entities/,
    );
  });

  it("a 500 from the feed", async () => {
    await expectFeedProblem(
      () => (parent.faults.status = { code: 500, count: 1000, kinds: ["feed"] }),
      () => (parent.faults.status = null),
      /HTTP 500 from feed page/,
    );
  });

  it("a timeout", async () => {
    await expectFeedProblem(
      () => (parent.faults.slowMs = 3000),
      () => (parent.faults.slowMs = 0),
      /timed out after 2000 ms/,
    );
  });

  it("a page too large to be a feed page", async () => {
    await expectFeedProblem(
      () => (parent.faults.hugeFeed = 25 * 1024 * 1024),
      () => (parent.faults.hugeFeed = 0),
      /larger than/,
    );
  });

  it("a page with the marked entry missing: stops with a clear error, never restarts from page 1 by itself", async () => {
    await loadPull(pullFlow(parent.url, child.url, db));
    const caught = caughtErrors();
    const before = await firstSync();
    parent.faults.hideFeedEntries = [before.entryId!.slice(ENTRY_ID_PREFIX.length), before.entryId!];
    const fetchesBefore = parent.requests.filter((r) => r.kind !== "feed").length;
    const feed = getNode("feed");
    feed.receive({});
    await until(() => caught.length > 0, 8000, "an error at Catch");
    assert.match(caught[0].message, /atom-feed-in.errors.marker-not-found/);
    feed.receive({});
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(caught.length, 1, "reported once");
    assert.equal(parent.requests.filter((r) => r.kind !== "feed").length, fetchesBefore, "nothing re-read from page 1");
    assert.deepEqual(await marker(), before);
    // The admin decides: reset to the beginning re-reads everything (idempotent writes).
    parent.faults.hideFeedEntries = [];
    const done = caughtUp();
    feed.receive({ reset: "beginning" });
    await done;
    assert.deepEqual(patientDiff(), []);
  });

  it("connection resets on record fetches are retried until they pass", async () => {
    await loadPull(pullFlow(parent.url, child.url, db, { maxInFlight: 2 }));
    const caught = caughtErrors();
    parent.faults.resetRate = 0.5;
    const feed = getNode("feed");
    feed.receive({});
    await new Promise((r) => setTimeout(r, 500));
    parent.faults.resetRate = 0;
    // A reset may also have hit a feed page (that poll then ends with an error): poll again.
    feed.receive({});
    await until(() => patientDiff().length === 0, 30_000, "every patient at the child");
    assert.ok(
      caught.every((e) => /reset|socket|ECONNRESET|closed/i.test(e.message)),
      caught.map((e) => e.message).join("\n"),
    );
  });
});
