/**
 * Central status through a hub, with real processes: a hub (Node-RED with a sync store and one key per
 * clinic), a clinic (Node-RED running the shipped push flow toward a simulated parent, with its audit-push
 * pointed at the hub with the clinic's key), and the simulators. The hub's admin sees the clinic in
 * `GET /openmrs-sync/keys`: last contact, version, its channels, every audit row once; a record the parent
 * refuses turns the clinic "failing" with the reason. The hub's child routes refuse a missing or wrong key
 * and a bad body, and keep an audit message once (a second send answers "already exists", as sync2 does).
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { packageVersion } from "../../lib/version";
import { env, shippedFlow, until, useE2E, type FlowNode } from "../helpers/e2e";

interface ChildView {
  lastContact: string | null;
  health: string;
  why: string | null;
  version: string | null;
  channels: { name: string; kind: string; category: string | null; running: boolean; dead: number; lagEntries: number | null }[];
  audit: { messages: number; failures: number };
}

describe("hub central status (hub + clinic Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let hub: NodeRedProcess | undefined;
  let clinic: NodeRedProcess | undefined;

  useE2E(
    "e2e-hub-status",
    (d) => (dir = d),
    () => ({ nodeRed: clinic, sims: [parent, child] }),
    () => (clinic = parent = child = undefined),
  );
  afterEach(async () => {
    await hub?.stop();
    hub = undefined;
  });

  const keysOfHub = async () => {
    const res = await fetch(`${hub!.url}/openmrs-sync/keys`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { keys: { id: string; name: string; child: ChildView }[] }).keys;
  };
  const post = (route: string, body: unknown, auth?: string) =>
    fetch(`${hub!.url}/openmrs/${route}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(body),
    });

  it("shows each clinic's status and audit at the hub, and turns a clinic with a dead letter failing", async () => {
    hub = new NodeRedProcess({ userDir: path.join(dir, "hub"), flows: [{ id: "hub_store", type: "sync-store", name: "hub", path: path.join(dir, "hub.db") }] });
    await hub.start();
    const issued = await fetch(`${hub.url}/openmrs-sync/keys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "clinic-a", catchment: { locations: [] } }),
    });
    assert.equal(issued.status, 201);
    const key = (await issued.json()) as { id: string; name: string; secret: string };
    const basic = `Basic ${Buffer.from(`${key.name}:${key.secret}`).toString("base64")}`;

    // Before the clinic says anything, the hub knows of it only the key.
    const before = (await keysOfHub()).find((k) => k.id === key.id)!;
    assert.deepEqual([before.child.health, before.child.lastContact, before.child.audit.messages], ["never", null, 0]);

    // The child routes: no key, a wrong key, a bad body, a message kept once.
    assert.equal((await post("ws/hub/status", { channels: [] })).status, 401);
    assert.equal((await post("ws/rest/sync2/messages", { uuid: "u-1", success: true }, "Basic Y2xpbmljLWE6d3Jvbmc=")).status, 401);
    assert.equal((await post("ws/hub/status", { channels: "all fine" }, basic)).status, 400);
    const message = { uuid: "manual-0001", success: false, resourceName: "patient", operation: "PUSH", timestamp: "2026-12-05 10:00:00" };
    assert.equal((await post("ws/rest/sync2/messages", message, basic)).status, 201);
    const again = await post("ws/rest/sync2/messages", message, basic);
    assert.equal(again.status, 403);
    assert.match(await again.text(), /already exists/);

    // A clinic pushing to its parent, with audit-push toward the hub (every second).
    child = new OpenmrsSim({ name: "child", seed: 61 });
    parent = new OpenmrsSim({ name: "parent", seed: 62 });
    child.generate({ patients: 6, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
    const refused = Object.keys(child.snapshot().patients)[2];
    parent.faults.rejectWrites = [refused];
    await child.start();
    await parent.start();
    const flow: FlowNode[] = shippedFlow("push-to-parent").map((n) => (n.type === "audit-push" ? { ...n, server: "omrs_hub", interval: 1 } : n));
    flow.push({ id: "omrs_hub", type: "openmrs-server", name: "hub", url: "", envPrefix: "OPENMRS_HUB", timeout: 30, fhirMode: "auto", maxSockets: 4 });
    const db = path.join(dir, "clinic.db");
    clinic = new NodeRedProcess({
      userDir: path.join(dir, "clinic"),
      flows: flow,
      env: { ...env(parent, child, db), OPENMRS_HUB_URL: `${hub.url}/openmrs`, OPENMRS_HUB_USER: key.name, OPENMRS_HUB_PASSWORD: key.secret },
    });
    await clinic.start();

    // Every audit row of the clinic reaches the hub once, and the clinic shows failing with its dead letter.
    const clinicRows = async () => {
      const store = await SyncStore.open(db, { readOnly: true }).catch(() => undefined);
      if (!store) return -1;
      try {
        // Node-RED may not have made the tables yet.
        return (await store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM audit").catch(() => undefined))?.n ?? -1;
      } finally {
        await store.close();
      }
    };
    let view: ChildView | undefined;
    await until(
      async () => {
        view = (await keysOfHub()).find((k) => k.id === key.id)?.child;
        const rows = await clinicRows();
        return !!view && view.health === "failing" && rows > 0 && view.audit.messages === rows + 1;
      },
      120_000,
      "the clinic's audit and a failing status at the hub",
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(view)}`);
    });
    assert.ok(view!.lastContact && Date.now() - Date.parse(view!.lastContact) < 60_000);
    assert.equal(view!.version, packageVersion());
    assert.match(view!.why ?? "", /queue for parent: 1 dead/);
    const patientFeed = view!.channels.find((c) => c.kind === "feed" && c.category === "patient");
    assert.ok(patientFeed?.running, JSON.stringify(view!.channels));
    assert.ok(view!.channels.some((c) => c.kind === "queue" && c.dead === 1));
    assert.ok(view!.audit.failures >= 2, "the refused write and the manual message");

    // The hub attributes each report to the key in its own access audit.
    const audit = await fetch(`${hub.url}/openmrs-sync/audit?key=${key.id}&limit=1000`);
    const actions = new Set(((await audit.json()) as { items: { action: string }[] }).items.map((r) => r.action));
    assert.ok(actions.has("child-status") && actions.has("child-audit"), [...actions].join(", "));
  });
});
