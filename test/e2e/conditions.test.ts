/**
 * Conditions end to end (issue 8), through the shipped flows in a real Node-RED process against the
 * simulators: parent -> child through the pull flow, read and written through fhir2 and through REST v1
 * alone (`fhirMode: "rest"` on both openmrs-server nodes); child -> parent through the push flow. Then
 * conditions change at the source as clinicians change them: edited through REST (openmrs-core voids
 * the condition and saves the edit under a new uuid), edited in place through fhir2 (as O3 does; fhir2
 * targets only: REST v1 cannot edit a condition in place), voided. After each round `diff` is empty and
 * every condition is compared field by field on the stored records.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim, type Condition } from "../../sim";
import { ciel } from "../../sim/metadata";
import { NodeRedProcess } from "../../scripts/node-red-process";
import {
  converged,
  env,
  feedNodes,
  feedsCaughtUp,
  inject,
  queueEmpty,
  shippedFlow,
  until,
  useE2E,
  writesAt,
  type FlowNode,
  simCall as call,
} from "../helpers/e2e";

const PULL = shippedFlow("pull-from-parent");
const PUSH = shippedFlow("push-to-parent");

const conditionsOf = (sim: OpenmrsSim) => [...sim.store.records("condition").values()] as Condition[];

/**
 * Every condition of `source` at `target`, field by field: a live one equal in everything but the audit
 * dates and previousVersion (neither REST v1 nor fhir2 carries the link to the replaced version), a
 * voided one voided. Nothing live at the target that the source does not have live.
 */
function assertConditionsEqual(source: OpenmrsSim, target: OpenmrsSim): number {
  const fields = (c: Condition) => {
    const { auditInfo: _a, previousVersion: _p, ...rest } = c;
    void _a;
    void _p;
    return rest;
  };
  let live = 0;
  for (const c of conditionsOf(source)) {
    const t = target.store.getOf("condition", c.uuid) as Condition | undefined;
    if (c.voided) {
      assert.ok(!t || t.voided, `condition ${c.uuid} voided at the source, live at the target`);
      continue;
    }
    assert.ok(t, `condition ${c.uuid} missing at the target`);
    assert.deepEqual(fields(t), fields(c), `condition ${c.uuid}`);
    live++;
  }
  for (const t of conditionsOf(target))
    if (!t.voided) assert.ok(source.store.getOf("condition", t.uuid)?.voided === false, `condition ${t.uuid} only at the target`);
  return live;
}

/** Conditions as clinicians leave them: coded and free text, every verification status, ended, with details. */
function seedConditions(sim: OpenmrsSim): void {
  const patients = [...sim.store.patients.values()].map((p) => p.uuid);
  sim.store.createOf("condition", { patient: patients[0], nonCoded: "Chronic back pain", clinicalStatus: "ACTIVE", additionalDetail: "Since 2019." });
  sim.store.createOf("condition", {
    patient: patients[1],
    coded: ciel(121375),
    nonCoded: "exercise-induced",
    clinicalStatus: "INACTIVE",
    verificationStatus: "PROVISIONAL",
    onsetDate: "2021-02-03T04:05:06.789+0000",
    endDate: "2022-02-03T00:00:00.000+0000",
  });
}

/**
 * The edits of one round at `sim`, through its own APIs: one condition edited through REST (a new
 * version), one voided, and (when `inPlace`) one edited in place through fhir2. Returns the new version's uuid.
 */
async function editConditions(sim: OpenmrsSim, inPlace: boolean): Promise<{ replaced: string; replacement: string; voided: string; edited?: string }> {
  const live = conditionsOf(sim).filter((c) => !c.voided && c.coded);
  const [a, b, c] = live;
  const replacement = await call(sim, "POST", `/ws/rest/v1/condition/${a.uuid}`, { clinicalStatus: "INACTIVE", endDate: "2026-01-15T09:30:00.000+0000" });
  await call(sim, "DELETE", `/ws/rest/v1/condition/${b.uuid}?reason=entered%20in%20error`);
  let edited: string | undefined;
  if (inPlace) {
    const r = await call(sim, "GET", `/ws/fhir2/R4/Condition/${c.uuid}`);
    await call(sim, "PUT", `/ws/fhir2/R4/Condition/${c.uuid}`, { ...r, note: [{ text: "Reviewed: stable on treatment." }], verificationStatus: undefined });
    edited = c.uuid;
  }
  assert.notEqual(replacement.uuid, a.uuid);
  return { replaced: a.uuid, replacement: String(replacement.uuid), voided: b.uuid, edited };
}

