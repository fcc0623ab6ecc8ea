/**
 * FeedConsumer against pages in the verbatim ICT4H format and a real SQLite store: archive walk,
 * marker rules, settlement across restarts, retries, dead letter, coalescing, auth pause.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FeedConsumer, type FeedConsumerOptions } from "../../lib/feed/consumer";
import type { Ticket } from "../../lib/engine/ticket";
import type { FeedEntry } from "../../lib/atom/entry";
import { parseFeedPage } from "../../lib/atom/parse";
import { SyncStore } from "../../lib/store/store";
import { feedPage, makeEvent, pageCount, type TestEvent } from "../helpers/feed-pages";

const BASE = "http://parent.test/openmrs";
const CATEGORY = "patient";
const RECENT = `${BASE}/ws/atomfeed/${CATEGORY}/recent`;

/** An in-memory feed: pages computed from `events` on each fetch, like the server. */
class Feed {
  events: TestEvent[] = [];
  fetched: string[] = [];
  hide = new Set<string>();
  async fetchPage(url: string) {
    this.fetched.push(url);
    const visible = this.events.filter((e) => !this.hide.has(e.id));
    const m = /\/(\d+|recent)$/.exec(url);
    if (!m) throw new Error(`unexpected URL ${url}`);
    const n = m[1] === "recent" ? pageCount(this.events) : Number(m[1]);
    // Hidden entries are removed from their own page only (page boundaries stay as on the server).
    const all = this.events.slice((n - 1) * 5, n * 5);
    const onPage = all.filter((e) => visible.includes(e));
    const xml = feedPage(BASE, CATEGORY, [...this.events.slice(0, (n - 1) * 5), ...onPage, ...this.events.slice(n * 5)], n, 5, url);
    return parseFeedPage(xml, url);
  }
}

interface Emitted {
  entry: FeedEntry;
  ticket: Ticket;
}

function delay(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(cond: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await delay(5);
  }
}

