/**
 * The raw client of the catch-up benchmark: plain `node:http` with keep-alive, doing the same requests as
 * our flow (same page walk, same record GETs, same PUT / POST-on-404 writes, same concurrency) with no
 * Node-RED and no store; and the sequential Sync 2.0-style loop.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { parseFeedPage, type FeedPage } from "../lib/atom/parse";
import { fhirToRestCreate, type FhirResource } from "../lib/fhir/convert";
import { OpenmrsSim } from "../sim";
import { startSim, stopSim } from "./sim-process";

export const CATEGORIES = ["patient", "visit", "encounter", "observation"];
const AUTH = "Basic " + Buffer.from("admin:Admin123").toString("base64");

/** Pages the raw client asks for ahead of its walk: as many as our walker's default. */
const PAGES_AHEAD = 4;

export const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function request(method: string, url: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: AUTH,
          accept: "application/json",
          ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

/**
 * Walks a category's pages oldest first; each page is parsed once and handed to `visit`. `ahead`: numbered
 * pages asked for ahead of the walk, up to the newest (as our walker does: lib/feed/walker.ts).
 */
async function pages(base: string, category: string, visit: (page: FeedPage) => void, ahead = 0): Promise<void> {
  const fetchPage = async (url: string) => parseFeedPage((await request("GET", url)).text, url);
  const early = new Map<string, Promise<FeedPage>>();
  const get = (url: string): Promise<FeedPage> => {
    const p = early.get(url);
    early.delete(url);
    return p ?? fetchPage(url);
  };
  let page = await fetchPage(`${base}/ws/atomfeed/${category}/recent`);
  const newest = Number(page.links.via?.split("/").pop()) || 0;
  if (page.links.prevArchive) page = await fetchPage(`${base}/ws/atomfeed/${category}/1`);
  for (;;) {
    visit(page);
    const next = page.links.nextArchive;
    if (!next) break;
    const n = Number(next.split("/").pop());
    for (let k = 1; k <= ahead && n + k <= newest; k++) {
      const u = `${base}/ws/atomfeed/${category}/${n + k}`;
      if (!early.has(u)) early.set(u, fetchPage(u));
    }
    page = await get(`${base}/ws/atomfeed/${category}/${n}`);
  }
}

async function copyOne(parent: string, child: string, type: string, uuid: string, created: boolean): Promise<void> {
  const got = await request("GET", `${parent}/ws/fhir2/R4/${type}/${uuid}`);
  if (got.status === 410) {
    await request("DELETE", `${child}/ws/fhir2/R4/${type}/${uuid}`);
    return;
  }
  const resource = JSON.parse(got.text) as FhirResource;
  if (created) {
    // Same requests as ours: a CREATED entry is written with the REST create first.
    const { kind, body } = fhirToRestCreate(resource);
    const post = await request("POST", `${child}/ws/rest/v1/${kind}`, body);
    if (post.status < 300) return;
  }
  const put = await request("PUT", `${child}/ws/fhir2/R4/${type}/${uuid}`, resource);
  if (put.status === 404) {
    const { kind, body } = fhirToRestCreate(resource);
    const post = await request("POST", `${child}/ws/rest/v1/${kind}`, body);
    if (post.status >= 300) throw new Error(`raw client: POST ${kind} ${uuid}: HTTP ${post.status} ${post.text.slice(0, 200)}`);
  }
}

export async function rawClient(parent: string, child: string, concurrency: number): Promise<void> {
  for (const category of CATEGORIES) {
    const queue: { type: string; uuid: string; created: boolean }[] = [];
    let walking = true;
    // Idle workers wait for the walk to hand them entries (or to end), instead of polling for them.
    let wake: () => void = () => undefined;
    let more = new Promise<void>((r) => (wake = r));
    const signal = (): void => {
      wake();
      more = new Promise<void>((r) => (wake = r));
    };
    const workers = Array.from({ length: concurrency }, async () => {
      for (;;) {
        const job = queue.shift();
        if (job) await copyOne(parent, child, job.type, job.uuid, job.created);
        else if (!walking) return;
        else await more;
      }
    });
    await pages(
      parent,
      category,
      (page) => {
        for (const e of page.entries) queue.push({ type: e.resourceType!, uuid: e.uuid!, created: e.action === "CREATED" });
        signal();
      },
      PAGES_AHEAD,
    );
    walking = false;
    signal();
    await Promise.all(workers);
  }
}

/** Sync 2.0's loop: one entry at a time, GET parent object, GET local object, write. */
export async function sync2Loop(parent: string, child: string): Promise<void> {
  for (const category of CATEGORIES) {
    const entries: { type: string; uuid: string }[] = [];
    await pages(parent, category, (page) => {
      for (const e of page.entries) entries.push({ type: e.resourceType!, uuid: e.uuid! });
    });
    for (const { type, uuid } of entries) {
      const got = await request("GET", `${parent}/ws/fhir2/R4/${type}/${uuid}`);
      const local = await request("GET", `${child}/ws/fhir2/R4/${type}/${uuid}`);
      if (got.status !== 200) continue;
      const resource = JSON.parse(got.text) as FhirResource;
      if (local.status === 200) await request("PUT", `${child}/ws/fhir2/R4/${type}/${uuid}`, resource);
      else {
        const { kind, body } = fhirToRestCreate(resource);
        await request("POST", `${child}/ws/rest/v1/${kind}`, body);
      }
    }
  }
}

/**
 * Runs the raw client once over a small throwaway backlog (its own pair of simulator processes), so that
 * the measured runs see it warm: cold, it spends about a quarter more CPU on a 10,000-entry backlog while
 * V8 compiles it. Node-RED is not warmed up: it catches up from a fresh start, as it does in practice.
 */
export async function warmUpRawClient(dir: string, patients = 300): Promise<void> {
  const dataFile = path.join(dir, "warm-up-parent.json");
  const gen = new OpenmrsSim({ name: "parent", dialect: "sync2", seed: 43, dataFile });
  gen.generate({ patients, visitsPerPatient: 1, encountersPerVisit: 2, obsPerEncounter: 3 });
  gen.save();
  const [parent, child] = await Promise.all([startSim("parent", dataFile), startSim("child")]);
  try {
    await rawClient(parent.url, child.url, 8);
  } finally {
    await Promise.all([stopSim(parent), stopSim(child)]);
    fs.rmSync(dataFile, { force: true });
  }
}
