/**
 * Credentials stay with their origin, ids from a feed cannot walk a URL path, and a hostile feed cannot
 * make a walk spin: real HTTP servers on 127.0.0.1 (a "home" server and a "foreign" one that counts what
 * reaches it), and the walker over pages built in the verbatim ICT4H format.
 */
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpClient } from "../../lib/http";
import { OriginError, OriginPolicy, redactUrl } from "../../lib/origin";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { fetchRecord } from "../../lib/openmrs/fetch-record";
import { FhirClient } from "../../lib/fhir/client";
import { describeEntry, isSafeId } from "../../lib/atom/entry";
import { parseFeedPage, type FeedPage } from "../../lib/atom/parse";
import { FeedWalker, RunawayFeedError } from "../../lib/feed/walker";
import { errorSummary, outcomeOfError } from "../../lib/outcome";
import { feedPage, makeEvent } from "../helpers/feed-pages";

interface Seen {
  url: string;
  authorization?: string;
  headers: http.IncomingHttpHeaders;
}

async function server(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", authorization: req.headers.authorization, headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

describe("credentials stay with their origin", () => {
  let home: Awaited<ReturnType<typeof server>>;
  let foreign: Awaited<ReturnType<typeof server>>;
  before(async () => {
    home = await server((_req, res) => res.end("{}"));
    foreign = await server((_req, res) => res.end("{}"));
  });
  after(async () => {
    await home.close();
    await foreign.close();
  });
  beforeEach(() => {
    home.seen.length = 0;
    foreign.seen.length = 0;
  });

  function client(foreignLinks?: "refuse" | "anonymous"): HttpClient {
    return new HttpClient({ username: "admin", password: "Admin123", originPolicy: new OriginPolicy(`${home.url}/openmrs`, foreignLinks) });
  }

  it("sends the credentials to the server's own origin", async () => {
    await client().get(`${home.url}/openmrs/ws/atomfeed/patient/recent`);
    assert.match(home.seen[0].authorization ?? "", /^Basic /);
  });

  it("refuses a link to another origin, and nothing reaches it", async () => {
    await assert.rejects(client().get(`${foreign.url}/feed?page=2`), (err: Error) => {
      assert.ok(err instanceof OriginError);
      assert.match(err.message, /credentials stay with their origin/);
      return true;
    });
    assert.equal(foreign.seen.length, 0);
    assert.equal(outcomeOfError(new OriginError("x", "y")).kind, "permanent");
  });

  it("follows it without credentials only when allowed", async () => {
    await client("anonymous").get(`${foreign.url}/feed?page=2`, { authorization: "Basic c3RvbGVu" });
    assert.equal(foreign.seen.length, 1);
    assert.equal(foreign.seen[0].authorization, undefined);
  });

  it("never downgrades https to http, even without credentials", () => {
    const policy = new OriginPolicy("https://parent.example:8443/openmrs", "anonymous");
    assert.throws(() => policy.credentialsFor(new URL("http://parent.example:8443/openmrs/ws/atomfeed/patient/2")), /no downgrade/);
    assert.equal(policy.credentialsFor(new URL("https://parent.example:8443/openmrs/x")), true);
  });

  it("rebases a foreign link to one of the server's API paths onto the server; leaves others to be refused", () => {
    const s = new OpenmrsServer({ url: `${home.url}/openmrs` });
    assert.equal(s.resolveLink("http://internal:8080/openmrs/ws/rest/v1/patient/abc?v=full"), `${home.url}/openmrs/ws/rest/v1/patient/abc?v=full`);
    assert.equal(s.resolveLink("/openmrs/ws/rest/v1/patient/abc"), `${home.url}/openmrs/ws/rest/v1/patient/abc`);
    assert.equal(s.resolveLink("http://evil.example/steal"), "http://evil.example/steal");
    s.close();
  });

  it("refuses a configured URL with a user name or password in it, without echoing the password", () => {
    assert.throws(
      () => new OpenmrsServer({ url: "http://admin:Secret99@parent/openmrs" }),
      (err: Error) => /credentials/.test(err.message) && !err.message.includes("Secret99"),
    );
    assert.equal(redactUrl("https://u:p@host:1/x?y"), "https://host:1/x?y");
  });

  it("does not follow a redirect: the 302 is an answer, and the other origin gets nothing", async () => {
    const redirector = await server((_req, res) => {
      res.writeHead(302, { location: `${foreign.url}/stolen` });
      res.end();
    });
    try {
      const c = new HttpClient({ username: "admin", password: "Admin123", originPolicy: new OriginPolicy(redirector.url) });
      const res = await c.get(`${redirector.url}/ws/atomfeed/patient/recent`);
      assert.equal(res.status, 302);
      assert.equal(foreign.seen.length, 0);
      c.close();
    } finally {
      await redirector.close();
    }
  });
});

describe("ids from a feed", () => {
  const entry = (content: string, categories = ["patient"], id = "tag:atomfeed.ict4h.org:1") =>
    describeEntry({ id, title: "t", updated: "2020-01-01T00:00:00Z", categories, content, page: "http://x/1" });

  it("refuses a record id with .. or a slash, and fetches nothing for it", async () => {
    assert.equal(isSafeId("6fdab6f5-2cd2-4207-b8bb-c2884d6179f6"), true);
    for (const bad of ["..", "../admin", "a/b", "%2e%2e", ".", "a..b"]) assert.equal(isSafeId(bad), false, bad);
    const e = entry(JSON.stringify({ rest: "/ws/rest/v1/patient/x", fhir: "/ws/fhir2/R4/Patient/..?x" }));
    assert.equal(e.unsafeId, true);
    assert.equal(e.uuid, undefined);
    const target = await server((_req, res) => res.end("{}"));
    try {
      const s = new OpenmrsServer({ url: target.url, fhirMode: "rest" });
      await assert.rejects(fetchRecord(s, { fhir2: false }, e), /not safe in a URL/);
      assert.equal(target.seen.length, 0);
      s.close();
    } finally {
      await target.close();
    }
  });

  it("a FHIR id from a message cannot walk the fhir2 URL either", async () => {
    const target = await server((_req, res) => res.end("{}"));
    try {
      const fhir = new FhirClient({ baseUrl: `${target.url}/ws/fhir2/R4` });
      for (const id of ["..", "../../x", "a/b", ""]) {
        await assert.rejects(fhir.update({ resourceType: "Patient", id }), /not a valid FHIR id/);
        await assert.rejects(fhir.read("Patient", id), /not a valid FHIR id/);
      }
      assert.equal(target.seen.length, 0);
      fhir.close();
    } finally {
      await target.close();
    }
  });

  it("looks category terms up without reaching Object.prototype", () => {
    for (const term of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const e = entry("/openmrs/ws/rest/v1/thing/6fdab6f5-2cd2-4207-b8bb-c2884d6179f6", [term]);
      assert.equal(e.resourceType, undefined, term);
      assert.equal(typeof e.restResource, "string");
    }
  });

  it("a REST record whose uuid differs from the feed's is refused; a CR/LF entry id cannot break the request", async () => {
    const uuid = "6fdab6f5-2cd2-4207-b8bb-c2884d6179f6";
    const target = await server((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ uuid: "00000000-0000-0000-0000-000000000000", display: "x", person: {} }));
    });
    try {
      const s = new OpenmrsServer({ url: target.url, fhirMode: "rest" });
      const e = entry(`/ws/rest/v1/patient/${uuid}?v=full`, ["patient"], "tag:atomfeed.ict4h.org:1\r\nx-injected: 1");
      await assert.rejects(fetchRecord(s, { fhir2: false }, e), /instead of/);
      assert.equal(target.seen.length, 1);
      assert.equal(target.seen[0].headers["x-injected"], undefined);
      assert.equal(target.seen[0].headers["x-sync-entry"], "tag:atomfeed.ict4h.org:1%0d%0ax-injected:%201");
      s.close();
    } finally {
      await target.close();
    }
  });

  it("error summaries carry codes and field names, never the server's text", () => {
    const oo = { resourceType: "OperationOutcome", issue: [{ code: "invalid", diagnostics: "Patient Jane Doe born 1970-02-03 is invalid" }] };
    assert.equal(errorSummary(oo), "invalid");
    const rest = { error: { message: "Jane Doe", code: "webservices.rest.error.invalid", fieldErrors: [{ field: "names[0].givenName", message: "Jane" }] } };
    assert.equal(errorSummary(rest), "webservices.rest.error.invalid, names[0].givenName");
  });
});

