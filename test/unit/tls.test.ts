/**
 * TLS settings per server, on both HTTP paths (HttpClient for feed and REST, FhirClient through
 * fhir-kit-client for fhir2), against real https peers on 127.0.0.1 with certificates made by
 * openssl for the test; and the fhir2 path's size cap, timeout and refusal to follow redirects.
 */
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpClient, NetworkError } from "../../lib/http";
import { FhirClient, DEFAULT_MAX_BODY_BYTES } from "../../lib/fhir/client";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OutcomeError, outcomeOfError } from "../../lib/outcome";
import { connectOptions, describeTlsError, tlsOptionsFrom, verificationOff, type TlsOptions } from "../../lib/tls";
import { httpsPeer, makeCerts, PASSPHRASE, type Certs, type HttpsPeer } from "../helpers/certs";

/** Answers REST and fhir2 reads of patient p1 as an OpenMRS would. */
const openmrs: http.RequestListener = (req, res) => {
  const url = req.url ?? "";
  if (url.startsWith("/openmrs/ws/fhir2/R4/Patient/p1")) {
    res.writeHead(200, { "content-type": "application/fhir+json" });
    res.end(JSON.stringify({ resourceType: "Patient", id: "p1" }));
  } else if (url.startsWith("/openmrs/ws/rest/v1/patient/p1")) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ uuid: "p1" }));
  } else {
    res.writeHead(404).end();
  }
};

/** "ok", or what went wrong. */
type Result = string;

/** One REST read (HttpClient) and one fhir2 read (FhirClient) through an OpenmrsServer with these settings. */
async function bothPaths(peer: HttpsPeer, tls: TlsOptions | undefined): Promise<{ rest: Result; fhir: Result }> {
  const server = new OpenmrsServer({ url: `${peer.url}/openmrs`, username: "admin", password: "Admin123", timeoutMs: 5000, tls });
  const attempt = async (fn: () => Promise<{ status: number }>): Promise<Result> => {
    try {
      const res = await fn();
      return res.status === 200 ? "ok" : `HTTP ${res.status}`;
    } catch (err) {
      assert.ok(err instanceof NetworkError, `a NetworkError, not ${String(err)}`);
      return err.message;
    }
  };
  try {
    return {
      rest: await attempt(() => server.restGet(server.restUrl("patient", "p1"))),
      fhir: await attempt(() => server.fhirRead("Patient", "p1")),
    };
  } finally {
    server.close();
  }
}

