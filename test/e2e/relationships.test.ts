/**
 * Relationships end to end (issue 8), through the shipped flows in a real Node-RED process against the
 * simulators: parent -> child through the pull flow, with fhir2 (Sync 2.0 feed whose relationship
 * entries link /ws/fhir2/R4/Relationship, as omod-atomfeed's default configuration does) and through
 * REST v1 alone (`fhirMode: "rest"`, Bahmni and Sync 2.0 entries mixed); child -> parent through the push
 * flow. fhir2's RelatedPerson is read only and has no relationship type, so relationships travel through
 * REST v1 both ways, with their uuid. Then they change at the source (a new type, an end date, a void) and
 * arrive again. After each round every relationship is compared field by field on the stored records.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim, type Relationship } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { converged, env, feedNodes, feedsCaughtUp, inject, shippedFlow, until, useE2E, writesAt, type FlowNode, simCall as call } from "../helpers/e2e";

const PULL = shippedFlow("pull-from-parent");
const PUSH = shippedFlow("push-to-parent");
const SIBLING = "8d91a01c-c2cc-11de-8d13-0010c6dffd0f";
const AUNT_UNCLE = "8d91a3dc-c2cc-11de-8d13-0010c6dffd0f";

const relationshipsOf = (sim: OpenmrsSim) => [...sim.store.records("relationship").values()] as Relationship[];

/** Every relationship of `source` at `target`, field by field (all but the audit dates); voided ones voided. */
function assertRelationshipsEqual(source: OpenmrsSim, target: OpenmrsSim): number {
  const fields = (r: Relationship) => {
    const { auditInfo: _a, ...rest } = r;
    void _a;
    return rest;
  };
  let live = 0;
  for (const r of relationshipsOf(source)) {
    const t = target.store.getOf("relationship", r.uuid) as Relationship | undefined;
    if (r.voided) {
      assert.ok(!t || t.voided, `relationship ${r.uuid} voided at the source, live at the target`);
      continue;
    }
    assert.ok(t, `relationship ${r.uuid} missing at the target`);
    assert.deepEqual(fields(t), fields(r), `relationship ${r.uuid}`);
    live++;
  }
  for (const t of relationshipsOf(target))
    if (!t.voided) assert.ok(source.store.getOf("relationship", t.uuid)?.voided === false, `relationship ${t.uuid} only at the target`);
  return live;
}

/** Relationships with and without dates, one ended, made through REST as a registration clerk does. */
async function seedRelationships(sim: OpenmrsSim): Promise<void> {
  const p = [...sim.store.patients.values()].map((x) => x.uuid);
  await call(sim, "POST", "/ws/rest/v1/relationship", { personA: p[0], relationshipType: SIBLING, personB: p[1] });
  await call(sim, "POST", "/ws/rest/v1/relationship", {
    personA: p[2],
    relationshipType: AUNT_UNCLE,
    personB: p[3],
    startDate: "2019-03-04T05:06:07.000+0200",
    endDate: "2025-12-31T00:00:00.000+0000",
  });
}

/** One relationship's type changed, one ended, one voided, through REST at `sim`. */
async function editRelationships(sim: OpenmrsSim): Promise<{ retyped: string; ended: string; voided: string }> {
  const [x, y, z] = relationshipsOf(sim).filter((r) => !r.voided && !r.endDate);
  await call(sim, "POST", `/ws/rest/v1/relationship/${x.uuid}`, { relationshipType: x.relationshipType === SIBLING ? AUNT_UNCLE : SIBLING });
  await call(sim, "POST", `/ws/rest/v1/relationship/${y.uuid}`, { endDate: "2026-01-15T09:30:00.000+0000" });
  await call(sim, "DELETE", `/ws/rest/v1/relationship/${z.uuid}?reason=entered%20in%20error`);
  return { retyped: x.uuid, ended: y.uuid, voided: z.uuid };
}

describe("relationships end to end (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-relationships",
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
    it(`pull: relationships, then a new type, an end date and a void at the parent, arrive at the child (through ${mode})`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 161, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 162 });
      parent.generate({ patients: 8, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { relationship: 1 } });
      await parent.start();
      await child.start();
      await seedRelationships(parent);
      const db = await run(PULL, mode);
      const feeds = feedNodes(PULL, "omrs_parent");
      assert.ok(
        feeds.some((f) => f.category === "relationship"),
        "the pull flow reads the relationship feed",
      );
      const pull = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, feeds), 90_000, "pull caught up");
        await converged(parent!, child!, 60_000);
      };

      await pull();
      const first = assertRelationshipsEqual(parent, child);
      assert.ok(first >= 9, `${first} relationships`);

      const since = Date.now();
      const { retyped, ended, voided } = await editRelationships(parent);
      await pull();
      assert.equal(assertRelationshipsEqual(parent, child), first - 1);
      assert.equal(
        (child.store.getOf("relationship", retyped) as Relationship).relationshipType,
        (parent.store.getOf("relationship", retyped) as Relationship).relationshipType,
      );
      assert.equal((child.store.getOf("relationship", ended) as Relationship).endDate, "2026-01-15T09:30:00.000+0000");
      assert.equal((child.store.getOf("relationship", voided) as Relationship).voided, true);
      // Written through REST v1 in both modes: fhir2 cannot write a RelatedPerson.
      const writes = writesAt(child, since).filter((w) => /relationship|RelatedPerson/i.test(w.path));
      assert.ok(writes.length >= 3);
      for (const w of writes) assert.ok(w.status < 300 && w.path.startsWith("/openmrs/ws/rest/v1/relationship/"), `${w.method} ${w.path}: ${w.status}`);
      assert.deepEqual(
        parent.requests.filter((r) => r.path.includes("/RelatedPerson/") || r.path.includes("/Relationship/")),
        [],
        "relationships are read through REST v1 (fhir2's RelatedPerson has no type)",
      );
      if (mode === "rest")
        for (const sim of [parent, child])
          assert.deepEqual(
            sim.requests.filter((r) => r.kind === "fhir-get" || r.kind === "fhir-write"),
            [],
            "REST v1 alone",
          );
      assert.deepEqual(parent.diff(child), []);
    });

  it("push: the clinic's relationships, then its edits and a void, arrive at the parent", async () => {
    child = new OpenmrsSim({ name: "child", seed: 171 });
    parent = new OpenmrsSim({ name: "parent", seed: 172 });
    child.generate({ patients: 6, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { relationship: 1 } });
    await child.start();
    await parent.start();
    await seedRelationships(child);
    const db = await run(PUSH, "auto");
    const feeds = feedNodes(PUSH, "omrs_child");
    const push = async () => {
      await inject(nodeRed!, "push_now");
      await until(() => feedsCaughtUp(db, child!, feeds), 90_000, "push caught up");
      await converged(child!, parent!, 90_000);
    };

    await push();
    const first = assertRelationshipsEqual(child, parent);
    assert.ok(first >= 7, `${first} relationships`);
    const { ended, voided } = await editRelationships(child);
    await push();
    assert.equal(assertRelationshipsEqual(child, parent), first - 1);
    assert.equal((parent.store.getOf("relationship", ended) as Relationship).endDate, "2026-01-15T09:30:00.000+0000");
    assert.equal((parent.store.getOf("relationship", voided) as Relationship).voided, true);
    assert.deepEqual(child.diff(parent), []);
  });
});
