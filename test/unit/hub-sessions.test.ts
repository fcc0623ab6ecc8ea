/** Hub sessions (lib/hub/sessions.ts) on a manual clock: idle expiry, the cap, the cookie parser. */
import { strict as assert } from "node:assert";
import { HubSessions, sessionCookie } from "../../lib/hub/sessions";

describe("hub sessions", () => {
  it("ends an idle session, keeps a used one, and drops the oldest unused at the cap", () => {
    let now = 0;
    const s = new HubSessions(1000, 2, () => now);
    const a = s.open({ id: "k1", store: "st", rotatedAt: null });
    now = 900;
    assert.equal(s.find(a)?.keyId, "k1", "used within the idle time");
    now = 1800;
    assert.ok(s.find(a), "its idle time counts from its last use");
    now = 2801;
    assert.equal(s.find(a), undefined, "idle too long");
    const b = s.open({ id: "k2", store: "st", rotatedAt: 5 });
    const c = s.open({ id: "k3", store: "st", rotatedAt: null });
    s.find(b);
    const d = s.open({ id: "k4", store: "st", rotatedAt: null });
    assert.equal(s.find(c), undefined, "the least recently used went at the cap");
    assert.deepEqual([s.find(b)?.rotatedAt, s.find(d)?.keyId], [5, "k4"]);
  });

  it("reads only a well-formed JSESSIONID from a Cookie header", () => {
    const id = "0123456789abcdef".repeat(3);
    assert.equal(sessionCookie(`a=1; JSESSIONID=${id}; b=2`), id);
    assert.equal(sessionCookie("JSESSIONID=../../etc"), undefined);
    assert.equal(sessionCookie(undefined), undefined);
  });
});
