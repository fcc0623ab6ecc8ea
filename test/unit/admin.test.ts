/**
 * The admin API's queries and handlers (lib/admin/) against a real, encrypted SQLite store with a few
 * thousand rows: paging walks every matching item once and in order, filters are exact, clinical
 * content is shown only when the switch is on (and then decrypted), and retry/discard never touch a
 * queued or retrying item.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AdminApi } from "../../lib/admin/api";
import { listAudit } from "../../lib/admin/audit-query";
import { channelsOf } from "../../lib/admin/channels";
import { itemDetail } from "../../lib/admin/detail";
import { feedRetryId, listItems, parseItemId, type AdminItem, type ItemFilter } from "../../lib/admin/items";
import { AdminRegistry, type AdminChannel, type AdminStore } from "../../lib/admin/registry";
import { generateKey, parseKey } from "../../lib/store/cipher";
import { discardDeadLetters } from "../../lib/store/dead-letters";
import { SyncStore } from "../../lib/store/store";
import type { SqliteDb } from "../../lib/store/sqlite";
import { FEED, QUEUE, recordOf, seed, sourceOf, stateOf } from "../helpers/admin-seed";

const N = { deadLetters: 3000, queueItems: 2000, feedRetries: 300, conflicts: 40, audit: 5000 };

/** Every item of a filter, page by page. */
async function walk(db: SqliteDb, f: ItemFilter, limit: number): Promise<{ items: AdminItem[]; pages: number }> {
  const items: AdminItem[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await listItems(db, { ...f, limit, cursor });
    pages++;
    assert.ok(page.items.length <= limit);
    items.push(...page.items);
    if (!page.next) break;
    assert.equal(page.next, page.items[page.items.length - 1].id);
    cursor = page.next;
  }
  return { items, pages };
}

const rowOf = (id: string) => Number(id.split("-")[1]);

function fakeChannel(store: SyncStore, id: string, kind: "feed" | "queue", calls: string[]): AdminChannel {
  return {
    id,
    kind,
    name: id,
    storeId: "store1",
    stats: () => ({
      received: 20,
      ready: 3,
      inFlight: 2,
      settling: 0,
      waiting: 4,
      ok: 10,
      filtered: 1,
      held: 0,
      dead: 0,
      delivered: 15,
      gate: "paused",
      gateWhy: "HTTP 401",
      queued: 9,
      retrying: 4,
      lag: { entries: 7, oldest: new Date(Date.now() - 60_000).toISOString() },
    }),
    retryDead: (which) => {
      calls.push(`retry ${id} ${JSON.stringify(which)}`);
      return Promise.resolve(which === "all" ? 0 : which.length);
    },
    discardDead: (which) => {
      calls.push(`discard ${id} ${JSON.stringify(which)}`);
      return discardDeadLetters(store.db, id, which);
    },
  };
}

