/**
 * Turns a feed entry into the record it points at, as FHIR R4:
 *  - VOIDED / DELETED / RETIRED actions become a delete without fetching (as Sync 2.0 does);
 *  - otherwise fhir2 (`{url}/ws/fhir2/R4/{Type}/{uuid}`) when the server has it and the type is served
 *    there: 200 is the record, 410 Gone a delete;
 *  - otherwise (or when fhir2 does not know the id) the REST v1 representation, converted to FHIR;
 *    `voided: true` is a delete;
 *  - a record that is nowhere any more (404 on every path) is filtered, not an error: there is nothing
 *    to copy (Sync 2.0 skips it the same way).
 * HTTP failures become OutcomeErrors (retry / permanent / auth) for the caller to settle.
 */
import { DELETE_ACTIONS, type FeedEntry } from "../atom/entry";
import { httpFailure, OutcomeError, PermanentError, shownValue } from "../outcome";
import { entryHeader, redactUrl } from "../origin";
import { isVoidedRest, restKindOf, restToFhir, validAllergy, type FhirResource } from "../fhir/convert";
import { viaFhir2, type OpenmrsServer, type ServerProfile } from "./server";
import { withAttributeIds } from "./attribute-ids";
import { withDiagnoses } from "./encounter-diagnoses";
import { withLiveMembers, withMemberships } from "./cohort";

export type RecordAction = "upsert" | "delete";

export interface FetchedRecord {
  action: RecordAction;
  resourceType: string;
  id: string;
  /** The current record (upserts only). */
  resource?: FhirResource;
  /** Where it came from: fhir2, a REST representation converted here, or nowhere (deletes by action). */
  via: "fhir2" | "rest" | "action";
  sourceUrl?: string;
  /** True when no path had the record: nothing to write. */
  notFound?: boolean;
  /** Nothing to write, and why (a person entry of a patient: the patient feed carries it). */
  filtered?: { reason: string; message: string };
}

/**
 * Whether a person is a patient at the source (GET patient/{uuid}): omod-atomfeed publishes Person events,
 * and a person who is (or became) a patient is the patient feed's record, written with its identifiers.
 */
async function isPatient(server: OpenmrsServer, uuid: string, headers: Record<string, string>): Promise<boolean> {
  const url = server.restUrl("patient", uuid);
  const res = await server.restGet(url, headers);
  if (res.status === 404) return false;
  if (res.status === 200) return true;
  throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
}

/** FHIR types of OpenMRS orders: fhir2 serves them without what a REST create needs (lib/fhir/types/order.ts). */
const ORDER_TYPES = new Set(["MedicationRequest", "ServiceRequest"]);

/**
 * An order read through fhir2, completed from REST v1 (its care setting, action, number, frequency and
 * units, which fhir2's translators leave out): the REST representation converted as fhir2 would serve it,
 * with those details.
 */
async function orderFromRest(server: OpenmrsServer, uuid: string, headers: Record<string, string>): Promise<FhirResource> {
  const url = `${server.restUrl("order", uuid)}?v=full`;
  const res = await server.restGet(url, headers);
  if (res.status !== 200) throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
  return restToFhir("order", res.json);
}

