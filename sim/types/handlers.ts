/**
 * REST v1 and fhir2 for the registered record types (sim/types/registry.ts), the same for every type:
 * read, create, update, void, purge. Called from inside `handleRest` / `handleFhir`, whose catch turns a
 * thrown SimError into the server's error answer (REST's invalid submission or 404, fhir2's
 * OperationOutcome), so these only answer successes and fhir2's 404 / 410.
 */
import { SimError } from "../errors";
import type { BaseRecord, Store } from "../model";
import { FHIR_TYPE, isObject, json, type Reply } from "../reply";
import type { FhirParts, Json, RestParts, SimType } from "./registry";

export interface TypeRestRequest {
  method: string;
  uuid?: string;
  /** Path segments after the uuid (a sub-resource, when the type serves some). */
  rest: string[];
  query: URLSearchParams;
  body: unknown;
  invalid: ReadonlySet<string> | null;
  /** The patient of a sub-resource's path (`/patient/{parent}/allergy/...`). */
  parent?: string;
}

function body(v: unknown): Json {
  if (!isObject(v)) throw new SimError(400, "request body must be a JSON object");
  return v;
}

/** `/ws/rest/v1/{restResource}[/{uuid}]`. */
export function restForType(store: Store, def: SimType, req: TypeRestRequest, parts: RestParts): Reply {
  const { uuid } = req;
  const records = store.records(def.type);
  if (req.rest.length > 0) {
    const rec = uuid ? records.get(uuid) : undefined;
    if (!def.restSub || !uuid) throw new SimError(404, `Unknown resource: ${def.restResource}/${uuid ?? ""}/${req.rest.join("/")}`);
    if (!rec) throw new SimError(404, "Object with given uuid doesn't exist");
    const answer = def.restSub(store, rec, { method: req.method, segments: req.rest, query: req.query, body: req.body }, parts);
    return answer.body === undefined ? { status: answer.status, headers: {}, body: "" } : json(answer.status, answer.body);
  }
  const rep = (rec: BaseRecord): Json => def.restRep(store, rec, parts);
  const { parent } = req;
  if (def.restParent && parent !== undefined) store.checkPatient(parent);
  /** A record by uuid; under another patient than the path's it is 404 (DelegatingSubResource.testParent: ObjectMismatchException). */
  const get = (id: string): BaseRecord => {
    const rec = records.get(id);
    if (!rec) throw new SimError(404, "Object with given uuid doesn't exist");
    if (def.restParent && def.patientOf(rec) !== parent) throw new SimError(404, "Subresource with given uuid doesn't match the uuid of the main resource");
    return rec;
  };

  if (req.method === "GET") {
    if (!uuid) {
      // The search webservices.rest offers for patient-owned data: ?patientUuid= (or ?patient=), live records only.
      const patient = parent ?? req.query.get("patientUuid") ?? req.query.get("patient");
      const full = req.query.get("v") === "full";
      const results: Json[] = [];
      if (patient)
        for (const r of records.values())
          if (!r.voided && def.patientOf(r) === patient) results.push(full ? rep(r) : parts.ref(def.restResource, r.uuid, def.title));
      return json(200, { results });
    }
    if (req.invalid?.has(uuid)) return json(200, { uuid, display: 42, voided: "maybe", patient: "not-an-object", auditInfo: null, links: null });
    return json(200, rep(get(uuid)));
  }
  if (req.method === "POST") {
    const b = body(req.body);
    if (!uuid) return json(201, rep(store.createOf(def.type, def.restDraft(store, b, parts, parent))));
    const prev = get(uuid);
    if (def.restUpdate === "refused") throw new SimError(400, "The Resource Does not Support the Requested Operation");
    const patch = def.restPatch(store, prev, b, parts);
    const saved = def.restUpdate === "versioned" ? store.reviseOf(def.type, uuid, patch) : store.updateOf(def.type, uuid, patch);
    return json(200, rep(saved));
  }
  if (req.method === "DELETE" && uuid) {
    const rec = get(uuid);
    if (req.query.get("purge") === "true") {
      if (def.restPurge === "refused") throw new SimError(400, "The Resource Does not Support the Requested Operation");
      store.purgeOf(def.type, uuid);
    } else {
      if (!rec.voided) store.voidOf(def.type, uuid, req.query.get("reason") || "web service call");
    }
    return { status: 204, headers: {}, body: "" };
  }
  throw new SimError(405, `Method ${req.method} not supported`);
}

