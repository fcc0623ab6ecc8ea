/**
 * Allergies end to end (issue 8), through the shipped flows in a real Node-RED process against the
 * simulators: parent -> child through the pull flow, read through fhir2 and through REST v1 alone
 * (`fhirMode: "rest"`, the Bahmni dialect too: one REST link to the patient sub-resource, no action), and
 * child -> parent through the push flow. Allergies are written through REST v1 under their patient (fhir2's
 * update would keep the allergen and append the reactions). Then allergies change as clinicians change
 * them (edited in place through REST, voided) and arrive again. Every allergy is compared field by field
 * on the stored records.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim, type Allergy } from "../../sim";
import { ciel, OTHER_NON_CODED, SEVERITY_CONCEPTS } from "../../sim/metadata";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { converged, env, feedNodes, feedsCaughtUp, inject, shippedFlow, until, useE2E, writesAt, type FlowNode, simCall as call } from "../helpers/e2e";

const PULL = shippedFlow("pull-from-parent");
const PUSH = shippedFlow("push-to-parent");

const allergiesOf = (sim: OpenmrsSim) => [...sim.store.records("allergy").values()] as Allergy[];

/** Every allergy of `source` at `target`, field by field (audit dates aside); voided ones voided or absent. */
function assertAllergiesEqual(source: OpenmrsSim, target: OpenmrsSim): number {
  const fields = (a: Allergy) => {
    const { auditInfo: _a, ...rest } = a;
    void _a;
    return rest;
  };
  let live = 0;
  for (const a of allergiesOf(source)) {
    const t = target.store.getOf("allergy", a.uuid) as Allergy | undefined;
    if (a.voided) {
      assert.ok(!t || t.voided, `allergy ${a.uuid} voided at the source, live at the target`);
      continue;
    }
    assert.ok(t, `allergy ${a.uuid} missing at the target`);
    assert.deepEqual(fields(t), fields(a), `allergy ${a.uuid}`);
    live++;
  }
  for (const t of allergiesOf(target))
    if (!t.voided) assert.ok(source.store.getOf("allergy", t.uuid)?.voided === false, `allergy ${t.uuid} only at the target`);
  return live;
}

/** Allergies as clinicians leave them: non-coded with a free-text reaction, several reactions, no severity. */
function seedAllergies(sim: OpenmrsSim): void {
  const without = (allergen: string, not?: string) =>
    [...sim.store.patients.values()].find((p) => p.uuid !== not && !allergiesOf(sim).some((a) => a.patient === p.uuid && a.codedAllergen === allergen))!.uuid;
  const first = without(OTHER_NON_CODED);
  sim.store.createOf("allergy", {
    patient: first,
    allergenType: "ENVIRONMENT",
    codedAllergen: OTHER_NON_CODED,
    nonCodedAllergen: "Latex gloves",
    severity: SEVERITY_CONCEPTS.moderate,
    comment: "Wears vinyl gloves.",
    reactions: [
      { reaction: ciel(512), reactionNonCoded: null },
      { reaction: OTHER_NON_CODED, reactionNonCoded: "Itchy eyes" },
    ],
  });
  sim.store.createOf("allergy", {
    patient: without(ciel(162302), first),
    allergenType: "FOOD",
    codedAllergen: ciel(162302),
    reactions: [{ reaction: ciel(148888), reactionNonCoded: null }],
  });
}

/** One allergy edited in place through REST (reactions replaced, comment cleared), one voided. */
async function editAllergies(sim: OpenmrsSim): Promise<{ edited: string; voided: string }> {
  const [a, b] = allergiesOf(sim).filter((x) => !x.voided && x.reactions.length > 0);
  await call(sim, "POST", `/ws/rest/v1/patient/${a.patient}/allergy/${a.uuid}`, {
    severity: SEVERITY_CONCEPTS.severe,
    comment: null,
    reactions: [{ reaction: ciel(5978) }, { reaction: ciel(139084) }],
  });
  await call(sim, "DELETE", `/ws/rest/v1/patient/${b.patient}/allergy/${b.uuid}?reason=entered%20in%20error`);
  return { edited: a.uuid, voided: b.uuid };
}

describe("allergies end to end (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-allergies",
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
    it(`pull: allergies, then an edit and a void at the parent, arrive at the child (through ${mode})`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 91, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 92 });
      parent.generate({ patients: 6, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { allergy: 2 } });
      seedAllergies(parent);
      await parent.start();
      await child.start();
      const db = await run(PULL, mode);
      const feeds = feedNodes(PULL, "omrs_parent");
      assert.ok(
        feeds.some((f) => f.category === "allergy"),
        "the pull flow reads the allergy feed",
      );
      const pull = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, feeds), 90_000, "pull caught up");
        await converged(parent!, child!, 60_000);
      };
      await pull();
      const first = assertAllergiesEqual(parent, child);
      assert.ok(first >= 8, `${first} allergies`);

      const since = Date.now();
      const { edited, voided } = await editAllergies(parent);
      await pull();
      assert.equal(assertAllergiesEqual(parent, child), first - 1);
      assert.equal((child.store.getOf("allergy", voided) as Allergy).voided, true);
      const e = child.store.getOf("allergy", edited) as Allergy;
      assert.deepEqual(
        e.reactions.map((r) => r.reaction),
        [ciel(5978), ciel(139084)],
      );
      assert.equal(e.comment, null);
      const writes = writesAt(child, since).filter((w) => /allerg/i.test(w.path));
      assert.ok(writes.length > 0);
      for (const w of writes) assert.ok(w.status < 300, `${w.method} ${w.path}: ${w.status}`);
      assert.ok(
        writes.some((w) => w.method === "POST" && w.path.startsWith(`/openmrs/ws/rest/v1/patient/${e.patient}/allergy/${edited}`)),
        "the edit in place, under the patient",
      );
      assert.ok(!writes.some((w) => w.method === "PUT"), "never fhir2's appending PUT");
      if (mode === "rest")
        for (const sim of [parent, child])
          assert.deepEqual(
            sim.requests.filter((r) => r.kind === "fhir-get" || r.kind === "fhir-write"),
            [],
            "REST v1 alone",
          );
      assert.deepEqual(parent.diff(child), []);
    });

  it("push: the clinic's allergies, then an edit and a void, arrive at the parent", async () => {
    child = new OpenmrsSim({ name: "child", seed: 93 });
    parent = new OpenmrsSim({ name: "parent", seed: 94 });
    child.generate({ patients: 5, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { allergy: 2 } });
    seedAllergies(child);
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
    const first = assertAllergiesEqual(child, parent);
    assert.ok(first >= 6, `${first} allergies`);
    const { edited, voided } = await editAllergies(child);
    await push();
    assert.equal(assertAllergiesEqual(child, parent), first - 1);
    assert.equal((parent.store.getOf("allergy", voided) as Allergy).voided, true);
    assert.equal((parent.store.getOf("allergy", edited) as Allergy).severity, SEVERITY_CONCEPTS.severe);
    assert.deepEqual(child.diff(parent), []);
  });
});
