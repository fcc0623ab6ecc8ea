/**
 * Clinical content at rest (lib/store/cipher.ts, encryption.ts, key-source.ts) and retention
 * (lib/store/retention.ts), on real SQLite files: what is on disk, round trips through the queue and
 * the dead letter, wrong keys, migration of a plain store, rotation, and pruning that spares what is
 * pending.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DurableQueue } from "../../lib/queue/durable-queue";
import type { Ticket } from "../../lib/engine/ticket";
import type { Outcome } from "../../lib/outcome";
import { SyncStore, type EncryptionOptions } from "../../lib/store/store";
import { generateKey, keyId, parseKey, StoreCipher } from "../../lib/store/cipher";
import { keyFilePath, resolveKeys } from "../../lib/store/key-source";
import { prune } from "../../lib/store/retention";
import { conflicts, decide } from "../../lib/sync/reconcile";
import type { FhirResource } from "../../lib/fhir/convert";

const NAME = "Wanjiku Nyokabi";
const BIRTH = "1961-03-17";
const K1 = parseKey(generateKey());
const K2 = parseKey(generateKey());
const on = (key: Buffer, older: Buffer[] = []): EncryptionOptions => ({ mode: "on", key, older });
const OFF: EncryptionOptions = { mode: "off" };

function patient(i: number, family = NAME): FhirResource {
  return { resourceType: "Patient", id: `p-${i}`, name: [{ family, given: [`Given${i}`] }], birthDate: BIRTH };
}

const PERMANENT: Outcome = {
  kind: "permanent",
  reason: "http-422",
  status: 422,
  message: "HTTP 422",
  operationOutcome: { resourceType: "OperationOutcome", issue: [{ severity: "error", diagnostics: `Patient ${NAME} born ${BIRTH} is a duplicate` }] },
};

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every byte of the store on disk (the file, and the WAL when there is one). */
function rawBytes(file: string): Buffer {
  return Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
}