export interface TypeFhirRequest {
  method: string;
  id?: string;
  body: unknown;
  base: string;
  invalid: ReadonlySet<string> | null;
}

/** fhir2's answers for a missing or voided resource, and its OperationOutcome for other outcomes. */
export type Outcome = (status: number, code: string, diagnostics: string, severity?: string) => Reply;

function resourceReply(status: number, resource: Json, extra: Record<string, string> = {}): Reply {
  const meta = resource.meta as { versionId?: string } | undefined;
  const reply = json(status, resource, FHIR_TYPE);
  // A translator that sets no meta (RelatedPerson) gives HAPI no version to send.
  if (meta?.versionId !== undefined) {
    reply.headers.etag = `W/"${String(meta.versionId)}"`;
    reply.headers["last-modified"] = new Date(Number(meta.versionId)).toUTCString();
  }
  Object.assign(reply.headers, extra);
  return reply;
}

/** `/ws/fhir2/R4/{fhirType}[/{id}]`: GET (410 when voided), POST, PUT (no create under an id: 404), DELETE (voids). */
export function fhirForType(store: Store, def: SimType, req: TypeFhirRequest, parts: FhirParts, outcome: Outcome): Reply {
  const { id } = req;
  const notKnown = () => outcome(404, "not-found", `HAPI-0971: Resource ${def.fhirType}/${id ?? ""} is not known`);
  const checked = (): Json => {
    const b = body(req.body);
    if (b.resourceType !== def.fhirType) throw new SimError(400, `resourceType must be ${def.fhirType}, not ${String(b.resourceType)}`);
    return b;
  };
  if (def.fhirReadOnly && req.method !== "GET") {
    // HAPI's answer for an operation no method of the resource provider handles (InvalidRequestException).
    const path = id === undefined ? def.fhirType : `${def.fhirType}/${id}`;
    return outcome(
      400,
      "not-supported",
      `Invalid request: The FHIR endpoint on this server does not know how to handle ${req.method} operation[${path}] with parameters [[]]`,
    );
  }
  if (id === undefined) {
    if (req.method !== "POST") return outcome(400, "not-supported", "Search is not supported by the simulator");
    const b = checked();
    def.fhirCheck?.(b, "create");
    const rec = store.createOf(def.type, def.fhirDraft(store, b));
    return resourceReply(201, def.toFhir(store, rec, parts), { location: `${req.base}/ws/fhir2/R4/${def.fhirType}/${rec.uuid}` });
  }
  const found = store.getOf(def.type, id);
  switch (req.method) {
    case "GET":
      if (req.invalid?.has(id)) return json(200, { resourceType: def.fhirType, id, bogusProperty: "unexpected", clinicalStatus: "bogus" }, FHIR_TYPE);
      if (!found) return notKnown();
      if (found.voided && !def.retirable) return outcome(410, "deleted", `HAPI-0972: Resource ${def.fhirType}/${id} is gone/deleted`);
      return resourceReply(200, def.toFhir(store, found, parts));
    case "PUT": {
      const b = checked();
      if (typeof b.id !== "string" || !b.id) {
        return outcome(400, "invalid", "HAPI-0419: Can not update resource, resource body must contain an ID element for update (PUT) operation");
      }
      if (b.id !== id) {
        return outcome(
          400,
          "invalid",
          `HAPI-0420: Can not update resource, resource body must contain an ID element which matches the request URL for update (PUT) operation - Resource body ID of "${b.id}" does not match URL ID of "${id}"`,
        );
      }
      def.fhirCheck?.(b, "update");
      if (!found) return notKnown();
      const saved = store.updateOf(def.type, id, def.fhirPatch(store, found, b));
      return resourceReply(200, def.toFhir(store, saved, parts));
    }
    case "DELETE":
      if (!found) return notKnown();
      if (!found.voided) store.voidOf(def.type, id, "Deleted through FHIR");
      return outcome(200, "informational", "Successfully deleted object", "information");
    default:
      return outcome(405, "not-supported", `Method ${req.method} not supported`);
  }
}
