/**
 * The hub's read side with real processes: a hub (Node-RED running the shipped flows/hub.json) in front of
 * a simulated parent, and a clinic (Node-RED running the shipped, unchanged pull flow) whose "parent" is
 * the hub (http://127.0.0.1:<port>/openmrs, user = key name, password = secret), writing into a simulated
 * child. The hub re-publishes the parent's feeds (both content dialects) with links to its own record
 * URLs, and answers those by reading from the parent; the child ends equal to the parent.
 * Around it, over HTTP: no key and a wrong key get 401 and no data on the feed and record routes; pages
 * parse with our reader, link to the hub, and archive pages answer 304 on their ETag; a page past the
 * last is 404; the key list shows the clinic's last entry read and lag, and the audit attributes the
 * reads to its key.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { parseFeedPage } from "../../lib/atom/parse";
import { converged, feedNodes, inject, shippedFlow, until, useE2E } from "../helpers/e2e";

const HUB_FLOW = shippedFlow("hub");
const OBS = "7a4c1e2b-9f3d-4c5e-8a6b-1d2e3f4a5b6c";
/** A module developer's event beside the relay: an inject node into a second atom-feed-out (Bahmni links). */
const DEV_FLOW = [
  // prettier-ignore
  { id: "dev_inject", type: "inject", z: "tab_hub", props: [{ p: "uuid", v: OBS, vt: "str" }, { p: "action", v: "CREATED", vt: "str" }, { p: "title", v: "Lab result", vt: "str" }], wires: [["dev_out"]] },
  {
    id: "dev_out",
    type: "atom-feed-out",
    z: "tab_hub",
    store: "sync_store",
    category: "lab-result",
    dialect: "bahmni",
    restLink: "/openmrs/ws/rest/v1/obs/{uuid}?v=full",
    wires: [[]],
  },
];
const PULL_FLOW = shippedFlow("pull-from-parent");

