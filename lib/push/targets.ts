/**
 * Writes one record (or a delete) to a target and classifies the result.
 *
 * OpenMRS target (fhir2 semantics, openmrs-protocols.md §3): PUT {Type}/{uuid} updates an existing
 * record; fhir2 cannot create under a chosen id (PUT to an unknown id is 404), so on 404 the record is
 * created through REST v1 POST with its uuid in the body, as Sync 2.0 did. Without fhir2 the REST API
 * is used for both. Deletes void the record; a record already absent or voided counts as done.
 *
 * Plain FHIR target: PUT {Type}/{id} is an upsert; DELETE removes.
 *
 * A refusal (400/404/409/422) of a record whose referenced records (its patient, encounter, visit) are
 * not on the target yet is a *retry* ("missing-reference"), never a dead letter: feeds are separate,
 * so an encounter can arrive before its patient.
 *
 * Before an upsert to an OpenMRS target, the metadata the record names (concepts, types, locations) is
 * checked there (lib/openmrs/metadata-check.ts): while some is missing the record is a *retry*
 * ("missing-metadata") that names it, not a generic 400 and a dead letter.
 */
import { httpFailure, httpOutcome, OK, PermanentError, type Outcome } from "../outcome";
import {
  fhirReferences,
  fhirToRestCreate,
  isVoidedRest,
  restKindOfFhir,
  validAllergy,
  restToFhir,
  type ConvertOptions,
  type FhirResource,
  type RestKind,
} from "../fhir/convert";
import type { FhirClient, FhirResponse } from "../fhir/client";
import { viaFhir2, writesViaFhir2, type OpenmrsServer, type ServerProfile } from "../openmrs/server";
import { personAttributeTypes } from "../openmrs/attribute-types";
import { withAttributeIds } from "../openmrs/attribute-ids";
import { withDiagnoses } from "../openmrs/encounter-diagnoses";
import { MetadataCheck, metadataRefs, metadataText } from "../openmrs/metadata-check";
import { entryHeader } from "../origin";
import { writeCohort } from "./cohort";
import { withMemberships } from "../openmrs/cohort";
import { duplicateIdentifierOutcome } from "./duplicate-identifier";
import { IMMUTABLE_ON_REST, sameRestContent, VERSIONED_ON_REST } from "./versioned";

export interface WriteRequest {
  action: "upsert" | "delete";
  resourceType: string;
  id: string;
  resource?: FhirResource;
  /** OpenMRS REST resource name, when known from the feed ("visit" vs "encounter" for a delete). */
  restKind?: RestKind;
  /** Feed entry id, sent as x-sync-entry for tracing. */
  entryId?: string;
  /**
   * The source says the record was created (Sync 2.0 action CREATED): an OpenMRS target tries the
   * REST create first and saves the PUT that would answer 404. If the record exists after all (a
   * re-delivery), the create is refused and the update path follows.
   */
  created?: boolean;
  /** Which delivery of the record this is (1 for the first), from its ticket. */
  attempt?: number;
  /** The patient of a REST v1 patient sub-resource (an allergy), for a delete through REST. */
  parent?: string;
}

export interface WriteResult {
  outcome: Outcome;
  method: string;
  url: string;
  durationMs: number;
}

export interface RecordTarget {
  /** Base URL, for audit rows. */
  readonly url: string;
  /** What the target offers (an OpenMRS server's profile), worked out once per record by the caller. */
  profile(): Promise<ServerProfile | undefined>;
  write(req: WriteRequest, profile?: ServerProfile): Promise<WriteResult>;
  /** The target's current version of a record; undefined when it is absent or voided. */
  read(resourceType: string, id: string, restKind?: RestKind, profile?: ServerProfile, parent?: string): Promise<FhirResource | undefined>;
}

const REST_KINDS_OF = new Map<string, RestKind[]>([
  ["Patient", ["patient"]],
  ["Observation", ["obs"]],
  ["Condition", ["condition"]],
  ["Encounter", ["encounter", "visit"]],
  ["RelatedPerson", ["relationship"]],
  // A relationship's persons: a patient is a person too (GET /ws/rest/v1/person/{uuid}).
  ["Person", ["person"]],
  ["AllergyIntolerance", ["allergy"]],
  ["MedicationRequest", ["order"]],
  ["ServiceRequest", ["order"]],
  ["Group", ["cohort"]],
  ["Location", ["location"]],
]);