describe("TLS per server", function () {
  this.timeout(20_000);
  let certs: Certs;
  const peers: HttpsPeer[] = [];
  const peer = async (options: Parameters<typeof httpsPeer>[0]) => {
    const p = await httpsPeer(options, openmrs);
    peers.push(p);
    return p;
  };

  before(() => {
    certs = makeCerts();
  });
  after(() => certs.remove());
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });

  it("refuses a self-signed server without its certificate, on both paths, saying it is a certificate problem", async () => {
    const p = await peer({ key: certs.selfSignedKey, cert: certs.selfSignedCert });
    const r = await bothPaths(p, undefined);
    assert.match(r.rest, /SELF_SIGNED|certificate/i);
    assert.match(r.fhir, /certificate was not accepted.*self-signed certificate.*DEPTH_ZERO_SELF_SIGNED_CERT/);
    assert.match(r.fhir, /GET https:\/\/127\.0\.0\.1:\d+\/openmrs\/ws\/fhir2\/R4\/Patient\/p1/);
    assert.equal(p.requests.length, 0, "no request (and no credentials) reached the unverified server");
  });

  it("accepts the self-signed server when its certificate is given as the CA, on both paths", async () => {
    const p = await peer({ key: certs.selfSignedKey, cert: certs.selfSignedCert });
    assert.deepEqual(await bothPaths(p, { ca: certs.selfSignedCert }), { rest: "ok", fhir: "ok" });
    assert.equal(p.requests.length, 2);
  });

  it("refuses a server signed by a private CA until that CA is given, on both paths", async () => {
    const p = await peer({ key: certs.serverKey, cert: certs.serverCert });
    const without = await bothPaths(p, {});
    assert.match(without.rest, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.match(without.fhir, /certificate was not accepted.*UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.equal(p.requests.length, 0);
    assert.deepEqual(await bothPaths(p, { ca: certs.ca }), { rest: "ok", fhir: "ok" });
  });

  it("accepts the self-signed server with verification off, on both paths", async () => {
    const p = await peer({ key: certs.selfSignedKey, cert: certs.selfSignedCert });
    assert.deepEqual(await bothPaths(p, { rejectUnauthorized: false }), { rest: "ok", fhir: "ok" });
  });

  describe("mutual TLS (the server asks for a client certificate and rejects what it cannot verify)", () => {
    const mtls = () => peer({ key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requestCert: true, rejectUnauthorized: true });

    it("is refused without a client certificate, on both paths", async () => {
      const p = await mtls();
      const r = await bothPaths(p, { ca: certs.ca });
      assert.notEqual(r.rest, "ok");
      assert.notEqual(r.fhir, "ok");
      assert.match(r.rest, /CERTIFICATE_REQUIRED|EPROTO|ECONNRESET|closed/);
      assert.match(r.fhir, /client certificate|closed|UND_ERR_SOCKET|ECONNRESET/);
      assert.equal(p.requests.length, 0);
    });

    it("is refused with a certificate from a CA the server does not trust, on both paths", async () => {
      const p = await mtls();
      const r = await bothPaths(p, { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey });
      assert.match(r.rest, /UNKNOWN_CA|EPROTO|ECONNRESET|closed/);
      assert.match(r.fhir, /client certificate|closed|UND_ERR_SOCKET|ECONNRESET/);
      assert.notEqual(r.rest, "ok");
      assert.notEqual(r.fhir, "ok");
      assert.equal(p.requests.length, 0);
    });

    it("accepts our client certificate, on both paths", async () => {
      const p = await mtls();
      assert.deepEqual(await bothPaths(p, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }), { rest: "ok", fhir: "ok" });
      assert.deepEqual(
        p.requests.map((r) => r.clientCert),
        ["sync client", "sync client"],
      );
    });

    it("accepts our client certificate with an encrypted key and its passphrase, on both paths", async () => {
      const p = await mtls();
      assert.deepEqual(await bothPaths(p, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKeyEncrypted, passphrase: PASSPHRASE }), {
        rest: "ok",
        fhir: "ok",
      });
    });
  });

  it("with minimum TLS 1.3 refuses a server that speaks at most TLS 1.2 (which the default accepts), on both paths", async () => {
    const p = await peer({ key: certs.serverKey, cert: certs.serverCert, maxVersion: "TLSv1.2" });
    const r = await bothPaths(p, { ca: certs.ca, minVersion: "TLSv1.3" });
    assert.match(r.rest, /EPROTO|PROTOCOL|VERSION/i);
    assert.match(r.fhir, /TLS handshake failed: no TLS version both sides accept.*PROTOCOL_VERSION/);
    assert.equal(p.requests.length, 0);
    assert.deepEqual(await bothPaths(p, { ca: certs.ca }), { rest: "ok", fhir: "ok" });
  });

  it("refuses TLS 1.1 by default, on both paths", async () => {
    const p = await peer({ key: certs.serverKey, cert: certs.serverCert, minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" });
    const r = await bothPaths(p, { ca: certs.ca });
    assert.notEqual(r.rest, "ok");
    assert.notEqual(r.fhir, "ok");
    assert.equal(p.requests.length, 0);
  });

  it("shapes a tls-config node's options: verification stays on unless it says false, TLS 1.2 unless 1.3 is chosen", () => {
    assert.deepEqual(tlsOptionsFrom(undefined), { rejectUnauthorized: true, minVersion: "TLSv1.2" });
    assert.equal(tlsOptionsFrom({ rejectUnauthorized: undefined }).rejectUnauthorized, true);
    assert.equal(tlsOptionsFrom({ rejectUnauthorized: "false" }).rejectUnauthorized, true);
    assert.equal(verificationOff(tlsOptionsFrom({ rejectUnauthorized: false })), true);
    assert.equal(tlsOptionsFrom({}, "TLSv1.3").minVersion, "TLSv1.3");
    assert.equal(tlsOptionsFrom({}, "TLSv1").minVersion, "TLSv1.2");
    const filled = tlsOptionsFrom({ ca: "CA", cert: Buffer.from("C"), key: "K", passphrase: "p", servername: " host ", ca2: "x", ALPNProtocols: ["h2"] });
    assert.deepEqual(filled, {
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      ca: "CA",
      cert: Buffer.from("C"),
      key: "K",
      passphrase: "p",
      servername: "host",
    });
    assert.deepEqual(connectOptions(undefined), { rejectUnauthorized: true, minVersion: "TLSv1.2" });
    assert.equal(describeTlsError("ECONNRESET"), undefined);
  });
});

