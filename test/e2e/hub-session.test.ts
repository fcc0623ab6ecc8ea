/**
 * OpenMRS's own atomfeed client through a hub: it logs in once at `GET /ws/rest/v1/session` with Basic auth
 * (here the key's name and secret) and then sends only the JSESSIONID cookie, as Bahmni's
 * OpenMRSAuthenticator does. A real hub Node-RED: the session opens, the cookie reads the feed, a made-up
 * cookie gets 401 and no data, and rotating or revoking the key shuts its sessions out at the next request.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { NodeRedProcess } from "../../scripts/node-red-process";
import { SyncStore } from "../../lib/store/store";
import { FeedPublisher } from "../../lib/atom/publisher";
import { useE2E } from "../helpers/e2e";

describe("hub sessions for OpenMRS's atomfeed client (real Node-RED)", function () {
  this.timeout(120_000);
  let dir: string;
  let hub: NodeRedProcess | undefined;
  useE2E(
    "e2e-hub-session",
    (d) => (dir = d),
    () => ({ nodeRed: hub, sims: [] }),
    () => (hub = undefined),
  );

  it("logs in with the key, reads with the cookie, and is shut out once the key is rotated or revoked", async () => {
    const db = path.join(dir, "hub.db");
    const store = await SyncStore.open(db);
    for (let i = 0; i < 7; i++)
      await FeedPublisher.of(store.db).publish({
        category: "patient",
        title: "Patient",
        content: JSON.stringify({ rest: `/ws/rest/v1/patient/p${i}?v=full` }),
      });
    await store.close();
    hub = new NodeRedProcess({
      userDir: path.join(dir, "nr"),
      flows: [
        { id: "store", type: "sync-store", name: "hub", path: db },
        { id: "tab", type: "tab", label: "hub" },
        { id: "out", type: "atom-feed-out", z: "tab", store: "store", category: "patient", dialect: "sync2", wires: [[]] },
      ],
    });
    await hub.start();
    const admin = (method: string, route: string, body?: unknown) =>
      fetch(`${hub!.url}/openmrs-sync/${route}`, { method, headers: { "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
    const key = (await (await admin("POST", "keys", { name: "clinic-a", catchment: { locations: ["*"] } })).json()) as {
      id: string;
      name: string;
      secret: string;
    };
    const basic = (secret: string) => `Basic ${Buffer.from(`${key.name}:${secret}`).toString("base64")}`;
    const login = async (secret: string) => {
      const res = await fetch(`${hub!.url}/openmrs/ws/rest/v1/session`, { headers: { authorization: basic(secret) } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { sessionId: string; authenticated: boolean };
      assert.equal(body.authenticated, true);
      const cookie = /JSESSIONID=([0-9a-f]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];
      assert.equal(cookie, body.sessionId);
      assert.match(res.headers.get("set-cookie") ?? "", /HttpOnly/i);
      return `JSESSIONID=${cookie}`;
    };
    const feed = async (cookie: string) => {
      const res = await fetch(`${hub!.url}/openmrs/ws/atomfeed/patient/recent`, { headers: { cookie } });
      return { status: res.status, text: await res.text() };
    };

    assert.equal((await fetch(`${hub.url}/openmrs/ws/rest/v1/session`)).status, 401, "no key, no session");
    const cookie = await login(key.secret);
    const ok = await feed(cookie);
    assert.equal(ok.status, 200);
    assert.match(ok.text, /tag:atomfeed\.ict4h\.org:/);
    const forged = await feed(`JSESSIONID=${"ab".repeat(24)}`);
    assert.equal(forged.status, 401);
    assert.doesNotMatch(forged.text, /<feed/);

    // Rotated: the old session is refused at once; a login with the new secret works.
    const rotated = (await (await admin("POST", `keys/${key.id}/rotate`)).json()) as { secret: string };
    assert.equal((await feed(cookie)).status, 401, "a session of the old secret");
    const again = await login(rotated.secret);
    assert.equal((await feed(again)).status, 200);

    // Revoked: refused.
    assert.equal((await admin("DELETE", `keys/${key.id}`)).status, 200);
    assert.equal((await feed(again)).status, 401, "a session of a revoked key");
  });
});
