/**
 * JIT warm-up (`openmrs-sim --warm-up`). In a fresh process the first ten thousand requests cost about
 * twice what later ones do, because V8 is still collecting type feedback and compiling; a benchmark that
 * copies a 10,000-entry backlog then measures the simulator's warm-up more than its client. With this
 * option, before the simulator listens, a throwaway pair of simulators in the same process serves a small
 * catch-up to itself over HTTP: feed pages, fhir2 and REST reads at one, REST creates (bodies shaped as
 * a sync client sends them) and fhir2 updates at the other. The real simulator's store, request log,
 * stats and random streams are untouched; it just starts out answering like a server that has been up
 * for a while (as a real OpenMRS usually has).
 */
import * as http from "node:http";
import {
  CATEGORY_OF,
  FHIR_TYPE_OF,
  RECORD_TYPES,
  type AnyRecord,
  type Encounter,
  type Obs,
  type Patient,
  type RecordType,
  type StoreData,
  type Visit,
} from "./model";
import { OpenmrsSim } from "./server";

export interface WarmUpOptions {
  /** Patients in the throwaway backlog (each with 1 visit, 2 encounters, 6 obs). Default 100. */
  patients?: number;
  /** Times the backlog is copied, each time into a fresh target. Default 2. */
  rounds?: number;
  /** Requests in flight. Default 8. */
  concurrency?: number;
}

const AUTH = "Basic " + Buffer.from("admin:Admin123").toString("base64");
const REST_KIND: Readonly<Record<RecordType, string>> = { patient: "patient", visit: "visit", encounter: "encounter", obs: "obs" };

function request(agent: http.Agent, method: string, url: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: AUTH, accept: "application/json" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    const req = http.request(url, { method, agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A REST create body as a sync client builds it from the fhir2 resource: references as uuids. */
function createBody(type: RecordType, rec: AnyRecord): unknown {
  switch (type) {
    case "patient": {
      const p = rec as Patient;
      return {
        uuid: p.uuid,
        person: {
          uuid: p.uuid,
          gender: p.gender,
          birthdate: p.birthdate,
          dead: p.dead,
          names: p.names.map((n) => ({
            uuid: n.uuid,
            givenName: n.givenName,
            middleName: n.middleName ?? undefined,
            familyName: n.familyName,
            preferred: n.preferred,
          })),
          addresses: p.addresses.map((a) => ({ ...a, voided: undefined })),
        },
        identifiers: p.identifiers.map((i) => ({
          uuid: i.uuid,
          identifier: i.identifier,
          identifierType: i.identifierType,
          location: i.location,
          preferred: i.preferred,
        })),
      };
    }
    case "visit": {
      const v = rec as Visit;
      return { uuid: v.uuid, patient: v.patient, visitType: v.visitType, startDatetime: v.startDatetime, stopDatetime: v.stopDatetime, location: v.location };
    }
    case "encounter": {
      const e = rec as Encounter;
      return { uuid: e.uuid, patient: e.patient, encounterType: e.encounterType, encounterDatetime: e.encounterDatetime, location: e.location, visit: e.visit };
    }
    default: {
      const o = rec as Obs;
      return { uuid: o.uuid, person: o.person, concept: o.concept, obsDatetime: o.obsDatetime, encounter: o.encounter, value: o.value };
    }
  }
}

async function pool<T>(items: readonly T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

function check(what: string, status: number, ok: number): void {
  if (status !== ok) throw new Error(`warm-up: ${what} answered HTTP ${status}`);
}

/** Serves a small catch-up between two throwaway simulators in this process; resolves when they are stopped. */
export async function warmUp(opts: WarmUpOptions = {}): Promise<void> {
  const source = new OpenmrsSim({ name: "warm-up", seed: 7 });
  source.generate({ patients: opts.patients ?? 100, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
  // Records as a data file holds them (JSON-parsed objects have other hidden classes than built ones).
  source.store.load(JSON.parse(JSON.stringify(source.store.toData())) as StoreData);
  const records: { type: RecordType; rec: AnyRecord }[] = [];
  for (const type of RECORD_TYPES) for (const rec of source.store.table(type).values()) records.push({ type, rec });
  const concurrency = opts.concurrency ?? 8;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const from = await source.start();
  try {
    for (let round = 0; round < (opts.rounds ?? 2); round++) {
      const target = new OpenmrsSim({ name: "warm-up-target" });
      const to = await target.start();
      try {
        for (const type of RECORD_TYPES) {
          const category = CATEGORY_OF[type];
          const pages = Math.ceil(source.store.categoryEvents(category).length / 5);
          const pageUrls = ["recent", ...Array.from({ length: pages }, (_, i) => String(i + 1))].map((p) => `${from}/ws/atomfeed/${category}/${p}`);
          await pool(pageUrls, 1, async (url) => check("feed page", (await request(agent, "GET", url)).status, 200));
          await pool(
            records.filter((r) => r.type === type),
            concurrency,
            async ({ rec }) => {
              const path = `/ws/fhir2/R4/${FHIR_TYPE_OF[type]}/${rec.uuid}`;
              const got = await request(agent, "GET", from + path);
              check("fhir2 read", got.status, 200);
              check("REST read", (await request(agent, "GET", `${from}/ws/rest/v1/${REST_KIND[type]}/${rec.uuid}?v=full`)).status, 200);
              check("REST create", (await request(agent, "POST", `${to}/ws/rest/v1/${REST_KIND[type]}`, JSON.stringify(createBody(type, rec)))).status, 201);
              check("fhir2 update", (await request(agent, "PUT", to + path, got.text)).status, 200);
            },
          );
        }
      } finally {
        await target.stop();
      }
    }
  } finally {
    agent.destroy();
    await source.stop();
  }
}
