/**
 * Encounter diagnoses end to end (issue 8), through the shipped flows in a real Node-RED process against
 * the simulators: an encounter with two diagnoses (one coded, confirmed, rank 1, about a problem-list
 * condition; one non-coded, provisional, rank 2) goes parent -> child through the pull flow with fhir2
 * (whose Encounter has no diagnoses: completed from REST, written through REST after the PUT) and with
 * REST v1 alone, and child -> parent through the push flow; then a diagnosis is changed and one dropped at
 * the source. Compared field by field on the stored encounters.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { ciel } from "../../sim/metadata";
import type { Encounter } from "../../sim/model";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { converged, env, feedNodes, feedsCaughtUp, inject, shippedFlow, until, useE2E, writesAt, type FlowNode, simCall as call } from "../helpers/e2e";

const PULL = shippedFlow("pull-from-parent");
const PUSH = shippedFlow("push-to-parent");
const MALARIA = ciel(160148);

/** Two diagnoses on the first encounter, through REST as a clinician's form saves them. Returns the encounter. */
async function diagnose(sim: OpenmrsSim): Promise<Encounter> {
  const enc = [...sim.store.encounters.values()][0];
  const condition = sim.store.createOf("condition", { patient: enc.patient, coded: MALARIA, clinicalStatus: "ACTIVE" }).uuid;
  await call(sim, "POST", `/ws/rest/v1/encounter/${enc.uuid}`, {
    diagnoses: [
      { diagnosis: { coded: MALARIA }, certainty: "CONFIRMED", rank: 1, condition },
      { diagnosis: { nonCoded: "Suspected typhoid" }, certainty: "PROVISIONAL", rank: 2 },
    ],
  });
  return sim.store.encounters.get(enc.uuid)!;
}

/** The encounter's active diagnoses at `target` equal the source's, field by field. */
function assertDiagnosesEqual(source: OpenmrsSim, target: OpenmrsSim, uuid: string, expected: number): void {
  const live = (sim: OpenmrsSim) => (sim.store.encounters.get(uuid)?.diagnoses ?? []).filter((d) => !d.voided).sort((a, b) => a.uuid.localeCompare(b.uuid));
  assert.equal(live(source).length, expected);
  assert.deepEqual(live(target), live(source));
}

describe("encounter diagnoses end to end (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-diagnoses",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  async function run(flow: FlowNode[], mode: "fhir2" | "rest" | "auto"): Promise<string> {
    const db = path.join(dir, "sync.db");
    const nodes = flow.map((n) => (n.type === "openmrs-server" ? { ...n, fhirMode: mode } : n));
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: nodes, env: env(parent!, child!, db, "3600") });
    await nodeRed.start();
    return db;
  }

  /** One diagnosis changed (now confirmed), the other dropped, at `sim`. */
  async function revise(sim: OpenmrsSim, uuid: string): Promise<void> {
    const coded = sim.store.encounters.get(uuid)!.diagnoses!.find((d) => d.coded)!;
    await call(sim, "POST", `/ws/rest/v1/encounter/${uuid}`, {
      diagnoses: [{ uuid: coded.uuid, diagnosis: { coded: MALARIA, nonCoded: "severe" }, certainty: "CONFIRMED", rank: 1, condition: coded.condition }],
    });
  }

  for (const mode of ["fhir2", "rest"] as const)
    it(`pull: an encounter with a coded and a non-coded diagnosis arrives field by field, then a change (through ${mode})`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 261, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 262 });
      parent.generate({ patients: 3, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
      await parent.start();
      await child.start();
      const enc = await diagnose(parent);
      const db = await run(PULL, mode);
      const feeds = feedNodes(PULL, "omrs_parent");
      const pull = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, feeds), 90_000, "pull caught up");
        await converged(parent!, child!, 60_000);
      };
      await pull();
      assertDiagnosesEqual(parent, child, enc.uuid, 2);
      const since = Date.now();
      await revise(parent, enc.uuid);
      await pull();
      if (mode === "fhir2") {
        // fhir2 takes the encounter but not its diagnoses: those follow through REST.
        const writes = writesAt(child, since).map((w) => `${w.method} ${w.path} ${w.status}`);
        assert.ok(writes.includes(`PUT /openmrs/ws/fhir2/R4/Encounter/${enc.uuid} 200`), writes.join("\n"));
        assert.ok(writes.includes(`POST /openmrs/ws/rest/v1/encounter/${enc.uuid} 200`), writes.join("\n"));
      }
      assertDiagnosesEqual(parent, child, enc.uuid, 1);
      assert.equal(child.store.encounters.get(enc.uuid)!.diagnoses!.find((d) => !d.voided)!.nonCoded, "severe");
      if (mode === "rest")
        for (const sim of [parent, child])
          assert.deepEqual(
            sim.requests.filter((r) => r.kind === "fhir-get" || r.kind === "fhir-write"),
            [],
            "REST v1 alone",
          );
      assert.deepEqual(parent.diff(child), []);
    });

  it("push: the clinic's encounter diagnoses arrive at the parent field by field", async () => {
    child = new OpenmrsSim({ name: "child", seed: 271 });
    parent = new OpenmrsSim({ name: "parent", seed: 272 });
    child.generate({ patients: 3, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
    await child.start();
    await parent.start();
    const enc = await diagnose(child);
    const db = await run(PUSH, "auto");
    const feeds = feedNodes(PUSH, "omrs_child");
    const push = async () => {
      await inject(nodeRed!, "push_now");
      await until(() => feedsCaughtUp(db, child!, feeds), 90_000, "push caught up");
      await converged(child!, parent!, 90_000);
    };
    await push();
    assertDiagnosesEqual(child, parent, enc.uuid, 2);
    await revise(child, enc.uuid);
    await push();
    assertDiagnosesEqual(child, parent, enc.uuid, 1);
    assert.deepEqual(child.diff(parent), []);
  });
});
