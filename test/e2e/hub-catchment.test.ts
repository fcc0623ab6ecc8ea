/**
 * Catchment with real processes: one hub (Node-RED running the shipped flows/hub.json) in front of a
 * simulated parent whose patients live in two districts (identifier and visit locations), and two clinics
 * (Node-RED running the shipped, unchanged pull flow, each with its own key limited to its district's
 * locations) writing into their own simulators. Each clinic ends with exactly its own patients and their
 * visits, encounters and observations; neither holds a record of the other's, and the hub's access audit
 * shows neither clinic ever read one. Around it, over HTTP with clinic A's key: B's patients, visits and
 * observations are 404 through fhir2 and REST, a search finds none of them, and no page of any feed
 * names one. Metadata reads are open to both.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { LOCATIONS } from "../../sim/metadata";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { parseFeedPage } from "../../lib/atom/parse";
import { shippedFlow, until, useE2E } from "../helpers/e2e";

const HUB_FLOW = shippedFlow("hub");
const PULL_FLOW = shippedFlow("pull-from-parent");
const DISTRICT = { a: [LOCATIONS[0].uuid, LOCATIONS[1].uuid], b: [LOCATIONS[2].uuid, LOCATIONS[3].uuid] };

describe("hub catchment: two clinics, one hub, neither sees the other's patients", function () {
  this.timeout(400_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  const children: Record<string, OpenmrsSim> = {};
  let hub: NodeRedProcess | undefined;
  const clinics: NodeRedProcess[] = [];

  useE2E(
    "e2e-hub-catchment",
    (d) => (dir = d),
    () => ({ nodeRed: hub, sims: [parent, ...Object.values(children)] }),
    () => (hub = parent = undefined),
  );
  afterEach(async () => {
    for (const c of clinics.splice(0)) await c.stop();
  });

  it("gives each clinic exactly its district's patients through feeds and record URLs, and nothing of the other's", async () => {
    parent = new OpenmrsSim({ name: "parent", seed: 91 });
    parent.generate({ patients: 10, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 2 });
    // Patients 0, 2, 4… registered and seen in district A; 1, 3, 5… in B.
    const s = parent.store;
    const district = new Map<string, "a" | "b">();
    [...s.patients.values()].forEach((p, i) => {
      const d = i % 2 === 0 ? "a" : "b";
      district.set(p.uuid, d);
      s.patients.set({ ...p, identifiers: p.identifiers.map((id) => ({ ...id, location: DISTRICT[d][0] })) });
    });
    for (const v of s.visits.values()) s.visits.set({ ...v, location: DISTRICT[district.get(v.patient)!][1] });
    for (const e of s.encounters.values()) s.encounters.set({ ...e, location: DISTRICT[district.get(e.patient)!][1] });
    const of = (d: "a" | "b") => ({
      patients: [...s.patients.values()].filter((p) => district.get(p.uuid) === d).map((p) => p.uuid),
      visits: [...s.visits.values()].filter((v) => district.get(v.patient) === d).map((v) => v.uuid),
      encounters: [...s.encounters.values()].filter((e) => district.get(e.patient) === d).map((e) => e.uuid),
      obs: [...s.obs.values()].filter((o) => district.get(o.person) === d).map((o) => o.uuid),
    });
    const mine = { a: of("a"), b: of("b") };
    const parentUrl = await parent.start();

    const hubDb = path.join(dir, "hub.db");
    hub = new NodeRedProcess({
      userDir: path.join(dir, "hub"),
      flows: HUB_FLOW,
      env: { SYNC_DB_PATH: hubDb, OPENMRS_PARENT_URL: parentUrl, OPENMRS_PARENT_USER: "admin", OPENMRS_PARENT_PASSWORD: "Admin123", SYNC_POLL_SECONDS: "1" },
    });
    await hub.start();
    const keys: Record<string, { id: string; name: string; secret: string }> = {};
    for (const d of ["a", "b"] as const) {
      const res: Response = await fetch(`${hub.url}/openmrs-sync/keys`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: `clinic-${d}`, catchment: { locations: DISTRICT[d] } }),
      });
      assert.equal(res.status, 201);
      keys[d] = (await res.json()) as { id: string; name: string; secret: string };
    }
    const auth = (d: "a" | "b") => `Basic ${Buffer.from(`${keys[d].name}:${keys[d].secret}`).toString("base64")}`;
    const get = async (d: "a" | "b", route: string) => {
      const res = await fetch(`${hub!.url}/openmrs/${route}`, { headers: { authorization: auth(d), accept: "application/json" } });
      return { status: res.status, text: await res.text() };
    };

    for (const d of ["a", "b"] as const) {
      children[d] = new OpenmrsSim({ name: `clinic-${d}`, seed: d === "a" ? 92 : 93 });
      const childUrl = await children[d].start();
      const clinic = new NodeRedProcess({
        userDir: path.join(dir, `clinic-${d}`),
        flows: PULL_FLOW,
        env: {
          OPENMRS_PARENT_URL: `${hub.url}/openmrs`,
          OPENMRS_PARENT_USER: keys[d].name,
          OPENMRS_PARENT_PASSWORD: keys[d].secret,
          OPENMRS_CHILD_URL: childUrl,
          OPENMRS_CHILD_USER: "admin",
          OPENMRS_CHILD_PASSWORD: "Admin123",
          SYNC_DB_PATH: path.join(dir, `clinic-${d}.db`),
          SYNC_POLL_SECONDS: "1",
        },
      });
      clinics.push(clinic);
      await clinic.start();
    }

    // Each clinic gets all of its own district's records…
    const holds = (sim: OpenmrsSim, want: typeof mine.a) =>
      want.patients.every((u) => sim.store.patients.has(u)) &&
      want.visits.every((u) => sim.store.visits.has(u)) &&
      want.encounters.every((u) => sim.store.encounters.has(u)) &&
      want.obs.every((u) => sim.store.obs.has(u));
    await until(() => holds(children.a, mine.a) && holds(children.b, mine.b), 240_000, "each clinic holding its district's records");
    // …and, once every feed has been read to its end, nothing of the other's.
    await until(
      async () => {
        const listed = (await (await fetch(`${hub!.url}/openmrs-sync/keys`)).json()) as { keys: { id: string; lag: { entries: number } | null }[] };
        return listed.keys.every((k) => k.lag !== null && k.lag.entries === 0);
      },
      60_000,
      "both clinics at the head of every feed",
    );
    for (const [d, other] of [
      ["a", "b"],
      ["b", "a"],
    ] as const) {
      const sim = children[d];
      assert.equal(sim.store.patients.size, mine[d].patients.length, `clinic ${d}: only its own patients`);
      for (const u of mine[other].patients) assert.ok(!sim.store.patients.has(u), `clinic ${d} holds patient ${u} of ${other}`);
      for (const u of mine[other].visits) assert.ok(!sim.store.visits.has(u), `clinic ${d} holds a visit of ${other}`);
      for (const u of mine[other].encounters) assert.ok(!sim.store.encounters.has(u), `clinic ${d} holds an encounter of ${other}`);
      for (const u of mine[other].obs) assert.ok(!sim.store.obs.has(u), `clinic ${d} holds an observation of ${other}`);
    }

    // The hub's access audit: neither clinic ever asked for a record of the other's.
    {
      const store = await SyncStore.open(hubDb, { readOnly: true });
      try {
        for (const [d, other] of [
          ["a", "b"],
          ["b", "a"],
        ] as const) {
          const targets = (await store.db.all<{ target: string }>("SELECT target FROM audit WHERE hub_key = ? AND action = 'record-read'", [keys[d].id])).map(
            (r) => r.target,
          );
          assert.ok(targets.length >= mine[d].patients.length, `clinic ${d} read its records through the hub`);
          const theirs = new Set(Object.values(mine[other]).flat());
          const leaked = targets.filter((t) => t.split("/").some((seg) => theirs.has(seg)));
          assert.deepEqual(leaked, [], `clinic ${d} asked for records of ${other}`);
        }
      } finally {
        await store.close();
      }
    }

    // Probing with A's key: B's records are absent, through fhir2 and REST; a search finds none of them.
    const bPatient = mine.b.patients[0];
    for (const route of [
      `ws/fhir2/R4/Patient/${bPatient}`,
      `ws/rest/v1/patient/${bPatient}?v=full`,
      `ws/rest/v1/person/${bPatient}`,
      `ws/fhir2/R4/Encounter/${mine.b.visits[0]}`,
      `ws/rest/v1/visit/${mine.b.visits[0]}?v=full`,
      `ws/fhir2/R4/Observation/${mine.b.obs[0]}`,
      `ws/rest/v1/obs/${mine.b.obs[0]}?v=full`,
    ]) {
      const r = await get("a", route);
      assert.equal(r.status, 404, `${route}: ${r.text.slice(0, 200)}`);
      assert.ok(!r.text.includes(bPatient), `${route} names nothing of B`);
    }
    assert.equal((await get("a", `ws/fhir2/R4/Patient/${mine.a.patients[0]}`)).status, 200, "A's own patient");
    const bIdentifier = s.patients.get(bPatient)!.identifiers[0].identifier;
    const search = await get("a", `ws/fhir2/R4/Patient?identifier=${encodeURIComponent(bIdentifier)}`);
    assert.equal(search.status, 200, search.text);
    assert.deepEqual((JSON.parse(search.text) as { entry?: unknown[] }).entry ?? [], [], "a search with A's key finds none of B's");
    const aIdentifier = s.patients.get(mine.a.patients[0])!.identifiers[0].identifier;
    const own = JSON.parse((await get("a", `ws/fhir2/R4/Patient?identifier=${encodeURIComponent(aIdentifier)}`)).text) as { entry?: unknown[] };
    assert.equal(own.entry?.length, 1, "a search finds A's own");
    assert.equal((await get("a", `ws/rest/v1/location/${DISTRICT.b[0]}`)).status, 200, "metadata is open to every key");

    // No page of any feed, read with A's key, names a record of B's.
    const theirs = new Set(Object.values(mine.b).flat());
    for (const category of ["patient", "visit", "encounter", "observation"]) {
      for (let n = 1; ; n++) {
        const r = await get("a", `ws/atomfeed/${category}/${n}`);
        if (r.status === 404) break;
        const page = await parseFeedPage(r.text, `${hub.url}/openmrs/ws/atomfeed/${category}/${n}`);
        for (const e of page.entries) assert.ok(!theirs.has(e.uuid ?? ""), `${category} page ${n} names ${e.uuid} of B`);
      }
    }
  });
});