/** A plain http peer for the fhir2 path's limits: `handler` answers, requests are counted. */
async function httpPeer(
  handler: http.RequestListener,
): Promise<{ url: string; requests: { method?: string; url?: string; authorization?: string }[]; close(): Promise<void> }> {
  const requests: { method?: string; url?: string; authorization?: string }[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("fhir2 path limits", function () {
  this.timeout(20_000);
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  const peer = async (handler: http.RequestListener) => {
    const p = await httpPeer(handler);
    closers.push(() => p.close());
    return p;
  };
  const client = (baseUrl: string, extra: Partial<ConstructorParameters<typeof FhirClient>[0]> = {}) => {
    const c = new FhirClient({ baseUrl, authorization: "Basic c2VjcmV0OnNlY3JldA==", timeoutMs: 5000, ...extra });
    closers.push(() => c.close());
    return c;
  };
  const patient = (size: number) => JSON.stringify({ resourceType: "Patient", id: "p1", text: { div: "x".repeat(size) } });

  it("has the same default cap as HttpClient, and OpenmrsServer gives its fhir2 client the same cap", () => {
    assert.equal(DEFAULT_MAX_BODY_BYTES, new HttpClient().maxBodyBytes);
    const fhir = client("http://127.0.0.1:1/fhir");
    assert.equal(fhir.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
    const server = new OpenmrsServer({ url: "http://127.0.0.1:1/openmrs" });
    closers.push(() => server.close());
    assert.equal(server.fhir.maxBodyBytes, server.http.maxBodyBytes);
  });

  it("refuses a body over the cap as TOO_LARGE (a permanent outcome), with or without a content-length; a body under it passes", async () => {
    const p = await peer((req, res) => {
      const body = patient(req.url?.includes("big") ? 50_000 : 1_000);
      if (req.url?.includes("chunked")) {
        res.writeHead(200, { "content-type": "application/fhir+json" });
        res.write(body.slice(0, 20_000));
        setTimeout(() => res.end(body.slice(20_000)), 20);
      } else {
        res.writeHead(200, { "content-type": "application/fhir+json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      }
    });
    const fhir = client(`${p.url}/fhir`, { maxBodyBytes: 10_000 });
    for (const id of ["big", "big-chunked"]) {
      const err = await fhir.read("Patient", id).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof NetworkError, `${id}: a NetworkError, not ${String(err)}`);
      assert.equal(err.code, "TOO_LARGE");
      assert.match(err.message, /larger than 10000 bytes \(GET http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient\/big/);
      assert.equal(outcomeOfError(err).kind, "permanent");
      assert.equal(outcomeOfError(err).reason, "too-large");
    }
    const small = await fhir.read("Patient", "small-chunked");
    assert.equal(small.status, 200);
  });

  it("refuses an endless body at the default cap of 20 MiB", async () => {
    const p = await peer((_req, res) => {
      res.writeHead(200, { "content-type": "application/fhir+json" });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      res.write('{"resourceType":"Patient","id":"p1","text":"');
      let sent = 0;
      const more = () => {
        while (sent < 64 && res.write(chunk)) sent++;
        if (sent < 64 && !res.destroyed) res.once("drain", more);
      };
      more();
    });
    const err = await client(`${p.url}/fhir`)
      .read("Patient", "p1")
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.code, "TOO_LARGE");
    assert.match(err.message, new RegExp(`larger than ${20 * 1024 * 1024} bytes`));
  });

  it("times out a body that drips (whole-request timeout)", async () => {
    const p = await peer((_req, res) => {
      res.writeHead(200, { "content-type": "application/fhir+json" });
      res.write("{");
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(" ")), 50);
      res.on("close", () => clearInterval(drip));
    });
    const started = Date.now();
    const err = await client(`${p.url}/fhir`, { timeoutMs: 400 })
      .read("Patient", "p1")
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.code, "TIMEOUT");
    assert.ok(Date.now() - started < 3000, `gave up after ${Date.now() - started} ms`);
  });

  it("leaves no timer behind once a call has its answer, whatever the answer", async () => {
    const p = await peer((req, res) => {
      const status = req.url?.includes("gone") ? 404 : 200;
      res.writeHead(status, { "content-type": "application/fhir+json" });
      res.end(JSON.stringify(status === 200 ? { resourceType: "Patient", id: "p1" } : { resourceType: "OperationOutcome", issue: [] }));
    });
    const fhir = client(`${p.url}/fhir`, { timeoutMs: 123_457 });
    // Timers of the call's length that are still pending (AbortSignal.timeout would keep one per call).
    const pending = new Set<unknown>();
    const realSet = global.setTimeout;
    const realClear = global.clearTimeout;
    const spySet = ((fn: () => void, ms?: number, ...args: unknown[]) => {
      const t = realSet(fn, ms, ...args);
      if (ms === 123_457) pending.add(t);
      return t;
    }) as typeof setTimeout;
    const spyClear = ((t?: NodeJS.Timeout) => {
      pending.delete(t);
      realClear(t);
    }) as typeof clearTimeout;
    // AbortSignal.timeout() makes a timer that cannot be cleared: each counts as left behind.
    const realTimeout = AbortSignal.timeout.bind(AbortSignal);
    AbortSignal.timeout = (ms: number) => {
      const signal = realTimeout(ms);
      if (ms === 123_457) pending.add(signal);
      return signal;
    };
    global.setTimeout = spySet;
    global.clearTimeout = spyClear;
    try {
      assert.equal((await fhir.read("Patient", "p1")).status, 200);
      assert.equal((await fhir.read("Patient", "gone")).status, 404);
      await fhir.read("Patient", "../x").catch(() => undefined);
    } finally {
      global.setTimeout = realSet;
      global.clearTimeout = realClear;
      AbortSignal.timeout = realTimeout;
    }
    assert.equal(pending.size, 0);
  });

  it("does not follow a redirect to another origin: a permanent failure naming the status, and the other origin receives nothing", async () => {
    const other = await peer((_req, res) => {
      res.writeHead(200, { "content-type": "application/fhir+json" });
      res.end(JSON.stringify({ resourceType: "Patient", id: "p1" }));
    });
    const statuses: Record<string, number> = { GET: 302, PUT: 307, DELETE: 308 };
    const first = await peer((req, res) => {
      res.writeHead(statuses[req.method ?? ""] ?? 301, { location: `${other.url}/stolen${req.url ?? ""}?q=secret`, "content-type": "text/html" });
      res.end("<a href=elsewhere>moved</a>");
    });
    const fhir = client(`${first.url}/fhir`);
    const calls: [string, () => Promise<unknown>][] = [
      ["GET", () => fhir.read("Patient", "p1")],
      ["PUT", () => fhir.update({ resourceType: "Patient", id: "p1" })],
      ["DELETE", () => fhir.delete("Patient", "p1")],
      ["GET", () => fhir.capabilities()],
    ];
    for (const [method, call] of calls) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof OutcomeError, `${method}: an OutcomeError, not ${String(err)}`);
      const status = statuses[method];
      assert.equal(err.outcome.kind, "permanent");
      assert.equal(err.outcome.reason, "redirect");
      assert.equal(err.outcome.status, status);
      assert.match(err.message, new RegExp(`^${method} http://127\\.0\\.0\\.1:\\d+/fhir/\\S+: HTTP ${status} to ${other.url}, not followed`));
      assert.match(err.message, /credentials stay with their origin/);
      assert.doesNotMatch(err.message, /secret|stolen/, "only the target's origin is named");
      assert.deepEqual(outcomeOfError(err), err.outcome);
    }
    assert.equal(first.requests.length, 4);
    assert.ok(first.requests.every((r) => r.authorization === "Basic c2VjcmV0OnNlY3JldA=="));
    assert.equal(other.requests.length, 0, "the other origin received nothing");
  });

  it("does not follow a redirect on an OpenMRS server's fhir2 reads either (probe and record read)", async () => {
    const other = await peer((_req, res) => res.writeHead(200).end("{}"));
    const parent = await peer((req, res) => {
      res.writeHead(302, { location: `${other.url}${req.url ?? ""}` });
      res.end();
    });
    const server = new OpenmrsServer({ url: `${parent.url}/openmrs`, username: "admin", password: "Admin123", fhirMode: "auto" });
    closers.push(() => server.close());
    assert.deepEqual(await server.profile(), { fhir2: false }, "a redirected probe is not a fhir2 server");
    const err = await server.fhirRead("Patient", "p1").then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof OutcomeError);
    assert.equal(err.outcome.kind, "permanent");
    assert.equal(other.requests.length, 0);
  });
});
