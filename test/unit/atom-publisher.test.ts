/**
 * The feed publisher (lib/atom/publisher.ts) on a real SQLite store: its pages against the verbatim
 * ICT4H page that commcare-hq's README quotes (a Bahmni patient feed's recent page 32), parsed by our
 * reader (lib/atom/parse.ts, rss-parser) and by an independent parser (fast-xml-parser) and compared
 * field by field, and byte for byte but the feed's <updated>; both content dialects; archive pages that
 * never change (same bytes and ETag as events arrive, 304 on If-None-Match, a year's max-age) while the
 * recent page does; pages past the last (404), an empty category (page 0), a uuid published twice, and
 * the events surviving a reopen of the store.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { SyncStore } from "../../lib/store/store";
import { answerPage, contentFromTemplates, etagMatches, FeedInputError, FeedPublisher, type PageUrls } from "../../lib/atom/publisher";
import { parseFeedPage } from "../../lib/atom/parse";

const FIXTURE = fs.readFileSync(path.join(__dirname, "..", "fixtures", "openmrs", "commcare-hq", "atomfeed-patient-recent.xml"), "utf8");
const BASE = "http://www.example.com/openmrs/ws/atomfeed/patient";
const urls = (page: string | number): PageUrls => ({ selfUrl: `${BASE}/${page}`, feedBase: BASE });
const BAHMNI = { title: "Patient AOP", author: "OpenMRS", idPrefix: "bec795b1-3d17-451d-b43e-a094019f6984" };
const PATIENT = "/openmrs/ws/rest/v1/patient/e8aa08f6-86cd-42f9-8924-1b3ea021aeb4?v=full";
/** The three entries of the quoted page. */
const QUOTED = [
  { uuid: "6fdab6f5-2cd2-4207-b8bb-c2884d6179f6", at: "2018-01-17T19:44:40Z" },
  { uuid: "5c6b6913-94a0-4f08-96a2-6b84dbced26e", at: "2018-01-17T19:46:14Z" },
  { uuid: "299c435d-b3b4-4e89-8188-6d972169c13d", at: "2018-01-17T19:57:09Z" },
];

/** What an Atom page says, read with fast-xml-parser (nothing shared with our reader). */
function independent(xml: string) {
  const doc = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "@",
    cdataPropName: "#cdata",
    isArray: (name) => ["link", "entry", "category"].includes(name),
  }).parse(xml) as {
    feed: Record<string, unknown>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Any = any;
  const f = doc.feed as Record<string, Any>;
  const text = (v: unknown) => (typeof v === "object" && v ? (v as Record<string, unknown>)["#text"] : v);
  return {
    xmlns: f["@xmlns"],
    title: f.title,
    links: (f.link as Record<string, string>[]).map((l) => ({ rel: l["@rel"], type: l["@type"], href: l["@href"] })),
    author: f.author.name,
    id: f.id,
    generator: { uri: f.generator["@uri"], text: text(f.generator) },
    updated: f.updated,
    entries: ((f.entry ?? []) as Record<string, Any>[]).map((e) => ({
      title: e.title,
      categories: (e.category as Record<string, string>[]).map((c) => c["@term"]),
      id: e.id,
      updated: e.updated,
      published: e.published,
      contentType: e.content["@type"],
      content: e.content["#cdata"],
    })),
  };
}

