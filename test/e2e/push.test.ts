/**
 * End to end, push and two-way: Node-RED (a real process, the shipped flows) + simulated parent and
 * child over HTTP on 127.0.0.1. Counts and orders requests at the simulators.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import sqlite3 from "sqlite3";
import { OpenmrsSim, ENTRY_ID_PREFIX } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { conflicts as storedConflicts } from "../../lib/sync/reconcile";
import { converged, env, feedNodes, feedsCaughtUp, inject, shippedFlow, until, useE2E, writesAt, type FlowNode } from "../helpers/e2e";

const PUSH_FLOW = shippedFlow("push-to-parent");
const TWO_WAY = shippedFlow("two-way");

/** Every write at the parent, in arrival order, for each record: the child's entry serials must increase. */
function assertOrderPerRecord(parent: OpenmrsSim, child: OpenmrsSim): number {
  const serial = new Map(child.store.events.map((e) => [ENTRY_ID_PREFIX + e.uuid, e]));
  const lastSeen = new Map<string, number>();
  let checked = 0;
  for (const w of writesAt(parent)) {
    if (!w.entry || w.status >= 300 || w.status === 0) continue;
    const ev = serial.get(w.entry);
    if (!ev) continue;
    const prev = lastSeen.get(ev.object) ?? -1;
    assert.ok(ev.id >= prev, `record ${ev.object}: entry ${ev.id} written after entry ${prev}`);
    lastSeen.set(ev.object, ev.id);
    checked++;
  }
  return checked;
}

/** Nothing duplicated at the parent: one CREATED per record, and no more versions than the child made. */
function assertNoDuplicates(parent: OpenmrsSim, child: OpenmrsSim): void {
  const count = (sim: OpenmrsSim, action?: string) => {
    const m = new Map<string, number>();
    for (const e of sim.store.events) if (!action || e.action === action) m.set(e.object, (m.get(e.object) ?? 0) + 1);
    return m;
  };
  for (const [uuid, n] of count(parent, "CREATED")) assert.equal(n, 1, `record ${uuid} created ${n} times at the parent`);
  const childVersions = count(child);
  for (const [uuid, n] of count(parent))
    assert.ok(n <= (childVersions.get(uuid) ?? 0), `record ${uuid}: ${n} versions at the parent, ${childVersions.get(uuid)} at the child`);
}