/** FHIR types fhir2 serves without what their REST create needs (orders): the target's copy is read through REST. */
const READ_VIA_REST = new Set(["MedicationRequest", "ServiceRequest"]);

/** REST kinds served only as a patient sub-resource (webservices.rest DelegatingSubResource): patient/{uuid}/{kind}. */
const PATIENT_SUB_RESOURCES = new Set<RestKind>(["allergy"]);

/** The patient a REST create body names, for a sub-resource's path. */
function parentOf(body: Record<string, unknown>): string | undefined {
  return typeof body.patient === "string" ? body.patient : undefined;
}

/** A REST body as posted: without `uuid` (an update) and without the `patient` a sub-resource's path names. */
function posted(kind: RestKind, body: Record<string, unknown>, keepUuid: boolean): Record<string, unknown> {
  const out = { ...body };
  if (!keepUuid) delete out.uuid;
  if (PATIENT_SUB_RESOURCES.has(kind)) delete out.patient;
  return out;
}

/**
 * Written through REST v1 even beside fhir2: fhir2's LocationTranslatorImpl.toOpenmrsType reads only four
 * address fields (not the address extension), never removes a tag, ignores status, and turns a parent it
 * does not know into none; REST v1 keeps them all.
 */
const REST_WRITTEN = new Set(["Location"]);

/** REST resource names that can hold a record of this FHIR type (an Encounter is a visit or an encounter). */
function restKindsOf(resourceType: string): RestKind[] {
  return REST_KINDS_OF.get(resourceType) ?? ["encounter", "visit"];
}

const REFUSALS = new Set([400, 404, 409, 412, 422]);

/**
 * The outcome of a refused write of a record that refers to others. While a referenced record is
 * missing on the target, it is retried. When all are there, the refusal may still have been about one
 * of them: records of separate feeds travel side by side, and the one referred to can arrive between
 * the refusal and this check. So the first delivery is retried once more; a later refusal is the
 * record's own (permanent). `exists` asks the target whether it holds a record.
 */
async function refusalOutcome(req: WriteRequest, refusal: Outcome, exists: (resourceType: string, id: string) => Promise<boolean>): Promise<Outcome> {
  if (refusal.kind !== "permanent" || !refusal.status || !REFUSALS.has(refusal.status) || !req.resource) return refusal;
  const references = fhirReferences(req.resource);
  const missing: string[] = [];
  for (const ref of references) if (!(await exists(ref.resourceType, ref.id))) missing.push(`${ref.resourceType}/${ref.id}`);
  const retry = (message: string): Outcome => ({
    kind: "retry",
    reason: "missing-reference",
    status: refusal.status,
    message,
    operationOutcome: refusal.operationOutcome,
  });
  if (missing.length) return retry(`${req.resourceType}/${req.id} refers to ${missing.join(", ")}, not on the target yet; will retry`);
  if (references.length > 0 && (req.attempt ?? 1) <= 1)
    return retry(`${req.resourceType}/${req.id} was refused while a record it refers to may have been arriving; will retry once`);
  return refusal;
}

export class OpenmrsTarget implements RecordTarget {
  private readonly metadata: MetadataCheck;

  constructor(private readonly server: OpenmrsServer) {
    this.metadata = new MetadataCheck(server);
  }

  get url(): string {
    return this.server.baseUrl;
  }

  profile(): Promise<ServerProfile> {
    return this.server.profile();
  }

  async write(req: WriteRequest, given?: ServerProfile): Promise<WriteResult> {
    const started = Date.now();
    const profile = given ?? (await this.server.profile());
    const result = req.action === "delete" ? await this.remove(req, profile) : await this.upsert(req, profile);
    return { ...result, durationMs: Date.now() - started };
  }

  private headers(req: WriteRequest): Record<string, string> {
    return entryHeader(req.entryId);
  }

