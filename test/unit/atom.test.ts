import { strict as assert } from "node:assert";
import { detach, parseFeedPage, FeedFormatError } from "../../lib/atom/parse";
import { parseContent, parseFhirLink, parseRestLink, recordKey } from "../../lib/atom/entry";
import { rebasePageUrl, recentFeedUrl, pageNumber } from "../../lib/atom/reader";
import { feedPage, makeEvent } from "../helpers/feed-pages";

// Verbatim from dimagi/commcare-hq corehq/motech/openmrs/README.md (openmrs-protocols.md §2.2).
const BAHMNI_PAGE = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Patient AOP</title>
  <link rel="self" type="application/atom+xml" href="http://www.example.com/openmrs/ws/atomfeed/patient/recent" />
  <link rel="via" type="application/atom+xml" href="http://www.example.com/openmrs/ws/atomfeed/patient/32" />
  <link rel="prev-archive" type="application/atom+xml" href="http://www.example.com/openmrs/ws/atomfeed/patient/31" />
  <author>
    <name>OpenMRS</name>
  </author>
  <id>bec795b1-3d17-451d-b43e-a094019f6984+32</id>
  <generator uri="https://github.com/ICT4H/atomfeed">OpenMRS Feed Publisher</generator>
  <updated>2018-04-26T10:56:10Z</updated>
  <entry>
    <title>Patient</title>
    <category term="patient" />
    <id>tag:atomfeed.ict4h.org:6fdab6f5-2cd2-4207-b8bb-c2884d6179f6</id>
    <updated>2018-01-17T19:44:40Z</updated>
    <published>2018-01-17T19:44:40Z</published>
    <content type="application/vnd.atomfeed+xml"><![CDATA[/openmrs/ws/rest/v1/patient/e8aa08f6-86cd-42f9-8924-1b3ea021aeb4?v=full]]></content>
  </entry>
  <entry>
    <title>Patient</title>
    <category term="patient" />
    <id>tag:atomfeed.ict4h.org:5c6b6913-94a0-4f08-96a2-6b84dbced26e</id>
    <updated>2018-01-17T19:46:14Z</updated>
    <published>2018-01-17T19:46:14Z</published>
    <content type="application/vnd.atomfeed+xml"><![CDATA[/openmrs/ws/rest/v1/patient/e8aa08f6-86cd-42f9-8924-1b3ea021aeb4?v=full]]></content>
  </entry>
