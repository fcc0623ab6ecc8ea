/**
 * The hub's write side with real processes: a hub (Node-RED running hub-in → retry-queue → hub-relay) in
 * front of a simulated parent, and writes sent to the hub exactly as a child's fhir-push sends them to a
 * parent (REST v1 create with the uuid, fhir2 PUT). While the parent is up the child gets the parent's own
 * answer (a refusal too, and the hub keeps no dead letter of it); while it is down the child gets 202
 * "queued", and the hub, killed with -9 twice in the meantime, delivers each queued write once when the
 * parent is back. Requests are counted at the parent.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { fhirToRestCreate, type FhirResource } from "../../lib/fhir/convert";
import { until, useE2E, writesAt } from "../helpers/e2e";

const SIM_AUTH = `Basic ${Buffer.from("admin:Admin123").toString("base64")}`;

describe("hub relay of children's writes (hub Node-RED + simulated parent)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let clinic: OpenmrsSim | undefined;
  let hub: NodeRedProcess | undefined;

  useE2E(
    "e2e-hub-relay",
    (d) => (dir = d),
    () => ({ nodeRed: hub, sims: [parent, clinic] }),
    () => (hub = parent = clinic = undefined),
  );

  const FLOW = [
    { id: "hub_store", type: "sync-store", name: "hub", path: "${SYNC_DB_PATH}" },
    { id: "omrs_parent", type: "openmrs-server", name: "parent", url: "", envPrefix: "OPENMRS_PARENT", timeout: 30, fhirMode: "auto", maxSockets: 8 },
    { id: "tab", type: "tab", label: "hub" },
    { id: "in", type: "hub-in", z: "tab", store: "hub_store", answerWithin: 3, wires: [["queue"]] },
    // prettier-ignore
    { id: "queue", type: "retry-queue", z: "tab", name: "queue for parent", store: "hub_store", mode: "deliver", concurrency: 4, maxAttempts: 50, maxAgeHours: 24, ticketTimeout: 120, direction: "push", wires: [["relay"]] },
    { id: "relay", type: "hub-relay", z: "tab", server: "omrs_parent", wires: [[]] },
  ];

  it("answers with the parent's answer while it is up, queues while it is down, and delivers each queued write once across two kill -9", async () => {
    clinic = new OpenmrsSim({ name: "clinic", seed: 71 });
    clinic.generate({ patients: 6, visitsPerPatient: 0, encountersPerVisit: 0, obsPerEncounter: 0 });
    parent = new OpenmrsSim({ name: "parent", seed: 72 });
    const clinicUrl = await clinic.start();
    const parentUrl = await parent.start();
    const parentPort = Number(new URL(parentUrl).port);
    const db = path.join(dir, "hub.db");
    const startHub = async () => {
      hub = new NodeRedProcess({
        userDir: path.join(dir, "hub"),
        flows: FLOW,
        env: { SYNC_DB_PATH: db, OPENMRS_PARENT_URL: parentUrl, OPENMRS_PARENT_USER: "admin", OPENMRS_PARENT_PASSWORD: "Admin123" },
      });
      await hub.start();
    };
    await startHub();
    const issued = await fetch(`${hub!.url}/openmrs-sync/keys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "clinic-a", catchment: { locations: [] } }),
    });
    const key = (await issued.json()) as { name: string; secret: string };
    const auth = `Basic ${Buffer.from(`${key.name}:${key.secret}`).toString("base64")}`;

    /** A write to the hub, as the child's fhir-push makes it to a parent. */
    const write = async (method: "PUT" | "POST", route: string, body: unknown, withKey = true) => {
      const res = await fetch(`${hub!.url}/openmrs/${route}`, {
        method,
        // As fhir-push sends them: FHIR as application/fhir+json, REST as application/json.
        headers: { "content-type": method === "PUT" ? "application/fhir+json" : "application/json", ...(withKey ? { authorization: auth } : {}) },
        body: JSON.stringify(body),
      });
      return { status: res.status, queued: res.headers.get("x-openmrs-sync"), text: await res.text() };
    };
    const uuids = Object.keys(clinic.snapshot().patients);
    const fhirPatient = async (uuid: string) =>
      (await (await fetch(`${clinicUrl}/ws/fhir2/R4/Patient/${uuid}`, { headers: { authorization: SIM_AUTH } })).json()) as FhirResource;
    const createBody = async (uuid: string) => fhirToRestCreate(await fhirPatient(uuid)).body;
    const createdAtParent = (uuid: string) => parent!.store.events.filter((e) => e.object === uuid && e.action === "CREATED").length;

    // No key: 401, nothing reaches the parent.
    assert.equal((await write("POST", "ws/rest/v1/patient", await createBody(uuids[0]), false)).status, 401);
    assert.equal(writesAt(parent).length, 0);

    // Parent up: the child gets the parent's own answers.
    const created = await write("POST", "ws/rest/v1/patient", await createBody(uuids[0]));
    assert.equal(created.status, 201, created.text);
    assert.equal(created.queued, null);
    assert.ok(parent.snapshot().patients[uuids[0]], "created at the parent with the child's uuid");
    const edited = { ...(await fhirPatient(uuids[0])), gender: "other" };
    const put = await write("PUT", `ws/fhir2/R4/Patient/${uuids[0]}`, edited);
    assert.equal(put.status, 200, put.text);
    assert.equal(parent.snapshot().patients[uuids[0]].gender, "O");
    // A refusal goes back to the child, which owns it: the hub keeps no dead letter.
    // (patient 2 with patient 1's identifier: OpenMRS refuses a duplicate identifier with 400)
    const bad = { ...(await createBody(uuids[1])), identifiers: (await createBody(uuids[0])).identifiers };
    const refused = await write("POST", "ws/rest/v1/patient", bad);
    assert.equal(refused.status, 400, refused.text);

    // Parent down: queued (202) within the answer time, and the hub is killed twice before the parent is back.
    await parent.stop();
    const queued = [];
    for (const u of uuids.slice(1, 4)) queued.push(await write("POST", "ws/rest/v1/patient", await createBody(u)));
    assert.deepEqual(
      queued.map((q) => [q.status, q.queued]),
      queued.map(() => [202, "queued"]),
    );
    await hub!.kill9();
    await startHub();
    queued.push(await write("POST", "ws/rest/v1/patient", await createBody(uuids[4])));
    assert.deepEqual([queued[3].status, queued[3].queued], [202, "queued"]);
    await hub!.kill9();
    await startHub();
    await parent.start(parentPort);
    await until(() => uuids.slice(1, 5).every((u) => parent!.snapshot().patients[u]), 120_000, "every queued write at the parent");
    for (const u of uuids.slice(0, 5)) assert.equal(createdAtParent(u), 1, `${u} created once`);
    assert.equal(parent.diff(clinic).filter((d) => uuids.slice(1, 5).some((u) => d.includes(u))).length, 0, "the queued patients equal the clinic's");

    // The hub's queue is empty and holds no dead letter (the refusal was the child's).
    await until(
      async () => {
        const store = await SyncStore.open(db, { readOnly: true });
        try {
          const q = await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM queue_items");
          const d = await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM dead_letters");
          return q?.n === 0 && d?.n === 0;
        } finally {
          await store.close();
        }
      },
      30_000,
      "the hub's queue empty, no dead letter",
    );
  });
});
