/**
 * The store under faults, on real SQLite files: a write that throws, a commit refused because another
 * connection holds the lock (SQLITE_BUSY), a statement that cannot be prepared, a full database
 * (SQLITE_FULL through max_page_count). The rule under test: nothing of a failed batch is stored, the
 * in-memory state does not run ahead of it, and work resumes by itself when the fault clears.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sqlite3 from "sqlite3";
import { SyncStore } from "../../lib/store/store";
import { SqliteDb, StoreError } from "../../lib/store/sqlite";
import { FeedConsumer } from "../../lib/feed/consumer";
import type { FeedEntry } from "../../lib/atom/entry";
import type { Ticket } from "../../lib/engine/ticket";
import type { GateState } from "../../lib/engine/gate";
import { parseFeedPage } from "../../lib/atom/parse";
import { recordSynced } from "../../lib/sync/reconcile";
import { feedPage, makeEvent } from "../helpers/feed-pages";

const BASE = "http://parent.test/openmrs";

function other(file: string): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(db)));
  });
}
function exec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("store faults", function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  let store: SyncStore;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "faults-"));
    file = path.join(dir, "s.db");
    store = await SyncStore.open(file, { busyTimeoutMs: 200 });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const count = async (table: string) => (await store.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n;

  it("undoes a write that throws halfway, alone: the rest of its batch commits", async () => {
    const results = await Promise.allSettled([
      store.db.write((tx) => tx.run("INSERT INTO store_meta VALUES ('a', '1')")),
      store.db.write(async (tx) => {
        await tx.run("INSERT INTO store_meta VALUES ('b', '1')");
        throw new Error("halfway");
      }),
      store.db.write((tx) => tx.run("INSERT INTO store_meta VALUES ('c', '1')")),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    const keys = (await store.db.all<{ key: string }>("SELECT key FROM store_meta WHERE key IN ('a','b','c') ORDER BY key")).map((r) => r.key);
    assert.deepEqual(keys, ["a", "c"], "b is not half-written");
  });

  it("fails every write of a batch another process keeps from committing (SQLITE_BUSY), then works again", async () => {
    const holder = await other(file);
    await exec(holder, "BEGIN IMMEDIATE; INSERT INTO store_meta VALUES ('holder', '1');");
    const results = await Promise.allSettled([
      store.db.run("INSERT INTO store_meta VALUES ('x', '1')"),
      store.db.run("INSERT INTO store_meta VALUES ('y', '1')"),
    ]);
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.ok(r.reason instanceof StoreError);
      assert.equal(r.reason.code, "SQLITE_BUSY");
    }
    await exec(holder, "ROLLBACK");
    await new Promise<void>((r) => holder.close(() => r()));
    await store.db.run("INSERT INTO store_meta VALUES ('x', '1')");
    assert.equal((await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM store_meta WHERE key IN ('x','y')"))!.n, 1);
  });

  it("rejects an operation whose statement cannot be prepared, alone, and prepares it again once it can", async () => {
    const db = store.db;
    await db.run("INSERT INTO store_meta VALUES ('k', 'v')");
    const tool = await other(file);
    await exec(tool, "ALTER TABLE store_meta RENAME TO store_meta_away");
    await assert.rejects(db.get("SELECT value FROM store_meta WHERE key = 'k'"), /no such table: store_meta/);
    await assert.rejects(db.get("SELECT value FROM store_meta WHERE key = 'k'"), /no such table/, "again, not a crash or a hang");
    assert.equal(((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM audit"))?.n ?? -1) >= 0, true, "the store still answers");
    await exec(tool, "ALTER TABLE store_meta_away RENAME TO store_meta");
    await new Promise<void>((r) => tool.close(() => r()));
    assert.deepEqual(await db.get("SELECT value FROM store_meta WHERE key = 'k'"), { value: "v" });
  });

  it("takes baselines again after a failed batch (no promise kept rejected)", async () => {
    const holder = await other(file);
    await exec(holder, "BEGIN IMMEDIATE");
    await assert.rejects(recordSynced(store, "Patient/a", "h1", "pull"), /SQLITE_BUSY/);
    await exec(holder, "ROLLBACK");
    await new Promise<void>((r) => holder.close(() => r()));
    await recordSynced(store, "Patient/a", "h2", "pull");
    assert.deepEqual(await store.db.get("SELECT hash FROM record_sync WHERE record_key = 'Patient/a'"), { hash: "h2" });
  });

  it("on a full store: no dead letter lost, no entry skipped, resumes by itself when there is room again", async () => {
    const events = Array.from({ length: 3 }, () => makeEvent("patient"));
    const emitted: { entry: FeedEntry; ticket: Ticket }[] = [];
    const gates: GateState[] = [];
    const c = new FeedConsumer({
      id: "f",
      feedUri: `${BASE}/ws/atomfeed/patient/recent`,
      store,
      storeId: "s",
      authProbeMs: 50,
      backoff: { baseMs: 50, capMs: 200, jitter: 0 },
      fetchPage: (url) => Promise.resolve(parseFeedPage(feedPage(BASE, "patient", events, 1, 5, url), url)),
      events: { emit: (entry, ticket) => emitted.push({ entry, ticket }), gateChanged: (s) => gates.push(s) },
    });
    try {
      // A big OperationOutcome needs new pages; the store may not grow.
      const oo = { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "invalid", diagnostics: "x".repeat(200_000) }] };
      // The target refuses entry 0 for good and takes the others.
      const answer = (e: { entry: FeedEntry; ticket: Ticket }) =>
        c.settle(
          e.ticket,
          e.entry.id === events[0].id
            ? { kind: "permanent", reason: "http-422", status: 422, message: "HTTP 422", operationOutcome: oo }
            : { kind: "ok", reason: "ok" },
        );
      const pages = (await store.db.get<{ page_count: number }>("PRAGMA page_count"))!.page_count;
      await store.db.exec(`PRAGMA max_page_count = ${pages}`);
      await c.poll();
      assert.equal(emitted.length, 3);
      emitted.splice(0).forEach(answer);
      await c.flushed();
      assert.deepEqual(gates, ["store-fault"], "said once");
      assert.equal(await count("dead_letters"), 0);
      assert.equal(await store.getMarker("f"), undefined, "the marker did not move");
      assert.equal(c.stats().dead, 0);
      // While full: one probe at a time, not a storm.
      let probes = 0;
      const probing = Date.now();
      while (Date.now() - probing < 400) {
        probes += emitted.length;
        emitted.splice(0).forEach(answer);
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(probes >= 1 && probes <= 4, `${probes} deliveries in 400 ms while the store was full`);
      assert.equal(await count("dead_letters"), 0);
      // Room again: everything goes through, once.
      await store.db.exec("PRAGMA max_page_count = 1073741823");
      await until(async () => {
        emitted.splice(0).forEach(answer);
        await c.flushed();
        return (await store.getMarker("f"))?.entryId === events[2].id;
      }, "the marker past all three");
      assert.equal(await count("dead_letters"), 1, "the dead letter is there, once");
      assert.equal(gates[gates.length - 1], "open");
    } finally {
      await c.stop();
    }
  });

  it("refuses a second owner of a store file with a clear error", async () => {
    const first = await SyncStore.open(path.join(dir, "owned.db"), { exclusive: true });
    try {
      await assert.rejects(SyncStore.open(path.join(dir, "owned.db"), { exclusive: true }), (err: Error) => {
        assert.match(err.message, new RegExp(`in use by process ${process.pid} on ${os.hostname()}`));
        return true;
      });
      const reader = await SyncStore.open(path.join(dir, "owned.db"));
      await reader.close();
    } finally {
      await first.close();
    }
    const again = await SyncStore.open(path.join(dir, "owned.db"), { exclusive: true });
    await again.close();
  });

  it("says what is wrong with a file that is not a store", async () => {
    const bad = path.join(dir, "corrupt.db");
    fs.writeFileSync(bad, Buffer.alloc(8192, 0x41));
    await assert.rejects(SqliteDb.open(bad), /store .*corrupt\.db: SQLITE_NOTADB: file is not a database/);
  });
});
