/**
 * What the hub re-publishes of a parent's entry (lib/hub/feed-relay.ts): links to the hub's own record
 * URLs in both dialects, the event's uuid, title and tags kept; and which record paths the hub forwards
 * to the parent (lib/hub/record-read.ts): the two APIs only, no dot segments, no encoded separators.
 */
import { strict as assert } from "node:assert";
import { describeEntry } from "../../lib/atom/entry";
import { relayedContent, relayedEvent } from "../../lib/hub/feed-relay";
import { forwardablePath } from "../../lib/hub/record-read";

const P = "ab6cba2e-8e03-41ec-a551-aab6e04b27f6";

function entry(content: string, categories: string[]) {
  return describeEntry({
    id: `tag:atomfeed.ict4h.org:e-${categories.length}`,
    title: "Patient",
    updated: "2026-01-01T00:00:00Z",
    categories,
    content,
    page: "http://p/openmrs/ws/atomfeed/patient/1",
  });
}

describe("hub feed relay", () => {
  it("keeps Sync 2.0 links relative to the base and cuts absolute or context-path links back to /ws/…", () => {
    const e = entry(
      JSON.stringify({ rest: `http://parent:8080/openmrs/ws/rest/v1/patient/${P}?v=full`, fhir: `/ws/fhir2/R4/Patient/${P}`, other: "http://elsewhere/x" }),
      ["patient", "UPDATED"],
    );
    assert.equal(relayedContent(e, "/openmrs"), JSON.stringify({ rest: `/ws/rest/v1/patient/${P}?v=full`, fhir: `/ws/fhir2/R4/Patient/${P}` }));
    const ev = relayedEvent(e, "/openmrs");
    assert.deepEqual(ev && { ...ev, content: undefined }, { category: "patient", uuid: "e-2", title: "Patient", tags: ["UPDATED"], content: undefined });
  });

  it("gives a Bahmni link the hub's context path, and relays nothing without an OpenMRS link", () => {
    const e = entry(`/openmrs/ws/rest/v1/patient/${P}?v=full`, ["patient"]);
    assert.equal(relayedContent(e, "/red/openmrs"), `/red/openmrs/ws/rest/v1/patient/${P}?v=full`);
    assert.equal(relayedEvent(entry("http://elsewhere/patient/1", ["patient"]), "/openmrs"), undefined);
  });

  it("forwards only plain fhir2 and REST v1 paths", () => {
    assert.equal(forwardablePath(`/ws/fhir2/R4/Patient/${P}`), `/ws/fhir2/R4/Patient/${P}`);
    assert.equal(forwardablePath("/ws/fhir2/R4/metadata"), "/ws/fhir2/R4/metadata");
    assert.equal(forwardablePath(`/ws/rest/v1/patient/${P}`), `/ws/rest/v1/patient/${P}`);
    for (const bad of [
      "/ws/rest/v1/../../admin",
      "/ws/fhir2/R4/%2e%2e/x",
      "/ws/rest/v1/a%2Fb",
      "/ws/atomfeed/patient/1",
      "/ws/rest/v2/patient",
      "/ws/fhir2/R4/",
    ])
      assert.equal(forwardablePath(bad), undefined, bad);
  });
});
