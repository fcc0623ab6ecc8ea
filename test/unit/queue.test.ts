/** DurableQueue against a real SQLite store: custody, order per record, coalescing, retries, circuit, pause, dead letter. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DurableQueue, isChannelFailure, type DurableQueueOptions } from "../../lib/queue/durable-queue";
import type { Ticket } from "../../lib/engine/ticket";
import type { Outcome } from "../../lib/outcome";
import { SyncStore } from "../../lib/store/store";

interface Delivery {
  body: Record<string, unknown>;
  ticket: Ticket;
  at: number;
}

async function until(cond: () => boolean, ms = 4000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const OK: Outcome = { kind: "ok", reason: "ok", status: 200 };

describe("DurableQueue", function () {
  this.timeout(20_000);
  let dir: string;
  let store: SyncStore;
  const queues: DurableQueue[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "queue-"));
    store = await SyncStore.open(path.join(dir, "q.db"));
  });
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function queue(opts: Partial<DurableQueueOptions> = {}, s = store) {
    const delivered: Delivery[] = [];
    const events = { opened: 0, closed: 0, paused: 0, resumed: 0, dead: [] as number[] };
    const q = new DurableQueue({
      id: "q1",
      store: s,
      storeId: "s1",
      concurrency: 4,
      backoff: { baseMs: 20, capMs: 200, jitter: 0 },
      probeMs: 40,
      ...opts,
      events: {
        deliver: (body, ticket) => delivered.push({ body, ticket, at: Date.now() }),
        gateChanged: (state) => {
          if (state === "target-down") events.opened++;
          else if (state === "paused") events.paused++;
          else if (state === "open") {
            events.closed++;
            events.resumed++;
          }
        },
        deadLettered: (_k, _o, _a, id) => events.dead.push(id ?? -1),
      },
    });
    queues.push(q);
    await q.start();
    return { q, delivered, events };
  }

  const msg = (key: string, n: number) => ({ key, body: { topic: key, payload: { n } } });

  it("acknowledges an enqueue only once it is committed, and delivers every message", async () => {
    const { q, delivered } = await queue();
    for (let i = 0; i < 20; i++) await q.enqueue(msg(`Patient/${i}`, i));
    const row = await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM queue_items");
    assert.ok((row?.n ?? 0) > 0);
    await until(() => delivered.length >= 4);
    for (let k = 0; delivered.length < 20 && k < 100; k++) {
      for (const d of delivered.filter((x) => !("done" in x))) {
        (d as Delivery & { done?: boolean }).done = true;
        q.settle(d.ticket, OK);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    for (const d of delivered) q.settle(d.ticket, OK);
    await Promise.all(queues.map((x) => x.flushed()));
    assert.equal(delivered.length, 20);
    assert.equal((await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM queue_items"))?.n, 0);
    assert.deepEqual(q.stats().sent, 20);
  });

  it("keeps order per record with several records in flight, and coalesces a waiting record's changes", async () => {
    const { q, delivered } = await queue({ concurrency: 3 });
    await q.enqueue(msg("A", 1));
    await until(() => delivered.length === 1);
    // While A#1 is out, ten more changes of A arrive: they become one message (the newest).
    for (let i = 2; i <= 11; i++) await q.enqueue(msg("A", i));
    await q.enqueue(msg("B", 1));
    await until(() => delivered.length === 2);
    assert.equal(delivered[1].body.topic, "B", "B is not blocked by A");
    q.settle(delivered[0].ticket, OK);
    await until(() => delivered.length === 3);
    assert.deepEqual(delivered[2].body.payload, { n: 11 });
    // Nine older changes never went out: merged into the waiting row, or superseded by a newer one.
    const s = q.stats();
    assert.equal(s.coalesced + s.filtered, 9);
  });

  it("retries a transient failure with backoff, and a failing record never blocks the others", async () => {
    const { q, delivered } = await queue({ concurrency: 2 });
    await q.enqueue(msg("bad", 1));
    await q.enqueue(msg("good", 1));
    await until(() => delivered.length === 2);
    q.settle(delivered[0].ticket, { kind: "retry", reason: "http-500", status: 500, message: "HTTP 500" });
    q.settle(delivered[1].ticket, OK);
    await q.enqueue(msg("good2", 1));
    await until(() => delivered.length === 4);
    const again = delivered.find((d, i) => i > 1 && d.body.topic === "bad")!;
    assert.ok(again.at - delivered[0].at >= 18, "backed off");
    assert.equal(again.ticket.attempt, 2);
  });

  it("dead-letters permanent failures with the OperationOutcome; retry and discard act on one item only", async () => {
    const { q, delivered, events } = await queue();
    await q.enqueue(msg("x", 1));
    await q.enqueue(msg("y", 1));
    await until(() => delivered.length === 2);
    const oo = { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "processing", diagnostics: "bad" }] };
    q.settle(delivered[0].ticket, { kind: "permanent", reason: "http-422", status: 422, message: "HTTP 422", operationOutcome: oo });
    q.settle(delivered[1].ticket, { kind: "permanent", reason: "http-422", status: 422, message: "HTTP 422", operationOutcome: oo });
    await until(() => events.dead.length === 2);
    const dead = await q.deadLetters();
    assert.equal(dead.length, 2);
    assert.deepEqual(JSON.parse(dead[0].operation_outcome!), oo);
    assert.equal(await q.retryDead([dead[0].id]), 1);
    await until(() => delivered.length === 3);
    assert.equal(delivered[2].body.topic, "x");
    assert.equal(delivered[2].ticket.attempt, 1);
    assert.equal(await q.discardDead([dead[1].id]), 1);
    assert.equal((await q.deadLetters()).length, 0);
    assert.equal((await store.deadLetters({ state: "discarded" })).length, 1);
  });

  it("dead-letters after max attempts", async () => {
    const { q, delivered, events } = await queue({ maxAttempts: 3 });
    await q.enqueue(msg("x", 1));
    for (let i = 1; i <= 3; i++) {
      await until(() => delivered.length === i);
      q.settle(delivered[i - 1].ticket, { kind: "retry", reason: "http-500", status: 500, message: "HTTP 500" });
    }
    await until(() => events.dead.length === 1);
    assert.match((await q.deadLetters())[0].error ?? "", /gave up after 3 attempts/);
  });

  it("opens the circuit on a channel failure: one probe at a time, Retry-After honoured, no attempts used up", async () => {
    const { q, delivered, events } = await queue({ concurrency: 4 });
    for (let i = 0; i < 6; i++) await q.enqueue(msg(`k${i}`, i));
    await until(() => delivered.length === 4);
    q.settle(delivered[0].ticket, { kind: "retry", reason: "http-429", status: 429, retryAfterMs: 300, message: "HTTP 429" });
    const openedAt = Date.now();
    for (const d of delivered.slice(1, 4)) q.settle(d.ticket, { kind: "retry", reason: "refused", message: "ECONNREFUSED" });
    assert.equal(events.opened, 1);
    await until(() => delivered.length === 5, 3000, "a probe");
    assert.ok(delivered[4].at - openedAt >= 290, `probe waited for Retry-After (${delivered[4].at - openedAt} ms)`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(delivered.length, 5, "only one probe");
    assert.equal(delivered[4].ticket.attempt, 1, "channel failures do not use up attempts");
    q.settle(delivered[4].ticket, OK);
    assert.equal(events.closed, 1);
    // The other five (the four that failed and the one never tried) go out again.
    const settled = new Set<number>([0, 1, 2, 3, 4]);
    await until(
      () => {
        delivered.forEach((d, i) => {
          if (!settled.has(i)) {
            settled.add(i);
            q.settle(d.ticket, OK);
          }
        });
        return q.stats().sent === 6;
      },
      3000,
      "all sent",
    );
    assert.equal(delivered.length, 10);
  });

  it("pauses on 401, alerts once, probes, and resumes when the probe passes", async () => {
    const { q, delivered, events } = await queue({ concurrency: 2 });
    for (let i = 0; i < 3; i++) await q.enqueue(msg(`k${i}`, i));
    await until(() => delivered.length === 2);
    q.settle(delivered[0].ticket, { kind: "auth", reason: "http-401", status: 401 });
    q.settle(delivered[1].ticket, { kind: "auth", reason: "http-401", status: 401 });
    assert.equal(events.paused, 1);
    await until(() => delivered.length === 3);
    q.settle(delivered[2].ticket, { kind: "auth", reason: "http-401", status: 401 });
    await until(() => delivered.length === 4);
    assert.equal(events.paused, 1, "one alert");
    q.settle(delivered[3].ticket, OK);
    assert.equal(events.resumed, 1);
    await until(() => delivered.length === 6);
  });

  it("survives a restart: what was not settled is delivered again, nothing settled is", async () => {
    const a = await queue();
    for (let i = 0; i < 5; i++) await a.q.enqueue(msg(`k${i}`, i));
    await until(() => a.delivered.length === 4);
    a.q.settle(a.delivered[0].ticket, OK);
    a.q.settle(a.delivered[1].ticket, OK);
    await a.q.stop();
    const b = await queue();
    await until(() => b.delivered.length === 3);
    assert.deepEqual(b.delivered.map((d) => d.body.topic).sort(), ["k2", "k3", "k4"]);
    assert.equal(b.q.stats().queued, 3);
  });

  it("tells channel failures from record failures", () => {
    assert.equal(isChannelFailure({ kind: "retry", reason: "refused" }), true);
    assert.equal(isChannelFailure({ kind: "retry", reason: "http-503", status: 503 }), true);
    assert.equal(isChannelFailure({ kind: "retry", reason: "http-500", status: 500 }), false);
    assert.equal(isChannelFailure({ kind: "retry", reason: "missing-reference", status: 400 }), false);
    assert.equal(isChannelFailure({ kind: "permanent", reason: "http-503", status: 503 }), false);
  });
});
