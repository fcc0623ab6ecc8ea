/**
 * The feed walker prefetches numbered pages while catching up (lib/feed/walker.ts), against the
 * simulator's feed on port 0: every entry still comes once and in order, nothing past the newest page is
 * asked for, a poll at the head reads one page, and a prefetched page that failed is asked for again.
 */
import { strict as assert } from "node:assert";
import { FeedReader } from "../../lib/atom/reader";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { FeedWalker, type ReadPosition } from "../../lib/feed/walker";
import { OpenmrsSim } from "../../sim";

describe("feed walker prefetch", function () {
  this.timeout(30_000);
  let sim: OpenmrsSim;
  let reader: FeedReader;
  let asked: string[];
  let failOnce: Set<string>;
  let inFlight: number;
  let maxInFlight: number;

  beforeEach(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 11 });
    sim.generate({ patients: 120, visitsPerPatient: 0 }); // 24 pages of 5
    await sim.start();
    reader = new FeedReader(new OpenmrsServer({ url: sim.url, username: "admin", password: "Admin123" }).http);
    asked = [];
    failOnce = new Set();
    inFlight = maxInFlight = 0;
  });
  afterEach(() => sim.stop());

  function walker(pagesAhead?: number): FeedWalker {
    return new FeedWalker({
      feedUri: `${sim.url}/ws/atomfeed/patient/recent`,
      pagesAhead,
      fetchPage: (url) => {
        asked.push(url.split("/").pop()!);
        if (failOnce.delete(url.split("/").pop()!)) return Promise.reject(new Error("reset"));
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        return reader.fetchPage(url).finally(() => inFlight--);
      },
    });
  }

  async function walk(w: FeedWalker, from?: ReadPosition): Promise<{ ids: string[]; position?: ReadPosition }> {
    const ids: string[] = [];
    const position = await w.walk(
      from,
      (e) => (ids.push(e.id), true),
      () => Promise.resolve(true),
    );
    return { ids, position };
  }

  const expected = () => sim.store.categoryEvents("patient").map((e) => `tag:atomfeed.ict4h.org:${e.uuid}`);

  it("delivers every entry once and in order, and asks for nothing past the newest page", async () => {
    const { ids } = await walk(walker());
    assert.deepEqual(ids, expected());
    const numbers = asked.filter((u) => u !== "recent").map(Number);
    assert.ok(Math.max(...numbers) <= 24, `asked ${asked.join(" ")}`);
    assert.equal(new Set(numbers).size, numbers.length, "no page asked for twice");
    assert.equal(numbers.length, 24);
    assert.ok(maxInFlight > 1, "pages asked for ahead, several at once");
  });

  it("a poll at the head reads the newest page only", async () => {
    const w = walker();
    const { position } = await walk(w);
    asked = [];
    const again = await walk(w, position);
    assert.deepEqual(again.ids, []);
    assert.deepEqual(asked, ["24"], `asked ${asked.join(" ")}`);
  });

  it("a prefetched page that failed is asked for again when the walk gets there", async () => {
    failOnce.add("10");
    const { ids } = await walk(walker());
    assert.deepEqual(ids, expected());
    assert.equal(asked.filter((u) => u === "10").length, 2);
  });

  it("pagesAhead 0 reads page by page", async () => {
    await walk(walker(0));
    assert.equal(maxInFlight, 1);
    assert.deepEqual(
      asked.filter((u) => u !== "recent").map(Number),
      Array.from({ length: 24 }, (_, i) => i + 1),
    );
  });
});
