/**
 * TLS settings in Node-RED: an openmrs-server with a core tls-config node pulls from an https parent
 * whose certificate comes from a private CA (feed, fhir2 and REST calls all over TLS); without the CA
 * nothing reaches the parent; with verification off it works and every node using that server says
 * so in its status, and the config node warns once.
 */
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { TestFlows } from "node-red-node-test-helper";
import { OpenmrsSim } from "../../sim";
import { caughtErrors, caughtUp, CREDS, getNode, helper, lastStatus, NODES, pullFlow, until, usePeers, type HelperNode } from "../helpers/red";
import { httpsPeer, makeCerts, type Certs, type HttpsPeer } from "../helpers/certs";

/** Node-RED's own tls-config node, as users configure it. */
const TLS_NODE = require("@node-red/nodes/core/network/05-tls.js") as unknown;

describe("TLS settings in Node-RED", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  let certs: Certs;
  let front: HttpsPeer | undefined;
  usePeers("tls-nodes", { parent: 41, child: 42 }, (peers) => {
    ({ parent, child, db } = peers);
    peers.parent.generate({ patients: 5, visitsPerPatient: 0 });
  });
  before(() => {
    certs = makeCerts();
  });
  after(() => certs.remove());
  afterEach(async () => {
    await front?.close();
    front = undefined;
  });

  /** The parent behind an https front with the CA-signed certificate (the simulator speaks http). */
  async function httpsParent(): Promise<HttpsPeer> {
    const upstream = new URL(parent.url);
    front = await httpsPeer({ key: certs.serverKey, cert: certs.serverCert }, (req, res) => {
      const up = http.request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, "x-forwarded-proto": "https" } },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    return front;
  }

  async function load(tlsConfig: Record<string, unknown>): Promise<HttpsPeer> {
    const peer = await httpsParent();
    const url = `${peer.url}${new URL(parent.url).pathname}`;
    const flow = pullFlow(url, child.url, db, {}, { tls: "tls", timeout: 5 }) as unknown[];
    flow.push({ id: "tls", type: "tls-config", cert: "", key: "", ca: "", verifyservercert: true, ...tlsConfig });
    await helper.load([TLS_NODE, ...NODES], flow as TestFlows, { parent: CREDS, child: CREDS });
    return peer;
  }

  const patientDiff = () => parent.diff(child).filter((d) => d.startsWith("patient"));
  const warnings = (node: HelperNode) =>
    (node as unknown as { warn: { getCalls(): { args: unknown[]; thisValue: unknown }[] } }).warn
      .getCalls()
      .filter((c) => c.thisValue === node)
      .map((c) => c.args[0]);

  it("reaches an https parent whose certificate comes from a private CA given in a tls-config node", async () => {
    const peer = await load({ ca: certs.caPath });
    const done = caughtUp();
    getNode("feed").receive({});
    await done;
    assert.deepEqual(patientDiff(), []);
    assert.equal(Object.keys(child.snapshot().patients).length, 5);
    assert.ok(
      peer.requests.some((r) => r.url.includes("/ws/atomfeed/")),
      "the feed was read over TLS",
    );
    assert.ok(
      peer.requests.some((r) => r.url.includes("/ws/fhir2/R4/Patient/")),
      "the records were read through fhir2 over TLS",
    );
    const status = await until(() => (lastStatus(getNode("feed"))?.fill === "green" ? lastStatus(getNode("feed")) : undefined), 5000, "green status");
    assert.doesNotMatch(status.text ?? "", /tls/i);
    assert.deepEqual(warnings(getNode("parent")), []);
  });

  it("reaches nothing without the CA: a certificate error at Catch, and no request at the parent", async () => {
    const peer = await load({});
    const caught = caughtErrors();
    getNode("feed").receive({});
    await until(() => caught.length > 0, 8000, "an error at Catch");
    assert.match(caught[0].message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|certificate/i);
    assert.equal(peer.requests.length, 0);
    assert.equal(Object.keys(child.snapshot().patients).length, 0);
  });

  it("with verification off, syncs, warns once, and every node using that server shows it in its status", async () => {
    const peer = await load({ verifyservercert: false });
    const done = caughtUp();
    getNode("feed").receive({});
    await done;
    assert.deepEqual(patientDiff(), []);
    assert.ok(peer.requests.length > 0);
    const note = "openmrs-server.status.tls-unverified";
    for (const id of ["feed", "fetch"]) {
      const s = await until(() => (lastStatus(getNode(id))?.text?.startsWith(note) ? lastStatus(getNode(id)) : undefined), 5000, `${id}: status with the note`);
      assert.equal(s.fill, "yellow", `${id}: yellow`);
    }
    const push = await until(() => (lastStatus(getNode("push"))?.fill === "green" ? lastStatus(getNode("push")) : undefined), 5000, "push status");
    assert.doesNotMatch(push.text ?? "", /tls/, "the child is plain http: no note on its user");
    assert.deepEqual(warnings(getNode("parent")), ["openmrs-server.warn.tls-unverified"]);
    assert.deepEqual(warnings(getNode("child")), []);
  });

  it("fails closed when the tls-config node cannot be used (a CA file that is not there)", async () => {
    const peer = await load({ ca: `${certs.dir}/missing.crt` });
    const caught = caughtErrors();
    getNode("feed").receive({});
    const status = await until(() => (lastStatus(getNode("feed"))?.fill === "red" ? lastStatus(getNode("feed")) : undefined), 8000, "red status");
    assert.equal(status.text, "openmrs-server.errors.tls-invalid");
    await until(() => caught.length > 0, 3000, "an error at Catch");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(peer.requests.length, 0);
  });
});