</feed>`;

// The Sync 2.0 content, verbatim from google/fhir-data-pipes doc/atom-feed.md, in an entry with an action term.
const SYNC2_ENTRY = `<entry>
    <title>Patient</title>
    <category term="UPDATED" />
    <category term="patient" />
    <category term="&lt;feedFilter&gt;&lt;beanName&gt;atomfeed.locationFeedFilterStrategy&lt;/beanName&gt;&lt;filter&gt;Uganda%Mukono%*%*%*&lt;/filter&gt;&lt;/feedFilter&gt;" />
    <id>tag:atomfeed.ict4h.org:0b0fe0fc-4bd6-4f7e-9a0c-6d5c0d2a2f11</id>
    <updated>2018-01-17T19:46:14Z</updated>
    <published>2018-01-17T19:46:14Z</published>
    <content type="application/vnd.atomfeed+xml"><![CDATA[{"rest":"/ws/rest/v1/patient/ab6cba2e-8e03-41ec-a551-aab6e04b27f6?v=full","fhir":"/ws/fhir2/R4/Patient/ab6cba2e-8e03-41ec-a551-aab6e04b27f6"}]]></content>
  </entry>`;

describe("atom feed parsing", () => {
  it("reads the Bahmni page verbatim: links, ids, categories, content type, REST path with context path", async () => {
    const page = await parseFeedPage(BAHMNI_PAGE, "http://www.example.com/openmrs/ws/atomfeed/patient/recent");
    assert.equal(page.links.self, "http://www.example.com/openmrs/ws/atomfeed/patient/recent");
    assert.equal(page.links.via, "http://www.example.com/openmrs/ws/atomfeed/patient/32");
    assert.equal(page.links.prevArchive, "http://www.example.com/openmrs/ws/atomfeed/patient/31");
    assert.equal(page.links.nextArchive, undefined);
    assert.equal(page.feedId, "bec795b1-3d17-451d-b43e-a094019f6984+32");
    assert.equal(page.entries.length, 2);
    const [e] = page.entries;
    assert.equal(e.id, "tag:atomfeed.ict4h.org:6fdab6f5-2cd2-4207-b8bb-c2884d6179f6");
    assert.equal(e.title, "Patient");
    assert.equal(e.updated, "2018-01-17T19:44:40Z");
    assert.equal(e.published, "2018-01-17T19:44:40Z");
    assert.deepEqual(e.categories, ["patient"]);
    assert.equal(e.category, "patient");
    assert.equal(e.action, undefined);
    assert.equal(e.contentType, "application/vnd.atomfeed+xml");
    assert.equal(e.dialect, "bahmni");
    assert.deepEqual(e.links, { rest: "/openmrs/ws/rest/v1/patient/e8aa08f6-86cd-42f9-8924-1b3ea021aeb4?v=full" });
    assert.equal(e.resourceType, "Patient");
    assert.equal(e.restResource, "patient");
    assert.equal(e.uuid, "e8aa08f6-86cd-42f9-8924-1b3ea021aeb4");
    assert.equal(e.page, "http://www.example.com/openmrs/ws/atomfeed/patient/32");
    // One entry per change, not per record: both entries name the same patient.
    assert.equal(recordKey(page.entries[1]), recordKey(e));
  });

  it("reads the Sync 2.0 dialect: JSON link map, action and feed-filter terms in any order", async () => {
    const xml = BAHMNI_PAGE.replace(/<entry>[\s\S]*<\/entry>/, SYNC2_ENTRY);
    const page = await parseFeedPage(xml, "http://x/openmrs/ws/atomfeed/patient/recent");
    const [e] = page.entries;
    assert.equal(e.dialect, "sync2");
    assert.equal(e.action, "UPDATED");
    assert.equal(e.category, "patient");
    assert.equal(e.filters.length, 1);
    assert.match(e.filters[0], /^<feedFilter><beanName>atomfeed.locationFeedFilterStrategy/);
    assert.deepEqual(e.links, {
      rest: "/ws/rest/v1/patient/ab6cba2e-8e03-41ec-a551-aab6e04b27f6?v=full",
      fhir: "/ws/fhir2/R4/Patient/ab6cba2e-8e03-41ec-a551-aab6e04b27f6",
    });
    assert.equal(e.resourceType, "Patient");
    assert.equal(e.uuid, "ab6cba2e-8e03-41ec-a551-aab6e04b27f6");
  });

  it("maps visits to Encounter, obs to Observation, sub-resources to their own uuid", () => {
    assert.deepEqual(parseRestLink("/openmrs/ws/rest/v1/person/0a6e7017-e6e7-42f0-ba99-c6d82eecb164/name/db8e2c7d-a2ca-4818-b9d1-9c5025c7f348?v=full"), {
      resource: "name",
      uuid: "db8e2c7d-a2ca-4818-b9d1-9c5025c7f348",
    });
    assert.deepEqual(parseFhirLink("/ws/fhir/Encounter/0a6e7017-e6e7-42f0-ba99-c6d82eecb164"), {
      resourceType: "Encounter",
      uuid: "0a6e7017-e6e7-42f0-ba99-c6d82eecb164",
    });
    assert.equal(parseContent("").dialect, "bahmni");
    assert.deepEqual(parseContent("{not json").links, { rest: "{not json" });
  });

  it("parses pages made by the test page builder in both dialects", async () => {
    const events = [makeEvent("observation"), makeEvent("visit", undefined, { dialect: "bahmni" })];
    const page = await parseFeedPage(feedPage("http://h:1/openmrs", "encounter", events, 1), "http://h:1/openmrs/ws/atomfeed/encounter/1");
    assert.equal(page.entries[0].resourceType, "Observation");
    assert.equal(page.entries[0].restResource, "obs");
    assert.equal(page.entries[1].resourceType, "Encounter");
    assert.equal(page.entries[1].restResource, "visit");
    assert.equal(page.entries[1].links.rest, `/openmrs/ws/rest/v1/visit/${events[1].uuid}?v=full`);
  });

  describe("hostile and broken input", () => {
    it("refuses an entity-expansion bomb before parsing", async () => {
      const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><feed xmlns="http://www.w3.org/2005/Atom"><title>&lol2;</title></feed>`;
      await assert.rejects(parseFeedPage(bomb, "http://x/1"), (err: Error) => err instanceof FeedFormatError && /DTD/.test(err.message));
    });
    it("rejects malformed XML with the URL in the message", async () => {
      await assert.rejects(
        parseFeedPage(BAHMNI_PAGE.slice(0, 900), "http://x/7"),
        (err: Error) => err instanceof FeedFormatError && /malformed feed page: .*\(http:\/\/x\/7\)/.test(err.message),
      );
    });
    it("rejects HTML or JSON instead of a feed", async () => {
      await assert.rejects(parseFeedPage("<html><body>Login</body></html>", "http://x/1"), /not an Atom feed/);
      await assert.rejects(parseFeedPage('{"error":"x"}', "http://x/1"), /not an Atom feed/);
    });
    it("rejects an entry without an id", async () => {
      await assert.rejects(parseFeedPage(BAHMNI_PAGE.replace(/<id>tag[^<]*<\/id>/, ""), "http://x/1"), /without <id>/);
    });
  });

  it("copies what it takes from a page without changing it, non-ASCII text included", async () => {
    for (const s of ["", "tag:atomfeed.ict4h.org:1", "Ménard – 李雷 🩺 ok"]) assert.equal(detach(s), s);
    assert.equal(detach(undefined), undefined);
    const page = await parseFeedPage(BAHMNI_PAGE.replace("<title>Patient</title>", "<title>Patient – é 🩺</title>"), "http://x/1");
    assert.equal(page.entries[0].title, "Patient – é 🩺");
  });

  it("builds and rebases feed URLs onto the configured base", () => {
    assert.equal(recentFeedUrl("http://h/openmrs/", "patient"), "http://h/openmrs/ws/atomfeed/patient/recent");
    assert.equal(
      rebasePageUrl("https://real:8443/openmrs", "patient", "http://internal:8080/openmrs/ws/atomfeed/patient/31"),
      "https://real:8443/openmrs/ws/atomfeed/patient/31",
    );
    // Not a feed page path: left as it is, and refused when requested (test/unit/origin.test.ts).
    assert.equal(rebasePageUrl("http://h/openmrs", "patient", "http://other/feed?page=2"), "http://other/feed?page=2");
    assert.equal(pageNumber("http://h/openmrs/ws/atomfeed/patient/31"), 31);
    assert.equal(pageNumber("http://h/openmrs/ws/atomfeed/patient/recent"), undefined);
  });
});
