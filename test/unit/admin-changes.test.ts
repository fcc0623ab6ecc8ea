/** The Sync sidebar's "changed" pings: only what moved, nothing when idle, ids and no content. */
import { strict as assert } from "node:assert";
import { ChangeWatch, type Changed } from "../../lib/admin/changes";
import { AdminRegistry, type AdminChannel, type AdminStore, type ChannelStats } from "../../lib/admin/registry";

function stats(ok: number): ChannelStats {
  return { received: ok, ready: 0, inFlight: 0, settling: 0, waiting: 0, ok, filtered: 0, held: 0, dead: 0, delivered: ok, gate: "open" };
}

function channel(id: string, figures: { ok: number }): AdminChannel {
  return {
    id,
    kind: "feed",
    name: id,
    storeId: "s1",
    stats: () => stats(figures.ok),
    retryDead: () => Promise.resolve(0),
    discardDead: () => Promise.resolve(0),
  };
}

describe("admin change pings (lib/admin/changes)", () => {
  it("names the channels and stores that moved since the last look, and nothing when idle", () => {
    const reg = new AdminRegistry();
    const sent: Changed[] = [];
    const watch = new ChangeWatch(reg, (c) => sent.push(c));
    const a = { ok: 0 };
    const b = { ok: 0 };
    let open = false;
    const store: AdminStore = { id: "s1", name: "store", auditContent: false, current: () => (open ? ({} as never) : undefined) };
    reg.addStore(store);
    reg.addChannel(channel("a", a));
    reg.addChannel(channel("b", b));
    assert.deepEqual(watch.check(), { channels: ["a", "b"], stores: ["s1"] }, "first look: everything is new");
    assert.equal(watch.check(), undefined, "idle: no ping");
    a.ok = 5;
    assert.deepEqual(watch.check(), { channels: ["a"], stores: [] });
    open = true;
    assert.deepEqual(watch.check(), { channels: [], stores: ["s1"] });
    reg.removeChannel(reg.channels.get("b")!);
    assert.deepEqual(watch.check(), { channels: ["b"], stores: [] }, "a channel that went away is named once");
    assert.equal(watch.check(), undefined);
    assert.equal(sent.length, 4);
    assert.ok(
      sent.every((c) => Object.keys(c).sort().join() === "channels,stores"),
      "ids only",
    );
  });
});