describe("FeedConsumer", function () {
  let dir: string;
  let store: SyncStore;
  let feed: Feed;
  const consumers: FeedConsumer[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "consumer-"));
    store = await SyncStore.open(path.join(dir, "sync.db"));
    feed = new Feed();
  });

  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Every settlement so far is committed. */
  const flushedAll = () => Promise.all(consumers.map((c) => c.flushed()));

  function consumer(opts: Partial<FeedConsumerOptions> = {}, s: SyncStore = store) {
    const emitted: Emitted[] = [];
    const errors: Error[] = [];
    const events = { caughtUp: 0, paused: 0, resumed: 0, dead: [] as string[] };
    const c = new FeedConsumer({
      id: "feed1",
      feedUri: RECENT,
      store: s,
      storeId: "store1",
      fetchPage: (url) => feed.fetchPage(url),
      backoff: { baseMs: 20, capMs: 100, jitter: 0 },
      authProbeMs: 30,
      ...opts,
      events: {
        emit: (entry, ticket) => emitted.push({ entry, ticket }),
        walkError: (err) => errors.push(err),
        caughtUp: () => events.caughtUp++,
        gateChanged: (state) => {
          if (state === "paused") events.paused++;
          else if (state === "open") events.resumed++;
        },
        deadLettered: (entry) => events.dead.push(entry.id),
        ...opts.events,
      },
    });
    consumers.push(c);
    return { c, emitted, errors, events };
  }

  function ok(c: FeedConsumer, e: Emitted) {
    assert.equal(c.settle(e.ticket, { kind: "ok", reason: "ok" }), true);
  }

  it("walks a first run from page 1 forward, emitting every entry in feed order", async () => {
    feed.events = Array.from({ length: 23 }, () => makeEvent(CATEGORY));
    const { c, emitted } = consumer({ maxInFlight: 100 });
    await c.poll();
    assert.deepEqual(
      emitted.map((e) => e.entry.id),
      feed.events.map((e) => e.id),
    );
    // recent (page 5) -> jump to page 1 -> pages 2..5: 6 GETs, not a prev-archive walk of 5 more.
    assert.deepEqual(feed.fetched, [RECENT, `${BASE}/ws/atomfeed/patient/1`, ...[2, 3, 4, 5].map((n) => `${BASE}/ws/atomfeed/patient/${n}`)]);
  });

  it("moves the marker only over the settled prefix and re-delivers only unsettled entries after a restart", async () => {
    feed.events = Array.from({ length: 12 }, () => makeEvent(CATEGORY));
    const first = consumer({ maxInFlight: 100 });
    await first.c.poll();
    assert.equal(first.emitted.length, 12);
    // Settle 1, 2, 4, 5, 9: marker must stop after 2.
    for (const i of [0, 1, 3, 4, 8]) ok(first.c, first.emitted[i]);
    await until(() => first.c.stats().ok === 5);
    await flushedAll();
    const marker = await store.getMarker("feed1");
    assert.equal(marker?.entryId, feed.events[1].id);
    assert.equal(marker?.pageUrl, `${BASE}/ws/atomfeed/patient/1`);
    await first.c.stop();

    const second = consumer({ maxInFlight: 100 });
    await second.c.poll();
    assert.deepEqual(
      second.emitted.map((e) => e.entry.id),
      [2, 5, 6, 7, 9, 10, 11].map((i) => feed.events[i].id),
    );
    for (const e of second.emitted) ok(second.c, e);
    await flushedAll();
    assert.equal((await store.getMarker("feed1"))?.entryId, feed.events[11].id);
    // Rows for out-of-order settlements are gone once the marker passed them.
    assert.equal((await store.settledEntries("feed1")).size, 0);
  });

  it("reads new entries on the next poll, including a page that filled up and a new page", async () => {
    feed.events = Array.from({ length: 3 }, () => makeEvent(CATEGORY));
    const { c, emitted } = consumer({ maxInFlight: 100 });
    await c.poll();
    emitted.forEach((e) => ok(c, e));
    feed.events.push(...Array.from({ length: 6 }, () => makeEvent(CATEGORY)));
    feed.fetched = [];
    await c.poll();
    assert.equal(emitted.length, 9);
    assert.deepEqual(feed.fetched, [`${BASE}/ws/atomfeed/patient/1`, `${BASE}/ws/atomfeed/patient/2`]);
  });

  it("retries transient failures with backoff and dead-letters after max attempts", async () => {
    feed.events = [makeEvent(CATEGORY), makeEvent(CATEGORY)];
    const { c, emitted, events } = consumer({ maxAttempts: 3, maxInFlight: 10 });
    await c.poll();
    ok(c, emitted[1]);
    let last = emitted[0];
    for (let attempt = 1; attempt <= 3; attempt++) {
      assert.equal(last.ticket.attempt, attempt);
      c.settle(last.ticket, { kind: "retry", reason: "http-500", status: 500, message: "HTTP 500" });
      if (attempt < 3) {
        await until(() => emitted.length === 2 + attempt);
        last = emitted[emitted.length - 1];
        assert.equal(last.entry.id, feed.events[0].id);
      }
    }
    await flushedAll();
    assert.deepEqual(events.dead, [feed.events[0].id]);
    const dead = await store.deadLetters({ source: "feed1" });
    assert.equal(dead.length, 1);
    assert.equal(dead[0].attempts, 3);
    assert.match(dead[0].error ?? "", /gave up after 3 attempts; last error: HTTP 500/);
    // Dead-lettered is settled: the marker moved past both entries.
    assert.equal((await store.getMarker("feed1"))?.entryId, feed.events[1].id);
  });

  it("honours Retry-After and keeps the attempt count across a restart", async () => {
    feed.events = [makeEvent(CATEGORY)];
    const a = consumer();
    await a.c.poll();
    a.c.settle(a.emitted[0].ticket, { kind: "retry", reason: "http-429", retryAfterMs: 150 });
    await delay(60);
    assert.equal(a.emitted.length, 1, "not re-delivered before Retry-After");
    await a.c.stop();
    await flushedAll();
    const b = consumer();
    await b.c.poll();
    assert.equal(b.emitted.length, 0, "the persisted retry is not due yet");
    await until(() => b.emitted.length === 1);
    assert.equal(b.emitted[0].ticket.attempt, 2);
  });

  it("dead-letters permanent failures at once with the OperationOutcome, and moves on", async () => {
    feed.events = [makeEvent(CATEGORY), makeEvent(CATEGORY)];
    const { c, emitted } = consumer();
    await c.poll();
    const oo = { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "invalid", diagnostics: "bad gender" }] };
    c.settle(emitted[0].ticket, { kind: "permanent", reason: "http-422", status: 422, message: "HTTP 422", operationOutcome: oo });
    ok(c, emitted[1]);
    await flushedAll();
    const [dead] = await store.deadLetters();
    assert.equal(dead.http_status, 422);
    assert.deepEqual(JSON.parse(dead.operation_outcome ?? "null"), oo);
    assert.equal(JSON.parse(dead.entry ?? "{}").id, feed.events[0].id);
    assert.equal((await store.getMarker("feed1"))?.entryId, feed.events[1].id);
  });

  it("coalesces several changes of one record read during a catch-up into one delivery", async () => {
    const uuid = "11111111-2222-3333-4444-555555555555";
    feed.events = [makeEvent(CATEGORY, uuid), makeEvent(CATEGORY), makeEvent(CATEGORY, uuid), makeEvent(CATEGORY, uuid), makeEvent(CATEGORY)];
    const { c, emitted } = consumer({ maxInFlight: 1 });
    await c.poll();
    // Entry 0 went out before the others were read; 2 and 3 are the same record: only 3 is delivered.
    await until(() => emitted.length === 1);
    ok(c, emitted[0]);
    await until(() => emitted.length === 2);
    ok(c, emitted[1]);
    await until(() => emitted.length === 3);
    ok(c, emitted[2]);
    await until(() => emitted.length === 4);
    ok(c, emitted[3]);
    // Entries of other records may overtake entry 3 while entry 0's settlement is committed; per record the order holds.
    const ids = emitted.map((e) => e.entry.id);
    assert.deepEqual([...ids].sort(), [0, 1, 3, 4].map((i) => feed.events[i].id).sort());
    assert.ok(ids.indexOf(feed.events[0].id) < ids.indexOf(feed.events[3].id));
    assert.equal(c.stats().filtered, 1);
    await flushedAll();
    assert.equal((await store.getMarker("feed1"))?.entryId, feed.events[4].id);
  });

  it("keeps one delivery per record in flight: a newer entry waits behind it", async () => {
    const uuid = "aaaaaaaa-2222-3333-4444-555555555555";
    feed.events = [makeEvent(CATEGORY, uuid)];
    const { c, emitted } = consumer({ maxInFlight: 10 });
    await c.poll();
    feed.events.push(makeEvent(CATEGORY, uuid), makeEvent(CATEGORY));
    await c.poll();
    assert.deepEqual(
      emitted.map((e) => e.entry.id),
      [feed.events[0].id, feed.events[2].id],
    );
    ok(c, emitted[0]);
    await until(() => emitted.length === 3);
    assert.equal(emitted[2].entry.id, feed.events[1].id);
  });

  it("stops with a clear error when the marked entry vanished, and keeps the marker", async () => {
    feed.events = Array.from({ length: 7 }, () => makeEvent(CATEGORY));
    const a = consumer({ maxInFlight: 100 });
    await a.c.poll();
    a.emitted.slice(0, 3).forEach((e) => ok(a.c, e));
    await a.c.stop();
    await flushedAll();
    feed.hide.add(feed.events[2].id);
    const b = consumer();
    await b.c.poll();
    assert.equal(b.emitted.length, 0);
    assert.equal(b.errors.length, 1);
    assert.match(b.errors[0].message, new RegExp(`marked entry ${feed.events[2].id} is not on feed page ${BASE}/ws/atomfeed/patient/1`));
    assert.equal((await store.getMarker("feed1"))?.entryId, feed.events[2].id);
    // Reset is the admin's decision: then it reads again from page 1.
    await b.c.reset("beginning");
    feed.hide.clear();
    await b.c.poll();
    assert.equal(b.emitted.length, 7);
  });

  it("reports a failing page fetch and reads on at the next poll", async () => {
    feed.events = Array.from({ length: 8 }, () => makeEvent(CATEGORY));
    let fail = true;
    const { c, emitted, errors } = consumer({
      maxInFlight: 100,
      fetchPage: (url) => (fail && url.endsWith("/2") ? Promise.reject(new Error("HTTP 500")) : feed.fetchPage(url)),
    });
    await c.poll();
    assert.equal(emitted.length, 5);
    assert.equal(errors.length, 1);
    fail = false;
    await c.poll();
    assert.equal(emitted.length, 8);
  });

  it("pauses on an auth failure, probes with one entry, and resumes when it passes", async () => {
    feed.events = Array.from({ length: 4 }, () => makeEvent(CATEGORY));
    const { c, emitted, events } = consumer({ maxInFlight: 1 });
    await c.poll();
    c.settle(emitted[0].ticket, { kind: "auth", reason: "http-401", status: 401 });
    assert.equal(events.paused, 1);
    assert.equal(c.stats().paused, true);
    await until(() => emitted.length === 2);
    assert.equal(emitted[1].entry.id, feed.events[0].id, "the probe is the failed entry");
    c.settle(emitted[1].ticket, { kind: "auth", reason: "http-401", status: 401 });
    assert.equal(events.paused, 1, "alerted once");
    await until(() => emitted.length === 3);
    ok(c, emitted[2]);
    assert.equal(events.resumed, 1);
    await until(() => emitted.length === 4);
    assert.equal(emitted[3].entry.id, feed.events[1].id);
  });

  it("treats an unsettled ticket as a transient failure after the timeout", async () => {
    feed.events = [makeEvent(CATEGORY)];
    const { c, emitted } = consumer({ ticketTimeoutMs: 100 });
    await c.poll();
    await until(() => emitted.length === 2, 2000);
    assert.equal(emitted[1].ticket.attempt, 2);
    // A late answer to the first delivery is ignored while the second is out.
    assert.equal(c.settle(emitted[0].ticket, { kind: "retry", reason: "late" }), false);
  });

  it("starts from now when told to, and says when it caught up", async () => {
    feed.events = Array.from({ length: 6 }, () => makeEvent(CATEGORY));
    const { c, emitted, events } = consumer({ startFrom: "now" });
    await c.poll();
    assert.equal(emitted.length, 0);
    assert.equal(events.caughtUp, 1, "nothing to do is caught up");
    feed.events.push(makeEvent(CATEGORY));
    await c.poll();
    assert.equal(emitted.length, 1);
    assert.equal(events.caughtUp, 1, "not while an entry is out");
    ok(c, emitted[0]);
    await until(() => events.caughtUp === 2);
  });

  it("starts from now on an empty newest page without replaying the pages before it (time-based chunking)", async () => {
    // Pages 1 and 2 hold history; the newest page, 3, is empty for now.
    feed.events = Array.from({ length: 10 }, () => makeEvent(CATEGORY));
    const page = (url: string) => {
      const n = url.endsWith("/recent") ? 3 : Number(/\/(\d+)$/.exec(url)![1]);
      return Promise.resolve(parseFeedPage(feedPage(BASE, CATEGORY, feed.events, n, 5, url), url));
    };
    const { c, emitted } = consumer({ startFrom: "now", fetchPage: page });
    await c.poll();
    assert.equal(emitted.length, 0);
    assert.deepEqual(await store.getMarker("feed1"), { consumer: "feed1", feedUri: RECENT, entryId: null, pageUrl: `${BASE}/ws/atomfeed/patient/3` });
    feed.events.push(makeEvent(CATEGORY));
    await c.poll();
    assert.deepEqual(
      emitted.map((e) => e.entry.id),
      [feed.events[10].id],
      "only what appeared after the start",
    );
  });

  it("lets an admin deliver a dead-lettered entry again, or discard it", async () => {
    feed.events = [makeEvent(CATEGORY), makeEvent(CATEGORY), makeEvent(CATEGORY)];
    const { c, emitted } = consumer();
    await c.poll();
    c.settle(emitted[0].ticket, { kind: "permanent", reason: "http-422", status: 422, message: "HTTP 422" });
    c.settle(emitted[1].ticket, { kind: "permanent", reason: "http-422", status: 422, message: "HTTP 422" });
    ok(c, emitted[2]);
    await flushedAll();
    const dead = await c.deadLetters();
    assert.equal(dead.length, 2);
    assert.equal(await c.retryDead([dead[0].id]), 1);
    assert.equal(await c.discardDead([dead[1].id]), 1);
    await until(() => emitted.length === 4);
    assert.equal(emitted[3].entry.id, feed.events[0].id);
    // A restart before it is settled delivers it again (the retry is stored).
    await c.stop();
    const again = consumer();
    await again.c.poll();
    await until(() => again.emitted.length === 1);
    assert.equal(again.emitted[0].entry.id, feed.events[0].id);
    ok(again.c, again.emitted[0]);
    await flushedAll();
    assert.deepEqual(
      (await store.deadLetters({ source: "feed1", state: "retried" })).map((d) => d.id),
      [dead[0].id],
    );
    assert.deepEqual(
      (await store.deadLetters({ source: "feed1", state: "discarded" })).map((d) => d.id),
      [dead[1].id],
    );
    assert.equal((await again.c.deadLetters()).length, 0);
  });

  it("a reset during a walk ends that walk: nothing from it is delivered after the reset", async () => {
    feed.events = Array.from({ length: 30 }, () => makeEvent(CATEGORY));
    // One entry out, one ready: the walk waits for room after the first page.
    const { c, emitted } = consumer({ maxInFlight: 1, readAhead: 1 });
    const walking = c.poll();
    await until(() => emitted.length === 1);
    await c.reset("beginning");
    await walking;
    assert.equal(emitted.length, 1, "the old walk delivered nothing more");
    // The new walk delivers from page 1; the answer to the old delivery of entry 0 still counts.
    let answered = 0;
    const polling = c.poll();
    await until(() => {
      while (answered < emitted.length) ok(c, emitted[answered++]);
      return c.stats().ok + c.stats().filtered === 30;
    }, 10_000);
    await polling;
    await flushedAll();
    const ids = emitted.map((e) => e.entry.id);
    assert.equal(new Set(ids).size, ids.length, "each entry delivered once");
    assert.deepEqual(
      ids,
      feed.events.map((e) => e.id),
      "in feed order",
    );
    assert.equal((await store.getMarker("feed1"))?.entryId, feed.events[29].id);
  });

  it("a poll asked for while a reset runs waits for it: the reset's position is not put back", async () => {
    feed.events = Array.from({ length: 12 }, () => makeEvent(CATEGORY));
    const { c, emitted } = consumer();
    const settleAll = async (n: number) => {
      let answered = 0;
      await until(() => {
        while (answered < emitted.length) ok(c, emitted[answered++]);
        return answered === n;
      }, 5000);
    };
    const first = c.poll();
    await settleAll(12);
    await first;
    await flushedAll();
    emitted.length = 0;
    // The reset and a poll right behind it (an interval timer, an admin's inject): the poll must read
    // from the beginning, not from the position the reset forgot.
    const resetting = c.reset("beginning");
    const polling = c.poll();
    await resetting;
    await settleAll(12);
    await polling;
    assert.deepEqual(
      emitted.map((e) => e.entry.id),
      feed.events.map((e) => e.id),
    );
  });

  it("settles filtered entries without emitting them", async () => {
    feed.events = [makeEvent(CATEGORY), makeEvent("other")];
    const { c, emitted } = consumer({ filter: (e) => e.category === CATEGORY });
    await c.poll();
    assert.equal(emitted.length, 1);
    ok(c, emitted[0]);
    await flushedAll();
    assert.equal((await store.getMarker("feed1"))?.entryId, feed.events[1].id);
  });
});
