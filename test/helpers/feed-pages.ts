/**
 * Builds ICT4H atomfeed pages in the verbatim format of openmrs-protocols.md §2.2/2.3, for lib unit
 * tests that exercise parsing and walking without a server.
 */
import { randomUUID } from "node:crypto";

export interface TestEvent {
  id: string;
  category: string;
  uuid: string;
  action?: string;
  dialect: "bahmni" | "sync2";
  restResource?: string;
  fhirType?: string;
}

export function makeEvent(category: string, uuid = randomUUID(), opts: Partial<TestEvent> = {}): TestEvent {
  return { id: `tag:atomfeed.ict4h.org:${randomUUID()}`, category, uuid, dialect: "sync2", action: "UPDATED", ...opts };
}

const REST: Record<string, string> = { patient: "patient", visit: "visit", encounter: "encounter", observation: "obs" };
const FHIR: Record<string, string> = { patient: "Patient", visit: "Encounter", encounter: "Encounter", observation: "Observation" };

function content(e: TestEvent, contextPath: string): string {
  const rest = `/ws/rest/v1/${e.restResource ?? REST[e.category] ?? e.category}/${e.uuid}?v=full`;
  if (e.dialect === "bahmni") return `${contextPath}${rest}`;
  return JSON.stringify({ rest, fhir: `/ws/fhir2/R4/${e.fhirType ?? FHIR[e.category] ?? "Basic"}/${e.uuid}` });
}

/** Page n (1-based) of `events`, `size` per page, as the server at `base` (with context path) would serve it. */
export function feedPage(base: string, category: string, events: TestEvent[], n: number, size = 5, requested?: string): string {
  const pages = Math.max(1, Math.ceil(events.length / size));
  const slice = events.slice((n - 1) * size, n * size);
  const feedBase = `${base}/ws/atomfeed/${category}`;
  const contextPath = new URL(base).pathname.replace(/\/$/, "");
  const links = [
    `<link rel="self" type="application/atom+xml" href="${requested ?? `${feedBase}/${n}`}" />`,
    `<link rel="via" type="application/atom+xml" href="${feedBase}/${n}" />`,
  ];
  if (n > 1) links.push(`<link rel="prev-archive" type="application/atom+xml" href="${feedBase}/${n - 1}" />`);
  if (n < pages) links.push(`<link rel="next-archive" type="application/atom+xml" href="${feedBase}/${n + 1}" />`);
  const entries = slice.map((e, i) => {
    const terms = e.dialect === "sync2" && e.action ? (i % 2 ? [e.action, e.category] : [e.category, e.action]) : [e.category];
    return `  <entry>
    <title>${category}</title>
${terms.map((t) => `    <category term="${t}" />`).join("\n")}
    <id>${e.id}</id>
    <updated>2018-01-17T19:44:40Z</updated>
    <published>2018-01-17T19:44:40Z</published>
    <content type="application/vnd.atomfeed+xml"><![CDATA[${content(e, contextPath)}]]></content>
  </entry>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Patient AOP</title>
  ${links.join("\n  ")}
  <author>
    <name>OpenMRS</name>
  </author>
  <id>bec795b1-3d17-451d-b43e-a094019f6984+${n}</id>
  <generator uri="https://github.com/ICT4H/atomfeed">OpenMRS Feed Publisher</generator>
  <updated>2018-04-26T10:56:10Z</updated>
${entries.join("\n")}
</feed>`;
}

export function pageCount(events: TestEvent[], size = 5): number {
  return Math.max(1, Math.ceil(events.length / size));
}