describe("feed publisher (atom-feed-out's pages)", () => {
  let dir: string;
  let store: SyncStore;
  let file: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "feed-pub-"));
    file = path.join(dir, "sync.db");
    store = await SyncStore.open(file);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** 155 earlier events (pages 1-31), then the three of the quoted page. */
  async function quotedFeed(): Promise<FeedPublisher> {
    const pub = new FeedPublisher(store.db, BAHMNI);
    const t0 = Date.parse("2017-12-01T00:00:00Z");
    for (let i = 0; i < 155; i++) await pub.publish({ category: "patient", title: "Patient", content: PATIENT, timestamp: t0 + i * 1000 });
    for (const q of QUOTED) await pub.publish({ category: "patient", uuid: q.uuid, title: "Patient", content: PATIENT, timestamp: Date.parse(q.at) });
    return pub;
  }

  it("serves the quoted ICT4H page: same bytes but the feed's <updated>, same fields for both parsers", async () => {
    const pub = await quotedFeed();
    const page = await pub.page("patient", "recent", urls("recent"));
    assert.ok(page);
    assert.equal(page.n, 32);
    assert.equal(page.archive, false);
    // The quoted page's <updated> (2018-04-26T10:56:10Z) is later than all its entries: the publisher's
    // time, not derivable from them. Ours is the newest entry's (EventFeedServiceImpl, §2.3).
    const UPDATED = /<updated>2018-04-26T10:56:10Z<\/updated>\n {2}<entry>/;
    assert.match(FIXTURE, UPDATED);
    assert.equal(page.xml, FIXTURE.replace(UPDATED, "<updated>2018-01-17T19:57:09Z</updated>\n  <entry>"));

    const theirs = independent(FIXTURE);
    const ours = independent(page.xml);
    assert.equal(theirs.entries.length, 3);
    assert.equal(ours.updated, "2018-01-17T19:57:09Z");
    assert.deepEqual({ ...ours, updated: theirs.updated }, theirs);

    const readTheirs = await parseFeedPage(FIXTURE, `${BASE}/recent`);
    const readOurs = await parseFeedPage(page.xml, `${BASE}/recent`);
    assert.deepEqual({ ...readOurs, updated: readTheirs.updated }, readTheirs);
    assert.deepEqual(readOurs.links, { self: `${BASE}/recent`, via: `${BASE}/32`, prevArchive: `${BASE}/31` });
    assert.equal(readOurs.feedId, "bec795b1-3d17-451d-b43e-a094019f6984+32");
    assert.deepEqual(
      readOurs.entries.map((e) => [e.id, e.category, e.dialect, e.restResource, e.uuid, e.updated]),
      QUOTED.map((q) => [`tag:atomfeed.ict4h.org:${q.uuid}`, "patient", "bahmni", "patient", "e8aa08f6-86cd-42f9-8924-1b3ea021aeb4", q.at]),
    );
  });

  it("archive pages link both ways and never change; the recent page moves on", async () => {
    const pub = await quotedFeed();
    const p31 = await pub.page("patient", 31, urls(31));
    assert.ok(p31);
    const read = await parseFeedPage(p31.xml, `${BASE}/31`);
    assert.deepEqual(read.links, { self: `${BASE}/31`, via: `${BASE}/31`, prevArchive: `${BASE}/30`, nextArchive: `${BASE}/32` });
    assert.equal(read.entries.length, 5);
    const first = await parseFeedPage((await pub.page("patient", 1, urls(1)))!.xml, `${BASE}/1`);
    assert.equal(first.links.prevArchive, undefined);

    const a = answerPage(p31, undefined);
    assert.equal(a.status, 200);
    assert.equal(a.headers["Cache-Control"], "private, max-age=31536000, immutable");
    assert.equal(a.headers["Content-Type"], "application/atom+xml;charset=UTF-8");
    assert.equal(answerPage(p31, a.headers.ETag).status, 304);
    assert.equal(answerPage(p31, `"x", W/${a.headers.ETag}`).status, 304);
    assert.equal(answerPage(p31, `"something else"`).status, 200);

    const recent = answerPage(await pub.page("patient", "recent", urls("recent")), undefined);
    assert.equal(recent.headers["Cache-Control"], "private, no-cache");
    assert.equal(answerPage(await pub.page("patient", "recent", urls("recent")), recent.headers.ETag).status, 304);

    // Two more events fill page 32; a third starts page 33. Page 31's bytes and ETag stay; recent moves.
    for (let i = 0; i < 3; i++) await pub.publish({ category: "patient", title: "Patient", content: PATIENT });
    const fresh = new FeedPublisher(store.db, BAHMNI); // no memory of rendered pages
    const again = await fresh.page("patient", 31, urls(31));
    assert.equal(again!.xml, p31.xml);
    assert.equal(again!.etag, p31.etag);
    const moved = answerPage(await fresh.page("patient", "recent", urls("recent")), recent.headers.ETag);
    assert.equal(moved.status, 200);
    assert.notEqual(moved.headers.ETag, recent.headers.ETag);
    const now = await parseFeedPage(moved.body, `${BASE}/recent`);
    assert.equal(now.links.via, `${BASE}/33`);
    assert.equal(now.entries.length, 1);
    const p32 = await parseFeedPage((await fresh.page("patient", 32, urls(32)))!.xml, `${BASE}/32`);
    assert.equal(p32.links.nextArchive, `${BASE}/33`);
    assert.equal(p32.entries.length, 5);
  });

  it("answers 404 past the last page and for page 0; an empty category's recent page is page 0", async () => {
    const pub = await quotedFeed();
    for (const n of [33, 0, -1, 1.5]) {
      const a = answerPage(await pub.page("patient", n, urls(n)), undefined);
      assert.equal(a.status, 404, String(n));
      assert.match(a.body, /feed does not exist/);
    }
    const empty = await pub.page("encounter", "recent", {
      selfUrl: "http://h/openmrs/ws/atomfeed/encounter/recent",
      feedBase: "http://h/openmrs/ws/atomfeed/encounter",
    });
    assert.ok(empty);
    const read = await parseFeedPage(empty.xml, "http://h/x");
    assert.equal(read.entries.length, 0);
    assert.deepEqual(read.links, { self: "http://h/openmrs/ws/atomfeed/encounter/recent", via: "http://h/openmrs/ws/atomfeed/encounter/0" });
    assert.match(empty.xml, /<updated>\d{4}-\d\d-\d\dT00:00:00Z<\/updated>/);
    assert.equal(await pub.page("encounter", 1, urls(1)), undefined);
  });

  it("publishes Sync 2.0 content from link templates with action tags; a uuid twice is one event; survives a reopen", async () => {
    const pub = new FeedPublisher(store.db);
    const uuid = "ab6cba2e-8e03-41ec-a551-aab6e04b27f6";
    const content = contentFromTemplates("sync2", { rest: "/ws/rest/v1/patient/{uuid}?v=full", fhir: "/ws/fhir2/R4/Patient/{uuid}" }, uuid);
    const first = await pub.publish({ category: "patient", uuid: "e1", title: "Patient", tags: ["UPDATED", "patient"], content });
    const twice = await pub.publish({ category: "patient", uuid: "e1", title: "Patient", tags: ["CREATED"], content: "/other" });
    assert.deepEqual([first.seq, first.duplicate, twice.seq, twice.duplicate], [1, false, 1, true]);
    assert.equal(await pub.count("patient"), 1);
    await assert.rejects(pub.publish({ category: "../x", title: "t", content }), FeedInputError);
    await assert.rejects(pub.publish({ category: "patient", title: "t", content: "" }), FeedInputError);
    assert.equal(contentFromTemplates("bahmni", { rest: "/openmrs/ws/rest/v1/patient/{uuid}?v=full" }, uuid), `/openmrs/ws/rest/v1/patient/${uuid}?v=full`);

    await store.close();
    store = await SyncStore.open(file);
    const page = await new FeedPublisher(store.db).page("patient", "recent", urls("recent"));
    const read = await parseFeedPage(page!.xml, `${BASE}/recent`);
    assert.equal(read.entries.length, 1);
    const e = read.entries[0];
    assert.deepEqual(
      [e.id, e.dialect, e.action, e.categories, e.links],
      [
        "tag:atomfeed.ict4h.org:e1",
        "sync2",
        "UPDATED",
        ["patient", "UPDATED"],
        { rest: `/ws/rest/v1/patient/${uuid}?v=full`, fhir: `/ws/fhir2/R4/Patient/${uuid}` },
      ],
    );
    assert.deepEqual(independent(page!.xml).entries[0].categories, ["patient", "UPDATED"]);
    assert.equal(etagMatches(undefined, page!.etag), false);
  });
});
