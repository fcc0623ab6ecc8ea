/**
 * End to end: a new child whose database is a copy of the parent's starts the shipped pull flow after the
 * copy's last entries, or at the time of the copy, and writes only what changed at the parent since.
 * Node-RED (a real process, flows/pull-from-parent.json) + a simulated parent + a simulated child whose
 * store was loaded from the parent's data.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim, ENTRY_ID_PREFIX } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { converged, env, feedNodes, feedsCaughtUp, shippedFlow, until, useE2E, writesAt, type FlowNode } from "../helpers/e2e";

const PULL_FLOW = shippedFlow("pull-from-parent");
const FEEDS = feedNodes(PULL_FLOW, "omrs_parent");

describe("starting at an entry or a time on a copied database", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let nodeRed: NodeRedProcess | undefined;

  useE2E(
    "e2e-start-at",
    (d) => (dir = d),
    () => ({ nodeRed, sims: [parent, child] }),
    () => (nodeRed = parent = child = undefined),
  );

  /**
   * A parent with a few hundred records, a child loaded from a copy of its data (records and feed, as a
   * database copy holds them), then changes at the parent after the copy. The simulator stamps events
   * with the clock, so the copied events are moved ten minutes back: the copy's time then falls between
   * the last copied entry and the first later one whatever the machine's speed.
   */
  function copiedChild(seed: number) {
    const p = new OpenmrsSim({ name: "parent", dialect: "mixed", seed });
    // Every feed of the flow has entries: relatives (persons who are not patients) and their relationships, allergies and orders too.
    p.generate({
      patients: 60,
      visitsPerPatient: 1,
      encountersPerVisit: 2,
      obsPerEncounter: 2,
      conditionsPerPatient: 1,
      perPatient: { person: 1, allergy: 1, drug_order: 1, test_order: 1 },
    });
    // ... and a cohort.
    p.store.createOf("cohort", { name: "ANC", description: "Antenatal clients", members: [...p.store.patients.values()].slice(0, 5).map((x) => x.uuid) });
    p.mutate(100);
    const copiedAt = Date.now();
    p.store.events.forEach((e, i) => (e.timestamp = copiedAt - 600_000 + i));
    const copy = JSON.parse(JSON.stringify(p.store.toData())) as ReturnType<typeof p.store.toData>;
    const c = new OpenmrsSim({ name: "child", seed: seed + 1 });
    c.store.load(copy);
    assert.deepEqual(p.diff(c), [], "the child starts as a copy of the parent");
    assert.ok(c.store.recordCount() >= 400, `${c.store.recordCount()} records copied`);
    const lastEntry = Object.fromEntries(FEEDS.map((f) => [f.category, ENTRY_ID_PREFIX + c.store.categoryEvents(f.category).at(-1)!.uuid]));

    p.mutate(60);
    const later = p.store.events.slice(copy.events.length);
    assert.ok(later.length >= 60 && later.every((e) => e.timestamp >= copiedAt));
    return {
      p,
      c,
      copiedAt,
      lastEntry,
      copied: new Set(copy.events.map((e) => ENTRY_ID_PREFIX + e.uuid)),
      later: new Set(later.map((e) => ENTRY_ID_PREFIX + e.uuid)),
      changed: new Set(later.map((e) => e.object)),
    };
  }

  /** Runs the pull flow with each feed's start set from an environment variable, until the child equals the parent. */
  async function pull(startFrom: "entry" | "time", vars: Record<string, string>, variable: (category: string) => string) {
    const flow: FlowNode[] = PULL_FLOW.map((n) => (n.type === "atom-feed-in" ? { ...n, startFrom, startAt: `\${${variable(n.category!)}}` } : n));
    const db = path.join(dir, "sync.db");
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: flow, env: { ...env(parent!, child!, db), ...vars } });
    await nodeRed.start();
    await converged(parent!, child!, 180_000);
    await until(() => feedsCaughtUp(db, parent!, FEEDS), 60_000, "every feed's marker on its newest entry");
  }

  /** Only what changed after the copy was fetched from the parent and written into the child. */
  function onlyLaterChanges(run: ReturnType<typeof copiedChild>) {
    const writes = writesAt(child!);
    assert.ok(writes.length > 0, "the later changes were written");
    const stray = writes.filter((w) => !run.later.has(w.entry ?? ""));
    assert.deepEqual(
      stray.map((w) => `${w.method} ${w.path} ${w.entry}`),
      [],
      "no write for an entry the copy already held",
    );
    // (One record can take more than one request: a REST v1 create and its sub-resources, say.)
    const entries = new Set(writes.map((w) => w.entry));
    assert.ok(entries.size <= run.later.size, `writes for ${entries.size} entries, ${run.later.size} later entries`);
    // (A record created through REST v1 is a POST without the uuid in its path: its entry says which. A
    //  sub-resource's path names its owner first, patient/{p}/allergy/{a}: its entry says which too.)
    const subResource = (p: string) => /\/ws\/rest\/v1\/[^/?]+\/[^/?]+\/[^/?]+/.test(p);
    for (const w of writes)
      if (w.uuid && !subResource(w.path))
        assert.ok(run.changed.has(w.uuid), `${w.uuid} was written but had not changed since the copy (${w.method} ${w.path})`);
    const fetchedCopied = parent!.requests.filter((r) => (r.kind === "fhir-get" || r.kind === "rest-get") && r.entry && run.copied.has(r.entry));
    assert.deepEqual(
      fetchedCopied.map((r) => r.path),
      [],
      "nothing the copy held was fetched from the parent",
    );
    assert.doesNotMatch(nodeRed!.log, /uncaught|Unhandled|TypeError/i);
  }

  it("after each feed's last entry in the copy", async () => {
    const run = copiedChild(41);
    parent = run.p;
    child = run.c;
    await parent.start();
    await child.start();
    const variable = (category: string) => `SYNC_START_${category.toUpperCase()}`;
    await pull("entry", Object.fromEntries(FEEDS.map((f) => [variable(f.category), run.lastEntry[f.category]])), variable);
    onlyLaterChanges(run);
    assert.equal(nodeRed!.log.match(/starts after entry tag:atomfeed/g)?.length, FEEDS.length, nodeRed!.log.slice(-3000));
  });

  it("at the time the copy was taken", async () => {
    const run = copiedChild(51);
    parent = run.p;
    child = run.c;
    await parent.start();
    await child.start();
    await pull("time", { SYNC_START_TIME: new Date(run.copiedAt).toISOString() }, () => "SYNC_START_TIME");
    onlyLaterChanges(run);
    // Each feed found the copy's last entry from the time alone.
    for (const f of FEEDS)
      assert.ok(nodeRed!.log.includes(`starts after entry ${run.lastEntry[f.category]}`), `${f.category} starts after ${run.lastEntry[f.category]}`);
  });
});
