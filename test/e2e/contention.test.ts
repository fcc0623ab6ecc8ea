/**
 * The two-way scenario on a busy machine: two busy-loop processes share the cores with Node-RED and
 * the simulators. Five rounds, each from scratch: the child pulls the parent's records, then the
 * clinic creates and changes records; every change must reach the parent, with no echo write (nothing
 * the child only pulled is written back, and nothing the child pushed is pulled back). A stall here is
 * a bug: the figures printed are how long each round took.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { env, feedNodes, feedsCaughtUp, shippedFlow, until, useE2E, writesAt } from "../helpers/e2e";

const TWO_WAY = shippedFlow("two-way");
const ROUNDS = 5;

describe("two-way sync under CPU contention", function () {
  this.timeout(900_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;
  const busy: ChildProcess[] = [];
  const figures: string[] = [];

  before(() => {
    for (let i = 0; i < 2; i++) busy.push(spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
  });
  after(() => {
    for (const p of busy) p.kill("SIGKILL");
    if (figures.length) console.log(`      rounds (initial pull; clinic changes at the parent): ${figures.join(" | ")}`);
  });

  useE2E(
    "e2e-contention",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: clinic changes reach the parent, no echo writes`, async () => {
      parent = new OpenmrsSim({ name: "parent", seed: 500 + round });
      child = new OpenmrsSim({ name: "child", seed: 600 + round });
      parent.generate({ patients: 30, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 2 });
      await parent.start();
      await child.start();
      const db = path.join(dir, "sync.db");
      nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: TWO_WAY, env: env(parent, child, db, "1") });
      const t0 = Date.now();
      await nodeRed.start();
      await until(() => parent!.diff(child!).length === 0, 120_000, "the initial pull");
      // The child's own feeds report every pulled record: the push side reads them all and writes nothing.
      await until(() => feedsCaughtUp(db, child!, feedNodes(TWO_WAY, "omrs_child")), 120_000, "the push feeds to catch up");
      const pulled = (Date.now() - t0) / 1000;
      assert.deepEqual(
        writesAt(parent, t0).map((r) => `${r.method} ${r.path}`),
        [],
        "nothing pulled is written back",
      );

      // The clinic works: ten new patients with visits, and changes to records it holds.
      const mark = Date.now();
      const eventsBefore = child.store.events.length;
      child.generate({ patients: 10, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
      child.mutate(10);
      const changed = new Set(child.store.events.slice(eventsBefore).map((e) => e.object));
      await until(() => parent!.diff(child!).length === 0, 120_000, "the clinic's changes at the parent").catch((err: Error) => {
        throw new Error(`${err.message}; still different: ${parent!.diff(child!).slice(0, 5).join("; ")}`);
      });
      const pushed = (Date.now() - mark) / 1000;
      figures.push(`${pulled.toFixed(1)} s; ${pushed.toFixed(1)} s`);
      const echoes = writesAt(parent, mark).filter((r) => r.status < 300 && r.uuid && !changed.has(r.uuid));
      assert.deepEqual(
        echoes.map((r) => `${r.method} ${r.path}`),
        [],
        "only what the clinic changed is written to the parent",
      );
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(
        writesAt(child, mark).map((r) => `${r.method} ${r.path}`),
        [],
        "nothing the child pushed is pulled back into it",
      );
      assert.ok(nodeRed.running);
    });
  }
});
