/**
 * Cohorts end to end (issue 8), through the shipped flows in a real Node-RED process against the
 * simulators: parent -> child through the pull flow, read through fhir2 (Group, members completed from
 * REST) and through REST v1 alone (`fhirMode: "rest"`), written through REST v1 either way (cohort with
 * its uuid, then its memberships); child -> parent through the push flow. Then the parent's cohorts
 * change as people change them: a member taken out and another put in, a rename, a void. After each
 * round every cohort is compared field by field (name, description, live members, voided) and `diff`
 * is empty.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { liveMembers, type Cohort } from "../../sim/types/cohort";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { converged, env, feedNodes, feedsCaughtUp, inject, shippedFlow, until, useE2E, writesAt, type FlowNode, simCall as call } from "../helpers/e2e";

const PULL = shippedFlow("pull-from-parent");
const PUSH = shippedFlow("push-to-parent");

const cohortsOf = (sim: OpenmrsSim) => [...sim.store.records("cohort").values()] as Cohort[];

/** Every cohort of `source` at `target`, field by field; returns how many live ones there are. */
function assertCohortsEqual(source: OpenmrsSim, target: OpenmrsSim): number {
  let live = 0;
  for (const c of cohortsOf(source)) {
    const t = target.store.getOf("cohort", c.uuid) as Cohort | undefined;
    if (c.voided) {
      assert.ok(!t || t.voided, `cohort ${c.uuid} voided at the source, live at the target`);
      continue;
    }
    assert.ok(t, `cohort ${c.uuid} missing at the target`);
    assert.deepEqual(
      { name: t.name, description: t.description, members: liveMembers(t), voided: t.voided },
      { name: c.name, description: c.description, members: liveMembers(c), voided: false },
      `cohort ${c.uuid}`,
    );
    live++;
  }
  return live;
}

/** True when the store's durable queues hold nothing: every item taken into custody is settled. */
async function queueEmpty(db: string): Promise<boolean> {
  const store = await SyncStore.open(db, { readOnly: true }).catch(() => undefined);
  if (!store) return false;
  try {
    return (await store.db.get<{ n: number }>("SELECT count(*) AS n FROM queue_items"))?.n === 0;
  } finally {
    await store.close();
  }
}

/** Three cohorts: two with members (one of them with a member taken out already), one empty. */
function seedCohorts(sim: OpenmrsSim): string[] {
  const p = [...sim.store.patients.values()].map((x) => x.uuid);
  const anc = sim.store.createOf("cohort", { name: "ANC", description: "Antenatal clients", members: [p[0], p[1], p[2]] }).uuid;
  const tb = sim.store.createOf("cohort", { name: "TB", description: "On TB treatment", members: [p[3], p[4]] }).uuid;
  const empty = sim.store.createOf("cohort", { name: "Defaulters", description: "" }).uuid;
  const out = (sim.store.getOf("cohort", anc) as Cohort).memberships.find((m) => m.patient === p[1])!.uuid;
  sim.store.updateOf("cohort", anc, { remove: [out] });
  return [anc, tb, empty];
}

