/**
 * Feed pages served per second by the hub: a real Node-RED process with a sync-store and an atom-feed-out
 * node (category patient, --events events published into its store first), a key issued through the admin
 * API, and a keep-alive load of --concurrency clients on 127.0.0.1 for --seconds per scenario:
 *
 *  - recent: `…/patient/recent` (rendered from the store on each read: no-cache);
 *  - archive: `…/patient/{n}` cycling over the archive pages (immutable: kept rendered in memory);
 *  - archive 304: the same with the page's ETag in If-None-Match.
 *
 * Every request passes the key check (its secret verified once, then by HMAC) and writes an audit row
 * (group-committed), as in production. When nginx is installed (Debian's package), the same pages, saved
 * to files, are served by nginx on a free port with a temp config, in the same run, with the same client
 * (nginx makes its own ETag from mtime and size and answers 304 the same way). Prints the medians of
 * --runs runs and the hub/nginx ratios.
 *
 *   npm run build && npx tsx bench/hub-pages.ts [--events 1000] [--concurrency 16] [--seconds 3] [--runs 3]
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { numberArg } from "./args";
import { SyncStore } from "../lib/store/store";
import { FeedPublisher } from "../lib/atom/publisher";
import { NodeRedProcess, freePort } from "../scripts/node-red-process";

const EVENTS = numberArg("events", 1000);
const CONCURRENCY = numberArg("concurrency", 16);
const SECONDS = numberArg("seconds", 3);
const RUNS = numberArg("runs", 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string; etag?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), etag: res.headers.etag }));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

interface Scenario {
  name: string;
  /** The i-th request: its URL, headers and the status it must get. */
  request(i: number): { url: string; headers: Record<string, string>; status: number };
}

/** Requests per second over `SECONDS` with CONCURRENCY clients; any unexpected status fails the run. */
async function load(s: Scenario): Promise<number> {
  let i = 0;
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const r = s.request(i++);
      const res = await get(r.url, r.headers);
      if (res.status !== r.status) throw new Error(`${s.name}: ${r.url} answered ${res.status}, not ${r.status}`);
      done++;
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return done / ((performance.now() - t) / 1000);
}

async function startNginx(dir: string, root: string): Promise<{ url: string; proc: ChildProcess } | undefined> {
  const bin = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((b) => fs.existsSync(b));
  if (!bin) return undefined;
  const port = await freePort();
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    default_type application/atom+xml;
    etag on;
  }
}
`,
  );
  fs.mkdirSync(path.join(dir, "tmp"), { recursive: true });
  // mkdtemp makes the dir 0700: nginx's workers (run as nobody under root) must read the pages.
  fs.chmodSync(dir, 0o755);
  const proc = spawn(bin, ["-c", conf, "-p", dir], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (
      await get(`${url}/openmrs/ws/atomfeed/patient/recent`, {}).then(
        (r) => r.status === 200,
        () => false,
      )
    )
      return { url, proc };
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill();
  throw new Error("nginx did not start");
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-hub-pages-"));
  const db = path.join(dir, "hub.db");
  const store = await SyncStore.open(db);
  const pub = new FeedPublisher(store.db);
  for (let i = 0; i < EVENTS; i++) {
    const uuid = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
    await pub.publish({
      category: "patient",
      title: "Patient",
      tags: ["UPDATED"],
      content: JSON.stringify({ rest: `/ws/rest/v1/patient/${uuid}?v=full`, fhir: `/ws/fhir2/R4/Patient/${uuid}` }),
    });
  }
  await store.close();
  const pages = Math.ceil(EVENTS / pub.pageSize);
  const archives = pages - 1;

  const flow = [
    { id: "store", type: "sync-store", name: "hub", path: db },
    { id: "tab", type: "tab", label: "bench" },
    { id: "out", type: "atom-feed-out", z: "tab", store: "store", category: "patient", dialect: "sync2", wires: [[]] },
  ];
  const hub = new NodeRedProcess({ userDir: path.join(dir, "nr"), flows: flow });
  let nginx: { url: string; proc: ChildProcess } | undefined;
  try {
    await hub.start();
    const issued = await fetch(`${hub.url}/openmrs-sync/keys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "bench", catchment: { locations: [] } }),
    });
    const key = (await issued.json()) as { name: string; secret: string };
    const auth = { authorization: `Basic ${Buffer.from(`${key.name}:${key.secret}`).toString("base64")}` };

    // The hub's pages, saved as files for nginx (same bytes), and their ETags at the hub.
    const root = path.join(dir, "www");
    const feedDir = path.join(root, "openmrs", "ws", "atomfeed", "patient");
    fs.mkdirSync(feedDir, { recursive: true });
    const hubEtags: string[] = [];
    for (const p of ["recent", ...Array.from({ length: archives }, (_, i) => String(i + 1))]) {
      const r = await get(`${hub.url}/openmrs/ws/atomfeed/patient/${p}`, auth);
      if (r.status !== 200) throw new Error(`hub page ${p}: ${r.status}`);
      fs.writeFileSync(path.join(feedDir, p), r.body);
      if (p !== "recent") hubEtags[Number(p)] = r.etag!;
    }
    nginx = await startNginx(dir, root);
    const nginxEtags: string[] = [];
    if (nginx) for (let n = 1; n <= archives; n++) nginxEtags[n] = (await get(`${nginx.url}/openmrs/ws/atomfeed/patient/${n}`, {})).etag!;

    const scenarios = (base: string, headers: Record<string, string>, etags: string[]): Scenario[] => [
      { name: "recent", request: () => ({ url: `${base}/openmrs/ws/atomfeed/patient/recent`, headers, status: 200 }) },
      { name: "archive", request: (i) => ({ url: `${base}/openmrs/ws/atomfeed/patient/${(i % archives) + 1}`, headers, status: 200 }) },
      {
        name: "archive 304",
        request: (i) => {
          const n = (i % archives) + 1;
          return { url: `${base}/openmrs/ws/atomfeed/patient/${n}`, headers: { ...headers, "if-none-match": etags[n] }, status: 304 };
        },
      },
    ];
    const hubRuns: Record<string, number[]> = {};
    const nginxRuns: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      for (const s of scenarios(hub.url, auth, hubEtags)) (hubRuns[s.name] ??= []).push(await load(s));
      if (nginx) for (const s of scenarios(nginx.url, {}, nginxEtags)) (nginxRuns[s.name] ??= []).push(await load(s));
    }
    console.log(
      `${EVENTS} events (${pages} pages), ${CONCURRENCY} keep-alive clients, ${SECONDS} s per scenario, median of ${RUNS} runs; ${os.cpus().length} CPUs`,
    );
    console.log(["scenario".padEnd(12), "hub req/s".padStart(10), "nginx req/s".padStart(12), "hub/nginx".padStart(10)].join(" "));
    for (const name of Object.keys(hubRuns)) {
      const h = median(hubRuns[name]);
      const n = nginx ? median(nginxRuns[name]) : NaN;
      console.log(
        [name.padEnd(12), h.toFixed(0).padStart(10), (nginx ? n.toFixed(0) : "-").padStart(12), (nginx ? (h / n).toFixed(3) : "-").padStart(10)].join(" "),
      );
    }
    console.log(
      "runs:",
      JSON.stringify({ hub: hubRuns, nginx: nginxRuns }, (_k, v: unknown) => (typeof v === "number" ? Math.round(v) : v)),
    );
  } finally {
    nginx?.proc.kill();
    await hub.stop();
    agent.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
