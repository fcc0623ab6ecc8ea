/**
 * The delivery engine's races and clocks, driven deterministically: a manual clock for every timer,
 * a real SQLite store for every commit. The enqueue/settle race, a ticket timing out while a node
 * still works on it, a late answer after a timeout, wall-clock jumps of an hour both ways.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ManualClock } from "../../lib/engine/clock";
import type { Ticket } from "../../lib/engine/ticket";
import { DurableQueue } from "../../lib/queue/durable-queue";
import { FeedConsumer } from "../../lib/feed/consumer";
import type { FeedEntry } from "../../lib/atom/entry";
import { parseFeedPage } from "../../lib/atom/parse";
import type { Outcome } from "../../lib/outcome";
import { SyncStore } from "../../lib/store/store";
import { feedPage, makeEvent, type TestEvent } from "../helpers/feed-pages";

const OK: Outcome = { kind: "ok", reason: "ok", status: 200 };
const E500: Outcome = { kind: "retry", reason: "http-500", status: 500, message: "HTTP 500" };
const BASE = "http://parent.test/openmrs";

/** Lets pending I/O callbacks (SQLite) run for a moment of real time; the manual clock does not move. */
const io = () => new Promise((r) => setTimeout(r, 2));

/** Waits in real time (I/O, never the manual clock) until the condition holds. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await io();
  assert.ok(cond(), what);
}

describe("delivery engine: races and clocks", function () {
  this.timeout(20_000);
  let dir: string;
  let store: SyncStore;
  let clock: ManualClock;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-"));
    store = await SyncStore.open(path.join(dir, "s.db"));
    clock = new ManualClock();
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function queue(opts: { ticketTimeoutMs?: number; maxAgeMs?: number } = {}) {
    const delivered: { body: Record<string, unknown>; ticket: Ticket }[] = [];
    const dead: string[] = [];
    const q = new DurableQueue({
      id: "q",
      store,
      storeId: "s",
      clock,
      concurrency: 4,
      backoff: { baseMs: 1000, capMs: 60_000, jitter: 0 },
      probeMs: 2000,
      ...opts,
      events: { deliver: (body, ticket) => delivered.push({ body, ticket }), deadLettered: (key) => dead.push(key) },
    });
    stops.push(() => q.stop());
    await q.start();
    const rows = () =>
      store.db.all<{ id: number; record_key: string; message: string; attempts: number }>(
        "SELECT id, record_key, message, attempts FROM queue_items ORDER BY id",
      );
    return { q, delivered, dead, rows };
  }

  describe("the enqueue/settle race", () => {
    for (const order of ["enqueue first", "settle first"] as const) {
      it(`keeps a newer change that arrives while the older one settles (${order})`, async () => {
        const { q, delivered, rows } = await queue();
        await q.enqueue({ key: "Patient/a", body: { payload: { v: 1 } } });
        await until(() => delivered.length === 1, "v1 delivered");
        // Both writes land in one group commit, in this order.
        let enqueued: Promise<unknown>;
        if (order === "enqueue first") {
          enqueued = q.enqueue({ key: "Patient/a", body: { payload: { v: 2 } } });
          q.settle(delivered[0].ticket, OK);
        } else {
          q.settle(delivered[0].ticket, OK);
          enqueued = q.enqueue({ key: "Patient/a", body: { payload: { v: 2 } } });
        }
        await enqueued;
        await q.flushed();
        await until(() => delivered.length === 2, "v2 delivered");
        assert.deepEqual(delivered[1].body.payload, { v: 2 }, "the newer change is the one delivered");
        q.settle(delivered[1].ticket, OK);
        await q.flushed();
        assert.deepEqual(await rows(), [], "nothing left behind");
        assert.equal(q.stats().sent, 2);
      });
    }

    it("delivers the newer change, never the older one, when the older one fails meanwhile", async () => {
      const { q, delivered, rows } = await queue();
      await q.enqueue({ key: "Patient/a", body: { payload: { v: 1 } } });
      await until(() => delivered.length === 1, "v1 delivered");
      const enqueued = q.enqueue({ key: "Patient/a", body: { payload: { v: 2 } } });
      q.settle(delivered[0].ticket, E500);
      await enqueued;
      await q.flushed();
      await until(() => delivered.length === 2, "v2 delivered");
      assert.deepEqual(delivered[1].body.payload, { v: 2 });
      q.settle(delivered[1].ticket, OK);
      await q.flushed();
      // The failed v1 is older than what was written: it goes with it, and never goes out again.
      clock.advance(120_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(delivered.length, 2);
      assert.deepEqual(await rows(), []);
    });
  });

  it("does not time out a ticket a node is still working on, however long it takes", async () => {
    const { q, delivered } = await queue({ ticketTimeoutMs: 10_000 });
    await q.enqueue({ key: "Patient/a", body: { payload: 1 } });
    await until(() => delivered.length === 1, "delivered");
    q.working(delivered[0].ticket, true);
    clock.advance(95_000); // several chained 30 s requests
    await q.flushed();
    assert.equal(delivered.length, 1, "not delivered a second time while being worked on");
    q.working(delivered[0].ticket, false);
    assert.equal(q.settle(delivered[0].ticket, OK), true);
    await q.flushed();
    assert.equal(q.stats().sent, 1);
    assert.equal(q.stats().queued, 0);
  });

  it("times out a ticket nobody works on, and still takes its late answer", async () => {
    const events = [makeEvent("patient"), makeEvent("patient")];
    const emitted: { entry: FeedEntry; ticket: Ticket }[] = [];
    const c = new FeedConsumer({
      id: "f",
      feedUri: `${BASE}/ws/atomfeed/patient/recent`,
      store,
      storeId: "s",
      clock,
      ticketTimeoutMs: 10_000,
      backoff: { baseMs: 5000, capMs: 60_000, jitter: 0 },
      fetchPage: (url) => Promise.resolve(parseFeedPage(feedPage(BASE, "patient", events, 1, 5, url), url)),
      events: { emit: (entry, ticket) => emitted.push({ entry, ticket }) },
    });
    stops.push(() => c.stop());
    await c.poll();
    assert.equal(emitted.length, 2);
    c.settle(emitted[1].ticket, OK);
    clock.advance(11_000); // the sweep finds entry 0 unsettled: a transient failure, retried in 5 s
    await c.flushed();
    assert.equal(c.stats().waiting, 1);
    // The flow was only slow: its answer arrives now, and counts.
    assert.equal(c.settle(emitted[0].ticket, OK), true);
    await c.flushed();
    clock.advance(10_000);
    await c.flushed();
    assert.equal(emitted.length, 2, "not delivered again");
    assert.equal((await store.getMarker("f"))?.entryId, events[1].id);
  });

  describe("wall-clock jumps", () => {
    it("an hour forward does not dead-letter a retrying item early", async () => {
      const { q, delivered, dead } = await queue({ maxAgeMs: 30 * 60_000 });
      await q.enqueue({ key: "Patient/a", body: { payload: 1 } });
      await until(() => delivered.length === 1, "delivered");
      q.settle(delivered[0].ticket, E500);
      await q.flushed();
      clock.jumpWall(3_600_000);
      clock.advance(1000);
      await until(() => delivered.length === 2, "retried after its backoff");
      q.settle(delivered[1].ticket, E500);
      await q.flushed();
      assert.deepEqual(dead, [], "one hour of wall clock is not one hour of retrying");
      assert.equal(q.stats().retrying, 1);
    });

    it("an hour back does not delay a retry or a probe", async () => {
      const { q, delivered } = await queue();
      await q.enqueue({ key: "Patient/a", body: { payload: 1 } });
      await q.enqueue({ key: "Patient/b", body: { payload: 2 } });
      await until(() => delivered.length === 2, "delivered");
      q.settle(delivered[0].ticket, E500); // waits 1 s
      q.settle(delivered[1].ticket, { kind: "retry", reason: "refused", message: "ECONNREFUSED" }); // target down: probe in 2 s
      await q.flushed();
      clock.jumpWall(-3_600_000);
      clock.advance(2100);
      await until(() => delivered.length === 3, "the probe went out on time");
      q.settle(delivered[2].ticket, OK); // the target answers: the gate opens
      await q.flushed();
      await until(() => delivered.length === 4, "the other one went out");
      assert.deepEqual(delivered.map((d) => d.body.payload).sort(), [1, 1, 2, 2]);
    });

    it("after a restart, a next attempt stored far in the future (the clock went back) is due now", async () => {
      const far = clock.wallNow() + 10 * 3600_000;
      await store.db.run(
        "INSERT INTO queue_items (queue, record_key, message, attempts, enqueued_at, first_failed_at, next_at) VALUES ('q', 'Patient/a', '{}', 1, ?, ?, ?)",
        [Date.now(), Date.now(), far],
      );
      const { delivered } = await queue();
      await until(() => delivered.length === 1, "delivered at once");
      assert.equal(delivered[0].ticket.attempt, 2);
    });
  });

  it("keeps per-record order and coalesces a feed's repeated changes across a restart's retry rows", async () => {
    const uuid = "aaaaaaaa-1111-2222-3333-444444444444";
    const events: TestEvent[] = [makeEvent("patient", uuid), makeEvent("patient")];
    const emitted: { entry: FeedEntry; ticket: Ticket }[] = [];
    const make = () =>
      new FeedConsumer({
        id: "f",
        feedUri: `${BASE}/ws/atomfeed/patient/recent`,
        store,
        storeId: "s",
        clock,
        backoff: { baseMs: 60_000, capMs: 60_000, jitter: 0 },
        fetchPage: (url) =>
          Promise.resolve(parseFeedPage(feedPage(BASE, "patient", events, Number(/\/(\d+)$/.exec(url)?.[1] ?? Math.ceil(events.length / 5)), 5, url), url)),
        events: { emit: (entry, ticket) => emitted.push({ entry, ticket }) },
      });
    const a = make();
    await a.poll();
    a.settle(emitted[0].ticket, E500); // waits a minute, stored as a retry row
    a.settle(emitted[1].ticket, OK);
    await a.stop();
    events.push(makeEvent("patient", uuid)); // a newer change of the same record
    const b = make();
    stops.push(() => b.stop());
    emitted.length = 0;
    await b.poll();
    assert.equal(emitted.length, 0, "the retry is not due, and the newer change waits behind it");
    clock.advance(60_000);
    await b.flushed();
    await until(() => emitted.length > 0, "the newest change goes out");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      emitted.map((e) => e.entry.id),
      [events[2].id],
      "only the newest change goes out",
    );
  });
});
