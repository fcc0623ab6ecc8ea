/** Echo suppression and conflict rules (lib/sync/reconcile.ts) against a real store. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { contentHash, conflicts, decide, deleteNeeded, DELETED, recordIntent, recordSynced, resolveConflict } from "../../lib/sync/reconcile";
import { SyncStore } from "../../lib/store/store";
import type { FhirResource } from "../../lib/fhir/convert";

const patient = (family: string, lastUpdated = "2026-01-01T00:00:00.000+00:00"): FhirResource => ({
  resourceType: "Patient",
  id: "p1",
  meta: { versionId: String(Date.parse(lastUpdated)), lastUpdated },
  name: [{ family, given: ["Ann"] }],
  birthDate: "2000-01-01",
});

describe("reconcile", () => {
  let dir: string;
  let store: SyncStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "reconcile-"));
    store = await SyncStore.open(path.join(dir, "s.db"));
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("hashes content, not how a server dressed it", () => {
    const a = patient("Doe");
    const b = { ...patient("Doe", "2026-05-05T10:00:00.000+02:00"), text: { status: "generated", div: "<div/>" } };
    assert.equal(contentHash(a), contentHash(b), "meta and narrative ignored");
    assert.notEqual(contentHash(a), contentHash(patient("Roe")));
    const t1 = { resourceType: "Encounter", id: "e", period: { start: "2026-01-01T12:00:00.000+05:45" } };
    const t2 = { resourceType: "Encounter", id: "e", period: { start: "2026-01-01T06:15:00.000Z" } };
    assert.equal(contentHash(t1), contentHash(t2), "the same instant in two time zones");
    const o1 = { resourceType: "Observation", id: "o", issued: "2026-01-01T00:00:00Z", valueString: "x" };
    const o2 = { ...o1, issued: "2026-02-02T00:00:00Z" };
    assert.equal(contentHash(o1), contentHash(o2), "issued is each server's own dateCreated");
  });

  const read = (r: FhirResource | undefined) => () => Promise.resolve(r);

  it("without a baseline: reads the target, skips an equal one, writes otherwise; assumeNew skips the read where nothing is pushed", async () => {
    let reads = 0;
    const counting = (r: FhirResource | undefined) => () => {
      reads++;
      return Promise.resolve(r);
    };
    const d1 = await decide({
      store,
      key: "Patient/p1",
      source: patient("Doe"),
      targetRole: "parent",
      policy: "parent-wins",
      readTarget: counting(patient("Doe", "2020-01-01T00:00:00Z")),
    });
    assert.deepEqual([d1.write, !d1.write && d1.reason], [false, "already-equal"]);
    const d2 = await decide({ store, key: "Patient/p1", source: patient("Doe"), targetRole: "parent", policy: "parent-wins", readTarget: counting(undefined) });
    assert.equal(d2.write, true);
    assert.equal(reads, 2);
    // A pull of a CREATED entry: on a store that never pushed, written without a read; on one that
    // pushes (two-way), the target is read, so a record the child pushed itself is not written back.
    const pullOnly = await SyncStore.open(path.join(dir, "pull-only.db"));
    try {
      const created = { key: "Patient/p2", source: patient("Roe"), targetRole: "child" as const, policy: "parent-wins" as const, assumeNew: true };
      const d3 = await decide({ ...created, store: pullOnly, readTarget: counting(patient("Roe")) });
      assert.equal(d3.write, true);
      assert.equal(reads, 2, "no read");
      const d4 = await decide({ ...created, store, readTarget: counting(patient("Roe")) });
      assert.deepEqual([d4.write, !d4.write && d4.reason], [false, "already-equal"]);
      assert.equal(reads, 3);
    } finally {
      await pullOnly.close();
    }
  });

  it("skips what is unchanged since the last sync (the echo) without reading the target", async () => {
    await recordSynced(store, "Patient/p1", contentHash(patient("Doe")), "pull");
    const d = await decide({
      store,
      key: "Patient/p1",
      source: patient("Doe", "2027-01-01T00:00:00Z"),
      targetRole: "parent",
      policy: "parent-wins",
      readTarget: () => Promise.reject(new Error("must not read")),
    });
    assert.deepEqual([d.write, !d.write && d.reason], [false, "unchanged"]);
  });

  it("takes its own write, whose baseline a crash kept from being recorded, for what it is, not for a conflict", async () => {
    const key = "Patient/p1";
    await recordSynced(store, key, contentHash(patient("V1")), "push");
    // v2 goes out over a synchronised record: its intent is recorded first, then the process dies after
    // the target took it, before its baseline was recorded.
    const v2 = await decide({ store, key, source: patient("V2"), targetRole: "parent", policy: "parent-wins", readTarget: read(patient("V1")) });
    assert.deepEqual([v2.write, v2.write && v2.intent], [true, true]);
    await recordIntent(store, key, v2.hash);
    // After the restart the child changed again: the target holds v2, ours.
    const v3 = await decide({ store, key, source: patient("V3"), targetRole: "parent", policy: "parent-wins", readTarget: read(patient("V2")) });
    assert.equal(v3.write, true, "the newer change is written");
    assert.equal(v3.conflictId, undefined);
    assert.deepEqual(await conflicts(store), []);
    // Without the intent the same target is someone else's change: a conflict (the parent would win).
    await recordSynced(store, "Patient/p9", contentHash(patient("V1")), "push");
    const other = await decide({
      store,
      key: "Patient/p9",
      source: patient("V3"),
      targetRole: "parent",
      policy: "parent-wins",
      readTarget: read(patient("V2")),
    });
    assert.deepEqual([other.write, !other.write && other.reason], [false, "conflict-lost"]);
  });

  it("does not echo a delete whose own write is still being recorded: its intent counts", async () => {
    const key = "Encounter/e1";
    await recordSynced(store, key, contentHash(patient("V1")), "pull");
    assert.equal(await deleteNeeded(store, key), true);
    // The child's delete goes out to the parent: intent first, then the write; the parent's feed reports
    // the void before the write's baseline is committed.
    await recordIntent(store, key, DELETED);
    assert.equal(await deleteNeeded(store, key), false, "the pull side does not delete it at the child again");
    await recordSynced(store, key, undefined, "push");
    assert.equal(await deleteNeeded(store, key), false);
  });

  it("keeps a baseline and the intent that follows it when both are stored in one write", async () => {
    const key = "Patient/p1";
    const v1 = contentHash(patient("V1"));
    const v2 = contentHash(patient("V2"));
    // The baseline of v1 is not awaited (as fhir-push stores it) when v2's intent is recorded.
    await Promise.all([recordSynced(store, key, v1, "push"), recordIntent(store, key, v2)]);
    const row = await store.db.get<{ hash: string; pending_hash: string | null }>("SELECT hash, pending_hash FROM record_sync WHERE record_key = ?", [key]);
    assert.deepEqual(row, { hash: v1, pending_hash: v2 });
  });

  it("a target that kept less than it was sent: both versions count as synchronised, one per side", async () => {
    const sent: FhirResource = { ...patient("Doe"), telecom: [{ value: "+1 555" }] };
    const kept = patient("Doe");
    await recordSynced(store, "Patient/p1", contentHash(kept), "pull", kept, contentHash(sent));
    const readTarget = () => Promise.resolve(kept);
    // The parent's copy again (its feed reports it once more): unchanged, not written.
    assert.equal((await decide({ store, key: "Patient/p1", source: sent, targetRole: "child", policy: "parent-wins", readTarget })).write, false);
    // The child's trimmed copy, from its own feed: unchanged too, never pushed back.
    const echo = await decide({ store, key: "Patient/p1", source: kept, targetRole: "parent", policy: "parent-wins", readTarget: () => Promise.resolve(sent) });
    assert.deepEqual([echo.write, !echo.write && echo.reason], [false, "unchanged"]);
    // A real edit at the clinic: written to the parent (whose full copy is as synchronised), no conflict.
    const edited = patient("Roe");
    const push = await decide({
      store,
      key: "Patient/p1",
      source: edited,
      targetRole: "parent",
      policy: "parent-wins",
      readTarget: () => Promise.resolve(sent),
    });
    assert.equal(push.write, true);
    assert.equal(push.conflictId, undefined);
    assert.equal((await conflicts(store)).length, 0);
  });

  it("writes when only the source changed; records a conflict when both did, whatever the policy", async () => {
    await recordSynced(store, "Patient/p1", contentHash(patient("Base")), "pull");
    const onlySource = await decide({
      store,
      key: "Patient/p1",
      source: patient("New"),
      targetRole: "parent",
      policy: "hold",
      readTarget: read(patient("Base")),
    });
    assert.equal(onlySource.write, true);
    assert.equal(onlySource.conflictId, undefined);

    const parentSide = patient("FromParent", "2026-03-01T00:00:00Z");
    const childSide = patient("FromChild", "2026-03-02T00:00:00Z");
    // push (target = parent), parent wins: not written
    const pw = await decide({ store, key: "Patient/p1", source: childSide, targetRole: "parent", policy: "parent-wins", readTarget: read(parentSide) });
    assert.deepEqual([pw.write, !pw.write && pw.reason], [false, "conflict-lost"]);
    // pull (target = child), parent wins: written; same conflict row
    const pw2 = await decide({ store, key: "Patient/p1", source: parentSide, targetRole: "child", policy: "parent-wins", readTarget: read(childSide) });
    assert.equal(pw2.write, true);
    assert.equal(pw2.conflictId, pw.conflictId, "detected once");
    // newest wins: the child changed later
    const nw = await decide({
      store,
      key: "Patient/p1",
      source: childSide,
      targetRole: "parent",
      policy: "newest-wins",
      readTarget: read(patient("Other", "2026-02-01T00:00:00Z")),
    });
    assert.equal(nw.write, true);
    // hold: nothing written, kept with both versions
    const held = await decide({ store, key: "Patient/p1", source: patient("X"), targetRole: "parent", policy: "hold", readTarget: read(patient("Y")) });
    assert.deepEqual([held.write, !held.write && held.reason], [false, "conflict-held"]);
    const rows = await conflicts(store, "held");
    assert.equal(rows.length, 1);
    const chosen = await resolveConflict(store, rows[0].id, "child");
    assert.equal((chosen!.resource.name as { family: string }[])[0].family, "X");
    assert.equal((await conflicts(store, "held")).length, 0);
  });
});
