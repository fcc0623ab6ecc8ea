import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compareSnapshots, OpenmrsSim, type OpenmrsSimOptions } from "../../sim";

const AUTH = { authorization: "Basic " + Buffer.from("admin:Admin123").toString("base64") };
const JSON_AUTH = { ...AUTH, "content-type": "application/json" };
const FHIR_AUTH = { ...AUTH, "content-type": "application/fhir+json" };
const WEIGHT = "5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const OUTPATIENT = "8d6c993e-c2cc-11de-8d13-0010c6dffd0f";
const OPENMRS_ID = "05a29f94-c0ed-11e2-94be-8c13b969e334";
const FACILITY_VISIT = "7b0f5697-27e3-40c4-8bae-f4049abfb4ed";
const VITALS = "67a71486-1a54-468f-ac3e-7091a9a79584";

interface Entry {
  id: string;
  terms: string[];
  content: string;
}
interface Page {
  links: Record<string, string>;
  id: string;
  entries: Entry[];
}

/** Just enough Atom parsing for the tests (no XML library). */
function parsePage(xml: string): Page {
  const links: Record<string, string> = {};
  for (const m of xml.matchAll(/<link rel="([^"]+)" type="application\/atom\+xml" href="([^"]+)" \/>/g)) links[m[1]] = m[2]!;
  const head = xml.split("<entry>")[0];
  const id = /<id>([^<]+)<\/id>/.exec(head)?.[1] ?? "";
  const entries = [...xml.matchAll(/<entry>([\s\S]*?)<\/entry>/g)].map((m) => {
    const e = m[1];
    return {
      id: /<id>([^<]+)<\/id>/.exec(e)?.[1] ?? "",
      terms: [...e.matchAll(/<category term="([^"]+)" \/>/g)].map((t) => t[1]),
      content: /<!\[CDATA\[([\s\S]*?)\]\]>/.exec(e)?.[1] ?? "",
    };
  });
  return { links, id, entries };
}