describe("a walk cannot spin", () => {
  const base = "http://h/openmrs";
  const feed = `${base}/ws/atomfeed/patient`;
  const events = Array.from({ length: 12 }, () => makeEvent("patient"));

  /** Serves pages 1..3 of `events`, with `tamper` changing a page's XML before parsing. */
  function walker(tamper: (n: string, xml: string) => string, opts: { maxPages?: number; maxEmptyPages?: number } = {}) {
    const fetched: string[] = [];
    const w = new FeedWalker({
      feedUri: `${feed}/recent`,
      ...opts,
      fetchPage: async (url): Promise<FeedPage> => {
        fetched.push(url);
        const n = url.endsWith("/recent") ? "3" : url.slice(url.lastIndexOf("/") + 1);
        const num = Number(n);
        const xml = num <= 3 ? feedPage(base, "patient", events, num, 5, url) : feedPage(base, "patient", [], 1, 5, url);
        return parseFeedPage(tamper(n, xml), url);
      },
    });
    return { w, fetched };
  }

  it("stops at a page that links to itself", async () => {
    const { w, fetched } = walker((n, xml) => (n === "2" ? xml.replace(/patient\/3" \/>/, 'patient/2" />') : xml));
    await assert.rejects(
      w.walk(
        undefined,
        () => true,
        () => Promise.resolve(true),
      ),
      /cycle/,
    );
    assert.ok(fetched.length <= 4, fetched.join(" "));
  });

  it("stops an endless chain of fresh links that bring nothing new", async () => {
    // Page 3 links to 4, every page beyond links to the next, none has entries.
    const { w, fetched } = walker(
      (n, xml) => {
        const num = Number(n);
        if (num < 3) return xml;
        return xml.replace("</title>", `</title>\n  <link rel="next-archive" href="${feed}/${num + 1}" />`);
      },
      { maxEmptyPages: 20 },
    );
    await assert.rejects(
      w.walk(
        undefined,
        () => true,
        () => Promise.resolve(true),
      ),
      (err: Error) => err instanceof RunawayFeedError,
    );
    assert.ok(fetched.length < 30, `${fetched.length} pages read`);
  });

  it("hands an entry repeated within a walk out once, and yields at its page bound", async () => {
    const { w } = walker((n, xml) =>
      n === "3" ? xml.replace("</feed>", feedPage(base, "patient", events, 1).split("<updated>2018-04-26T10:56:10Z</updated>")[1]) : xml,
    );
    const got: string[] = [];
    await w.walk(
      undefined,
      (e) => (got.push(e.id), true),
      () => Promise.resolve(true),
    );
    assert.equal(got.length, 12);
    assert.equal(new Set(got).size, 12);
    const bounded = walker((_n, xml) => xml, { maxPages: 2 }).w;
    const pos = await bounded.walk(
      undefined,
      () => true,
      () => Promise.resolve(true),
    );
    assert.equal(bounded.bounded, true);
    assert.match(pos?.url ?? "", /\/2$/);
  });
});