describe("admin API queries on a real store (lib/admin)", function () {
  this.timeout(60_000);
  let dir: string;
  let store: SyncStore;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "admin-"));
    store = await SyncStore.open(path.join(dir, "s.db"), { encryption: { mode: "on", key: parseKey(generateKey()), older: [] } });
    await seed(store, N);
  });

  after(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const deadIds = () => Array.from({ length: N.deadLetters }, (_, i) => i).filter((i) => stateOf(i) === "dead");

  it("pages through every dead letter once, newest first, whatever the page size", async () => {
    const expected = deadIds().map((i) => `dl-${i + 1}`);
    for (const limit of [1000, 137]) {
      const { items, pages } = await walk(store.db, { status: "dead" }, limit);
      assert.equal(items.length, expected.length);
      assert.equal(pages, Math.ceil(expected.length / limit));
      assert.deepEqual(new Set(items.map((x) => x.id)), new Set(expected));
      const rows = items.map((x) => rowOf(x.id));
      assert.deepEqual(
        rows,
        [...rows].sort((a, b) => b - a),
        "newest first",
      );
      assert.ok(items.every((x) => x.status === "dead" && x.channel === sourceOf(rowOf(x.id) - 1)));
    }
  });

  it("default and largest page sizes", async () => {
    assert.equal((await listItems(store.db, { status: "dead" })).items.length, 100);
    assert.equal((await listItems(store.db, { status: "dead", limit: 5000 })).items.length, 1000);
    assert.equal((await listItems(store.db, { status: "dead", limit: 0 })).items.length, 1);
  });

  it("queued, retrying and held are what the store says they are", async () => {
    const queued = (await walk(store.db, { status: "queued" }, 500)).items;
    const retrying = (await walk(store.db, { status: "retrying" }, 500)).items;
    const held = (await walk(store.db, { status: "held" }, 7)).items;
    assert.equal(queued.length, Math.floor((N.queueItems * 2) / 3));
    assert.ok(queued.every((x) => x.id.startsWith("q-") && x.attempts === 0));
    const qRetrying = retrying.filter((x) => x.id.startsWith("q-"));
    const fRetrying = retrying.filter((x) => x.id.startsWith("fr-"));
    assert.equal(qRetrying.length, Math.ceil(N.queueItems / 3));
    assert.equal(fRetrying.length, N.feedRetries, "feed retries page through the cursor too");
    assert.ok(qRetrying.every((x) => x.attempts === 2 && x.nextAttempt && x.error === "HTTP 503"));
    assert.equal(new Set(retrying.map((x) => x.id)).size, retrying.length);
    assert.equal(held.length, N.conflicts - N.conflicts / 4);
    // No status: every kind, each once.
    const all = (await walk(store.db, {}, 999)).items;
    assert.equal(all.length, deadIds().length + N.queueItems + N.feedRetries + held.length);
    assert.equal(new Set(all.map((x) => x.id)).size, all.length);
  });

  it("filters by channel and by record (a key or a bare uuid)", async () => {
    const feedDead = (await walk(store.db, { status: "dead", channel: FEED }, 1000)).items;
    assert.equal(feedDead.length, deadIds().filter((i) => sourceOf(i) === FEED).length);
    const key = recordOf(42);
    const byKey = (await walk(store.db, { record: key }, 1000)).items;
    const byUuid = (await walk(store.db, { record: key.split("/")[1] }, 1000)).items;
    assert.deepEqual(byUuid, byKey);
    const expectedDead = deadIds().filter((i) => recordOf(i) === key).length;
    const expectedQueue = Array.from({ length: N.queueItems }, (_, i) => i).filter((i) => recordOf(i + 7) === key).length;
    assert.ok(expectedDead > 0 && expectedQueue > 0);
    assert.equal(byKey.filter((x) => x.status === "dead").length, expectedDead);
    assert.equal(byKey.filter((x) => x.kind === "queue" && x.status !== "dead").length, expectedQueue);
    assert.ok(byKey.every((x) => x.record === key));
    assert.deepEqual((await listItems(store.db, { record: "Patient/nobody" })).items, []);
  });

  it("ids are opaque and parse back; a bad cursor is refused", async () => {
    const id = feedRetryId("node/1", "tag:x:y");
    assert.deepEqual(parseItemId(id), { kind: "fr", consumer: "node/1", entryId: "tag:x:y" });
    assert.deepEqual(parseItemId("dl-42"), { kind: "dl", row: 42 });
    for (const bad of ["42", "dl-", "q-x", "fr-!!", "zz-1", "dl-1 OR 1=1"]) assert.equal(parseItemId(bad), undefined, bad);
    await assert.rejects(listItems(store.db, { cursor: "nope" }), RangeError);
    await assert.rejects(listItems(store.db, { status: "dead", cursor: "q-5" }), RangeError);
  });

  it("clinical content only with the switch on, decrypted, and encrypted on disk", async () => {
    const raw = await store.db.get<{ entry: string }>("SELECT entry FROM dead_letters WHERE id = 1");
    assert.match(raw!.entry, /^enc1:/);
    const hidden = await itemDetail(store.db, "dl-1", false);
    assert.deepEqual(hidden!.content, { hidden: true });
    assert.doesNotMatch(JSON.stringify(hidden), /Family0|refused 0/);
    const shown = (await itemDetail(store.db, "dl-1", true))!.content as { message: unknown; operationOutcome: unknown };
    assert.match(JSON.stringify(shown.message), /Family0/);
    assert.match(JSON.stringify(shown.operationOutcome), /refused 0/);
    assert.match(JSON.stringify((await itemDetail(store.db, "q-1", true))!.content), /Queued0/);
    assert.match(JSON.stringify((await itemDetail(store.db, "c-1", true))!.content), /ParentSide.*ChildSide/);
    assert.deepEqual((await itemDetail(store.db, "c-1", false))!.content, { hidden: true });
    assert.equal(await itemDetail(store.db, "dl-999999", true), undefined);
  });

  it("audit: filters by record, outcome and time; pages by id", async () => {
    const key = recordOf(10);
    const page = await listAudit(store.db, { record: [key], outcome: "permanent", limit: 1000 });
    const expected = Array.from({ length: N.audit }, (_, i) => i).filter((i) => recordOf(i) === key && i % 10 === 0).length;
    assert.ok(expected > 0);
    assert.equal(page.items.length, expected);
    assert.ok(page.items.every((r) => r.record === key && r.outcome === "permanent"));
    assert.ok(!("content" in page.items[0]), "no content in audit pages");
    // The seed spaces rows a second apart ending at its own "now": count back from the newest row (not
    // from this test's clock, which a busy machine moves on while seeding).
    const newest = (await store.db.get<{ at: number }>("SELECT MAX(at) AS at FROM audit"))!.at;
    const recent = await listAudit(store.db, { from: newest - 99_500, limit: 1000 });
    assert.equal(recent.items.length, 100);
    let cursor: number | undefined;
    let seen = 0;
    const ids = new Set<number>();
    for (;;) {
      const p = await listAudit(store.db, { limit: 999, cursor });
      seen += p.items.length;
      for (const r of p.items) ids.add(r.id);
      if (!p.next) break;
      cursor = Number(p.next);
    }
    assert.equal(seen, N.audit);
    assert.equal(ids.size, N.audit);
  });

  describe("handlers (AdminApi) with a registry", () => {
    let reg: AdminRegistry;
    let api: AdminApi;
    let calls: string[];
    let admin: AdminStore;

    beforeEach(() => {
      reg = new AdminRegistry();
      calls = [];
      admin = { id: "store1", name: "s", auditContent: false, current: () => store };
      reg.addStore(admin);
      reg.addChannel(fakeChannel(store, FEED, "feed", calls));
      api = new AdminApi(reg);
    });

    it("channels: one row per running channel with counts, gate and lag; stored dead letters and held conflicts counted", async () => {
      // One held conflict detected through the feed channel; the others by a writer outside any channel.
      const first = (await store.db.get<{ id: number }>("SELECT MIN(id) AS id FROM conflicts WHERE state = 'held'"))!.id;
      await store.db.run("UPDATE conflicts SET detected_by = ? WHERE id = ?", [FEED, first]);
      const r = await api.channels({});
      await store.db.run("UPDATE conflicts SET detected_by = 'push_writer' WHERE id = ?", [first]);
      assert.equal(r.status, 200);
      const rows = r.body.channels as Awaited<ReturnType<typeof channelsOf>>["rows"];
      const feed = rows.find((c) => c.id === FEED)!;
      assert.equal(feed.gate, "paused");
      assert.equal(feed.counts.dead, (await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM dead_letters WHERE state='dead' AND source=?", [FEED]))!.n);
      assert.deepEqual(
        [feed.counts.received, feed.counts.queued, feed.counts.inFlight, feed.counts.retrying, feed.counts.held, feed.lag?.entries],
        [20, 3, 2, 4, 1, 7],
      );
      const held = (await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM conflicts WHERE state = 'held'"))!.n;
      assert.equal((r.body.stores as { held: number }[])[0].held, held, "the store's held conflicts in all");
      assert.ok(feed.lag!.seconds! >= 59);
      const queue = rows.find((c) => c.id === QUEUE)!;
      assert.equal(queue.running, false, "a queue that is not running still shows its stored rows");
      assert.equal(queue.counts.queued, N.queueItems);
    });

    it("discard with an empty filter discards dead letters only: queued and retrying rows are untouched", async () => {
      const qBefore = await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM queue_items");
      const q = await api.act("discard", "q-3", {});
      assert.deepEqual([q.status, q.body.error], [409, "not-dead"]);
      const fr = await api.act("discard", feedRetryId(FEED, "tag:atomfeed.ict4h.org:retry-000001"), {});
      assert.equal(fr.status, 409);
      const dry = await api.actMatching("discard", { channel: QUEUE, dryRun: true });
      const expected = deadIds().filter((i) => sourceOf(i) === QUEUE).length;
      assert.deepEqual([dry.body.matched, dry.body.affected], [expected, 0]);
      // The queue is not running: its dead letters are discarded in the store directly; q- ids in `ids` match nothing.
      const r = await api.actMatching("discard", {
        channel: QUEUE,
        ids: [
          ...deadIds()
            .filter((i) => sourceOf(i) === QUEUE)
            .map((i) => `dl-${i + 1}`),
          "q-1",
          "q-2",
        ],
      });
      assert.deepEqual([r.status, r.body.affected], [200, expected]);
      assert.deepEqual(await store.db.get("SELECT COUNT(*) AS n FROM queue_items"), qBefore);
      assert.equal((await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM dead_letters WHERE state='dead' AND source=?", [QUEUE]))!.n, 0);
      // Retried or requeued rows are not dead letters any more: never discarded.
      assert.equal(
        (await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM dead_letters WHERE state IN ('retried','requeued')"))!.n,
        Array.from({ length: N.deadLetters }, (_, i) => stateOf(i)).filter((s) => s === "retried" || s === "requeued").length,
      );
      // Again: nothing left to discard.
      assert.equal((await api.actMatching("discard", { channel: QUEUE })).body.affected, 0);
    });

    it("retry goes through the running channel; a channel that is not running is said so", async () => {
      const feedDead = deadIds().find((i) => sourceOf(i) === FEED)!;
      const r = await api.act("retry", `dl-${feedDead + 1}`, {});
      assert.deepEqual([r.status, r.body.affected], [200, 1]);
      assert.deepEqual(calls, [`retry ${FEED} [${feedDead + 1}]`]);
      const queueDead = deadIds().find((i) => sourceOf(i) === QUEUE)!;
      await store.db.run("UPDATE dead_letters SET state='dead' WHERE id = ?", [queueDead + 1]);
      const q = await api.act("retry", `dl-${queueDead + 1}`, {});
      assert.deepEqual([q.status, q.body.error], [409, "channel-not-running"]);
      const key = recordOf(feedDead);
      const bulk = await api.actMatching("retry", { record: key });
      const feedForKey = deadIds().filter((i) => sourceOf(i) === FEED && recordOf(i) === key).length;
      assert.equal(bulk.body.affected, feedForKey);
    });

    it("parameters are checked; several stores need `store`; item detail follows the store's switch", async () => {
      assert.equal((await api.items({ status: "bogus" })).status, 400);
      assert.equal((await api.items({ limit: "ten" })).status, 400);
      assert.equal((await api.audit({ from: "yesterday-ish" })).status, 400);
      assert.equal((await api.items({ cursor: "dl-1'--" })).status, 400);
      assert.deepEqual(((await api.item("dl-1", {})).body.item as { content: unknown }).content, { hidden: true });
      admin.auditContent = true;
      assert.match(JSON.stringify((await api.item("dl-1", {})).body.item), /Family0/);
      reg.addStore({ id: "store2", name: "t", auditContent: false, current: () => undefined });
      assert.deepEqual([(await api.items({})).status, (await api.items({})).body.error], [400, "store-required"]);
      assert.equal((await api.items({ store: "store2" })).status, 503);
      assert.equal((await api.items({ store: "store1" })).status, 200);
    });

    it("resolve: only a held conflict, through the writer of the other side", async () => {
      const resolved: string[] = [];
      reg.addWriter({
        id: "push_writer",
        storeId: "store1",
        targetRole: "parent",
        resolve: async (id, use) => {
          resolved.push(`${id}:${use}`);
          await store.db.run("UPDATE conflicts SET state='resolved', resolution=? WHERE id=?", [use, id]);
        },
      });
      assert.deepEqual((await api.resolve("c-1", { use: "parent" })).body.error, "no-writer", "nothing writes to the child");
      assert.equal((await api.resolve("c-1", { use: "sideways" })).status, 400);
      const ok = await api.resolve("c-1", { use: "child" });
      assert.deepEqual([ok.status, ok.body.writtenTo], [200, "parent"]);
      assert.deepEqual(resolved, ["1:child"]);
      assert.deepEqual([(await api.resolve("c-1", { use: "child" })).status, (await api.resolve("c-4", { use: "child" })).body.error], [409, "not-held"]);
      assert.equal((await api.resolve("c-99999", { use: "child" })).status, 404);
      const page = await api.conflicts({ state: "held", limit: "5" });
      assert.equal((page.body.items as unknown[]).length, 5);
      assert.ok(page.body.next);
    });
  });
});