  private restKind(req: WriteRequest): RestKind | undefined {
    return req.restKind ?? (req.resource ? restKindOfFhir(req.resource) : undefined);
  }

  private async upsert(req: WriteRequest, profile: ServerProfile): Promise<Omit<WriteResult, "durationMs">> {
    const resource = req.resource;
    if (!resource) return { outcome: { kind: "permanent", reason: "no-resource", message: "upsert without a resource" }, method: "PUT", url: this.url };
    const lacking = await this.missingMetadata(req, resource);
    if (lacking) return { outcome: lacking, method: "GET", url: this.server.restUrl("") };
    // A cohort goes through REST v1 even beside fhir2 (lib/push/cohort.ts says why).
    if (resource.resourceType === "Group") return this.withRefusal(req, await writeCohort(this.server, req.id, resource, this.headers(req)), profile);
    // A retired location (fhir2 still serves it, status inactive) is retired at the target.
    if (resource.resourceType === "Location" && resource.status === "inactive") return this.remove({ ...req, action: "delete", restKind: "location" }, profile);
    if (req.created) {
      const created = await this.createViaRest(req, resource, profile, false);
      if (created.outcome.kind === "ok" || !(await this.exists(req.resourceType, req.id, profile, req.parent ?? this.patientOfResource(resource))))
        return this.withRefusal(req, created, profile);
    }
    if (writesViaFhir2(profile, req.resourceType, "upsert") && !REST_WRITTEN.has(req.resourceType)) {
      const url = `${this.server.fhir.baseUrl}/${req.resourceType}/${req.id}`;
      const res = await this.server.fhir.update({ ...resource, id: req.id }, this.headers(req));
      if (res.status >= 200 && res.status < 300)
        return (await this.diagnosesViaRest(req, resource, profile)) ?? { outcome: { ...OK, status: res.status }, method: "PUT", url };
      if (res.status !== 404)
        return { outcome: await this.refusal(req, httpOutcome("PUT", url, res.status, res.body, res.retryAfter), profile), method: "PUT", url };
      return this.createViaRest(req, resource, profile);
    }
    // No fhir2: update through REST, create when the record is not there.
    const { kind, body } = fhirToRestCreate(resource, await this.convertOptions(resource));
    if (VERSIONED_ON_REST.has(kind) || IMMUTABLE_ON_REST.has(kind)) return this.versionedUpsert(req, resource, kind, body, profile);
    const url = this.restUrlOf(kind, req.id, parentOf(body));
    const res = await this.server.restSend("POST", url, posted(kind, body, false), this.headers(req));
    if (res.status >= 200 && res.status < 300) return { outcome: { ...OK, status: res.status }, method: "POST", url };
    if (res.status !== 404)
      return { outcome: await this.refusal(req, httpOutcome("POST", url, res.status, res.json, res.headers["retry-after"]), profile), method: "POST", url };
    return this.createViaRest(req, resource, profile);
  }

  /**
   * A record REST v1 saves anew when edited (lib/push/versioned.ts): created when the target lacks it,
   * left alone when its copy says the same, and otherwise refused here (permanent, "versioned-on-rest")
   * instead of being forked under a new uuid at the target.
   */
  private async versionedUpsert(
    req: WriteRequest,
    resource: FhirResource,
    kind: RestKind,
    body: Record<string, unknown>,
    profile: ServerProfile,
  ): Promise<Omit<WriteResult, "durationMs">> {
    const url = `${this.server.restUrl(kind, req.id)}?v=full`;
    const res = await this.server.restGet(url, this.headers(req));
    if (res.status === 404) return this.createViaRest(req, resource, profile);
    if (res.status !== 200) return { outcome: httpOutcome("GET", url, res.status, res.json, res.headers["retry-after"]), method: "GET", url };
    if (!isVoidedRest(res.json) && sameRestContent(fhirToRestCreate(restToFhir(kind, res.json)).body, body)) {
      return { outcome: { ...OK, status: res.status, reason: "already-equal" }, method: "GET", url };
    }
    if (IMMUTABLE_ON_REST.has(kind)) {
      const message =
        `${req.resourceType}/${req.id} differs from the target's copy, and OpenMRS orders cannot be edited (OrderServiceImpl: ` +
        `"Order.cannot.edit.existing"; REST v1 refuses an update): not written. A change to an order is a new order ` +
        `(action REVISE or DISCONTINUE naming it), which arrives as a record of its own.`;
      return { outcome: { kind: "permanent", reason: "order-immutable", message }, method: "POST", url: this.server.restUrl(kind, req.id) };
    }
    const message =
      `${req.resourceType}/${req.id} differs from the target's copy, and OpenMRS REST v1 saves an edited ${kind} as a new record ` +
      `under a new uuid: not written, so that the servers do not fork. A target with fhir2 updates it in place.`;
    return { outcome: { kind: "permanent", reason: "versioned-on-rest", message }, method: "POST", url: this.server.restUrl(kind, req.id) };
  }

