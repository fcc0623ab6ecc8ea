/**
 * Three tiers with real processes: national (a simulated OpenMRS) ← district hub (Node-RED running the
 * shipped flows/hub.json) ← clinic (Node-RED running the shipped, unchanged two-way flow whose parent is
 * the hub, with its key) → the clinic's own simulated OpenMRS. Records are created and changed at the top
 * and at the bottom at the same time, and the hub is killed with -9 twice while it relays. In the end both
 * OpenMRS hold the same records, nothing was lost, and nothing was written back where it came from: the
 * requests are counted at both simulators (no write at national of a record only national changed, none at
 * the clinic of a record only the clinic changed; every record created once at each).
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { converged, env, shippedFlow, until, useE2E, writesAt } from "../helpers/e2e";

const HUB_FLOW = shippedFlow("hub");
const TWO_WAY = shippedFlow("two-way");

/** Records whose feed events at `sim` came after `since` (created or changed there). */
function changedAt(sim: OpenmrsSim, sinceEvent: number): Set<string> {
  return new Set(sim.store.events.filter((e) => e.id > sinceEvent).map((e) => e.object));
}

describe("three tiers: national ← district hub ← clinic, changes at both ends, hub killed twice", function () {
  this.timeout(600_000);
  let dir: string;
  let national: OpenmrsSim | undefined;
  let clinicSim: OpenmrsSim | undefined;
  let hub: NodeRedProcess | undefined;
  let clinic: NodeRedProcess | undefined;

  useE2E(
    "e2e-hub-tiers",
    (d) => (dir = d),
    () => ({ nodeRed: clinic, sims: [national, clinicSim] }),
    () => (clinic = national = clinicSim = undefined),
  );
  afterEach(async () => {
    if (hub && (this as unknown as { currentTest?: { state?: string } }).currentTest?.state === "failed") console.log(hub.log.slice(-4000));
    await hub?.stop();
    hub = undefined;
  });

  it("ends with both OpenMRS equal, nothing lost, nothing echoed", async () => {
    national = new OpenmrsSim({ name: "national", seed: 101 });
    clinicSim = new OpenmrsSim({ name: "clinic", seed: 102 });
    national.generate({ patients: 8, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 2 });
    clinicSim.generate({ patients: 5, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 2 });
    const fromNational = new Set(national.store.events.map((e) => e.object));
    const fromClinic = new Set(clinicSim.store.events.map((e) => e.object));
    const nationalUrl = await national.start();
    await clinicSim.start();

    const hubDb = path.join(dir, "hub.db");
    const startHub = async () => {
      hub = new NodeRedProcess({
        userDir: path.join(dir, "hub"),
        flows: HUB_FLOW,
        env: {
          SYNC_DB_PATH: hubDb,
          OPENMRS_PARENT_URL: nationalUrl,
          OPENMRS_PARENT_USER: "admin",
          OPENMRS_PARENT_PASSWORD: "Admin123",
          SYNC_POLL_SECONDS: "1",
        },
      });
      await hub.start();
    };
    await startHub();
    const hubUrl = hub!.url;
    const issued = await fetch(`${hubUrl}/openmrs-sync/keys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "clinic-1", catchment: { locations: ["*"] } }),
    });
    const key = (await issued.json()) as { name: string; secret: string };
    const hubPort = Number(new URL(hubUrl).port);

    clinic = new NodeRedProcess({
      userDir: path.join(dir, "clinic"),
      flows: TWO_WAY,
      env: {
        ...env({ url: `${hubUrl}/openmrs` }, clinicSim, path.join(dir, "clinic.db")),
        OPENMRS_PARENT_USER: key.name,
        OPENMRS_PARENT_PASSWORD: key.secret,
      },
    });
    await clinic.start();

    // First both ends meet: the national records reach the clinic and the clinic's reach national.
    await converged(national, clinicSim, 240_000);

    // Changes at the top and at the bottom at once; the hub is killed twice while it relays them.
    const natMark = national.store.events.length ? national.store.events[national.store.events.length - 1].id : 0;
    const cliMark = clinicSim.store.events.length ? clinicSim.store.events[clinicSim.store.events.length - 1].id : 0;
    national.generate({ patients: 3, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
    clinicSim.generate({ patients: 3, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
    national.mutate(15);
    clinicSim.mutate(15);
    for (let i = 0; i < 2; i++) {
      await until(() => writesAt(national!).length + writesAt(clinicSim!).length > 0, 60_000, "relaying under way");
      await new Promise((r) => setTimeout(r, 700));
      await hub!.kill9();
      hub = new NodeRedProcess({
        userDir: path.join(dir, "hub"),
        port: hubPort,
        flows: HUB_FLOW,
        env: {
          SYNC_DB_PATH: hubDb,
          OPENMRS_PARENT_URL: nationalUrl,
          OPENMRS_PARENT_USER: "admin",
          OPENMRS_PARENT_PASSWORD: "Admin123",
          SYNC_POLL_SECONDS: "1",
        },
      });
      await hub.start();
    }
    await converged(national, clinicSim, 180_000).catch(async (err: Error) => {
      // What is left where: the hub's queue and dead letters, the clinic's, and who changed each record last.
      const lines: string[] = [];
      for (const [name, db] of [
        ["hub", hubDb],
        ["clinic", path.join(dir, "clinic.db")],
      ] as const) {
        const store = await SyncStore.open(db, { readOnly: true });
        try {
          const q = await store.db.all<{ record_key: string; attempts: number }>("SELECT record_key, attempts FROM queue_items");
          const d = (
            await store.db.all<{ record_key: string; reason: string; error: string; operation_outcome: string | null }>(
              "SELECT record_key, reason, error, operation_outcome FROM dead_letters WHERE state = 'dead'",
            )
          ).map((r) => ({ ...r, operation_outcome: store.db.cipher.open(r.operation_outcome) }));
          const c = await store.db.all<{ record_key: string; state: string }>("SELECT record_key, state FROM conflicts");
          lines.push(`${name}: queued ${JSON.stringify(q)}; dead ${JSON.stringify(d)}; conflicts ${JSON.stringify(c)}`);
        } finally {
          await store.close();
        }
      }
      const differing = new Set([...err.message.matchAll(/patient ([0-9a-f-]{36})/g)].map((m) => m[1]));
      for (const u of differing) {
        const ev = (sim: OpenmrsSim) => sim.store.events.filter((e) => e.object === u).map((e) => `${e.id}:${e.action}`);
        const w = (sim: OpenmrsSim) =>
          writesAt(sim)
            .filter((x) => x.uuid === u)
            .map((x) => `${x.method} ${x.status}`);
        lines.push(
          `${u}: national events ${ev(national!).join(",")} writes ${w(national!).join(",")}; clinic events ${ev(clinicSim!).join(",")} writes ${w(clinicSim!).join(",")}`,
        );
      }
      console.log(lines.join("\n"));
      console.log(clinic!.log.slice(-5000));
      throw err;
    });

    // Every record once at each end.
    for (const sim of [national, clinicSim]) {
      const created = new Map<string, number>();
      for (const e of sim.store.events) if (e.action === "CREATED") created.set(e.object, (created.get(e.object) ?? 0) + 1);
      for (const [uuid, n] of created) assert.equal(n, 1, `${sim.name}: ${uuid} created ${n} times`);
    }
    // No echo: a record changed only at one end is never written at that end by the sync.
    const natChanged = new Set([...fromNational, ...changedAt(national, natMark)]);
    const cliChanged = new Set([...fromClinic, ...changedAt(clinicSim, cliMark)]);
    const onlyNational = [...natChanged].filter((u) => !cliChanged.has(u));
    const onlyClinic = [...cliChanged].filter((u) => !natChanged.has(u));
    const written = (sim: OpenmrsSim) => new Set(writesAt(sim).map((w) => w.uuid));
    const echoedAtNational = onlyNational.filter((u) => written(national!).has(u));
    const echoedAtClinic = onlyClinic.filter((u) => written(clinicSim!).has(u));
    // (a record created at one end is written at the other, and its creation event is then "changed there":
    //  only the writes of the sync itself count, so compare with what each side did on its own)
    assert.deepEqual(echoedAtNational, [], "records only national changed, written back at national");
    assert.deepEqual(echoedAtClinic, [], "records only the clinic changed, written back at the clinic");
  });
});
