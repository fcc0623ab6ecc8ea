/**
 * MarkerWindow on its own: the marker passes only settled entries, and what the window holds in memory
 * is bounded by what is not behind the marker, not by how many entries went through it.
 */
import { strict as assert } from "node:assert";
import { describeEntry, type FeedEntry } from "../../lib/atom/entry";
import { MarkerWindow } from "../../lib/feed/window";

function entry(n: number): FeedEntry {
  return describeEntry({
    id: `tag:atomfeed.ict4h.org:${n}`,
    title: "Patient",
    updated: "2024-01-01T00:00:00Z",
    categories: ["patient"],
    content: `/openmrs/ws/rest/v1/patient/${String(n).padStart(36, "0")}?v=full`,
    page: `http://parent.test/openmrs/ws/atomfeed/patient/${Math.floor(n / 5) + 1}`,
  });
}

/** Settles `ids` in one commit, as the ledger does: plan, then apply. */
function settle(w: MarkerWindow, ids: string[]): void {
  const now = new Set(ids);
  w.apply(w.plan(now), now);
}

describe("marker window", () => {
  it("holds only what is not behind the marker while many entries go through it in order", () => {
    const w = new MarkerWindow("c", "http://parent.test/recent");
    let most = 0;
    for (let n = 0; n < 20_000; n++) {
      w.append(entry(n));
      // Eight in flight, settled oldest first.
      if (n >= 8) settle(w, [entry(n - 8).id]);
      most = Math.max(most, w.held);
    }
    assert.equal(w.size, 8);
    assert.ok(most <= 16, `held at most ${most} entries`);
    assert.equal(w.marker?.entryId, entry(20_000 - 9).id);
  });

  it("keeps an entry settled ahead of an unsettled one until the marker passes it, then drops both", () => {
    const w = new MarkerWindow("c", "http://parent.test/recent");
    for (let n = 0; n < 1000; n++) w.append(entry(n));
    // Everything but the first is settled: the marker cannot move.
    settle(
      w,
      Array.from({ length: 999 }, (_, i) => entry(i + 1).id),
    );
    assert.equal(w.marker?.entryId, undefined, "the marker cannot pass the unsettled first entry");
    assert.equal(w.size, 1000);
    assert.ok(w.get(entry(500).id)?.settled);
    settle(w, [entry(0).id]);
    assert.equal(w.marker?.entryId, entry(999).id);
    assert.equal(w.size, 0);
    assert.equal(w.held, 0);
    assert.equal(w.has(entry(500).id), false);
  });

  it("counts positions across drops: an entry settled ahead is still recognised as ahead", () => {
    const w = new MarkerWindow("c", "http://parent.test/recent");
    for (let n = 0; n < 100; n++) {
      w.append(entry(n));
      settle(w, [entry(n).id]);
    }
    w.append(entry(100));
    w.append(entry(101));
    const plan = w.plan(new Set([entry(101).id]));
    assert.equal(plan.passed, 0);
    assert.deepEqual(
      plan.ahead.map((we) => we.entry.id),
      [entry(101).id],
    );
  });
});