  private async createViaRest(req: WriteRequest, resource: FhirResource, profile: ServerProfile, analyse = true): Promise<Omit<WriteResult, "durationMs">> {
    const { kind, body, warnings } = fhirToRestCreate({ ...resource, id: req.id }, await this.convertOptions(resource));
    const url = this.restUrlOf(kind, undefined, parentOf(body));
    const res = await this.server.restSend("POST", url, posted(kind, body, true), this.headers(req));
    if (res.status >= 200 && res.status < 300) {
      const message = warnings ? `created without what the target cannot hold: ${warnings.join("; ")}` : undefined;
      return { outcome: { ...OK, status: res.status, reason: "created", ...(message ? { message } : {}) }, method: "POST", url };
    }
    const outcome = httpOutcome("POST", url, res.status, res.json, res.headers["retry-after"]);
    return { outcome: analyse ? await this.refusal(req, outcome, profile) : outcome, method: "POST", url };
  }

  /**
   * fhir2 ignores an Encounter's diagnoses (lib/fhir/types/encounter-diagnoses.ts): after its PUT, an
   * encounter that has some gets them through REST v1 (EncounterResource2_2 `diagnoses`). Undefined when
   * there is nothing to write or it was written.
   */
  private async diagnosesViaRest(req: WriteRequest, resource: FhirResource, profile: ServerProfile): Promise<Omit<WriteResult, "durationMs"> | undefined> {
    if (resource.resourceType !== "Encounter" || !Array.isArray(resource.diagnosis) || resource.diagnosis.length === 0) return undefined;
    const { kind, body } = fhirToRestCreate({ ...resource, id: req.id });
    if (kind !== "encounter" || !body.diagnoses) return undefined;
    const url = this.server.restUrl("encounter", req.id);
    const res = await this.server.restSend("POST", url, { diagnoses: body.diagnoses }, this.headers(req));
    if (res.status >= 200 && res.status < 300) return undefined;
    return { outcome: await this.refusal(req, httpOutcome("POST", url, res.status, res.json, res.headers["retry-after"]), profile), method: "POST", url };
  }

  /** The retry outcome of a record that names metadata the target lacks; undefined when it has it all. */
  private async missingMetadata(req: WriteRequest, resource: FhirResource): Promise<Outcome | undefined> {
    let refs;
    try {
      const { kind, body } = fhirToRestCreate({ ...resource, id: req.id });
      refs = metadataRefs(kind, body, resource, resource.valueCodeableConcept !== undefined);
    } catch {
      return undefined; // not convertible: the write says why
    }
    if (refs.length === 0) return undefined;
    const missing = await this.metadata.missing(refs);
    if (missing.length === 0) return undefined;
    return {
      kind: "retry",
      reason: "missing-metadata",
      message: `${req.resourceType}/${req.id} needs ${missing.map(metadataText).join(", ")}, which the target lacks; it waits and is retried`,
      missing,
    };
  }

  /** A patient's REST body names person attribute types by the target's uuids: look them up (cached). */
  private async convertOptions(resource: FhirResource): Promise<ConvertOptions> {
    return resource.resourceType === "Patient" || resource.resourceType === "Person" ? { attributeTypes: await personAttributeTypes(this.server) } : {};
  }

