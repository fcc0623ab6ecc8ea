/**
 * The sync-store node's encryption key inside Node-RED (test helper): a flow deployed without
 * credentials gets a key file before anything is encrypted; a wrong key keeps the store closed and the
 * users say why; the right key in the credentials opens it.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TestFlows } from "node-red-node-test-helper";
import { SyncStore } from "../../lib/store/store";
import { generateKey, keyId, parseKey } from "../../lib/store/cipher";
import { keyFilePath } from "../../lib/store/key-source";
import { getNode, helper, lastStatus, NODES, until } from "../helpers/red";

const NAME = "Achieng Otieno";

describe("sync-store node: encryption key", function () {
  this.timeout(30_000);
  let dir: string;
  let db: string;

  before((done) => void helper.startServer(done));
  after((done) => void helper.stopServer(done));
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "store-key-"));
    db = path.join(dir, "sync.db");
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const flow = (): TestFlows =>
    [
      { id: "t1", type: "tab" },
      { id: "store", type: "sync-store", path: db },
      { id: "queue", type: "retry-queue", z: "t1", store: "store", wires: [["out"]] },
      { id: "out", type: "helper", z: "t1" },
    ] as TestFlows;

  const patient = { resourceType: "Patient", id: "p-1", name: [{ family: NAME }] };

  it("deployed without credentials: creates the key file, stores the message encrypted, delivers it plain", async () => {
    await helper.load(NODES, flow(), {});
    const delivered = new Promise<{ payload: unknown }>((resolve) => getNode("out").on("input", (m) => resolve(m as { payload: unknown })));
    getNode("queue").receive({ payload: patient });
    assert.deepEqual((await delivered).payload, patient);
    assert.equal(fs.statSync(keyFilePath(db)).mode & 0o777, 0o600);
    const store = await SyncStore.open(db, { readOnly: true });
    try {
      const row = await store.db.get<{ message: string }>("SELECT message FROM queue_items");
      assert.match(row!.message, /^enc1:/);
      assert.ok(!row!.message.includes(NAME));
    } finally {
      await store.close();
    }
  });

  it("a wrong key keeps the store closed, the queue says it waits for the store, the error names the key needed; the right key opens it", async () => {
    const k1 = generateKey();
    const first = await SyncStore.open(db, { encryption: { mode: "on", key: parseKey(k1) } });
    await first.db.run("INSERT INTO queue_items (queue, record_key, message, enqueued_at, next_at) VALUES ('queue', 'Patient/p-1', ?, 0, 0)", [
      first.db.cipher.seal(JSON.stringify({ payload: patient })),
    ]);
    await first.close();

    await helper.load(NODES, flow(), { store: { key: generateKey() } });
    const storeNode = helper.getNode("store") as unknown as { lastError?: string };
    await until(() => storeNode.lastError, 5000, "the open error");
    assert.match(storeNode.lastError!, new RegExp(keyId(parseKey(k1))));
    await until(() => lastStatus(getNode("queue"))?.text === "retry-queue.status.waiting-store", 5000, "waiting-for-store status");
    await helper.unload();

    await helper.load(NODES, flow(), { store: { key: k1 } });
    const delivered = new Promise<{ payload: unknown }>((resolve) => getNode("out").on("input", (m) => resolve(m as { payload: unknown })));
    assert.deepEqual((await delivered).payload, patient);
    assert.ok(!fs.existsSync(keyFilePath(db)), "no key file when the key is configured");
  });
});