describe("push end to end (Node-RED + child sim -> parent sim)", function () {
  this.timeout(600_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-push",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  function startNodeRed(flow: FlowNode[], db: string, poll = "1"): Promise<void> {
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: flow, env: env(parent!, child!, db, poll) });
    return nodeRed.start();
  }

  it("keeps 2,000 records while the parent is down, then delivers each once and in order per record", async () => {
    child = new OpenmrsSim({ name: "child", seed: 51 });
    parent = new OpenmrsSim({ name: "parent", seed: 52 });
    child.generate({ patients: 200, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
    assert.equal(child.store.recordCount(), 2000);
    await child.start();
    const parentUrl = await parent.start();
    const port = Number(new URL(parentUrl).port);
    const db = path.join(dir, "sync.db");
    await startNodeRed(PUSH_FLOW, db);
    await until(() => parent!.store.recordCount() >= 300, 120_000, "the first records at the parent");
    // Pull the cable; clinicians keep working.
    await parent.stop();
    child.mutate(60);
    await new Promise((r) => setTimeout(r, 6000));
    assert.ok(nodeRed!.running, "Node-RED is alive");
    const store = await SyncStore.open(db);
    const queued = (await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM queue_items"))?.n ?? 0;
    await store.close();
    assert.ok(queued > 0, "the queue holds the backlog");
    const holding = (nodeRed!.log.match(/Target unreachable/g) ?? []).length;
    assert.ok(holding >= 1 && holding <= 2, `said so ${holding} time(s)`);
    await parent.start(port);
    await converged(child, parent, 240_000);
    assertNoDuplicates(parent, child);
    assert.ok(assertOrderPerRecord(parent, child) >= 2000);
  });

  it("loses and duplicates nothing across ten kill -9 at random points of a push", async () => {
    child = new OpenmrsSim({ name: "child", seed: 61 });
    parent = new OpenmrsSim({ name: "parent", seed: 62 });
    child.generate({ patients: 60, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 3 });
    await child.start();
    await parent.start();
    const db = path.join(dir, "sync.db");
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: PUSH_FLOW, env: env(parent, child, db) });
    parent.faults.slowMs = 3;
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 10; i++) {
      await nodeRed.start();
      await new Promise((r) => setTimeout(r, 300 + random() * 1500));
      await nodeRed.kill9();
      child.mutate(5);
    }
    assert.equal(nodeRed.exits, 10);
    parent.faults.slowMs = 0;
    await nodeRed.start();
    await converged(child, parent, 180_000);
    assertNoDuplicates(parent, child);
    assertOrderPerRecord(parent, child);
  });

  it("two-way over 500 records: nothing the child pulled from the parent is written back to it", async () => {
    parent = new OpenmrsSim({ name: "parent", seed: 71 });
    child = new OpenmrsSim({ name: "child", seed: 72 });
    parent.generate({ patients: 50, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
    assert.equal(parent.store.recordCount(), 500);
    await parent.start();
    await child.start();
    const db = path.join(dir, "sync.db");
    const startedAt = Date.now();
    await startNodeRed(TWO_WAY, db);
    await converged(parent, child, 180_000);
    // The child's own feed now reports all 500 records: wait until the push side has read them all.
    await until(() => feedsCaughtUp(db, child!, feedNodes(TWO_WAY, "omrs_child")), 120_000, "the push feeds to catch up");
    assert.ok(child.requests.filter((r) => r.kind === "fhir-get" && r.uuid).length >= 500, "the push side looked at every record");
    assert.deepEqual(
      writesAt(parent, startedAt).map((r) => `${r.method} ${r.path}`),
      [],
      "zero writes back to the parent",
    );
  });

  describe("conflicts: a patient changed on both sides since the last sync", () => {
    async function setUp(policy: string) {
      parent = new OpenmrsSim({ name: "parent", seed: 81 });
      child = new OpenmrsSim({ name: "child", seed: 82 });
      parent.generate({ patients: 3, visitsPerPatient: 0 });
      await parent.start();
      await child.start();
      const db = path.join(dir, "sync.db");
      const flow = TWO_WAY.map((n) => (n.type === "fhir-push" ? { ...n, conflict: policy } : n));
      flow.push({
        id: "resolve",
        type: "inject",
        z: "tab_two_way",
        name: "resolve",
        props: [{ p: "topic", vt: "str" }, { p: "payload" }],
        topic: "resolve-conflict",
        payload: "{}",
        payloadType: "json",
        repeat: "",
        crontab: "",
        once: false,
        onceDelay: 0.1,
        x: 100,
        y: 900,
        wires: [["pull_push", "push_push"]],
      });
      await startNodeRed(flow, db, "3600");
      const pullFeeds = feedNodes(TWO_WAY, "omrs_parent");
      const pushFeeds = feedNodes(TWO_WAY, "omrs_child");
      const syncOnce = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, pullFeeds), 60_000, "pull caught up");
        await inject(nodeRed!, "push_now");
        await until(() => feedsCaughtUp(db, child!, pushFeeds), 60_000, "push caught up");
        await new Promise((r) => setTimeout(r, 300));
      };
      await syncOnce();
      assert.deepEqual(parent.diff(child), []);
      const uuid = Object.keys(parent.snapshot().patients)[0];
      const rename = (sim: OpenmrsSim, family: string) => {
        const p = sim.store.patients.get(uuid)!;
        sim.store.updatePatient(uuid, { names: p.names.map((n) => ({ ...n, familyName: family })) });
      };
      rename(parent, "ParentSide");
      await new Promise((r) => setTimeout(r, 20));
      rename(child, "ChildSide");
      await syncOnce();
      const family = (sim: OpenmrsSim) =>
        Object.values(sim.snapshot().patients[uuid].names)
          .map((n) => n.family)
          .join();
      const store = await SyncStore.open(db);
      // Both versions are encrypted at rest: read through the store (the key file beside it).
      const conflicts = await storedConflicts(store);
      await store.close();
      assert.equal(conflicts.length, 1, "detected once");
      assert.match(conflicts[0].parent_version, /ParentSide/);
      assert.match(conflicts[0].child_version, /ChildSide/);
      return { uuid, family, conflict: conflicts[0], db, syncOnce };
    }

    it("parent wins", async () => {
      const { family, conflict } = await setUp("parent-wins");
      assert.equal(family(parent!), "ParentSide");
      assert.equal(family(child!), "ParentSide");
      assert.deepEqual([conflict.state, conflict.resolution], ["resolved", "parent"]);
    });

    it("newest wins (the child's change came last)", async () => {
      const { family, conflict } = await setUp("newest-wins");
      assert.equal(family(parent!), "ChildSide");
      assert.equal(family(child!), "ChildSide");
      assert.deepEqual([conflict.state, conflict.resolution], ["resolved", "child"]);
    });

    it("hold for an admin: nothing overwritten until resolved, then the chosen version everywhere", async () => {
      const { family, conflict, db } = await setUp("hold");
      assert.equal(family(parent!), "ParentSide");
      assert.equal(family(child!), "ChildSide");
      assert.equal(conflict.state, "held");
      const storeId = "sync_store";
      await inject(nodeRed!, "resolve", [
        { p: "topic", v: "resolve-conflict", vt: "str" },
        { p: "payload", v: JSON.stringify({ store: storeId, id: conflict.id, use: "child" }), vt: "json" },
      ]);
      await until(() => family(parent!) === "ChildSide", 10_000, "the chosen version at the parent");
      assert.equal(family(child!), "ChildSide");
      const store = await SyncStore.open(db);
      const row = await store.db.get<{ state: string; resolution: string }>("SELECT state, resolution FROM conflicts WHERE id = ?", [conflict.id]);
      await store.close();
      assert.deepEqual(row, { state: "resolved", resolution: "child" });
    });

    it("hold, resolved through the admin API: listed as held, then the kept version written to the other side", async () => {
      const { family, conflict } = await setUp("hold");
      const api = (route: string, init?: RequestInit) =>
        fetch(`${nodeRed!.url}/openmrs-sync/${route}`, init).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }));
      const held = await api("items?status=held");
      assert.deepEqual(
        (held.json.items as { id: string; status: string }[]).map((i) => [i.id, i.status]),
        [[`c-${conflict.id}`, "held"]],
      );
      const post = (use: string) =>
        api(`conflicts/${conflict.id}/resolve`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ use }) });
      const r = await post("parent");
      assert.deepEqual([r.status, r.json.writtenTo], [200, "child"]);
      await until(() => family(child!) === "ParentSide", 10_000, "the kept version at the child");
      assert.equal(family(parent!), "ParentSide");
      assert.equal((await post("child")).status, 409, "resolved once");
      const listed = await api("conflicts?state=resolved");
      assert.equal((listed.json.items as { resolution: string }[])[0].resolution, "parent");
    });
  });

  it("outbox: a third-party tool reads and marks done through SQL only", async () => {
    child = new OpenmrsSim({ name: "child", seed: 91 });
    parent = new OpenmrsSim({ name: "parent", seed: 92 });
    child.generate({ patients: 20, visitsPerPatient: 0 });
    await child.start();
    await parent.start();
    const db = path.join(dir, "sync.db");
    await startNodeRed(shippedFlow("outbox"), db);
    const tool = new sqlite3.Database(db);
    const sql = <T>(q: string, p: unknown[] = []) => new Promise<T[]>((res, rej) => tool.all(q, p, (e, rows) => (e ? rej(e) : res(rows as T[]))));
    /** For polling before Node-RED has created the tables. */
    const count = (q: string, p: unknown[] = []) =>
      sql<{ n: number }>(q, p).then(
        (r) => r[0].n,
        () => -1,
      );
    const exec = (q: string, p: unknown[] = []) => new Promise<void>((res, rej) => tool.run(q, p, (e) => (e ? rej(e) : res())));
    try {
      await exec("PRAGMA busy_timeout = 5000");
      await until(async () => (await count("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")) === 20, 60_000, "20 pending rows");
      // A record changed twice while pending stays one row with the newest version.
      const uuid = Object.keys(child.snapshot().patients)[0];
      for (const family of ["Once", "Twice"]) {
        const p = child.store.patients.get(uuid)!;
        child.store.updatePatient(uuid, { names: p.names.map((n) => ({ ...n, familyName: family })) });
      }
      await until(
        async () =>
          (await sql<{ payload: string }>("SELECT payload FROM outbox WHERE record_key = ?", [`Patient/${uuid}`]))[0]?.payload.includes("Twice") ?? false,
        30_000,
        "the newest version",
      );
      assert.equal((await sql<{ n: number }>("SELECT COUNT(*) AS n FROM outbox"))[0].n, 20);
      // The tool's loop, as docs/outbox.md has it.
      await exec("BEGIN IMMEDIATE");
      await exec(
        "UPDATE outbox SET state = 'taken', taken_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id IN (SELECT id FROM outbox WHERE outbox = 'outbox' AND state = 'pending' ORDER BY id LIMIT 100)",
      );
      const taken = await sql<{ id: number; record_key: string; action: string; payload: string }>(
        "SELECT id, record_key, action, payload FROM outbox WHERE outbox = 'outbox' AND state = 'taken' ORDER BY id",
      );
      await exec("COMMIT");
      assert.equal(taken.length, 20);
      for (const row of taken) {
        const resource = JSON.parse(row.payload) as { resourceType: string; id: string };
        assert.equal(`${resource.resourceType}/${resource.id}`, row.record_key);
        assert.equal(row.action, "upsert");
        await exec("UPDATE outbox SET state = 'done', done_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?", [row.id]);
      }
      assert.equal((await sql<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE state = 'done'"))[0].n, 20);
      // A change after the tool took the row is a new row.
      const p = child.store.patients.get(uuid)!;
      child.store.updatePatient(uuid, { names: p.names.map((n) => ({ ...n, familyName: "Thrice" })) });
      await until(async () => (await sql<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'"))[0].n === 1, 30_000, "a new pending row");
      assert.equal(writesAt(parent).length, 0, "the outbox sends nothing");
    } finally {
      await new Promise((r) => tool.close(r));
    }
  });
});