describe("cohorts end to end (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-cohorts",
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

  for (const mode of ["fhir2", "rest"] as const)
    it(`pull: cohorts with their members, then a member change, a rename and a void at the parent, arrive at the child (through ${mode})`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 91, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 92 });
      parent.generate({ patients: 6, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
      const [anc, tb, empty] = seedCohorts(parent);
      await parent.start();
      await child.start();
      const db = await run(PULL, mode);
      const feeds = feedNodes(PULL, "omrs_parent");
      assert.ok(
        feeds.some((f) => f.category === "cohort"),
        "the pull flow reads the cohort feed",
      );
      const pull = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, feeds), 90_000, "pull caught up");
        await converged(parent!, child!, 60_000);
      };

      await pull();
      assert.equal(assertCohortsEqual(parent, child), 3);
      assert.deepEqual(liveMembers(child.store.getOf("cohort", anc) as Cohort).length, 2);

      const since = Date.now();
      const patients = [...parent.store.patients.values()].map((p) => p.uuid);
      const memberships = (await call(parent, "GET", `/ws/rest/v1/cohort/${anc}/membership?v=full`)).results as {
        uuid: string;
        patientUuid: string;
        voided: boolean;
      }[];
      const leaving = memberships.find((m) => !m.voided && m.patientUuid === patients[0])!;
      await call(parent, "DELETE", `/ws/rest/v1/cohort/${anc}/membership/${leaving.uuid}`);
      await call(parent, "POST", `/ws/rest/v1/cohort/${anc}/membership`, { patientUuid: patients[5] });
      await call(parent, "POST", `/ws/rest/v1/cohort/${empty}`, { name: "Defaulters 2026", description: "Missed two visits" });
      await call(parent, "DELETE", `/ws/rest/v1/cohort/${tb}?reason=closed`);
      await pull();
      assert.equal(assertCohortsEqual(parent, child), 2);
      assert.deepEqual(liveMembers(child.store.getOf("cohort", anc) as Cohort), [patients[2], patients[5]].sort());
      assert.equal((child.store.getOf("cohort", tb) as Cohort).voided, true);
      assert.equal((child.store.getOf("cohort", empty) as Cohort).name, "Defaulters 2026");

      // Written through REST v1 (cohort and membership) in either mode, every write accepted.
      const writes = writesAt(child, since).filter((w) => /cohort|Group/.test(w.path));
      assert.ok(writes.length > 0);
      for (const w of writes) assert.ok(w.status < 300, `${w.method} ${w.path}: ${w.status}`);
      assert.ok(
        writes.some((w) => w.method === "DELETE" && w.path.includes(`/cohort/${anc}/membership/`)),
        "the member taken out",
      );
      if (mode === "rest")
        for (const sim of [parent, child])
          assert.deepEqual(
            sim.requests.filter((r) => r.kind === "fhir-get" || r.kind === "fhir-write"),
            [],
            "REST v1 alone",
          );
      else
        assert.ok(
          parent.requests.some((r) => r.kind === "fhir-get" && r.path.includes("/Group/")),
          "read through fhir2",
        );
      assert.deepEqual(parent.diff(child), []);
    });

  it("push: the clinic's cohorts with their members arrive at the parent", async () => {
    child = new OpenmrsSim({ name: "child", seed: 93 });
    parent = new OpenmrsSim({ name: "parent", seed: 94 });
    child.generate({ patients: 6, visitsPerPatient: 0 });
    const [anc] = seedCohorts(child);
    await child.start();
    await parent.start();
    const db = await run(PUSH, "auto");
    const feeds = feedNodes(PUSH, "omrs_child");
    const push = async () => {
      await inject(nodeRed!, "push_now");
      await until(() => feedsCaughtUp(db, child!, feeds), 90_000, "push caught up");
      await converged(child!, parent!, 90_000);
    };
    await push();
    assert.equal(assertCohortsEqual(child, parent), 3);
    const patients = [...child.store.patients.values()].map((p) => p.uuid);
    await call(child, "POST", `/ws/rest/v1/cohort/${anc}/membership`, { patientUuid: patients[4] });
    await push();
    assert.equal(assertCohortsEqual(child, parent), 3);
    assert.ok(liveMembers(parent.store.getOf("cohort", anc) as Cohort).includes(patients[4]));
    assert.deepEqual(child.diff(parent), []);
  });
  it("two-way: cohorts pulled from the parent (memberships written at the child) are not written back to it", async () => {
    parent = new OpenmrsSim({ name: "parent", seed: 95 });
    child = new OpenmrsSim({ name: "child", seed: 96 });
    parent.generate({ patients: 6, visitsPerPatient: 0 });
    seedCohorts(parent);
    await parent.start();
    await child.start();
    const flow = shippedFlow("two-way");
    const db = await run(flow, "auto");
    await inject(nodeRed!, "pull_now");
    await until(() => feedsCaughtUp(db, parent!, feedNodes(flow, "omrs_parent")), 90_000, "pull caught up");
    await converged(parent, child, 60_000);
    const since = Date.now();
    await inject(nodeRed!, "push_now");
    await until(() => feedsCaughtUp(db, child!, feedNodes(flow, "omrs_child")), 90_000, "push caught up");
    await until(() => queueEmpty(db), 90_000, "the push queue to settle every item");
    assert.ok(
      child.requests.some((r) => r.kind === "fhir-get" && r.path.includes("/Group/")),
      "the push side looked at the cohorts",
    );
    assert.deepEqual(writesAt(parent, since), [], "nothing written back to the parent");
    assert.equal(assertCohortsEqual(parent, child), 3);
  });
});
