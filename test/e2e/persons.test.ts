/**
 * Persons who are not patients end to end (issue 8), through the shipped flows in a real Node-RED process
 * against the simulators: relatives (with death, addresses, attributes) and their relationships to patients
 * go parent -> child through the pull flow with fhir2 and with REST v1 alone, and child -> parent through
 * the push flow; then a person is edited and one voided at the source. Persons travel through REST v1 in
 * both modes (fhir2's Person has no death and no attribute uuids). Compared field by field on the stored
 * records; the relationships to them arrive too (they wait for their persons).
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim, type Person } from "../../sim";
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
const PHONE = "14d4f066-15f5-102d-96e4-000c29c2a5d7";
const CIVIL = "8d871f2a-c2cc-11de-8d13-0010c6dffd0f";
const PARENT_CHILD = "8d91a210-c2cc-11de-8d13-0010c6dffd0f";

const MALARIA = ciel(160148);

const personsOf = (sim: OpenmrsSim) => [...sim.store.records("person").values()] as Person[];

/** Every person of `source` at `target`, field by field (all but the audit dates); voided ones voided. */
function assertPersonsEqual(source: OpenmrsSim, target: OpenmrsSim): number {
  const fields = (p: Person) => {
    const { auditInfo: _a, ...rest } = p;
    void _a;
    const byUuid = <T extends { uuid: string }>(xs: T[] | undefined) => [...(xs ?? [])].sort((a, b) => a.uuid.localeCompare(b.uuid));
    return { ...rest, names: byUuid(p.names), addresses: byUuid(p.addresses), attributes: byUuid(p.attributes) };
  };
  let live = 0;
  for (const p of personsOf(source)) {
    const t = target.store.getOf("person", p.uuid) as Person | undefined;
    if (p.voided) {
      assert.ok(!t || t.voided, `person ${p.uuid} voided at the source, live at the target`);
      continue;
    }
    assert.ok(t, `person ${p.uuid} missing at the target`);
    assert.deepEqual(fields(t), fields(p), `person ${p.uuid}`);
    live++;
  }
  return live;
}

/** A late mother (death date, two names, an address, two attributes) of the first patient, through REST. */
async function seedPerson(sim: OpenmrsSim): Promise<string> {
  const mother = await call(sim, "POST", "/ws/rest/v1/person", {
    gender: "F",
    birthdate: "1948-02-03",
    dead: true,
    deathDate: "2024-09-10T11:12:13.000+0000",
    names: [
      { givenName: "Auma", familyName: "Ochieng", preferred: true },
      { givenName: "Auma", middleName: "Grace", familyName: "Odhiambo" },
    ],
    addresses: [{ address1: "Plot 7", cityVillage: "Kisumu", country: "Kenya", preferred: true }],
    attributes: [
      { attributeType: PHONE, value: "+254 711 222 333" },
      { attributeType: CIVIL, value: "Widowed" },
    ],
  });
  const patient = [...sim.store.patients.values()][0].uuid;
  await call(sim, "POST", "/ws/rest/v1/relationship", { personA: mother.uuid, relationshipType: PARENT_CHILD, personB: patient });
  return String(mother.uuid);
}

/** One person's gender and phone changed, another voided, through REST at `sim`. */
async function editPersons(sim: OpenmrsSim, seeded: string): Promise<string> {
  await call(sim, "POST", `/ws/rest/v1/person/${seeded}`, { attributes: [{ attributeType: PHONE, value: "+254 799 999 999" }] });
  const other = personsOf(sim).find((p) => !p.voided && p.uuid !== seeded)!;
  await call(sim, "DELETE", `/ws/rest/v1/person/${other.uuid}?reason=duplicate`);
  return other.uuid;
}

