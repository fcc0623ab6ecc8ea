/**
 * What one Atom feed entry says, in both content dialects:
 *  - Bahmni: the content is one REST path that includes the context path
 *    ("/openmrs/ws/rest/v1/patient/<uuid>?v=full"), one category term, no action;
 *  - Sync 2.0 (openmrs-module-atomfeed): the content is a JSON map of links relative to the
 *    OpenMRS base URL ({"rest": "/ws/rest/v1/...", "fhir": "/ws/fhir2/R4/..."}), and the
 *    categories also carry the action (CREATED, UPDATED, VOIDED...) and feed-filter XML terms.
 */
import { isSafeId } from "../origin";

export type FeedDialect = "bahmni" | "sync2";

export const EVENT_ACTIONS = ["CREATED", "UPDATED", "RETIRED", "UNRETIRED", "VOIDED", "UNVOIDED", "DELETED"] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];
/** Actions after which the record must be removed (voided) on the other side without fetching it. */
export const DELETE_ACTIONS: readonly string[] = ["VOIDED", "DELETED", "RETIRED"];

export interface FeedEntry {
  /** Entry id, e.g. "tag:atomfeed.ict4h.org:<event uuid>"; unique per change, not per record. */
  id: string;
  title: string;
  updated: string;
  published?: string;
  /** Every category term, in document order. */
  categories: string[];
  /** The category term that is neither an action nor a feed filter ("patient", "encounter"...). */
  category: string;
  action?: EventAction;
  /** Sync 2.0 catchment filters (<feedFilter> XML terms), verbatim. */
  filters: string[];
  content: string;
  contentType?: string;
  dialect: FeedDialect;
  /** Links by client name: "rest" always when known, "fhir" when the publisher gives one. */
  links: Record<string, string>;
  /** FHIR R4 resource type the record maps to ("Patient", "Encounter", "Observation"...). */
  resourceType?: string;
  /** OpenMRS REST resource name ("patient", "visit", "encounter", "obs"...). */
  restResource?: string;
  uuid?: string;
  /** Canonical URL of the feed page the entry was read from. */
  page: string;
  /** The entry's link names a record id that is not safe in a URL path ("..", "/"): refused, never fetched. */
  unsafeId?: boolean;
}

/** The record an entry is about, as "Type/uuid" (the ordering and coalescing key). */
export function recordKey(entry: Pick<FeedEntry, "resourceType" | "restResource" | "uuid" | "id">): string {
  if (entry.uuid) return `${entry.resourceType ?? entry.restResource ?? "Unknown"}/${entry.uuid}`;
  return `entry/${entry.id}`;
}

/** REST resource name → FHIR R4 type, as openmrs-module-fhir2 maps them. */
export const REST_TO_FHIR_TYPE: Record<string, string> = {
  patient: "Patient",
  person: "Person",
  encounter: "Encounter",
  visit: "Encounter",
  obs: "Observation",
  location: "Location",
  allergy: "AllergyIntolerance",
  cohort: "Group",
  provider: "Practitioner",
  drug: "Medication",
  drug_order: "MedicationRequest",
  test_order: "ServiceRequest",
  condition: "Condition",
  relationship: "RelatedPerson",
};

/**
 * FHIR types named in feed links that fhir2 serves under another name: omod-atomfeed's default
 * configuration links a relationship to `/ws/fhir/Relationship/{uuid}` (fhir2: RelatedPerson).
 */
const FHIR_LINK_ALIASES: Record<string, string> = { Relationship: "RelatedPerson" };

/** Feed category → REST resource name, where they differ. */
export const CATEGORY_TO_REST: Record<string, string> = { observation: "obs" };

const UUIDISH = /^[0-9A-Za-z-]{30,40}$/;

export { isSafeId };

/** A lookup in one of the tables below that never reaches Object.prototype ("__proto__", "constructor"). */
function own(table: Record<string, string>, key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

/** Finds resource name and uuid in a REST path such as /openmrs/ws/rest/v1/person/<p>/name/<uuid>?v=full. */
export function parseRestLink(link: string): { resource: string; uuid: string } | undefined {
  const m = /\/ws\/rest\/v1\/([^?#]+)/.exec(link);
  if (!m) return undefined;
  const segments = m[1].split("/").filter(Boolean);
  for (let i = segments.length - 1; i >= 1; i--) {
    if (UUIDISH.test(segments[i])) return { resource: segments[i - 1], uuid: segments[i] };
  }
  return undefined;
}

/** Finds FHIR type and id in /ws/fhir2/R4/Patient/<uuid> or the old module's /ws/fhir/Patient/<uuid>. */
export function parseFhirLink(link: string): { resourceType: string; uuid: string } | undefined {
  const m = /\/ws\/fhir2?(?:\/R[34])?\/([A-Z][A-Za-z]+)\/([^/?#]+)/.exec(link);
  if (!m) return undefined;
  return { resourceType: m[1], uuid: m[2] };
}

/** Parses the content of an entry: a JSON map of links (Sync 2.0) or a single REST path (Bahmni). */
export function parseContent(content: string): { dialect: FeedDialect; links: Record<string, string> } {
  const text = content.trim();
  if (text.startsWith("{")) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        const links: Record<string, string> = {};
        for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
          if (typeof v === "string") links[k] = v;
        }
        return { dialect: "sync2", links };
      }
    } catch {
      // not JSON: fall through to the single-path dialect
    }
  }
  return { dialect: "bahmni", links: text ? { rest: text } : {} };
}

export function isFeedFilterTerm(term: string): boolean {
  return term.trimStart().startsWith("<");
}

/** Builds the typed entry from the raw pieces of an <entry>. */
export function describeEntry(raw: {
  id: string;
  title: string;
  updated: string;
  published?: string;
  categories: string[];
  content: string;
  contentType?: string;
  page: string;
}): FeedEntry {
  const actions = raw.categories.filter((t) => (EVENT_ACTIONS as readonly string[]).includes(t.trim().toUpperCase()));
  const filters = raw.categories.filter(isFeedFilterTerm);
  const plain = raw.categories.filter((t) => !actions.includes(t) && !filters.includes(t));
  const { dialect, links } = parseContent(raw.content);
  const category = plain[0] ?? "";
  const entry: FeedEntry = {
    id: raw.id,
    title: raw.title,
    updated: raw.updated,
    published: raw.published,
    categories: raw.categories,
    category,
    action: actions.length ? (actions[0].trim().toUpperCase() as EventAction) : undefined,
    filters,
    content: raw.content,
    contentType: raw.contentType,
    dialect,
    links,
    page: raw.page,
  };
  const rest = links.rest ? parseRestLink(links.rest) : undefined;
  const fhir = links.fhir ? parseFhirLink(links.fhir) : undefined;
  entry.restResource = rest?.resource ?? (category ? (own(CATEGORY_TO_REST, category.toLowerCase()) ?? category.toLowerCase()) : undefined);
  const uuid = fhir?.uuid ?? rest?.uuid;
  if (uuid !== undefined && !isSafeId(uuid)) entry.unsafeId = true;
  else entry.uuid = uuid;
  const linked = fhir ? (own(FHIR_LINK_ALIASES, fhir.resourceType) ?? fhir.resourceType) : undefined;
  entry.resourceType = linked ?? (entry.restResource ? own(REST_TO_FHIR_TYPE, entry.restResource) : undefined);
  return entry;
}