describe("OpenMRS simulator", function () {
  const sims: OpenmrsSim[] = [];
  const tmpDirs: string[] = [];

  async function startSim(opts: OpenmrsSimOptions = {}): Promise<{ sim: OpenmrsSim; url: string }> {
    const sim = new OpenmrsSim(opts);
    sims.push(sim);
    const url = await sim.start();
    return { sim, url };
  }

  afterEach(async function () {
    await Promise.all(sims.splice(0).map((s) => s.stop()));
    for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  async function getPage(url: string): Promise<Page> {
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^application\/atom\+xml/);
    return parsePage(await r.text());
  }

  async function createPatient(url: string, uuid?: string): Promise<Record<string, unknown>> {
    const r = await fetch(`${url}/ws/rest/v1/patient`, {
      method: "POST",
      headers: JSON_AUTH,
      body: JSON.stringify({
        ...(uuid ? { uuid } : {}),
        person: {
          gender: "F",
          birthdate: "1990-05-04",
          names: [{ givenName: "Ada", familyName: "Okello", preferred: true }],
          addresses: [{ address1: "1 Main Street", cityVillage: "Kampala", country: "Uganda", preferred: true }],
        },
        identifiers: [{ identifier: "X-1", identifierType: OPENMRS_ID, location: OUTPATIENT, preferred: true }],
      }),
    });
    assert.equal(r.status, 201, await r.clone().text());
    return (await r.json()) as Record<string, unknown>;
  }

  describe("atom feed", function () {
    it("pages 5 entries per page with via/prev/next links, recent = last page", async function () {
      const { sim, url } = await startSim();
      sim.generate({ patients: 12, visitsPerPatient: 0 });
      const feed = `${url}/ws/atomfeed/patient`;
      const recent = await getPage(`${feed}/recent`);
      assert.equal(recent.entries.length, 2);
      assert.equal(recent.links.self, `${feed}/recent`);
      assert.equal(recent.links.via, `${feed}/3`);
      assert.equal(recent.links["prev-archive"], `${feed}/2`);
      assert.equal(recent.links["next-archive"], undefined);
      assert.match(recent.id, /^a2ad93fd-8a7f-405f-bbc1-da4535e6d05c\+3$/);

      const p1 = await getPage(`${feed}/1`);
      assert.equal(p1.entries.length, 5);
      assert.equal(p1.links.self, `${feed}/1`);
      assert.equal(p1.links.via, `${feed}/1`);
      assert.equal(p1.links["prev-archive"], undefined);
      assert.equal(p1.links["next-archive"], `${feed}/2`);
      for (const e of p1.entries) assert.match(e.id, /^tag:atomfeed\.ict4h\.org:[0-9a-f-]{36}$/);

      const p2 = await getPage(`${feed}/2`);
      assert.equal(p2.links["prev-archive"], `${feed}/1`);
      assert.equal(p2.links["next-archive"], `${feed}/3`);
      // pages are ordered by event id: page 1 holds the first five patients created
      const first = [...sim.store.patients.values()].slice(0, 5).map((p) => p.uuid);
      assert.deepEqual(
        p1.entries.map((e) => (JSON.parse(e.content) as { rest: string }).rest),
        first.map((u) => `/ws/rest/v1/patient/${u}?v=full`),
      );

      for (const bad of ["4", "0", "-1"]) {
        const r = await fetch(`${feed}/${bad}`);
        assert.equal(r.status, 500, `page ${bad}`);
      }
    });

    it("an empty category's recent page is page 0 without entries or archive links", async function () {
      const { url } = await startSim();
      const page = await getPage(`${url}/ws/atomfeed/visit/recent`);
      assert.equal(page.entries.length, 0);
      assert.equal(page.links.via, `${url}/ws/atomfeed/visit/0`);
      assert.equal(page.links["prev-archive"], undefined);
      assert.equal(page.links["next-archive"], undefined);
      assert.match(page.id, /\+0$/);
      assert.equal((await fetch(`${url}/ws/atomfeed/visit/1`)).status, 500);
    });

    it("sync2 dialect: JSON links and category + action terms in either order", async function () {
      const { sim, url } = await startSim({ dialect: "sync2" });
      sim.generate({ patients: 40, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
      const page = await getPage(`${url}/ws/atomfeed/patient/1`);
      const e = page.entries[0];
      const uuid = [...sim.store.patients.values()][0].uuid;
      assert.deepEqual(JSON.parse(e.content), { rest: `/ws/rest/v1/patient/${uuid}?v=full`, fhir: `/ws/fhir2/R4/Patient/${uuid}` });
      assert.deepEqual([...e.terms].sort(), ["CREATED", "patient"]);
      const orders = new Set<string>();
      for (let n = 1; n <= 8; n++) for (const en of (await getPage(`${url}/ws/atomfeed/patient/${n}`)).entries) orders.add(en.terms[0]);
      assert.deepEqual([...orders].sort(), ["CREATED", "patient"], "action is sometimes first, sometimes second");

      const visit = (await getPage(`${url}/ws/atomfeed/visit/1`)).entries[0];
      assert.match(JSON.parse(visit.content).fhir as string, /^\/ws\/fhir2\/R4\/Encounter\//);
      const obs = (await getPage(`${url}/ws/atomfeed/observation/1`)).entries[0];
      const links = JSON.parse(obs.content) as { rest: string; fhir: string };
      assert.match(links.rest, /^\/ws\/rest\/v1\/obs\/[0-9a-f-]{36}\?v=full$/);
      assert.match(links.fhir, /^\/ws\/fhir2\/R4\/Observation\//);
    });

    it("bahmni dialect: REST path with context path, one category term", async function () {
      const { sim, url } = await startSim({ dialect: "bahmni" });
      sim.generate({ patients: 1, visitsPerPatient: 1 });
      const e = (await getPage(`${url}/ws/atomfeed/patient/recent`)).entries[0];
      const uuid = [...sim.store.patients.values()][0].uuid;
      assert.equal(e.content, `/openmrs/ws/rest/v1/patient/${uuid}?v=full`);
      assert.deepEqual(e.terms, ["patient"]);
      const enc = (await getPage(`${url}/ws/atomfeed/encounter/recent`)).entries[0];
      assert.match(enc.content, /^\/openmrs\/ws\/rest\/v1\/encounter\/[0-9a-f-]{36}\?v=full$/);
    });

    it("mixed dialect alternates per event", async function () {
      const { sim, url } = await startSim({ dialect: "mixed" });
      sim.generate({ patients: 4, visitsPerPatient: 0 });
      const entries = (await getPage(`${url}/ws/atomfeed/patient/1`)).entries;
      const kinds = entries.map((e) => (e.content.startsWith("{") ? "sync2" : "bahmni"));
      assert.deepEqual(kinds, ["sync2", "bahmni", "sync2", "bahmni"]);
    });

    it("needs no auth unless feedAuth", async function () {
      const { url } = await startSim({ feedAuth: true });
      const r = await fetch(`${url}/ws/atomfeed/patient/recent`);
      assert.equal(r.status, 401);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Basic/);
      assert.equal((await fetch(`${url}/ws/atomfeed/patient/recent`, { headers: AUTH })).status, 200);
    });
  });

  describe("REST v1", function () {
    it("requires Basic auth", async function () {
      const { url } = await startSim();
      const r = await fetch(`${url}/ws/rest/v1/patient/00000000-0000-4000-8000-000000000000`);
      assert.equal(r.status, 401);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Basic realm=/);
      const wrong = { authorization: "Basic " + Buffer.from("admin:nope").toString("base64") };
      assert.equal((await fetch(`${url}/ws/rest/v1/patient/x`, { headers: wrong })).status, 401);
      const nf = await fetch(`${url}/ws/rest/v1/patient/00000000-0000-4000-8000-000000000000`, { headers: AUTH });
      assert.equal(nf.status, 404);
      assert.equal(((await nf.json()) as { error: { message: string } }).error.message, "Object with given uuid doesn't exist");
    });

    it("creates with the given uuid, refuses duplicates and dangling references, emits events", async function () {
      const { sim, url } = await startSim();
      const uuid = "2c9c8d6e-55f4-4f5c-9b7c-0a4d1f1b2e3a";
      const created = await createPatient(url, uuid);
      assert.equal(created.uuid, uuid);
      assert.equal((created.person as { uuid: string }).uuid, uuid);
      const got = (await (await fetch(`${url}/ws/rest/v1/patient/${uuid}?v=full`, { headers: AUTH })).json()) as {
        identifiers: { identifier: string; identifierType: { uuid: string } }[];
        person: { names: { givenName: string }[]; birthdate: string };
        auditInfo: { dateCreated: string };
        voided: boolean;
      };
      assert.equal(got.identifiers[0].identifier, "X-1");
      assert.equal(got.identifiers[0].identifierType.uuid, OPENMRS_ID);
      assert.equal(got.person.names[0].givenName, "Ada");
      assert.match(got.person.birthdate, /^1990-05-04T00:00:00\.000\+0000$/);
      assert.match(got.auditInfo.dateCreated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
      assert.equal(got.voided, false);

      const dup = await fetch(`${url}/ws/rest/v1/patient`, {
        method: "POST",
        headers: JSON_AUTH,
        body: JSON.stringify({ uuid, person: { gender: "M", names: [{ givenName: "A", familyName: "B" }] } }),
      });
      assert.equal(dup.status, 400);

      const ghost = "99999999-9999-4999-8999-999999999999";
      const dangling = await fetch(`${url}/ws/rest/v1/visit`, {
        method: "POST",
        headers: JSON_AUTH,
        body: JSON.stringify({ patient: ghost, visitType: FACILITY_VISIT, startDatetime: "2024-01-02T10:00:00.000+0000" }),
      });
      assert.equal(dangling.status, 400);
      const err = (await dangling.json()) as { error: { message: string } };
      assert.equal(err.error.message, `[Invalid Submission : Patient with uuid ${ghost} not found]`);

      const visitUuid = "5e0b8d3c-1f2a-4b6c-8d9e-0f1a2b3c4d5e";
      const v = await fetch(`${url}/ws/rest/v1/visit`, {
        method: "POST",
        headers: JSON_AUTH,
        body: JSON.stringify({
          uuid: visitUuid,
          patient: { uuid },
          visitType: FACILITY_VISIT,
          startDatetime: "2024-01-02T10:00:00.000+0545",
          location: OUTPATIENT,
        }),
      });
      assert.equal(v.status, 201);
      assert.equal(((await v.json()) as { startDatetime: string }).startDatetime, "2024-01-02T04:15:00.000+0000");
      const badObs = await fetch(`${url}/ws/rest/v1/obs`, {
        method: "POST",
        headers: JSON_AUTH,
        body: JSON.stringify({ person: uuid, concept: WEIGHT, obsDatetime: "2024-01-02T10:00:00.000+0000", encounter: ghost, value: 70 }),
      });
      assert.equal(badObs.status, 400);
      assert.match(((await badObs.json()) as { error: { message: string } }).error.message, /Encounter with uuid 9999/);

      const actions = sim.store.events.map((e) => `${e.category}:${e.action}`);
      assert.deepEqual(actions, ["patient:CREATED", "visit:CREATED"]);

      // update and void through REST
      const upd = await fetch(`${url}/ws/rest/v1/visit/${visitUuid}`, {
        method: "POST",
        headers: JSON_AUTH,
        body: JSON.stringify({ stopDatetime: "2024-01-02T12:00:00.000+0000" }),
      });
      assert.equal(upd.status, 200);
      const del = await fetch(`${url}/ws/rest/v1/visit/${visitUuid}`, { method: "DELETE", headers: AUTH });
      assert.ok(del.status === 204 || del.status === 200);
      const voided = (await (await fetch(`${url}/ws/rest/v1/visit/${visitUuid}`, { headers: AUTH })).json()) as { voided: boolean };
      assert.equal(voided.voided, true);
      assert.deepEqual(
        sim.store.events.slice(2).map((e) => `${e.category}:${e.action}`),
        ["visit:UPDATED", "visit:UPDATED", "visit:VOIDED"],
      );
    });
  });

  describe("fhir2", function () {
    it("reads Patient/Encounter/Observation, 410 for voided, 404 for unknown, metadata without auth", async function () {
      const { sim, url } = await startSim();
      sim.generate({ patients: 1, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 1 });
      const p = [...sim.store.patients.values()][0];
      const v = [...sim.store.visits.values()][0];
      const e = [...sim.store.encounters.values()][0];
      const o = [...sim.store.obs.values()][0];
      const fhir = `${url}/ws/fhir2/R4`;

      assert.equal((await fetch(`${fhir}/metadata`)).status, 200);
      const unauth = await fetch(`${fhir}/Patient/${p.uuid}`);
      assert.equal(unauth.status, 401);
      assert.equal(((await unauth.json()) as { resourceType: string }).resourceType, "OperationOutcome");

      const pr = await fetch(`${fhir}/Patient/${p.uuid}`, { headers: AUTH });
      assert.equal(pr.status, 200);
      assert.match(pr.headers.get("content-type") ?? "", /^application\/fhir\+json/);
      const patient = (await pr.json()) as { id: string; active: boolean; meta: { versionId: string; lastUpdated: string }; name: { id: string }[] };
      assert.equal(patient.id, p.uuid);
      assert.equal(patient.active, true);
      assert.equal(patient.meta.versionId, String(Date.parse(patient.meta.lastUpdated)));
      assert.equal(patient.name[0].id, p.names[0].uuid);

      const visit = (await (await fetch(`${fhir}/Encounter/${v.uuid}`, { headers: AUTH })).json()) as { meta: { tag: { code: string }[] } };
      assert.equal(visit.meta.tag[0].code, "visit");
      const enc = (await (await fetch(`${fhir}/Encounter/${e.uuid}`, { headers: AUTH })).json()) as { partOf: { reference: string } };
      assert.equal(enc.partOf.reference, `Encounter/${v.uuid}`);
      const obs = (await (await fetch(`${fhir}/Observation/${o.uuid}`, { headers: AUTH })).json()) as { code: { coding: { code: string }[] } };
      assert.equal(obs.code.coding[0].code, o.concept);

      sim.store.voidRecord("obs", o.uuid, "test");
      assert.equal((await fetch(`${fhir}/Observation/${o.uuid}`, { headers: AUTH })).status, 410);
      assert.equal((await fetch(`${fhir}/Observation/00000000-0000-4000-8000-000000000000`, { headers: AUTH })).status, 404);
    });

    it("PUT: unknown id 404, id mismatch 400, update emits an event, identical PUT emits none, dangling reference 400", async function () {
      const { sim, url } = await startSim();
      sim.generate({ patients: 1, visitsPerPatient: 1 });
      const p = [...sim.store.patients.values()][0];
      const fhir = `${url}/ws/fhir2/R4`;
      const resource = (await (await fetch(`${fhir}/Patient/${p.uuid}`, { headers: AUTH })).json()) as Record<string, unknown> & {
        name: { family: string }[];
      };

      const unknown = "11111111-1111-4111-8111-111111111111";
      const r404 = await fetch(`${fhir}/Patient/${unknown}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify({ ...resource, id: unknown }) });
      assert.equal(r404.status, 404);
      const mismatch = await fetch(`${fhir}/Patient/${p.uuid}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify({ ...resource, id: unknown }) });
      assert.equal(mismatch.status, 400);

      const before = sim.store.events.length;
      const same = await fetch(`${fhir}/Patient/${p.uuid}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify(resource) });
      assert.equal(same.status, 200);
      assert.equal(sim.store.events.length, before, "an unchanged record emits no event");

      resource.name[0].family = "Changed";
      const upd = await fetch(`${fhir}/Patient/${p.uuid}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify(resource) });
      assert.equal(upd.status, 200);
      assert.equal(((await upd.json()) as { name: { family: string }[] }).name[0].family, "Changed");
      assert.equal(sim.store.patients.get(p.uuid)!.names.find((n) => !n.voided)!.familyName, "Changed");
      const recent = await getPage(`${url}/ws/atomfeed/patient/recent`);
      const last = recent.entries[recent.entries.length - 1];
      assert.ok(last.terms.includes("UPDATED"));
      assert.equal((JSON.parse(last.content) as { fhir: string }).fhir, `/ws/fhir2/R4/Patient/${p.uuid}`);

      // a visit pointing at a location that does not exist
      const v = [...sim.store.visits.values()][0];
      const visit = (await (await fetch(`${fhir}/Encounter/${v.uuid}`, { headers: AUTH })).json()) as Record<string, unknown>;
      const ghostLoc = "22222222-2222-4222-8222-222222222222";
      visit.location = [{ location: { reference: `Location/${ghostLoc}` } }];
      const dangling = await fetch(`${fhir}/Encounter/${v.uuid}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify(visit) });
      assert.equal(dangling.status, 400);
      const oo = (await dangling.json()) as { resourceType: string; issue: { diagnostics: string }[] };
      assert.equal(oo.resourceType, "OperationOutcome");
      assert.match(oo.issue[0].diagnostics, new RegExp(ghostLoc));

      // Patient.active=false voids; a later PUT with active=true unvoids
      const deactivated = { ...resource, active: false };
      assert.equal((await fetch(`${fhir}/Patient/${p.uuid}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify(deactivated) })).status, 200);
      assert.equal(sim.store.patients.get(p.uuid)!.voided, true);
      assert.equal((await fetch(`${fhir}/Patient/${p.uuid}`, { headers: AUTH })).status, 410);
      assert.equal((await fetch(`${fhir}/Patient/${p.uuid}`, { method: "PUT", headers: FHIR_AUTH, body: JSON.stringify(resource) })).status, 200);
      assert.equal(sim.store.patients.get(p.uuid)!.voided, false);
      // (voiding the patient also voids and later restores its visits, encounters and obs: other records' events)
      const actions = sim.store.events
        .slice(before)
        .filter((e) => e.object === p.uuid)
        .map((e) => e.action);
      assert.deepEqual(actions, ["UPDATED", "UPDATED", "VOIDED", "UPDATED", "UNVOIDED"]);
      assert.ok(
        sim.store.events.slice(before).some((e) => e.object !== p.uuid && e.action === "VOIDED"),
        "the patient's clinical data was voided with it",
      );
    });

    it("POST creates under a new uuid, DELETE voids", async function () {
      const { sim, url } = await startSim();
      sim.generate({ patients: 1, visitsPerPatient: 1 });
      const p = [...sim.store.patients.values()][0];
      const fhir = `${url}/ws/fhir2/R4`;
      const chosen = "33333333-3333-4333-8333-333333333333";
      const r = await fetch(`${fhir}/Encounter`, {
        method: "POST",
        headers: FHIR_AUTH,
        body: JSON.stringify({
          resourceType: "Encounter",
          id: chosen,
          status: "unknown",
          type: [{ coding: [{ code: VITALS }] }],
          subject: { reference: `Patient/${p.uuid}` },
          period: { start: "2024-03-04T05:06:07+05:45" },
        }),
      });
      assert.equal(r.status, 201);
      const created = (await r.json()) as { id: string; period: { start: string } };
      assert.notEqual(created.id, chosen);
      assert.equal(r.headers.get("location"), `${fhir}/Encounter/${created.id}`);
      assert.equal(created.period.start, "2024-03-03T23:21:07.000+00:00");
      assert.ok(sim.store.encounters.has(created.id));

      const del = await fetch(`${fhir}/Encounter/${created.id}`, { method: "DELETE", headers: AUTH });
      assert.equal(del.status, 200);
      assert.equal(((await del.json()) as { resourceType: string }).resourceType, "OperationOutcome");
      assert.equal(sim.store.encounters.get(created.id)!.voided, true);
      assert.equal((await fetch(`${fhir}/Encounter/${created.id}`, { method: "DELETE", headers: AUTH })).status, 200);
      assert.equal((await fetch(`${fhir}/Encounter/${chosen}`, { method: "DELETE", headers: AUTH })).status, 404);
    });

    it("fhir2: false answers 404 everywhere under /ws/fhir2", async function () {
      const { sim, url } = await startSim({ fhir2: false });
      sim.generate({ patients: 1, visitsPerPatient: 0 });
      const p = [...sim.store.patients.values()][0];
      assert.equal((await fetch(`${url}/ws/fhir2/R4/metadata`)).status, 404);
      assert.equal((await fetch(`${url}/ws/fhir2/R4/Patient/${p.uuid}`, { headers: AUTH })).status, 404);
      assert.equal((await fetch(`${url}/ws/rest/v1/patient/${p.uuid}`, { headers: AUTH })).status, 200);
    });
  });

  describe("faults", function () {
    it("status with count, kinds and Retry-After", async function () {
      const { sim, url } = await startSim();
      sim.faults.status = { code: 503, count: 2, retryAfter: 7, kinds: ["feed"] };
      const feed = `${url}/ws/atomfeed/patient/recent`;
      for (let i = 0; i < 2; i++) {
        const r = await fetch(feed);
        assert.equal(r.status, 503);
        assert.equal(r.headers.get("retry-after"), "7");
      }
      assert.equal((await fetch(`${url}/ws/rest/v1/session`, { headers: AUTH })).status, 200, "other kinds are not affected");
      assert.equal((await fetch(feed)).status, 200);
      assert.equal(sim.faults.status, null);
      assert.equal(sim.requests.filter((r) => r.fault === "status").length, 2);
    });

    it("down resets connections and can be switched off over HTTP; faults apply before auth", async function () {
      const { url } = await startSim();
      const admin = new URL(url).origin + "/__sim/faults";
      const set = await fetch(admin, { method: "POST", body: JSON.stringify({ down: true }) });
      assert.equal(set.status, 200);
      await assert.rejects(fetch(`${url}/ws/atomfeed/patient/recent`));
      await fetch(admin, { method: "POST", body: JSON.stringify({ down: false, status: { code: 429 } }) });
      assert.equal((await fetch(`${url}/ws/rest/v1/patient/x`)).status, 429, "status fault answered before the 401");
      await fetch(admin, { method: "POST", body: JSON.stringify({ status: null }) });
      assert.equal((await fetch(`${url}/ws/atomfeed/patient/recent`)).status, 200);
      const faults = (await (await fetch(admin)).json()) as { down: boolean; status: unknown };
      assert.deepEqual([faults.down, faults.status], [false, null]);
      assert.equal((await fetch(admin, { method: "POST", body: JSON.stringify({ nonsense: 1 }) })).status, 400);
    });

    it("malformed, entity bomb, huge, hidden entries", async function () {
      const { sim, url } = await startSim();
      sim.generate({ patients: 3, visitsPerPatient: 0 });
      const feed = `${url}/ws/atomfeed/patient/recent`;
      const normal = await (await fetch(feed)).text();
      assert.ok(normal.trimEnd().endsWith("</feed>"));

      sim.faults.malformedFeed = true;
      const broken = await (await fetch(feed)).text();
      assert.ok(!broken.includes("</feed>"));
      assert.ok(broken.length < normal.length);
      sim.faults.malformedFeed = false;

      sim.faults.entityBomb = true;
      const bomb = await (await fetch(feed)).text();
      assert.match(bomb, /<!DOCTYPE feed \[/);
      assert.match(bomb, /<!ENTITY lol9 /);
      sim.faults.entityBomb = false;

      sim.faults.hugeFeed = 1_000_000;
      const huge = await (await fetch(feed)).text();
      assert.ok(huge.length > 1_000_000);
      assert.ok(huge.trimEnd().endsWith("</feed>"));
      sim.faults.hugeFeed = 0;

      const entries = parsePage(normal).entries;
      sim.faults.hideFeedEntries = [entries[1].id];
      const hidden = parsePage(await (await fetch(feed)).text()).entries;
      assert.deepEqual(
        hidden.map((e) => e.id),
        [entries[0].id, entries[2].id],
      );
    });

    it("resetRate, slowMs and invalidFhir", async function () {
      const { sim, url } = await startSim();
      sim.generate({ patients: 1, visitsPerPatient: 0 });
      const p = [...sim.store.patients.values()][0];
      sim.faults.resetRate = 1;
      await assert.rejects(async () => {
        const r = await fetch(`${url}/ws/atomfeed/patient/recent`);
        await r.text();
      });
      sim.faults.resetRate = 0;

      sim.faults.slowMs = 150;
      const t0 = Date.now();
      assert.equal((await fetch(`${url}/ws/atomfeed/patient/recent`)).status, 200);
      assert.ok(Date.now() - t0 >= 140);
      sim.faults.slowMs = 0;

      sim.faults.invalidFhir = [p.uuid];
      const bad = (await (await fetch(`${url}/ws/fhir2/R4/Patient/${p.uuid}`, { headers: AUTH })).json()) as { gender: string; bogusProperty: string };
      assert.equal(bad.gender, "bogus");
      assert.ok(bad.bogusProperty);
      const badRest = (await (await fetch(`${url}/ws/rest/v1/patient/${p.uuid}`, { headers: AUTH })).json()) as { voided: unknown };
      assert.equal(typeof badRest.voided, "string");
    });
  });

  describe("snapshots, stats, persistence", function () {
    it("compareSnapshots finds differences and accepts parent-voided records absent on the child", async function () {
      const { sim: parent, url: pu } = await startSim({ name: "parent", seed: 3, utcOffsetMinutes: 330 });
      const { sim: child, url: cu } = await startSim({ name: "child" });
      parent.generate({ patients: 5, visitsPerPatient: 1, encountersPerVisit: 1, obsPerEncounter: 2 });
      parent.mutate(30);
      // copy every non-voided record parent -> child through REST (GET full rep, POST it)
      for (const type of ["patient", "visit", "encounter", "obs"] as const) {
        for (const rec of parent.store.table(type).values()) {
          if (rec.voided) continue;
          const body = await (await fetch(`${pu}/ws/rest/v1/${type}/${rec.uuid}?v=full`, { headers: AUTH })).json();
          const r = await fetch(`${cu}/ws/rest/v1/${type}`, { method: "POST", headers: JSON_AUTH, body: JSON.stringify(body) });
          // children of voided parents may be refused; those are voided on the parent anyway
          if (r.status !== 201) assert.equal(r.status, 400);
        }
      }
      assert.deepEqual(compareSnapshots(parent.snapshot(), child.snapshot()), []);
      assert.deepEqual(parent.diff(child), []);

      const target = [...child.store.patients.values()][0];
      child.store.updatePatient(target.uuid, { birthdate: "1901-01-01" });
      const diffs = compareSnapshots(parent.snapshot(), child.snapshot());
      assert.equal(diffs.length, 1);
      assert.match(diffs[0], new RegExp(`patient ${target.uuid}: birthdate`));

      const admin = new URL(cu).origin;
      await createPatient(cu);
      const snap = await (await fetch(`${admin}/__sim/snapshot`)).json();
      const more = compareSnapshots(parent.snapshot(), snap as ReturnType<OpenmrsSim["snapshot"]>);
      assert.equal(more.length, 2);
      assert.ok(more.some((d) => /active on child but absent on parent/.test(d)));
    });

    it("stats, request log with x-sync-entry, admin generate/mutate", async function () {
      const { sim, url } = await startSim();
      const admin = new URL(url).origin + "/__sim";
      const gen = await fetch(`${admin}/generate`, { method: "POST", body: JSON.stringify({ patients: 2, visitsPerPatient: 1 }) });
      assert.equal(gen.status, 200);
      assert.equal(sim.store.patients.size, 2);
      await fetch(`${admin}/mutate`, { method: "POST", body: JSON.stringify({ n: 5 }) });
      const since = Date.now();
      const p = [...sim.store.patients.values()][0];
      await fetch(`${url}/ws/rest/v1/patient/${p.uuid}?v=full`, { headers: { ...AUTH, "x-sync-entry": "tag:atomfeed.ict4h.org:abc" } });
      await fetch(`${url}/ws/fhir2/R4/Patient/${p.uuid}`, { headers: AUTH });
      await fetch(`${url}/ws/atomfeed/patient/recent`);
      assert.equal(sim.stats.byKind["rest-get"], 1);
      assert.equal(sim.stats.byKind["fhir-get"], 1);
      assert.equal(sim.stats.byKind.feed, 1);
      assert.equal(sim.stats.recordGets.get(p.uuid), 2);
      const stats = (await (await fetch(`${admin}/stats`)).json()) as { recordGets: Record<string, number>; total: number };
      assert.equal(stats.recordGets[p.uuid], 2);
      const log = (await (await fetch(`${admin}/requests?since=${since}`)).json()) as { kind: string; uuid?: string; entry?: string; status: number }[];
      assert.equal(log.length, 3);
      assert.deepEqual(log[0], { ...log[0], kind: "rest-get", uuid: p.uuid, entry: "tag:atomfeed.ict4h.org:abc", status: 200 });
      await fetch(`${admin}/reset-stats`, { method: "POST" });
      assert.equal(sim.stats.total, 0);
    });

    it("persists records and feed to the data file across stop/start", async function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "openmrs-sim-"));
      tmpDirs.push(dir);
      const dataFile = path.join(dir, "parent.json");
      const a = new OpenmrsSim({ dataFile, seed: 9 });
      const urlA = await a.start();
      a.generate({ patients: 8, visitsPerPatient: 1 });
      a.mutate(10);
      const pageA = await (await fetch(`${urlA}/ws/atomfeed/patient/1`)).text();
      const snapA = a.snapshot();
      const t0 = Date.now();
      await a.stop();
      assert.ok(Date.now() - t0 < 1000, "stop is fast");
      assert.ok(fs.existsSync(dataFile));

      const { sim: b, url: urlB } = await startSim({ dataFile });
      assert.deepEqual(compareSnapshots(snapA, b.snapshot()), []);
      assert.deepEqual(b.snapshot(), snapA);
      const pageB = await (await fetch(`${urlB}/ws/atomfeed/patient/1`)).text();
      assert.deepEqual(parsePage(pageB).entries, parsePage(pageA).entries);
      // new events continue the id sequence
      const lastId = b.store.events[b.store.events.length - 1].id;
      b.mutate(1);
      assert.ok(b.store.events[b.store.events.length - 1].id > lastId);
    });

    it("stops quickly while keep-alive connections are open", async function () {
      const { sim, url } = await startSim();
      for (let i = 0; i < 5; i++) await (await fetch(`${url}/ws/atomfeed/patient/recent`)).text();
      const t0 = Date.now();
      await sim.stop();
      assert.ok(Date.now() - t0 < 500);
    });

    it("stays fast with 10,000+ records and 30,000 events", async function () {
      this.timeout(30_000);
      const { sim, url } = await startSim({ seed: 1 });
      sim.generate({ patients: 2000, visitsPerPatient: 2, encountersPerVisit: 1, obsPerEncounter: 3 });
      sim.mutate(3000);
      assert.ok(sim.store.events.length >= 28_000);
      const t0 = Date.now();
      for (let i = 0; i < 50; i++) await (await fetch(`${url}/ws/atomfeed/observation/${1 + i * 100}`)).text();
      assert.ok(Date.now() - t0 < 2000, `50 feed pages took ${Date.now() - t0} ms`);
    });
  });
});