describe("hub feeds and records for an unchanged child pull flow (hub Node-RED + clinic Node-RED + simulators)", function () {
  this.timeout(300_000);
  let dir: string;
  let parent: OpenmrsSim | undefined;
  let child: OpenmrsSim | undefined;
  let hub: NodeRedProcess | undefined;
  let clinic: NodeRedProcess | undefined;

  useE2E(
    "e2e-hub-feed",
    (d) => (dir = d),
    () => ({ nodeRed: hub, sims: [parent, child] }),
    () => (hub = parent = child = undefined),
  );
  afterEach(async () => {
    await clinic?.stop();
    clinic = undefined;
  });

  it("relays the parent's feeds and records to a child through the hub, behind its key", async () => {
    parent = new OpenmrsSim({ name: "parent", dialect: "mixed", seed: 81 });
    child = new OpenmrsSim({ name: "child", seed: 82 });
    parent.generate({ patients: 12, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 2 });
    parent.mutate(40);
    const parentUrl = await parent.start();
    const childUrl = await child.start();
    const hubDb = path.join(dir, "hub.db");
    hub = new NodeRedProcess({
      userDir: path.join(dir, "hub"),
      flows: [...HUB_FLOW, ...DEV_FLOW],
      env: { SYNC_DB_PATH: hubDb, OPENMRS_PARENT_URL: parentUrl, OPENMRS_PARENT_USER: "admin", OPENMRS_PARENT_PASSWORD: "Admin123", SYNC_POLL_SECONDS: "1" },
    });
    await hub.start();
    const issued = await fetch(`${hub.url}/openmrs-sync/keys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "clinic-a", catchment: { locations: [] } }),
    });
    assert.equal(issued.status, 201);
    const key = (await issued.json()) as { id: string; name: string; secret: string };
    const auth = `Basic ${Buffer.from(`${key.name}:${key.secret}`).toString("base64")}`;
    const wrong = `Basic ${Buffer.from(`${key.name}:${key.secret.slice(0, -2)}xx`).toString("base64")}`;
    const get = async (route: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${hub!.url}/openmrs/${route}`, { headers });
      return { status: res.status, headers: res.headers, text: await res.text() };
    };

    // The hub relays the parent's patient feed: wait for its first pages.
    const patients = Object.keys(parent.snapshot().patients);
    await until(async () => (await get("ws/atomfeed/patient/2", { authorization: auth })).status === 200, 60_000, "two pages of patients at the hub");

    // No key, a wrong key: 401 and nothing of the feed or the records.
    for (const route of [
      "ws/atomfeed/patient/recent",
      "ws/atomfeed/patient/1",
      `ws/fhir2/R4/Patient/${patients[0]}`,
      `ws/rest/v1/patient/${patients[0]}?v=full`,
      "ws/fhir2/R4/metadata",
    ]) {
      for (const headers of [{}, { authorization: wrong }] as Record<string, string>[]) {
        const r = await get(route, headers);
        assert.equal(r.status, 401, `${route} ${JSON.stringify(headers)}`);
        assert.doesNotMatch(r.text, /<feed|tag:atomfeed|resourceType|uuid/);
      }
    }

    // Pages: our reader, links to the hub, entries linking to the hub's own record URLs, ETag and 304.
    const first = await get("ws/atomfeed/patient/1", { authorization: auth });
    assert.equal(first.status, 200);
    assert.match(first.headers.get("content-type") ?? "", /application\/atom\+xml/);
    assert.equal(first.headers.get("cache-control"), "private, max-age=31536000, immutable");
    const page = await parseFeedPage(first.text, `${hub.url}/openmrs/ws/atomfeed/patient/1`);
    assert.equal(page.entries.length, 5);
    assert.deepEqual(page.links, {
      self: `${hub.url}/openmrs/ws/atomfeed/patient/1`,
      via: `${hub.url}/openmrs/ws/atomfeed/patient/1`,
      nextArchive: `${hub.url}/openmrs/ws/atomfeed/patient/2`,
    });
    const parentIds = parent.store.categoryEvents("patient").map((e) => `tag:atomfeed.ict4h.org:${e.uuid}`);
    assert.deepEqual(
      page.entries.map((e) => e.id),
      parentIds.slice(0, 5),
      "the parent's events, in its order",
    );
    for (const e of page.entries)
      for (const link of Object.values(e.links)) assert.doesNotMatch(link, /^https?:|127\.0\.0\.1/, "links stay relative to the hub");
    const etag = first.headers.get("etag")!;
    assert.match(etag, /^"[\w-]+"$/);
    const again = await get("ws/atomfeed/patient/1", { authorization: auth, "if-none-match": etag });
    assert.deepEqual([again.status, again.text], [304, ""]);
    const past = await get("ws/atomfeed/patient/9999", { authorization: auth });
    assert.equal(past.status, 404);
    assert.match(past.text, /feed does not exist/);
    // A category with no events: page 0, empty, as OpenMRS answers; it has no page 1.
    const empty = await get("ws/atomfeed/nothing-here/recent", { authorization: auth });
    assert.equal((await parseFeedPage(empty.text, "x")).entries.length, 0);
    assert.equal((await get("ws/atomfeed/nothing-here/1", { authorization: auth })).status, 404);

    // A module developer's event: its own category, Bahmni content from the node's template, the action as a term.
    await inject(hub, "dev_inject");
    await until(async () => (await get("ws/atomfeed/lab-result/1", { authorization: auth })).status === 200, 10_000, "the lab-result feed");
    const dev = await parseFeedPage((await get("ws/atomfeed/lab-result/recent", { authorization: auth })).text, "x");
    assert.deepEqual(
      dev.entries.map((e) => [e.title, e.categories, e.dialect, e.links, e.restResource, e.uuid]),
      [["Lab result", ["lab-result", "CREATED"], "bahmni", { rest: `/openmrs/ws/rest/v1/obs/${OBS}?v=full` }, "obs", OBS]],
    );

    // A record through the hub is the parent's record.
    const viaHub = await get(`ws/fhir2/R4/Patient/${patients[0]}`, { authorization: auth, accept: "application/fhir+json" });
    assert.equal(viaHub.status, 200, viaHub.text);
    assert.equal((JSON.parse(viaHub.text) as { id: string }).id, patients[0]);

    // The clinic: the shipped pull flow, its "parent" being the hub with the key.
    clinic = new NodeRedProcess({
      userDir: path.join(dir, "clinic"),
      flows: PULL_FLOW,
      env: {
        OPENMRS_PARENT_URL: `${hub.url}/openmrs`,
        OPENMRS_PARENT_USER: key.name,
        OPENMRS_PARENT_PASSWORD: key.secret,
        OPENMRS_CHILD_URL: childUrl,
        OPENMRS_CHILD_USER: "admin",
        OPENMRS_CHILD_PASSWORD: "Admin123",
        SYNC_DB_PATH: path.join(dir, "clinic.db"),
        SYNC_POLL_SECONDS: "1",
      },
    });
    await clinic.start();
    await converged(parent, child, 240_000);
    assert.equal(feedNodes(PULL_FLOW, "omrs_parent").length, 7);

    // The key list: last seen, last entry read, lag; the audit: the reads under the key.
    await until(
      async () => {
        const listed = (await (await fetch(`${hub!.url}/openmrs-sync/keys`)).json()) as {
          keys: { id: string; lastSeen: string | null; lastEntryRead: string | null; lag: { entries: number } | null }[];
        };
        const k = listed.keys.find((x) => x.id === key.id);
        return !!k && !!k.lastSeen && !!k.lastEntryRead?.startsWith("tag:atomfeed.ict4h.org:") && k.lag !== null && k.lag.entries === 0;
      },
      30_000,
      "the key's last entry read at the head of its feeds",
    );
    await hub.stop();
    hub = undefined;
    const store = await SyncStore.open(hubDb, { readOnly: true });
    try {
      const rows = await store.db.all<{ action: string; outcome: string; n: number }>(
        "SELECT action, outcome, COUNT(*) AS n FROM audit WHERE hub_key = ? GROUP BY action, outcome ORDER BY action, outcome",
        [key.id],
      );
      const count = (action: string, outcome: string) => rows.find((r) => r.action === action && r.outcome === outcome)?.n ?? 0;
      assert.ok(count("feed-read", "ok") >= 7, JSON.stringify(rows));
      assert.ok(count("record-read", "ok") >= patients.length, JSON.stringify(rows));
      assert.ok(count("feed-read", "refused") >= 2, "the wrong key's attempts are audited under it");
    } finally {
      await store.close();
    }
    assert.doesNotMatch(clinic.log, /uncaught|Unhandled|TypeError/i);
  });
});
