/**
 * A first run that starts after an entry or at a time (a child whose database was copied from the
 * parent), against the OpenMRS simulator's feed over HTTP and a real SQLite store: what is delivered,
 * what marker is stored, how many pages are read, and the error for an entry that is not in the feed.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OpenmrsSim, ENTRY_ID_PREFIX, type FeedEvent } from "../../sim";
import { HttpClient } from "../../lib/http";
import { FeedReader, rebasePageUrl, recentFeedUrl } from "../../lib/atom/reader";
import { FeedConsumer, StartEntryNotFoundError, type StartFrom } from "../../lib/feed/consumer";
import { checkStart, locateStart, startEntryId, startTimeMs, StartPages } from "../../lib/feed/start-position";
import { SyncStore } from "../../lib/store/store";
import type { FeedEntry } from "../../lib/atom/entry";

const CATEGORY = "patient";
/** Feed times of the test: entry i was updated at T0 + i seconds. */
const T0 = Date.parse("2026-01-05T08:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

describe("starting a first run at an entry or a time", function () {
  this.timeout(30_000);
  let sim: OpenmrsSim;
  let events: readonly FeedEvent[];
  let dir: string;
  let store: SyncStore;
  let http: HttpClient;
  const consumers: FeedConsumer[] = [];

  const entryId = (i: number) => ENTRY_ID_PREFIX + events[i].uuid;
  const pageOf = (i: number) => Math.floor(i / 5) + 1;
  const pageCount = () => Math.ceil(events.length / 5);
  const feedReads = () => sim.requests.filter((r) => r.kind === "feed").map((r) => r.path);

  before(async () => {
    sim = new OpenmrsSim({ name: "parent", seed: 71 });
    sim.generate({ patients: 58, visitsPerPatient: 0 });
    events = sim.store.categoryEvents(CATEGORY);
    // Feed times one second apart, so that a start time falls between two known entries.
    events.forEach((e, i) => (e.timestamp = T0 + i * 1000));
    await sim.start();
    http = new HttpClient({ timeoutMs: 5000 });
  });
  after(async () => {
    await sim.stop();
  });

  beforeEach(async () => {
    assert.equal(events.length, 58, "58 patient entries: 12 pages, the newest holding 3");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "start-position-"));
    store = await SyncStore.open(path.join(dir, "sync.db"));
    sim.requests.length = 0;
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const reader = () => new FeedReader(http);
  const location = () => ({
    feedUri: recentFeedUrl(sim.url, CATEGORY),
    fetchPage: (url: string) => reader().fetchPage(url),
    rebase: (url: string) => rebasePageUrl(sim.url, CATEGORY, url),
  });

  /** A consumer that settles every entry it delivers as written; `run()` polls once and waits until caught up. */
  function consumer(startFrom: StartFrom) {
    const delivered: FeedEntry[] = [];
    const errors: Error[] = [];
    const started: { pages: number; after?: string }[] = [];
    let caughtUp: (() => void) | undefined;
    const c: FeedConsumer = new FeedConsumer({
      id: "feed1",
      ...location(),
      store,
      storeId: "store1",
      startFrom,
      events: {
        emit(entry, ticket) {
          delivered.push(entry);
          queueMicrotask(() => c.settle(ticket, { kind: "ok", reason: "ok" }));
        },
        walkError: (err) => errors.push(err),
        started: (_from, point) => started.push({ pages: point.pages, after: point.position?.after }),
        caughtUp: () => caughtUp?.(),
      },
    });
    consumers.push(c);
    const run = async () => {
      const done = new Promise<void>((resolve) => (caughtUp = resolve));
      const failed = errors.length;
      await c.poll();
      if (errors.length === failed) await done;
      await c.flushed();
    };
    return { c, delivered, errors, started, run };
  }

  const ids = (entries: FeedEntry[]) => entries.map((e) => e.id);
  const from = (i: number) => events.slice(i).map((e) => ENTRY_ID_PREFIX + e.uuid);

  it("at an entry on an archive page: delivers only what follows it, reading each page once", async () => {
    const at = 21; // page 5 of 12
    const { delivered, started, run } = consumer({ entry: entryId(at) });
    await run();
    assert.deepEqual(ids(delivered), from(at + 1));
    // Back from the newest page to page 5, then forward again from the pages kept: 8 reads, none twice.
    const reads = feedReads();
    assert.equal(reads.length, pageCount() - pageOf(at) + 1, reads.join(" "));
    assert.equal(new Set(reads).size, reads.length, "no page read twice");
    assert.deepEqual(started, [{ pages: 8, after: entryId(at) }]);
    assert.equal((await store.getMarker("feed1"))?.entryId, entryId(57));
  });

  it("at an entry on the newest page, named by its bare uuid", async () => {
    const at = 55;
    const { delivered, run } = consumer({ entry: events[at].uuid });
    await run();
    assert.deepEqual(ids(delivered), from(at + 1));
    assert.equal(feedReads().length, 1, "the newest page only");
  });

  it("at the newest entry: nothing to deliver, the marker stands on it", async () => {
    const { delivered, run } = consumer({ entry: entryId(57) });
    await run();
    assert.deepEqual(delivered, []);
    const marker = await store.getMarker("feed1");
    assert.equal(marker?.entryId, entryId(57));
    assert.equal(marker?.pageUrl, `${sim.url}/ws/atomfeed/${CATEGORY}/12`);
  });

  it("at an entry that is not in the feed: a clear error, nothing delivered, no marker, not looked for at every poll", async () => {
    const missing = `${ENTRY_ID_PREFIX}00000000-0000-4000-8000-000000000000`;
    const { c, delivered, errors, run } = consumer({ entry: missing });
    await run();
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof StartEntryNotFoundError);
    assert.equal(errors[0].entryId, missing);
    assert.match(errors[0].message, /00000000-0000-4000-8000-000000000000.*not in the feed/);
    assert.equal(feedReads().length, pageCount(), "read back to the oldest page");
    assert.deepEqual(delivered, []);
    assert.equal(await store.getMarker("feed1"), undefined, "no marker stored");
    assert.match(c.stats().walkError ?? "", /not in the feed/);

    // The next poll reports it again without reading the whole feed again.
    await run();
    assert.equal(errors.length, 2);
    assert.equal(feedReads().length, pageCount());

    // A reset to another start clears it.
    await c.reset({ entry: entryId(50) });
    await run();
    assert.deepEqual(ids(delivered), from(51));
  });

  it("at a time between two entries: the first entry at or after it is the first delivered", async () => {
    const at = 33;
    const { delivered, started, run } = consumer({ time: iso(T0 + at * 1000) });
    await run();
    assert.deepEqual(ids(delivered), from(at));
    assert.deepEqual(started, [{ pages: pageCount() - pageOf(at) + 1, after: entryId(at - 1) }]);
    assert.equal(new Set(feedReads()).size, feedReads().length, "no page read twice");
  });

  it("at a time, counts whole seconds: an entry in the same second as the time is delivered again", async () => {
    const at = 40;
    // In another zone, half a second after entry 40's second began.
    const { delivered, run } = consumer({ time: "2026-01-05T13:45:40.500+05:45" });
    assert.equal(startTimeMs("2026-01-05T13:45:40.500+05:45"), T0 + at * 1000);
    await run();
    assert.deepEqual(ids(delivered), from(at));
  });

  it("at a time before the first entry: everything is delivered", async () => {
    const { delivered, run } = consumer({ time: iso(T0 - 3600_000) });
    await run();
    assert.deepEqual(ids(delivered), from(0));
    // Back to page 1, then forward from the pages kept (only the newest is read again, for its links).
    assert.equal(feedReads().length, pageCount() + 1);
  });

  it("at a time after the newest entry: nothing is delivered", async () => {
    const { delivered, run } = consumer({ time: iso(T0 + 3600_000) });
    await run();
    assert.deepEqual(delivered, []);
    assert.equal((await store.getMarker("feed1"))?.entryId, entryId(57));
    assert.equal(feedReads().length, 1);
  });

  it("does not look again after a restart: the start is the stored marker", async () => {
    const first = consumer({ entry: entryId(10) });
    await first.run();
    await first.c.stop();
    sim.requests.length = 0;
    const second = consumer({ entry: entryId(50) });
    await second.run();
    assert.deepEqual(ids(second.delivered), [], "already caught up from the first run's marker");
    assert.equal(feedReads().length, 1, "one read of the marker's page");
  });

  it("bisects the older numbered pages for a time far behind the newest page", async () => {
    const at = 7; // page 2 of 12
    const keep = new StartPages(2);
    const point = await locateStart(location(), { time: iso(T0 + at * 1000) }, keep);
    assert.deepEqual(point.position, { url: `${sim.url}/ws/atomfeed/${CATEGORY}/2`, after: entryId(at - 1) });
    // Two pages back (12, 11), then pages 5, 2, 3 of 1..10, instead of walking back ten pages.
    assert.deepEqual(
      feedReads().map((p) => p.split("/").pop()),
      ["recent", "11", "5", "2", "3"],
    );
    assert.equal(point.pages, 5);
    assert.equal(keep.size, 2, "keeps the last pages it read");
  });

  it("refuses what is neither an entry id nor a date-time with a zone", () => {
    assert.equal(startEntryId(`${ENTRY_ID_PREFIX}5946F880-B197-400B-9CAA-A3C661D23041`), `${ENTRY_ID_PREFIX}5946f880-b197-400b-9caa-a3c661d23041`);
    assert.equal(startEntryId(" 5946f880-b197-400b-9caa-a3c661d23041 "), `${ENTRY_ID_PREFIX}5946f880-b197-400b-9caa-a3c661d23041`);
    for (const bad of ["", "patient", "tag:atomfeed.ict4h.org:", "5946f880-b197-400b-9caa", "urn:uuid:5946f880-b197-400b-9caa-a3c661d23041"])
      assert.equal(startEntryId(bad), undefined, bad);
    assert.equal(startTimeMs("2026-01-05T08:00:33Z"), T0 + 33_000);
    assert.equal(startTimeMs("2026-01-05 10:00:33+0200"), T0 + 33_000);
    assert.equal(startTimeMs("2026-01-05T08:00Z"), T0);
    for (const bad of ["2026-01-05T08:00:00", "2026-01-05", "2026-02-30T08:00:00Z", "yesterday", "2026-01-05T08:00:00 UTC", "${SYNC_START_TIME}"])
      assert.equal(startTimeMs(bad), undefined, bad);
    assert.equal(checkStart("now"), undefined);
    assert.equal(checkStart({ entry: "nope" }), "entry");
    assert.equal(checkStart({ time: "nope" }), "time");
    assert.equal(checkStart({ time: "2026-01-05T08:00:00-03:00" }), undefined);
  });
});