describe("persons end to end (Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-persons",
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
    it(`pull: relatives who are not patients and their relationships arrive, then an edit and a void (through ${mode})`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 361, dialect: mode === "rest" ? "mixed" : "sync2" });
      child = new OpenmrsSim({ name: "child", seed: 362 });
      parent.generate({ patients: 5, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { person: 1 } });
      await parent.start();
      await child.start();
      const seeded = await seedPerson(parent);
      const db = await run(PULL, mode);
      const feeds = feedNodes(PULL, "omrs_parent");
      assert.ok(
        feeds.some((f) => f.category === "person"),
        "the pull flow reads the person feed",
      );
      const pull = async () => {
        await inject(nodeRed!, "pull_now");
        await until(() => feedsCaughtUp(db, parent!, feeds), 90_000, "pull caught up");
        await converged(parent!, child!, 60_000);
      };
      await pull();
      assert.equal(assertPersonsEqual(parent, child), 6);
      const mother = child.store.getOf("person", seeded) as Person;
      assert.equal(mother.deathDate, "2024-09-10T11:12:13.000+0000");
      assert.equal(child.store.patients.has(seeded), false, "not made a patient");
      const since = Date.now();
      const voided = await editPersons(parent, seeded);
      await pull();
      assert.equal(assertPersonsEqual(parent, child), 5);
      assert.equal((child.store.getOf("person", voided) as Person).voided, true);
      const writes = writesAt(child, since).filter((w) => /person/i.test(w.path));
      assert.ok(writes.length >= 2);
      for (const w of writes) assert.ok(w.status < 300 && w.path.startsWith("/openmrs/ws/rest/v1/person/"), `${w.method} ${w.path}: ${w.status}`);
      assert.deepEqual(parent.diff(child), []);
    });

  it("two-way: persons, relationships and encounter diagnoses pulled from the parent are not written back to it", async () => {
    parent = new OpenmrsSim({ name: "parent", seed: 381 });
    child = new OpenmrsSim({ name: "child", seed: 382 });
    parent.generate({ patients: 4, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { person: 1 } });
    await parent.start();
    await child.start();
    await seedPerson(parent);
    const enc = [...parent.store.encounters.values()][0];
    await call(parent, "POST", `/ws/rest/v1/encounter/${enc.uuid}`, {
      diagnoses: [
        { diagnosis: { coded: MALARIA }, certainty: "CONFIRMED", rank: 1 },
        { diagnosis: { nonCoded: "Suspected typhoid" }, certainty: "PROVISIONAL", rank: 2 },
      ],
    });
    const flow = shippedFlow("two-way");
    const db = await run(flow, "auto");
    await inject(nodeRed!, "pull_now");
    await until(() => feedsCaughtUp(db, parent!, feedNodes(flow, "omrs_parent")), 90_000, "pull caught up");
    await converged(parent, child, 60_000);
    const since = Date.now();
    await inject(nodeRed!, "push_now");
    await until(() => feedsCaughtUp(db, child!, feedNodes(flow, "omrs_child")), 90_000, "push caught up");
    await until(() => queueEmpty(db), 90_000, "the push queue to settle every item");
    assert.ok(child.requests.filter((r) => r.path.includes("/ws/rest/v1/relationship/")).length >= 5, "the push side looked at every relationship");
    assert.deepEqual(writesAt(parent, since), [], "nothing written back to the parent");
    assert.equal(assertPersonsEqual(parent, child), 5);
    assert.deepEqual(parent.diff(child), []);
  });

  it("push: the clinic's relatives arrive at the parent, then an edit and a void", async () => {
    child = new OpenmrsSim({ name: "child", seed: 371 });
    parent = new OpenmrsSim({ name: "parent", seed: 372 });
    child.generate({ patients: 4, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1, perPatient: { person: 1 } });
    await child.start();
    await parent.start();
    const seeded = await seedPerson(child);
    const db = await run(PUSH, "auto");
    const feeds = feedNodes(PUSH, "omrs_child");
    const push = async () => {
      await inject(nodeRed!, "push_now");
      await until(() => feedsCaughtUp(db, child!, feeds), 90_000, "push caught up");
      await converged(child!, parent!, 90_000);
    };
    await push();
    assert.equal(assertPersonsEqual(child, parent), 5);
    await editPersons(child, seeded);
    await push();
    assert.equal(assertPersonsEqual(child, parent), 4);
    assert.deepEqual(child.diff(parent), []);
  });
});