  private async withRefusal(req: WriteRequest, result: Omit<WriteResult, "durationMs">, profile: ServerProfile): Promise<Omit<WriteResult, "durationMs">> {
    return result.outcome.kind === "ok" ? result : { ...result, outcome: await this.refusal(req, result.outcome, profile) };
  }

  private async remove(req: WriteRequest, profile: ServerProfile): Promise<Omit<WriteResult, "durationMs">> {
    let url: string;
    let status: number;
    let body: unknown;
    let retryAfter: string | string[] | undefined;
    if (writesViaFhir2(profile, req.resourceType, "delete")) {
      url = `${this.server.fhir.baseUrl}/${req.resourceType}/${req.id}`;
      const res = await this.server.fhir.delete(req.resourceType, req.id, this.headers(req));
      ({ status, body, retryAfter } = res);
    } else {
      const kind = this.restKind(req) ?? restKindsOf(req.resourceType)[0];
      url = this.restUrlOf(kind, req.id, req.parent);
      const res = await this.server.restSend("DELETE", url, undefined, this.headers(req));
      status = res.status;
      body = res.json;
      retryAfter = res.headers["retry-after"];
    }
    if (status === 404 || status === 410) return { outcome: { kind: "ok", reason: "already-absent", status }, method: "DELETE", url };
    return { outcome: httpOutcome("DELETE", url, status, body, retryAfter), method: "DELETE", url };
  }

  /** `{rest}/{kind}[/{id}]`, or `{rest}/patient/{parent}/{kind}[/{id}]` for a patient sub-resource. */
  private restUrlOf(kind: RestKind, id?: string, parent?: string): string {
    if (!PATIENT_SUB_RESOURCES.has(kind)) return this.server.restUrl(kind, id);
    if (!parent) throw new PermanentError(`${kind} ${id ?? ""} is a patient sub-resource of REST v1, and its patient is not known`, "no-parent");
    return this.server.restUrl(`patient/${encodeURIComponent(parent)}/${kind}`, id);
  }

  async read(resourceType: string, id: string, restKind?: RestKind, given?: ServerProfile, parent?: string): Promise<FhirResource | undefined> {
    const profile = given ?? (await this.server.profile());
    // Orders as the source side reads them (lib/openmrs/fetch-record.ts): completed from REST, so read there;
    // a cohort likewise, with its live members (fhir2 lists voided memberships too).
    if (viaFhir2(profile, resourceType) && !READ_VIA_REST.has(resourceType) && resourceType !== "Group") {
      const res = await this.server.fhir.read(resourceType, id);
      // As the source side reads it (lib/openmrs/fetch-record.ts): with its person attributes' uuids, an
      // encounter's diagnoses, an allergy's reactions valid R4.
      if (res.status === 200) {
        const body = res.body as FhirResource;
        if (resourceType === "Patient") return withAttributeIds(this.server, body);
        return resourceType === "Encounter" ? withDiagnoses(this.server, body) : validAllergy(body);
      }
      if (res.status === 404 || res.status === 410) return undefined;
      throw httpFailure("GET", `${this.server.fhir.baseUrl}/${resourceType}/${id}`, res.status, res.body, res.retryAfter);
    }
    const kinds = restKind ? [restKind] : restKindsOf(resourceType);
    for (const kind of kinds) {
      const url = `${this.restUrlOf(kind, id, parent)}?v=full`;
      const res = await this.server.restGet(url);
      if (res.status === 404) continue;
      if (res.status !== 200) throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
      if (isVoidedRest(res.json)) return undefined;
      return restToFhir(kind, kind === "cohort" ? await withMemberships(this.server, res.json as Record<string, unknown>) : res.json);
    }
    return undefined;
  }

  /**
   * A refused write is retried when a record it refers to is missing on the target; a patient refused
   * because another patient there holds one of its identifiers is a "duplicate-identifier" dead letter.
   */
  private async refusal(req: WriteRequest, outcome: Outcome, profile: ServerProfile): Promise<Outcome> {
    const refused = await refusalOutcome(req, outcome, (resourceType, id) => this.exists(resourceType, id, profile));
    return (await duplicateIdentifierOutcome(req, refused, (value) => this.patientsWithIdentifier(value, profile))) ?? refused;
  }