describe("conditions end to end (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-conditions",
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
    it(`pull: conditions, then an edit, an edit in place and a void at the parent, arrive at the child (through ${mode})`, async () => {
      // REST alone reads the Bahmni dialect too (one REST link, no action); fhir2 the Sync 2.0 one.
      parent = new OpenmrsSim({ name: "parent", seed: 61, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 62 });
      parent.generate({ patients: 8, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, conditionsPerPatient: 2 });
      seedConditions(parent);
      await parent.start();
      await child.start();
      const db = await run(PULL, mode);
      const feeds = feedNodes(PULL, "omrs_parent");
      assert.ok(
        feeds.some((f) => f.category === "condition"),
        "the pull flow reads the condition feed",
      );
      const pull = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, feeds), 90_000, "pull caught up");
        await converged(parent!, child!, 60_000);
      };

      await pull();
      assert.equal(assertConditionsEqual(parent, child), 18);

      const since = Date.now();
      const { replaced, replacement, voided, edited } = await editConditions(parent, mode === "fhir2");
      await pull();
      assert.equal(assertConditionsEqual(parent, child), 17);
      assert.equal((child.store.getOf("condition", replaced) as Condition).voided, true);
      assert.equal((child.store.getOf("condition", replacement) as Condition).clinicalStatus, "INACTIVE");
      assert.equal((child.store.getOf("condition", voided) as Condition).voided, true);
      if (edited) {
        const c = child.store.getOf("condition", edited) as Condition;
        assert.equal(c.additionalDetail, "Reviewed: stable on treatment.");
        assert.equal(c.verificationStatus, null);
      }
      // Every condition write at the child went through (a fhir2 PUT of a new one answers 404, then REST creates it).
      const writes = writesAt(child, since).filter((w) => /condition/i.test(w.path));
      assert.ok(writes.length > 0);
      for (const w of writes) assert.ok(w.status < 300 || (w.method === "PUT" && w.status === 404), `${w.method} ${w.path}: ${w.status}`);
      assert.ok(
        writes.some((w) => w.method === "POST" && w.path.startsWith("/openmrs/ws/rest/v1/condition") && w.status === 201),
        "the new version created with its uuid",
      );
      if (mode === "fhir2")
        assert.ok(
          writes.some((w) => w.method === "PUT" && w.path === `/openmrs/ws/fhir2/R4/Condition/${edited}` && w.status === 200),
          "the edit in place",
        );
      else
        for (const sim of [parent, child])
          assert.deepEqual(
            sim.requests.filter((r) => r.kind === "fhir-get" || r.kind === "fhir-write"),
            [],
            "REST v1 alone",
          );
      assert.deepEqual(parent.diff(child), []);
    });

  it("two-way: conditions pulled from the parent are not written back to it", async () => {
    parent = new OpenmrsSim({ name: "parent", seed: 81 });
    child = new OpenmrsSim({ name: "child", seed: 82 });
    parent.generate({ patients: 5, visitsPerPatient: 0, conditionsPerPatient: 2 });
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
    assert.ok(child.requests.filter((r) => r.kind === "fhir-get" && r.path.includes("/Condition/")).length >= 10, "the push side looked at every condition");
    assert.deepEqual(writesAt(parent, since), [], "nothing written back to the parent");
    assert.equal(assertConditionsEqual(parent, child), 10);
  });

  it("push: the clinic's conditions, then its edits and a void, arrive at the parent", async () => {
    child = new OpenmrsSim({ name: "child", seed: 71 });
    parent = new OpenmrsSim({ name: "parent", seed: 72 });
    child.generate({ patients: 6, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, conditionsPerPatient: 2 });
    seedConditions(child);
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
    assert.equal(assertConditionsEqual(child, parent), 14);
    const { replaced, replacement, voided, edited } = await editConditions(child, true);
    await push();
    assert.equal(assertConditionsEqual(child, parent), 13);
    assert.equal((parent.store.getOf("condition", replaced) as Condition).voided, true);
    assert.equal((parent.store.getOf("condition", replacement) as Condition).endDate, "2026-01-15T09:30:00.000+0000");
    assert.equal((parent.store.getOf("condition", voided) as Condition).voided, true);
    assert.equal((parent.store.getOf("condition", edited!) as Condition).additionalDetail, "Reviewed: stable on treatment.");
    assert.ok(
      writesAt(parent).some((w) => w.method === "PUT" && w.path === `/openmrs/ws/fhir2/R4/Condition/${edited}` && w.status === 200),
      "the edit in place",
    );
    assert.deepEqual(child.diff(parent), []);
  });
});