describe("store: clinical content encrypted at rest", function () {
  this.timeout(20_000);
  let dir: string;
  let file: string;
  const open: SyncStore[] = [];
  const queues: DurableQueue[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "store-crypto-"));
    file = path.join(dir, "s.db");
  });
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.stop();
    for (const s of open.splice(0)) await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function openStore(encryption?: EncryptionOptions, more: Partial<Parameters<typeof SyncStore.open>[1]> = {}): Promise<SyncStore> {
    const s = await SyncStore.open(file, { encryption, ...more });
    open.push(s);
    return s;
  }

  async function close(s: SyncStore): Promise<void> {
    open.splice(open.indexOf(s), 1);
    await s.close();
  }

  function queueOn(store: SyncStore, settle?: (t: Ticket) => Outcome, id = "q") {
    const delivered: { body: Record<string, unknown>; ticket: Ticket }[] = [];
    const q: DurableQueue = new DurableQueue({
      id,
      store,
      storeId: "s",
      auditContent: true,
      events: {
        deliver: (body, ticket) => {
          delivered.push({ body, ticket });
          if (settle) setImmediate(() => q.settle(ticket, settle(ticket)));
        },
      },
    });
    queues.push(q);
    return { q, delivered };
  }

  /** A queue item, a dead letter (with an OperationOutcome quoting the patient), an audit row with content, a held conflict. */
  async function fill(store: SyncStore): Promise<void> {
    const { q, delivered } = queueOn(store, (t) => (t.entry === "1" ? PERMANENT : { kind: "ok", reason: "ok" }));
    await q.enqueue({ key: "Patient/p-1", body: { topic: "Patient/p-1", payload: patient(1) } });
    await q.start();
    await until(() => q.stats().dead === 1, "the dead letter");
    await q.stop();
    queues.splice(queues.indexOf(q), 1);
    assert.equal(delivered.length, 1);
    // Waiting in custody (not started: stays queued).
    await queueOn(store).q.enqueue({ key: "Patient/p-2", body: { topic: "Patient/p-2", payload: patient(2) } });
    const d = await decide({
      store,
      key: "Patient/p-3",
      source: patient(3),
      targetRole: "parent",
      policy: "hold",
      readTarget: () => Promise.resolve(patient(3, `${NAME} Kamau`)),
    });
    assert.equal(d.write, true, "first sync: no baseline, written");
    await store.db.run("INSERT INTO record_sync (record_key, hash, direction, synced_at) VALUES ('Patient/p-3', 'old', 'push', 0)");
    const held = await decide({
      store,
      key: "Patient/p-3",
      source: patient(3),
      targetRole: "parent",
      policy: "hold",
      readTarget: () => Promise.resolve(patient(3, `${NAME} Kamau`)),
    });
    assert.equal(held.write === false && held.reason, "conflict-held");
  }

  it("keeps no clinical text in the file: queue, dead letter, OperationOutcome, audit content, conflict versions", async () => {
    const store = await openStore(on(K1));
    await fill(store);
    const raw = await store.db.all<Record<string, string | null>>(
      "SELECT (SELECT message FROM queue_items) AS m, (SELECT entry FROM dead_letters) AS e, (SELECT operation_outcome FROM dead_letters) AS o, " +
        "(SELECT parent_version FROM conflicts) AS p, (SELECT child_version FROM conflicts) AS c, (SELECT content FROM audit WHERE content IS NOT NULL LIMIT 1) AS a",
    );
    for (const [col, v] of Object.entries(raw[0])) assert.match(v ?? "", new RegExp(`^enc1:${keyId(K1)}:`), `${col} is encrypted`);
    await close(store);
    const bytes = rawBytes(file);
    assert.ok(bytes.length > 10_000, "the file is there");
    for (const needle of [NAME, "Wanjiku", BIRTH, "Given1", "Given2"]) assert.equal(bytes.indexOf(needle), -1, `${needle} is not in the file`);
  });

  it("round trip: the queue delivers the message as it was given, and the dead letter reads back and is retried", async () => {
    const store = await openStore(on(K1));
    await fill(store);
    const [dead] = await store.deadLetters();
    assert.deepEqual(JSON.parse(dead.entry!), { topic: "Patient/p-1", payload: patient(1) });
    assert.match(dead.operation_outcome!, new RegExp(NAME));
    const audit = (await store.audit()).find((a) => a.content);
    assert.deepEqual(JSON.parse(audit!.content as string), patient(1));
    const [conflict] = await conflicts(store, "held");
    assert.equal((JSON.parse(conflict.parent_version) as { name: { family: string }[] }).name[0].family, `${NAME} Kamau`);
    const { q, delivered } = queueOn(store);
    assert.equal(await q.retryDead("all"), 1);
    await q.start();
    await until(() => delivered.length === 2, "both deliveries");
    const bodies = delivered.map((d) => d.body).sort((a, b) => String(a.topic).localeCompare(String(b.topic)));
    assert.deepEqual(bodies, [
      { topic: "Patient/p-1", payload: patient(1) },
      { topic: "Patient/p-2", payload: patient(2) },
    ]);
    const rows = await store.db.all<{ message: string }>("SELECT message FROM queue_items");
    for (const r of rows) assert.match(r.message, /^enc1:/, "the retried message went back encrypted");
  });

  it("refuses to open with a wrong key or without one, naming the key it needs", async () => {
    const store = await openStore(on(K1));
    await fill(store);
    await close(store);
    await assert.rejects(openStore(on(K2)), (err: Error) => err.message.includes(keyId(K1)) && /not configured/.test(err.message));
    await assert.rejects(openStore(OFF), (err: Error) => err.message.includes(keyId(K1)));
    await assert.rejects(openStore(undefined, { readOnly: true }), (err: Error) => err.message.includes(keyId(K1)));
    // Nothing was changed by the refusals: the right key still reads everything.
    const again = await openStore(on(K1));
    assert.equal((await again.deadLetters()).length, 1);
    assert.deepEqual(JSON.parse((await again.deadLetters())[0].entry!).payload, patient(1));
  });

  it("a damaged value fails loudly when read; it is never dropped", async () => {
    const store = await openStore(on(K1));
    await fill(store);
    const row = await store.db.get<{ id: number; entry: string }>("SELECT id, entry FROM dead_letters");
    const flipped = row!.entry.slice(0, -6) + (row!.entry.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA");
    await store.db.run("UPDATE dead_letters SET entry = ? WHERE id = ?", [flipped, row!.id]);
    await assert.rejects(store.deadLetters(), /integrity check/);
    assert.equal((await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM dead_letters"))!.n, 1);
  });

  it("migrates a plain store on open: columns encrypted in place, the plain text gone from the file, items still delivered", async () => {
    const plain = await openStore(OFF);
    await fill(plain);
    // Delivered and deleted while the store was plain: their text is left in free pages.
    const gone = queueOn(plain, () => ({ kind: "ok", reason: "ok" }), "gone");
    for (let i = 100; i < 400; i++) await gone.q.enqueue({ key: `Patient/p-${i}`, body: { payload: patient(i, "Onyango Deleted") } });
    await gone.q.start();
    await until(() => gone.q.stats().ok === 300, "the deliveries");
    await gone.q.stop();
    queues.splice(queues.indexOf(gone.q), 1);
    await queueOn(plain).q.enqueue({ key: "Patient/p-4", body: { topic: "Patient/p-4", payload: patient(4) } });
    assert.match((await plain.db.get<{ message: string }>("SELECT message FROM queue_items LIMIT 1"))!.message, /^\{/, "written plain");
    await close(plain);
    assert.notEqual(rawBytes(file).indexOf(NAME), -1, "the plain store holds the name");
    assert.notEqual(rawBytes(file).indexOf("Onyango Deleted"), -1, "and the text of deleted rows");

    const store = await openStore(on(K1));
    const pass = await store.sealing;
    assert.ok(pass && pass.rewritten >= 6 && pass.fromPlain === pass.rewritten && pass.damaged === 0, JSON.stringify(pass));
    for (const sql of [
      "SELECT message AS v FROM queue_items",
      "SELECT entry AS v FROM dead_letters",
      "SELECT operation_outcome AS v FROM dead_letters",
      "SELECT parent_version AS v FROM conflicts",
      "SELECT child_version AS v FROM conflicts",
      "SELECT content AS v FROM audit WHERE content IS NOT NULL",
    ]) {
      const rows = await store.db.all<{ v: string }>(sql);
      assert.ok(rows.length > 0, sql);
      for (const r of rows) assert.match(r.v, new RegExp(`^enc1:${keyId(K1)}:`), sql);
    }
    const { q, delivered } = queueOn(store);
    await q.start();
    await until(() => delivered.length === 2, "the queued items");
    assert.deepEqual(delivered.map((d) => (d.body.payload as FhirResource).id).sort(), ["p-2", "p-4"]);
    await q.stop();
    queues.splice(0);
    await close(store);
    const bytes = rawBytes(file);
    for (const needle of [NAME, BIRTH, "Given2", "Given4", "Onyango Deleted"]) assert.equal(bytes.indexOf(needle), -1, `${needle} is gone from the file`);
    // The next open has nothing to do.
    const next = await openStore(on(K1));
    assert.equal(await next.sealing, undefined);
  });

  it("reads a half-migrated store: plain and encrypted values side by side", async () => {
    const store = await openStore(on(K1));
    await fill(store);
    const [row] = await store.deadLetters();
    await store.db.run("UPDATE dead_letters SET entry = ? WHERE id = ?", [JSON.stringify({ topic: "legacy" }), row.id]);
    assert.deepEqual(JSON.parse((await store.deadLetters())[0].entry!), { topic: "legacy" });
    assert.match((await store.deadLetters())[0].operation_outcome!, new RegExp(NAME));
  });

  it("rotates: values under the previous key are read and encrypted again under the new one; then the previous key is not needed", async () => {
    const first = await openStore(on(K1));
    await fill(first);
    await close(first);
    await assert.rejects(openStore(on(K2)), /not configured/, "the new key alone cannot open it yet");
    const rotating = await openStore(on(K2, [K1]));
    const pass = await rotating.sealing;
    assert.ok(pass && pass.rewritten >= 6 && pass.fromPlain === 0, JSON.stringify(pass));
    const values = await rotating.db.all<{ v: string }>(
      "SELECT message AS v FROM queue_items UNION ALL SELECT entry FROM dead_letters UNION ALL SELECT child_version FROM conflicts",
    );
    for (const r of values) assert.match(r.v, new RegExp(`^enc1:${keyId(K2)}:`));
    await close(rotating);
    const after = await openStore(on(K2));
    assert.deepEqual(JSON.parse((await after.deadLetters())[0].entry!).payload, patient(1));
    await close(after);
    await assert.rejects(openStore(on(K1)), (err: Error) => err.message.includes(keyId(K2)), "the old key alone no longer opens it");
  });

  it("an interrupted rotation keeps the previous key required", async () => {
    const first = await openStore(on(K1));
    await fill(first);
    await close(first);
    // Opened under the new key, closed before the pass ran: both keys stay listed.
    const s = await SyncStore.open(file, { encryption: on(K2, [K1]) });
    await s.close();
    await assert.rejects(openStore(on(K2)), (err: Error) => err.message.includes(keyId(K1)));
    const done = await openStore(on(K2, [K1]));
    assert.ok((await done.sealing)?.rewritten);
  });

  it("encryption off decrypts what an earlier run encrypted, given its key; then no key is needed", async () => {
    const first = await openStore(on(K1));
    await fill(first);
    await close(first);
    const off = await openStore({ mode: "off", older: [K1] });
    assert.ok((await off.sealing)?.rewritten);
    assert.match((await off.db.get<{ message: string }>("SELECT message FROM queue_items"))!.message, /^\{/);
    await close(off);
    const plain = await openStore(OFF);
    assert.equal((await plain.deadLetters()).length, 1);
  });

  it("tools opening without options find the key in SYNC_STORE_KEY or the key file beside the store", async () => {
    const store = await openStore(on(K1));
    await fill(store);
    await close(store);
    const before = process.env.SYNC_STORE_KEY;
    try {
      process.env.SYNC_STORE_KEY = K1.toString("hex");
      const viaEnv = await openStore(undefined, { readOnly: true });
      assert.equal((await viaEnv.deadLetters()).length, 1);
      await close(viaEnv);
    } finally {
      if (before === undefined) delete process.env.SYNC_STORE_KEY;
      else process.env.SYNC_STORE_KEY = before;
    }
    fs.writeFileSync(keyFilePath(file), K1.toString("base64"), { mode: 0o600 });
    const viaFile = await openStore();
    assert.deepEqual(JSON.parse((await viaFile.deadLetters())[0].entry!).payload, patient(1));
    // It writes under the store's key too.
    await queueOn(viaFile).q.enqueue({ key: "Patient/p-9", body: { payload: patient(9) } });
    assert.match((await viaFile.db.get<{ m: string }>("SELECT message AS m FROM queue_items WHERE record_key = 'Patient/p-9'"))!.m, /^enc1:/);
  });

  it("scripts/store-read.ts prints one item decrypted, with the key from the key file, while the owner keeps the store open", async () => {
    fs.writeFileSync(keyFilePath(file), K1.toString("base64"), { mode: 0o600 });
    const store = await openStore(on(K1), { exclusive: true });
    await fill(store);
    const id = (await store.db.get<{ id: number }>("SELECT id FROM dead_letters"))!.id;
    const script = path.resolve(__dirname, "../../scripts/store-read.ts");
    const out = execFileSync(process.execPath, ["-r", "tsx/cjs", script, file, "dead-letter", String(id)], {
      encoding: "utf8",
      env: { ...process.env, SYNC_STORE_KEY: "" },
    });
    const row = JSON.parse(out) as { entry: { payload: FhirResource }; operation_outcome: { issue: { diagnostics: string }[] } };
    assert.deepEqual(row.entry.payload, patient(1));
    assert.match(row.operation_outcome.issue[0].diagnostics, new RegExp(NAME));
    fs.rmSync(keyFilePath(file));
    assert.throws(
      () =>
        execFileSync(process.execPath, ["-r", "tsx/cjs", script, file, "dead-letter", String(id)], {
          encoding: "utf8",
          stdio: "pipe",
          env: { ...process.env, SYNC_STORE_KEY: "" },
        }),
      (err: Error & { stderr: string }) => err.stderr.includes(keyId(K1)),
    );
  });

  it("key file: created once (0600, flushed) when asked to, then the same key; a configured key wins and the file's is kept for reading", () => {
    const env = {};
    assert.equal(resolveKeys(file, { env }).source, "none");
    const made = resolveKeys(file, { generate: true, env });
    assert.equal(made.source, "generated");
    assert.equal(fs.statSync(keyFilePath(file)).mode & 0o777, 0o600);
    const again = resolveKeys(file, { generate: true, env });
    assert.equal(again.source, "file");
    assert.ok(again.key!.equals(made.key!));
    const configured = resolveKeys(file, { key: K2.toString("base64"), previousKey: K1.toString("hex"), env });
    assert.ok(configured.key!.equals(K2));
    assert.deepEqual(configured.older.map(keyId).sort(), [keyId(made.key!), keyId(K1)].sort());
    assert.throws(() => resolveKeys(file, { key: "too short", env }), /32 bytes/);
  });

  it("cipher: a random IV per value, plain values pass through, a key id names the key", () => {
    const c = new StoreCipher(K1, []);
    const a = c.seal("same");
    assert.notEqual(a, c.seal("same"));
    assert.equal(c.open(a), "same");
    assert.equal(c.open('{"plain":true}'), '{"plain":true}');
    assert.equal(StoreCipher.none.seal("x"), "x");
    assert.throws(() => StoreCipher.none.open(a), /not configured/);
    assert.equal(keyId(K1), keyId(Buffer.from(K1)));
    assert.notEqual(keyId(K1), keyId(K2));
  });
});

describe("store: retention", function () {
  this.timeout(20_000);
  let dir: string;
  let store: SyncStore;
  const DAY = 86_400_000;
  const now = Date.now();

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "store-retention-"));
    store = await SyncStore.open(path.join(dir, "r.db"));
    await store.db.write(async (tx) => {
      for (const [at, n] of [
        [now - 100 * DAY, 1200],
        [now - 10 * DAY, 3],
      ])
        for (let i = 0; i < n; i++) await tx.run("INSERT INTO audit (at, direction, outcome) VALUES (?, 'push', 'ok')", [at]);
      for (const state of ["dead", "requeued", "retried", "discarded"])
        for (const age of [40, 5])
          await tx.run(
            "INSERT INTO dead_letters (source, source_kind, record_key, attempts, first_failed_at, dead_at, state) VALUES ('q', 'queue', ?, 1, 0, ?, ?)",
            [`${state}-${age}`, now - age * DAY, state],
          );
      for (const [state, age] of [
        ["held", 200],
        ["resolved", 200],
        ["resolved", 10],
      ] as const)
        await tx.run(
          "INSERT INTO conflicts (record_key, detected_at, policy, parent_hash, child_hash, parent_version, child_version, state, resolved_at) VALUES (?, ?, 'hold', ?, 'c', '{}', '{}', ?, ?)",
          [`${state}-${age}`, now - age * DAY, `${state}-${age}`, state, state === "resolved" ? now - age * DAY : null],
        );
      await tx.run("INSERT INTO queue_items (queue, record_key, message, enqueued_at, next_at) VALUES ('q', 'Patient/old', '{}', ?, 0)", [now - 400 * DAY]);
      await tx.run("INSERT INTO feed_retries (consumer, entry_id, attempts, first_failed_at, next_at) VALUES ('f', 'e', 3, ?, 0)", [now - 400 * DAY]);
    });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const count = async (sql: string) => (await store.db.get<{ n: number }>(sql))!.n;

  it("deletes old finished rows in batches and keeps everything pending", async () => {
    const counts = await prune(store.db, {}, now);
    assert.deepEqual(counts, { audit: 1200, deadLetters: 2, conflicts: 1 });
    assert.ok(store.db.commits >= 4, "more than one batch for 1,200 audit rows");
    assert.equal(await count("SELECT COUNT(*) AS n FROM audit"), 3);
    const dead = await store.db.all<{ record_key: string }>("SELECT record_key FROM dead_letters ORDER BY id");
    assert.deepEqual(dead.map((d) => d.record_key).sort(), ["dead-40", "dead-5", "discarded-5", "requeued-40", "requeued-5", "retried-5"]);
    const kept = await store.db.all<{ record_key: string }>("SELECT record_key FROM conflicts ORDER BY id");
    assert.deepEqual(
      kept.map((c) => c.record_key),
      ["held-200", "resolved-10"],
    );
    assert.equal(await count("SELECT COUNT(*) AS n FROM queue_items"), 1);
    assert.equal(await count("SELECT COUNT(*) AS n FROM feed_retries"), 1);
  });

  it("0 keeps for ever; shorter settings prune more", async () => {
    assert.deepEqual(await prune(store.db, { audit: 0, deadLetters: 0, conflicts: 0 }, now), { audit: 0, deadLetters: 0, conflicts: 0 });
    assert.deepEqual(await prune(store.db, { audit: 7, deadLetters: 1, conflicts: 1 }, now), { audit: 1203, deadLetters: 4, conflicts: 2 });
    assert.equal(await count("SELECT COUNT(*) AS n FROM dead_letters WHERE state IN ('dead', 'requeued')"), 4);
    assert.equal(await count("SELECT COUNT(*) AS n FROM conflicts WHERE state = 'held'"), 1);
  });

  it("runs when the store opens (and is stopped by close)", async () => {
    const file = store.path;
    await store.close();
    let reported: unknown;
    const pruned = new Promise<void>((resolve) => {
      void SyncStore.open(file, {
        retention: {},
        onPruned: (err, counts) => {
          reported = err ?? counts;
          resolve();
        },
      }).then((s) => (store = s));
    });
    await pruned;
    assert.deepEqual(reported, { audit: 1200, deadLetters: 2, conflicts: 1 });
  });
});