  /** Patients holding an identifier of this value: fhir2 `Patient?identifier=`, or REST v1's patientByIdentifier search. */
  private async patientsWithIdentifier(value: string, profile: ServerProfile): Promise<FhirResource[]> {
    if (viaFhir2(profile, "Patient")) {
      // FHIR token syntax: "|" separates a system, "," alternatives; such characters in a value are escaped with a backslash.
      const res = await this.server.fhir.search("Patient", { identifier: value.replace(/[\\|,$]/g, "\\$&") });
      const entries = res.status === 200 ? (res.body as { entry?: { resource?: FhirResource }[] } | undefined)?.entry : undefined;
      return (Array.isArray(entries) ? entries : []).flatMap((e) => (e?.resource?.resourceType === "Patient" ? [e.resource] : []));
    }
    const res = await this.server.restGet(`${this.server.restUrl("patient")}?identifier=${encodeURIComponent(value)}&v=full`);
    const results = res.status === 200 ? (res.json as { results?: unknown } | undefined)?.results : undefined;
    return (Array.isArray(results) ? results : []).flatMap((rep: unknown) => {
      if (isVoidedRest(rep)) return [];
      try {
        return [restToFhir("patient", rep)];
      } catch {
        return [];
      }
    });
  }

  /** The patient a resource belongs to (`patient`, else `subject`). */
  private patientOfResource(resource: FhirResource): string | undefined {
    const ref = (resource.patient ?? resource.subject) as { reference?: unknown } | undefined;
    const m = typeof ref?.reference === "string" ? /Patient\/([^/]+)$/.exec(ref.reference) : null;
    return m?.[1];
  }

  private async exists(resourceType: string, id: string, profile: ServerProfile, parent?: string): Promise<boolean> {
    if (viaFhir2(profile, resourceType)) {
      const res = await this.server.fhir.read(resourceType, id);
      return res.status !== 404;
    }
    const kinds = restKindsOf(resourceType);
    for (const kind of kinds) {
      if (PATIENT_SUB_RESOURCES.has(kind) && !parent) return true; // cannot be asked without its patient: the write says
      const res = await this.server.restGet(this.restUrlOf(kind, id, parent));
      if (res.status !== 404) return true;
    }
    return false;
  }
}

export class FhirServerTarget implements RecordTarget {
  constructor(private readonly fhir: FhirClient) {}

  get url(): string {
    return this.fhir.baseUrl;
  }

  profile(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  async read(resourceType: string, id: string): Promise<FhirResource | undefined> {
    const res = await this.fhir.read(resourceType, id);
    if (res.status === 200) return res.body as FhirResource;
    if (res.status === 404 || res.status === 410) return undefined;
    throw httpFailure("GET", `${this.fhir.baseUrl}/${resourceType}/${id}`, res.status, res.body, res.retryAfter);
  }

  async write(req: WriteRequest): Promise<WriteResult> {
    const started = Date.now();
    const url = `${this.fhir.baseUrl}/${req.resourceType}/${req.id}`;
    const headers: Record<string, string> = entryHeader(req.entryId);
    if (req.action === "delete") {
      const res = await this.fhir.delete(req.resourceType, req.id, headers);
      const outcome =
        res.status === 404 || res.status === 410
          ? { kind: "ok" as const, reason: "already-absent", status: res.status }
          : httpOutcome("DELETE", url, res.status, res.body, res.retryAfter);
      return { outcome, method: "DELETE", url, durationMs: Date.now() - started };
    }
    if (!req.resource)
      return { outcome: { kind: "permanent", reason: "no-resource", message: "upsert without a resource" }, method: "PUT", url, durationMs: 0 };
    const res: FhirResponse = await this.fhir.update({ ...req.resource, id: req.id }, headers);
    const written = res.status >= 200 && res.status < 300 ? { ...OK, status: res.status } : httpOutcome("PUT", url, res.status, res.body, res.retryAfter);
    const outcome = await refusalOutcome(req, written, async (resourceType, id) => {
      const r = await this.fhir.read(resourceType, id);
      return r.status !== 404 && r.status !== 410;
    });
    return { outcome, method: "PUT", url, durationMs: Date.now() - started };
  }
}
