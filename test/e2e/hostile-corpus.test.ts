/**
 * The hostile corpus: one real Node-RED process, a simulated parent behind a proxy that turns hostile in
 * a different way per case, and for each case a fresh child and store. Each case syncs once cleanly (so
 * there is a marker to protect), then changes some records at the parent, turns the fault on and polls:
 *  - feed faults must end in one clear error at Catch from the feed node, with the marker where it was;
 *  - record faults must end in a clear error and the entries kept (dead letter or retry), nothing lost;
 *  - benign oddities must simply sync.
 * Then the fault goes and the child must end equal to the parent. Across the whole run: Node-RED stays
 * up, no request with the parent's credentials reaches another origin, and the Node-RED log, the status
 * lines, the caught errors, the audit rows and what audit-push sends hold no password and no patient
 * name or birth date. docs/reliability.md has the table of cases.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ENTRY_ID_PREFIX, OpenmrsSim } from "../../sim";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore, type FeedMarker } from "../../lib/store/store";
import { inject, until } from "../helpers/e2e";
import { makeCerts, type Certs } from "../helpers/certs";
import { Collector, ForeignServer, HostileProxy, setFeedLink, viaOf, type ProxiedRequest, type ProxyReply } from "../helpers/hostile-peers";

const USER = "admin";
const PASSWORD = "Admin123";

interface Ctx {
  proxy: HostileProxy;
  foreign: ForeignServer;
  parent: OpenmrsSim;
  child: OpenmrsSim;
  /** Entry id of the marker after the clean first sync. */
  markerEntry: string;
  /** The feed's marker now. */
  marker(): Promise<FeedMarker | undefined>;
  /** Entry ids that existed when the fault went on (the changes made after it are the new ones). */
  known: Set<string>;
}

interface HostileCase {
  name: string;
  /** feed: the feed node reports, the marker holds. record: the record's entry is kept (dead letter or retry). benign: it syncs. */
  level: "feed" | "record" | "benign";
  /** The error at Catch (feed and record levels). */
  expect?: RegExp;
  /** openmrs-server properties for the parent (fhirMode, foreignLinks...). */
  server?: Record<string, unknown>;
  /** The fault is on during the first sync too (cases about a first run). */
  fromStart?: boolean;
  /**
   * The fault is in a link, not in the page: the entries of the pages read before it are handled, so the
   * marker may move up to the bad link, but only onto the parent's own pages and entries.
   */
  inLink?: boolean;
  on(ctx: Ctx): void;
  /** After the fault: how the admin brings the dropped entries back (default: retry dead letters). */
  recover?: "retry" | "reset" | "none";
  check?(ctx: Ctx): void | Promise<void>;
}

const feedOnly = (fn: (req: ProxiedRequest, r: ProxyReply) => ProxyReply) => (req: ProxiedRequest, r: ProxyReply) => (req.area === "feed" ? fn(req, r) : r);
const recordGets = (area: "rest-get" | "fhir-get", fn: (r: ProxyReply, req: ProxiedRequest) => ProxyReply) => (req: ProxiedRequest, r: ProxyReply) =>
  req.area === area && /\/(patient|Patient)\//.test(req.path) ? fn(r, req) : r;
/** Every <entry> of a page that is new since the fault went on, changed by `fn`. */
const changeNewEntries = (xml: string, ctx: Ctx, fn: (entry: string) => string) =>
  xml.replace(/<entry>[\s\S]*?<\/entry>/g, (entry) => {
    const id = /<id>([^<]+)<\/id>/.exec(entry)?.[1] ?? "";
    return ctx.known.has(id) ? entry : fn(entry);
  });
/** Every entry id on a page except the marked one, changed by `fn`. */
const changeEntryIds = (xml: string, ctx: Ctx, fn: (id: string) => string) =>
  xml.replace(/<id>(tag:[^<]+)<\/id>/g, (all, id: string) => (id === ctx.markerEntry ? all : `<id>${fn(id)}</id>`));
const noAuthAt = (ctx: Ctx) => assert.equal(ctx.foreign.requests.filter((r) => r.authorization).length, 0, "no credentials at the other origin");