export async function fetchRecord(server: OpenmrsServer, profile: ServerProfile, entry: FeedEntry): Promise<FetchedRecord> {
  if (entry.unsafeId) {
    throw new PermanentError(`feed entry ${shownValue(entry.id)} links to a record id that is not safe in a URL (refused, nothing fetched)`, "unsafe-id");
  }
  const uuid = entry.uuid;
  const resourceType = entry.resourceType;
  if (!uuid || !resourceType) {
    throw new PermanentError(`feed entry ${entry.id} has no record link I understand (its content is not shown)`, "no-record-link");
  }
  // Tells the server's logs which feed entry asked; encoded, so a CR/LF in an id cannot split the header.
  const headers = entryHeader(entry.id);
  if (resourceType === "Person" && (await isPatient(server, uuid, headers))) {
    const message = `Person/${uuid} is a patient: the patient feed carries it`;
    return { action: "upsert", resourceType, id: uuid, via: "rest", filtered: { reason: "patient-person", message } };
  }
  if (entry.action && DELETE_ACTIONS.includes(entry.action)) {
    return { action: "delete", resourceType, id: uuid, via: "action" };
  }
  let fhir2Missing = false;

  if (viaFhir2(profile, resourceType)) {
    const url = `${server.fhir.baseUrl}/${resourceType}/${encodeURIComponent(uuid)}`;
    const res = await server.fhirRead(resourceType, uuid, headers);
    if (res.status === 200) {
      const resource = res.body as FhirResource | undefined;
      if (!resource || resource.resourceType !== resourceType || resource.id !== uuid) {
        throw new PermanentError(
          `GET ${url} returned ${shownValue(resource?.resourceType)}/${shownValue(resource?.id)} instead of ${resourceType}/${uuid}`,
          "wrong-resource",
        );
      }
      // fhir2 leaves person attributes' uuids out: completed from REST, so the target keeps them; an
      // encounter's diagnoses (fhir2's Encounter has none) too; an order's details likewise; fhir2 lists every
      // membership's patient as a Group member: live ones taken from REST. An allergy's reaction without
      // manifestation (fhir2 serves one, R4 forbids it) is dropped.
      const whole =
        resourceType === "Patient"
          ? await withAttributeIds(server, resource, headers)
          : resourceType === "Encounter"
            ? await withDiagnoses(server, resource, headers)
            : ORDER_TYPES.has(resourceType)
              ? await orderFromRest(server, uuid, headers)
              : resourceType === "Group"
                ? await withLiveMembers(server, resource, headers)
                : validAllergy(resource);
      return { action: "upsert", resourceType, id: uuid, resource: whole, via: "fhir2", sourceUrl: url };
    }
    if (res.status === 410) return { action: "delete", resourceType, id: uuid, via: "fhir2", sourceUrl: url };
    if (res.status !== 404) throw httpFailure("GET", url, res.status, res.body, res.retryAfter);
    fhir2Missing = true;
  }

  const kind = restKindOf(entry.restResource ?? "");
  const link = entry.links.rest;
  const url = link ? server.resolveLink(link) : kind ? `${server.restUrl(kind, uuid)}?v=full` : undefined;
  if (!url || !kind) {
    if (fhir2Missing) return { action: "upsert", resourceType, id: uuid, via: "fhir2", notFound: true };
    throw new PermanentError(
      `no REST to FHIR conversion for "${entry.restResource ?? entry.category}" records (entry ${entry.id}); use a server with fhir2`,
      "unsupported-type",
    );
  }
  if (kind === "allergy" && !/\/ws\/rest\/v1\/patient\/[^/]+\/allergy\//.test(url)) {
    // omod-atomfeed's default link, /ws/rest/v1/allergy/{uuid}, is not served: an allergy is read under its patient only.
    throw new PermanentError(
      `allergy ${uuid} (entry ${entry.id}): REST v1 serves allergies only under their patient (patient/{uuid}/allergy/{uuid}), and this feed's link names none; read allergies through fhir2`,
      "no-parent",
    );
  }
  const res = await server.restGet(url, headers);
  if (res.status === 404) return { action: "upsert", resourceType, id: uuid, via: "rest", sourceUrl: url, notFound: true };
  if (res.status === 410) return { action: "delete", resourceType, id: uuid, via: "rest", sourceUrl: url };
  if (res.status !== 200) throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
  if (res.json === undefined) throw new OutcomeError({ kind: "retry", reason: "bad-json", message: `GET ${url}: response is not JSON` });
  const bodyUuid = typeof res.json === "object" && res.json !== null && "uuid" in res.json ? res.json.uuid : undefined;
  if (bodyUuid !== uuid) {
    throw new PermanentError(`GET ${redactUrl(url)} returned a record with uuid ${shownValue(bodyUuid)} instead of ${uuid}`, "wrong-resource");
  }
  if (isVoidedRest(res.json)) return { action: "delete", resourceType, id: uuid, via: "rest", sourceUrl: url };
  // A cohort's members are a sub-resource of its own.
  const rep = kind === "cohort" ? await withMemberships(server, res.json as Record<string, unknown>, headers) : res.json;
  const resource = restToFhir(kind, rep);
  return { action: "upsert", resourceType: resource.resourceType, id: resource.id ?? uuid, resource, via: "rest", sourceUrl: url };
}