const CASES: HostileCase[] = [
  // ---- links and paths
  {
    name: "next-archive to another host",
    level: "feed",
    inLink: true,
    expect: /credentials stay with their origin/,
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "next-archive", `${c.foreign.url}/feed?page=2`) }))),
    check: (c) => assert.equal(c.foreign.requests.length, 0),
  },
  {
    name: "next-archive to another host, allowed without credentials",
    level: "feed",
    inLink: true,
    server: { foreignLinks: "anonymous" },
    expect: /HTTP 404 from feed page/,
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "next-archive", `${c.foreign.url}/feed?page=2`) }))),
    check: (c) => {
      assert.ok(c.foreign.requests.length > 0, "followed");
      noAuthAt(c);
    },
  },
  {
    name: "next-archive with user:password@ in it",
    level: "feed",
    inLink: true,
    expect: /refused http:\/\/127\.0\.0\.1/,
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "next-archive", c.foreign.url.replace("//", "//mallory:hunter2@") + "/x") }))),
    check: (c) => assert.equal(c.foreign.requests.length, 0),
  },
  {
    name: "a page whose next-archive is itself",
    level: "feed",
    inLink: true,
    expect: /cycle/,
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "next-archive", viaOf(r.body)) }))),
  },
  {
    name: "next-archive back to page 1 (a cycle)",
    level: "feed",
    inLink: true,
    expect: /cycle/,
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "next-archive", viaOf(r.body).replace(/\/\d+$/, "/1")) }))),
  },
  {
    name: "prev-archive cycle while seeking the oldest page",
    level: "feed",
    fromStart: true,
    expect: /its own prev-archive/,
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "prev-archive", viaOf(r.body).replace(/\/\d+$/, "/1")) }))),
  },
  {
    name: "an endless chain of fresh empty pages",
    level: "feed",
    inLink: true,
    expect: /runaway/,
    on: (c) => {
      c.proxy.takeover = (q, res) => {
        const n = Number(/\/ws\/atomfeed\/patient\/(\d+)/.exec(q.path)?.[1] ?? 0);
        if (n < 1000) return false;
        res.writeHead(200, { "content-type": "application/atom+xml" });
        res.end(
          `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><link rel="via" href="${c.proxy.url}/ws/atomfeed/patient/${n}"/><link rel="next-archive" href="${c.proxy.url}/ws/atomfeed/patient/${n + 1}"/><id>x</id><updated>2020-01-01T00:00:00Z</updated></feed>`,
        );
        return true;
      };
      c.proxy.tamper = feedOnly((_q, r) =>
        /next-archive/.test(r.body) ? r : { ...r, body: setFeedLink(r.body, "next-archive", `${c.proxy.url}/ws/atomfeed/patient/1000`) },
      );
    },
    // Two polls meet the chain (the test polls again to see it reported once): about 100 pages each.
    check: (c) => assert.ok(c.proxy.requests.filter((r) => /patient\/1\d{3}/.test(r.path)).length <= 220, "stopped after about 100 empty pages per poll"),
  },
  {
    name: ".. in a record uuid",
    level: "record",
    expect: /not safe in a URL/,
    recover: "reset",
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({
        ...r,
        body: changeNewEntries(r.body, c, (e) => e.replace(/"fhir":"\/ws\/fhir2\/R4\/Patient\/[^"]+"/, '"fhir":"/ws/fhir2/R4/Patient/.."')),
      }))),
    check: (c) => assert.equal(c.proxy.requests.filter((r) => /\/\.\.|%2e%2e/i.test(r.path)).length, 0, "nothing requested with .."),
  },
  {
    name: "an entry link to another host (not an API path)",
    level: "record",
    server: { fhirMode: "rest" },
    expect: /credentials stay with their origin/,
    recover: "reset",
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({
        ...r,
        body: changeNewEntries(r.body, c, (e) => e.replace(/"rest":"\/ws\/rest\/v1\/patient\/([^?"]+)\?v=full"/, `"rest":"${c.foreign.url}/steal/patient/$1"`)),
      }))),
    check: (c) => assert.equal(c.foreign.requests.length, 0),
  },
  {
    name: "an entry link to an API path on an internal host (rebased onto the parent)",
    level: "benign",
    server: { fhirMode: "rest" },
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: r.body.replace(/"rest":"\/ws\/rest\//g, `"rest":"http://internal-host:8080/openmrs/ws/rest/`) }))),
  },
  {
    name: "a via link to another host",
    level: "benign",
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "via", `${c.foreign.url}/ws/atomfeed/elsewhere/feed`) }))),
    check: async (c) => {
      const m = await c.marker();
      assert.ok(m?.pageUrl?.startsWith(`${c.proxy.url}/ws/atomfeed/patient/`), `the marker stays on the parent's pages (${m?.pageUrl})`);
      assert.equal(c.foreign.requests.length, 0);
    },
  },
  // ---- parsing
  {
    name: "truncated XML",
    level: "feed",
    expect: /malformed feed page/,
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: r.body.slice(0, r.body.length / 2) }))),
  },
  {
    name: "a DTD",
    level: "feed",
    expect: /DTD or entities/,
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: r.body.replace("?>", "?>\n<!DOCTYPE feed [<!ELEMENT feed ANY>]>") }))),
  },
  {
    name: "an external entity",
    level: "feed",
    expect: /DTD or entities/,
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({
        ...r,
        body: r.body.replace("?>", '?>\n<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>').replace("</title>", "&xxe;</title>"),
      }))),
  },
  {
    name: "deep nesting (100,000 levels)",
    level: "benign",
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: r.body.replace("</title>", `</title>${"<x>".repeat(100_000)}${"</x>".repeat(100_000)}`) }))),
  },
  {
    name: "a 200 MB page",
    level: "feed",
    expect: /larger than/,
    on: (c) => {
      c.proxy.takeover = (q, res) => {
        if (q.area !== "feed") return false;
        res.writeHead(200, { "content-type": "application/atom+xml" });
        const chunk = Buffer.alloc(1024 * 1024, "<!-- padding padding padding -->");
        let sent = 0;
        const pump = () => {
          while (sent < 200 && !res.destroyed) {
            sent++;
            c.proxy.streamed += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        res.on("close", () => (sent = 200));
        pump();
        return true;
      };
    },
    check: (c) => assert.ok(c.proxy.streamed < 100 * 1024 * 1024, `${c.proxy.streamed} bytes streamed before the cut`),
  },
  {
    name: "a slow-drip body",
    level: "feed",
    expect: /timed out after 2000 ms/,
    on: (c) => {
      c.proxy.takeover = (q, res) => {
        if (q.area !== "feed") return false;
        res.writeHead(200, { "content-type": "application/atom+xml" });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(" ")), 100);
        res.on("close", () => clearInterval(t));
        return true;
      };
    },
  },
  // ---- wrong content
  {
    name: "an HTML login page with 200",
    level: "feed",
    expect: /not an Atom feed/,
    on: (c) =>
      (c.proxy.tamper = feedOnly(() => ({ status: 200, headers: { "content-type": "text/html" }, body: "<html><body><form>Login</form></body></html>" }))),
  },
  {
    name: "JSON where a feed page should be",
    level: "feed",
    expect: /not an Atom feed/,
    on: (c) => (c.proxy.tamper = feedOnly(() => ({ status: 200, headers: { "content-type": "application/json" }, body: '{"error":"x"}' }))),
  },
  {
    name: "invalid FHIR",
    level: "record",
    expect: /invalid FHIR|gender/i,
    on: (c) => (c.proxy.tamper = recordGets("fhir-get", (r) => ({ ...r, body: JSON.stringify({ ...JSON.parse(r.body), gender: "bogus" }) }))),
  },
  {
    name: "a wrong resource type at the URL",
    level: "record",
    expect: /instead of Patient/,
    on: (c) => (c.proxy.tamper = recordGets("fhir-get", (r) => ({ ...r, body: JSON.stringify({ ...JSON.parse(r.body), resourceType: "Observation" }) }))),
  },
  {
    name: "a body uuid that differs from the feed's (REST)",
    level: "record",
    server: { fhirMode: "rest" },
    expect: /instead of/,
    on: (c) =>
      (c.proxy.tamper = recordGets("rest-get", (r) => ({
        ...r,
        body: JSON.stringify({ ...JSON.parse(r.body), uuid: "00000000-0000-4000-8000-000000000000" }),
      }))),
  },
  {
    name: "an HTML page with 200 for a record (REST)",
    level: "record",
    server: { fhirMode: "rest" },
    expect: /not JSON/,
    recover: "none",
    on: (c) => (c.proxy.tamper = recordGets("rest-get", () => ({ status: 200, headers: { "content-type": "text/html" }, body: "<html>Login</html>" }))),
  },
  {
    name: "__proto__ and constructor category terms",
    level: "benign",
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({
        ...r,
        body: r.body.replace(/<category term="patient" \/>/g, '<category term="__proto__" /><category term="constructor" />'),
      }))),
  },
  {
    name: "__proto__ keys in a record (REST)",
    level: "benign",
    server: { fhirMode: "rest" },
    on: (c) =>
      (c.proxy.tamper = recordGets("rest-get", (r) => ({
        ...r,
        body: r.body.replace(/^\{/, '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},'),
      }))),
  },
  {
    name: "CR/LF in entry ids",
    level: "benign",
    on: (c) => (c.proxy.tamper = feedOnly((_q, r) => ({ ...r, body: changeEntryIds(r.body, c, (id) => `${id}&#13;&#10;x-injected: 1`) }))),
  },
  {
    name: "unicode edge cases (BOM, RTL override, astral and combining characters, U+2028)",
    level: "benign",
    on: (c) =>
      (c.proxy.tamper = feedOnly((_q, r) => ({
        ...r,
        body: "\uFEFF" + r.body.replace(/<title>Patient<\/title>/g, "<title>Pa\u202Etient \u{1F600} e\u0301\u2028</title>"),
      }))),
  },
  // ---- redirects and transport
  {
    name: "a feed page redirected to another origin",
    level: "feed",
    expect: /HTTP 302/,
    on: (c) => {
      c.proxy.takeover = (q, res) => {
        if (q.area !== "feed") return false;
        res.writeHead(302, { location: `${c.foreign.url}/feed` });
        res.end();
        return true;
      };
    },
    check: (c) => assert.equal(c.foreign.requests.length, 0),
  },
  {
    name: "a REST record redirected to another origin",
    level: "record",
    server: { fhirMode: "rest" },
    expect: /HTTP 302: redirect not followed/,
    on: (c) => {
      c.proxy.takeover = (q, res) => {
        if (q.area !== "rest-get") return false;
        res.writeHead(302, { location: `${c.foreign.url}/record` });
        res.end();
        return true;
      };
    },
    check: (c) => assert.equal(c.foreign.requests.length, 0),
  },
  {
    name: "a fhir2 record redirected to another origin",
    level: "record",
    expect: /HTTP 302/,
    on: (c) => {
      c.proxy.takeover = (q, res) => {
        if (q.area !== "fhir-get" || !/Patient\//.test(q.path)) return false;
        res.writeHead(302, { location: `${c.foreign.url}/record` });
        res.end();
        return true;
      };
    },
    check: (c) => assert.equal(c.foreign.requests.length, 0),
  },
  {
    name: "a fhir2 record of 30 MB",
    level: "record",
    expect: /larger than|exceeded|too large/i,
    on: (c) =>
      (c.proxy.tamper = recordGets("fhir-get", (r) => ({
        ...r,
        body: JSON.stringify({ ...JSON.parse(r.body), text: { status: "generated", div: "x".repeat(30 * 1024 * 1024) } }),
      }))),
  },
  {
    name: "HTTP 500 on the feed",
    level: "feed",
    expect: /HTTP 500 from feed page/,
    on: (c) => (c.proxy.tamper = feedOnly(() => ({ status: 500, headers: {}, body: "boom" }))),
  },
  {
    name: "connection reset on the feed",
    level: "feed",
    expect: /reset|socket|ECONNRESET/i,
    on: (c) => (c.proxy.takeover = (q, res) => (q.area === "feed" ? (res.socket?.destroy(), true) : false)),
  },
  {
    name: "HTTP 401 on the feed (paused, reported once)",
    level: "feed",
    expect: /401/,
    on: (c) => (c.proxy.tamper = feedOnly(() => ({ status: 401, headers: { "www-authenticate": "Basic" }, body: "" }))),
  },
];

describe("hostile corpus (one Node-RED process, a hostile parent per case)", function () {
  this.timeout(600_000);
  let nodeRed: NodeRedProcess;
  let parent: OpenmrsSim;
  let proxy: HostileProxy;
  let foreign: ForeignServer;
  let collector: Collector;
  let dir: string;
  const children: OpenmrsSim[] = [];
  const dbs: string[] = [];
  /** Names and birth dates of the patients, for the PHI grep. */
  const phi = new Set<string>();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-corpus-"));
    parent = new OpenmrsSim({ name: "parent", seed: 71 });
    parent.generate({ patients: 6, visitsPerPatient: 0 });
    await parent.start();
    proxy = new HostileProxy();
    await proxy.start(parent.url);
    foreign = new ForeignServer();
    await foreign.start();
    collector = new Collector();
    await collector.start();
    nodeRed = new NodeRedProcess({ userDir: path.join(dir, "red") });
    await nodeRed.start();
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") {
      console.log(nodeRed.log.slice(-3000));
      console.log(JSON.stringify(collector.got.slice(-30).map((c) => [c.kind, c.body.source, c.body.message ?? c.body.text])));
    }
  });

  after(async () => {
    await nodeRed?.stop();
    for (const s of [proxy, foreign, collector]) await s?.stop();
    for (const c of children) await c.stop();
    await parent?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The case's flow; `parentUrl` and `tls` (a core tls-config node's properties) for the https cases. */
  function flow(
    n: number | string,
    child: OpenmrsSim,
    db: string,
    server: Record<string, unknown> = {},
    parentUrl = proxy.url,
    tls?: Record<string, unknown>,
  ): unknown[] {
    const id = (s: string) => `c${n}_${s}`;
    const post = (name: string, to: string) => ({
      id: id(name),
      type: "http request",
      z: id("tab"),
      method: "POST",
      ret: "txt",
      paytoqs: "ignore",
      url: `${collector.url}/${to}`,
      persist: false,
      wires: [[]],
    });
    const fn = (name: string, code: string, to: string) => ({ id: id(name), type: "function", z: id("tab"), func: code, outputs: 1, wires: [[id(to)]] });
    return [
      { id: id("tab"), type: "tab", label: `case ${n}` },
      {
        id: id("parent"),
        type: "openmrs-server",
        url: parentUrl,
        timeout: 2,
        credentials: { username: USER, password: PASSWORD },
        ...(tls ? { tls: id("tls") } : {}),
        ...server,
      },
      ...(tls ? [{ id: id("tls"), type: "tls-config", cert: "", key: "", ca: "", verifyservercert: true, ...tls }] : []),
      { id: id("child"), type: "openmrs-server", url: child.url, timeout: 2, credentials: { username: USER, password: PASSWORD } },
      { id: id("store"), type: "sync-store", path: db },
      { id: id("poll"), type: "inject", z: id("tab"), props: [{ p: "payload" }], payload: "", payloadType: "str", wires: [[id("feed")]] },
      {
        id: id("feed"),
        type: "atom-feed-in",
        z: id("tab"),
        server: id("parent"),
        store: id("store"),
        category: "patient",
        interval: "0",
        maxInFlight: 4,
        ticketTimeout: 30,
        wires: [[id("fetch")], [id("donefn")]],
      },
      { id: id("fetch"), type: "fhir-fetch", z: id("tab"), server: id("parent"), wires: [[id("push")]] },
      { id: id("push"), type: "fhir-push", z: id("tab"), targetType: "openmrs", server: id("child"), store: id("store"), wires: [[]] },
      { id: id("audit"), type: "audit-push", z: id("tab"), server: id("parent"), store: id("store"), interval: 0.5, wires: [] },
      { id: id("catch"), type: "catch", z: id("tab"), scope: null, uncaught: false, wires: [[id("errfn")]] },
      fn(
        "errfn",
        "msg.payload = { source: msg.error && msg.error.source && msg.error.source.id, message: msg.error && msg.error.message }; return msg;",
        "errpost",
      ),
      post("errpost", "error"),
      // Only our nodes' status: the http request nodes' own status would feed back into the collector.
      { id: id("status"), type: "status", z: id("tab"), scope: ["feed", "fetch", "push", "audit"].map(id), wires: [[id("stfn")]] },
      fn("stfn", "msg.payload = { source: msg.status.source && msg.status.source.id, text: msg.status.text, fill: msg.status.fill }; return msg;", "stpost"),
      post("stpost", "status"),
      fn("donefn", "msg.payload = { source: 'feed' }; return msg;", "donepost"),
      post("donepost", "done"),
      {
        id: id("retry"),
        type: "inject",
        z: id("tab"),
        props: [{ p: "payload" }, { p: "topic", vt: "str" }],
        payload: "all",
        payloadType: "str",
        topic: "retry",
        wires: [[id("feed")]],
      },
      { id: id("reset"), type: "inject", z: id("tab"), props: [{ p: "reset", v: "beginning", vt: "str" }], wires: [[id("feed")]] },
    ];
  }

  async function marker(db: string, feedId: string): Promise<FeedMarker | undefined> {
    const store = await SyncStore.open(db, { readOnly: true });
    try {
      return await store.getMarker(feedId);
    } finally {
      await store.close();
    }
  }

  const patientDiff = (child: OpenmrsSim) => parent.diff(child).filter((d) => d.startsWith("patient"));

  async function poll(n: number | string): Promise<void> {
    await inject(nodeRed, `c${n}_poll`);
  }

  /** Polls (and with `retry`, retries dead letters: they may still be settling) until the child equals the parent. */
  async function syncedAfter(n: number | string, child: OpenmrsSim, ms: number, what: string, retry = false): Promise<void> {
    await until(
      async () => {
        if (patientDiff(child).length === 0) return true;
        if (retry) await inject(nodeRed, `c${n}_retry`);
        await poll(n);
        await new Promise((r) => setTimeout(r, 150));
        return patientDiff(child).length === 0;
      },
      ms,
      what,
    );
  }

  CASES.forEach((hc, i) => {
    const n = i + 1;
    it(`${n}. ${hc.name}`, async () => {
      const child = new OpenmrsSim({ name: `child${n}`, seed: 100 + n });
      children.push(child);
      await child.start();
      const db = path.join(dir, `case${n}.db`);
      dbs.push(db);
      proxy.clear();
      foreign.requests.length = 0;
      proxy.requests.length = 0;
      proxy.streamed = 0;
      const ctx: Ctx = { proxy, foreign, parent, child, markerEntry: "", marker: () => marker(db, `c${n}_feed`), known: new Set() };
      await nodeRed.deploy(flow(n, child, db, hc.server));
      const feedId = `c${n}_feed`;
      let mark = collector.got.length;

      const newest = () => ENTRY_ID_PREFIX + parent.store.categoryEvents("patient").at(-1)!.uuid;
      if (!hc.fromStart) {
        await syncedAfter(n, child, 20_000, "the clean first sync");
        // The marker on the newest entry: a poll still running has nothing left to move.
        await until(async () => (await marker(db, feedId))?.entryId === newest(), 10_000, "the marker on the newest entry");
        ctx.markerEntry = newest();
      }
      // The fault first, then the changes: whatever poll reads them reads them through the fault.
      ctx.known = new Set(parent.store.categoryEvents("patient").map((e) => ENTRY_ID_PREFIX + e.uuid));
      hc.on(ctx);
      const before = await marker(db, feedId).catch(() => undefined);
      mark = collector.got.length;
      if (!hc.fromStart) parent.mutate(3);
      await poll(n);

      if (hc.level === "benign") {
        await syncedAfter(n, child, 20_000, "the sync through the oddity");
        const errors = collector.since(mark, "error", `c${n}_`);
        assert.deepEqual(
          errors.map((e) => e.body.message),
          [],
          "no errors",
        );
      } else {
        await until(
          () => collector.since(mark, "error", `c${n}_`).some((e) => hc.expect!.test(e.body.message ?? "")),
          15_000,
          `an error matching ${hc.expect}`,
        ).catch((err: Error) => {
          throw new Error(`${err.message}; got: ${JSON.stringify(collector.since(mark, "error", `c${n}_`).map((e) => e.body))}`);
        });
        const errors = collector.since(mark, "error", `c${n}_`);
        if (hc.level === "feed") {
          assert.ok(
            errors.every((e) => e.body.source === feedId),
            JSON.stringify(errors.map((e) => e.body)),
          );
          // Polling again into the same problem reports nothing new (a poll already running when the fault
          // went on may have met the page before the changes, a different problem, reported once too).
          const reported = collector.since(mark, "error", `c${n}_`).length;
          await poll(n);
          await new Promise((r) => setTimeout(r, 200));
          assert.equal(
            collector.since(mark, "error", `c${n}_`).length,
            reported,
            `reported once, not once per poll: ${JSON.stringify(collector.since(mark, "error", `c${n}_`).map((e) => e.body.message))}`,
          );
          assert.equal(new Set(errors.map((e) => e.body.message)).size, errors.length, "no problem reported twice");
          const after = await marker(db, feedId).catch(() => undefined);
          if (hc.inLink) {
            const real = new Set(parent.store.categoryEvents("patient").map((e) => ENTRY_ID_PREFIX + e.uuid));
            assert.ok(!after?.entryId || real.has(after.entryId), `the marker on a real entry (${after?.entryId})`);
            assert.ok(!after?.pageUrl || after.pageUrl.startsWith(`${proxy.url}/ws/atomfeed/patient/`), `the marker on a parent page (${after?.pageUrl})`);
          } else {
            assert.deepEqual(after, before, "the marker held");
          }
        }
      }
      await hc.check?.(ctx);
      assert.ok(nodeRed.running, "Node-RED is up");

      // The fault goes; the admin's usual step brings back what was dead-lettered; the child ends equal.
      proxy.clear();
      const recover = hc.recover ?? (hc.level === "record" ? "retry" : "none");
      if (recover === "reset") await inject(nodeRed, `c${n}_reset`);
      await syncedAfter(n, child, 30_000, "the child equal to the parent after the fault", recover === "retry");
      noAuthAt(ctx);
    });
  });

  describe("TLS", () => {
    let certs: Certs;
    let tlsProxy: HostileProxy | undefined;
    before(() => {
      certs = makeCerts();
      for (const [name, pem] of Object.entries({ selfSigned: certs.selfSignedCert, client: certs.clientCert, clientKey: certs.clientKey })) {
        fs.writeFileSync(path.join(certs.dir, `${name}.pem`), pem);
      }
    });
    afterEach(async () => {
      await tlsProxy?.stop();
      tlsProxy = undefined;
    });
    after(() => certs?.remove());

    /** Deploys case `n` against an https proxy; expects one clear error at Catch from the feed, nothing at the proxy. */
    async function refusedThenAccepted(
      n: string,
      serverTls: Record<string, unknown>,
      refusal: Record<string, unknown> | undefined,
      accepted: Record<string, unknown>,
      expect: RegExp,
    ) {
      tlsProxy = new HostileProxy();
      await tlsProxy.start(parent.url, serverTls);
      const child = new OpenmrsSim({ name: `child${n}`, seed: 500 });
      children.push(child);
      await child.start();
      const db = path.join(dir, `case${n}.db`);
      dbs.push(db);
      const mark = collector.got.length;
      await nodeRed.deploy(flow(n, child, db, {}, tlsProxy.url, refusal));
      await poll(n);
      await until(() => collector.since(mark, "error", `c${n}_`).some((e) => expect.test(e.body.message ?? "")), 15_000, `an error matching ${expect}`).catch(
        (err: Error) => {
          throw new Error(`${err.message}; got: ${JSON.stringify(collector.since(mark, "error", `c${n}_`).map((e) => e.body))}`);
        },
      );
      // The feed, and audit-push when its timer meets the same refusal: both talk to the parent.
      assert.ok(
        collector.since(mark, "error", `c${n}_`).every((e) => e.body.source === `c${n}_feed` || e.body.source === `c${n}_audit`),
        JSON.stringify(collector.since(mark, "error", `c${n}_`).map((e) => e.body)),
      );
      assert.equal(tlsProxy.requests.length, 0, "no request got through the handshake");
      assert.equal((await marker(db, `c${n}_feed`).catch(() => undefined))?.entryId ?? null, null, "no marker");
      await nodeRed.deploy(flow(n, child, db, {}, tlsProxy.url, accepted));
      await syncedAfter(n, child, 20_000, "the sync once the TLS settings are right");
      assert.ok(
        tlsProxy.requests.every((r) => r.authorization),
        "everything went to the parent over TLS",
      );
    }

    it(`${CASES.length + 1}. a self-signed certificate: refused without its CA, accepted with it`, async () => {
      await refusedThenAccepted(
        "tls1",
        { key: certs.selfSignedKey, cert: certs.selfSignedCert },
        undefined,
        { ca: path.join(certs.dir, "selfSigned.pem") },
        /certificate/,
      );
    });

    it(`${CASES.length + 2}. mutual TLS: refused without our client certificate, accepted with it`, async () => {
      await refusedThenAccepted(
        "tls2",
        { key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
        { ca: certs.caPath },
        { ca: certs.caPath, cert: path.join(certs.dir, "client.pem"), key: path.join(certs.dir, "clientKey.pem") },
        /TLS|socket|reset|certificate/i,
      );
    });

    it(`${CASES.length + 3}. an https parent's link to plain http is refused, even to the same host (no downgrade)`, async () => {
      tlsProxy = new HostileProxy();
      await tlsProxy.start(parent.url, { key: certs.serverKey, cert: certs.serverCert });
      const child = new OpenmrsSim({ name: "childtls3", seed: 501 });
      children.push(child);
      await child.start();
      const db = path.join(dir, "casetls3.db");
      dbs.push(db);
      await nodeRed.deploy(flow("tls3", child, db, { foreignLinks: "anonymous" }, tlsProxy.url, { ca: certs.caPath }));
      await syncedAfter("tls3", child, 20_000, "the first sync over TLS");
      const mark = collector.got.length;
      const plain = `${foreign.url}/feed`;
      const foreignBefore = foreign.requests.length;
      const p = tlsProxy;
      p.tamper = feedOnly((_q, r) => ({ ...r, body: setFeedLink(r.body, "next-archive", plain) }));
      parent.mutate(2);
      await poll("tls3");
      await until(() => collector.since(mark, "error", "ctls3_").some((e) => /no downgrade/.test(e.body.message ?? "")), 15_000, "the downgrade refused");
      assert.equal(foreign.requests.length, foreignBefore, "nothing sent over plain http");
      p.clear();
      await syncedAfter("tls3", child, 20_000, "the sync once the link is gone");
    });
  });

  it("across the whole run: no credentials and no patient names or birth dates in the log, status, errors, audit or audit-push", async () => {
    // A child that refuses writes with messages quoting the patient's names and birth date, as OpenMRS does.
    const n = CASES.length + 1;
    const child = new OpenmrsSim({ name: "strict-child", seed: 999 });
    children.push(child);
    await child.start();
    const db = path.join(dir, "phi.db");
    dbs.push(db);
    proxy.clear();
    const mark = collector.got.length;
    const uuids = parent.store.categoryEvents("patient").map((e) => e.object);
    child.faults.rejectWrites = [...new Set(uuids)];
    await nodeRed.deploy(flow(n, child, db));
    await inject(nodeRed, `c${n}_poll`);
    await until(() => collector.since(mark, "error", `c${n}_`).length > 0, 15_000, "the refused writes reported");
    // What the child's refusals quoted: every name and birth date the parent holds.
    collectPhi(parent.snapshot(), phi);
    assert.ok(phi.size >= 6, `PHI samples: ${[...phi].slice(0, 5).join(", ")}`);
    // Wait for audit-push to send its rows to the parent (through the proxy).
    await until(() => proxy.requests.some((r) => r.area === "write" && /sync2/.test(r.path)), 10_000, "audit rows sent");
    await new Promise((r) => setTimeout(r, 1000));
    child.faults.rejectWrites = [];
    await syncedAfter(n, child, 30_000, "the strict child equal once it accepts", true);

    const haystacks: [string, string][] = [
      ["Node-RED log", nodeRed.log],
      ["status lines", JSON.stringify(collector.got.filter((c) => c.kind === "status").map((c) => c.body.text))],
      ["caught errors", JSON.stringify(collector.got.filter((c) => c.kind === "error").map((c) => c.body.message))],
      ["audit-push bodies", JSON.stringify([...parent.auditMessages.values()])],
    ];
    for (const file of dbs) {
      const store = await SyncStore.open(file, { readOnly: true });
      try {
        const rows = await store.db.all<{ error: string | null; reason: string | null }>("SELECT error, reason FROM audit");
        const dead = await store.db.all<{ error: string | null }>("SELECT error FROM dead_letters");
        haystacks.push([`audit rows of ${path.basename(file)}`, JSON.stringify(rows)], [`dead-letter errors of ${path.basename(file)}`, JSON.stringify(dead)]);
      } finally {
        await store.close();
      }
    }
    const secrets = [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString("base64"), "hunter2"];
    const leaks: string[] = [];
    for (const [where, text] of haystacks) {
      for (const s of secrets) if (text.includes(s)) leaks.push(`${where}: credential`);
      for (const p of phi) if (text.includes(p)) leaks.push(`${where}: "${p}"`);
    }
    assert.deepEqual(leaks, []);
    assert.ok(nodeRed.running);
  });
});

/** Given and family names and birth dates of the patients in a simulator snapshot. */
function collectPhi(snapshot: unknown, out: Set<string>): void {
  const walk = (v: unknown, key = ""): void => {
    if (typeof v === "string" && /^(given|family|givenName|familyName|birthdate|birthDate)$/.test(key) && v.length >= 4) out.add(v);
    else if (Array.isArray(v)) for (const x of v) walk(x, key);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(snapshot);
}
