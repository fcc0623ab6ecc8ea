/**
 * Record types beyond the simulator's first four (patient, visit, encounter, obs, which the Store, REST
 * and fhir2 handlers know by name): each is ONE file in this folder exporting a `SimType`, listed in
 * `SIM_TYPES` below. The Store keeps their records and writes their feed events, REST v1
 * (`/ws/rest/v1/{restResource}`) and fhir2 (`/ws/fhir2/R4/{fhirType}`) serve them through the generic
 * handlers in `./handlers.ts`, the comparison (`parent.diff(child)`) and the data file include them, and
 * the generator makes some when asked (`perPatient`).
 *
 * Adding a type: write `sim/types/<type>.ts` (record shape, validation, REST representation and body
 * parsing, fhir2 representation and PUT semantics, comparison, optional generator hooks), add it to
 * `SIM_TYPES`, add its concepts or other metadata to `sim/metadata.ts` if it needs new ones. Nothing else
 * in sim/ changes. A patient sub-resource (`restParent`, the allergy) is served and linked under
 * `/ws/rest/v1/patient/{patient}/`; types sharing one REST resource (`restType`, drug and test orders under
 * `order`) are told apart by the create body's `type` and by which holds a uuid.
 *
 * Type modules import only types from the store (`import type`), so there is no import cycle.
 */
import type { BaseRecord, Patient, PatientPatch, Store, VoidPatch } from "../model";
import type { Rng } from "../rng";
import { allergy } from "./allergy";
import { cohort } from "./cohort";
import { condition } from "./condition";
import { relationship } from "./relationship";
import { person } from "./person";
import { drugOrder, testOrder } from "./order";
import { location } from "./location";

export type Json = Record<string, unknown>;

/** REST v1 pieces the handler gives a type's representation (links and references as webservices.rest writes them). */
export interface RestParts {
  /** Absolute base URL including the context path. */
  readonly base: string;
  /** A REF representation: `{uuid, display, links: [self]}`. */
  ref(resource: string, uuid: string, display: string): Json;
  /** `[{rel: "self", uri}]` for a path under /ws/rest/v1/. */
  selfLink(path: string): Json[];
  /** A patient as a REF (display "OpenMRS ID - name"). */
  patientRef(uuid: string): Json;
  /** `auditInfo` of a record (creator, dates, voiding). */
  auditInfo(rec: BaseRecord): Json;
  /** A person (a patient's person, or a person of its own) as REST represents it; undefined when unknown. */
  person(uuid: string): Json | undefined;
  /** A REST person body (fields at the top level or under `person`) as a patch; attributes merged into `prev`'s by type, as PersonResource does. */
  personPatch(body: Json, prev?: Patient): PatientPatch;
}

/** fhir2 pieces the handler gives a type's translator. */
export interface FhirParts {
  /** `meta` = `{versionId, lastUpdated}` from the record's audit dates (FhirTranslatorUtils). */
  meta(rec: BaseRecord): Json;
  /** `{reference: "Type/uuid", type}`. */
  reference(type: string, uuid: string): Json;
  /** A person (patient or not) as fhir2's Person/Patient translators write its names, gender, birthDate, addresses. */
  person(uuid: string): Json | undefined;
}

/** A request to a sub-resource, `/ws/rest/v1/{restResource}/{uuid}/{segments...}`. */
export interface RestSubRequest {
  method: string;
  segments: string[];
  query: URLSearchParams;
  body: unknown;
}

/** What a create or update through fhir2 is: checked by a type's `fhirCheck` before anything is read. */
export type FhirWrite = "create" | "update";

/** A generator draws with the simulator's seeded Rng and writes datetimes in the server's offset. */
export interface GenContext {
  store: Store;
  rng: Rng;
  fmt(ms: number): string;
}

/**
 * One registered record type. `R` is its stored record, `D` its draft (create input), `P` its patch
 * (full or partial update; voiding is `VoidPatch`, applied by the store).
 */
export interface SimType<R extends BaseRecord = BaseRecord, D = unknown, P = unknown> {
  /** Its name in the simulator (`store.records(type)`), e.g. "condition". */
  readonly type: string;
  /** Feed category (`/ws/atomfeed/{category}/...`) and entry title. */
  readonly category: string;
  readonly title: string;
  /** `/ws/rest/v1/{restResource}` and `/ws/fhir2/R4/{fhirType}`. */
  readonly restResource: string;
  readonly fhirType: string;
  /**
   * A patient SUB-resource (webservices.rest DelegatingSubResource): served at
   * `/ws/rest/v1/patient/{patient}/{restResource}[/{uuid}]` only, and linked so in the feed.
   */
  readonly restParent?: "patient";
  /**
   * The `type` of a webservices.rest subclass handler ("drugorder", "testorder"): several types share one
   * `restResource` ("order"), a create picks by the body's `type`, a uuid by the type that holds it.
   */
  readonly restType?: string;
  /** fhir2 serves it read-only (its provider has no create, update or delete): writes are refused as HAPI does. */
  readonly fhirReadOnly?: boolean;
  /** DELETE ?purge=true refused (ResourceDoesNotSupportOperationException) instead of purging. */
  readonly restPurge?: "refused";
  /** Key in the data file, the snapshot and the stats ("conditions"). */
  readonly section: string;

  /**
   * Metadata rather than data: `voided` is OpenMRS's `retired` (REST shows `retired`; DELETE retires), and
   * fhir2 still serves a retired one (no 410). Such a type's records count as metadata of its `title`
   * wherever a record names one (`store.checkMeta`).
   */
  readonly retirable?: boolean;

  /** A new record from a draft, validated (references to patients and metadata checked: `store.lacking` too). */
  build(store: Store, draft: D, base: BaseRecord): R;
  /** `prev` with the patch applied, validated; voiding is the store's. */
  apply(store: Store, prev: R, patch: P): R;
  /** The patient it belongs to: a patient still referred to cannot be purged. */
  patientOf(rec: R): string | null;
  /**
   * How a REST v1 update is saved: in place (default), or "versioned": a change voids the record and
   * saves a new one under a new uuid (`successor` makes it), as ConditionServiceImpl.saveCondition does.
   */
  readonly restUpdate?: "in-place" | "versioned" | "refused";
  successor?(next: R, base: BaseRecord, previous: string): R;

  /** The `?v=full` representation. */
  restRep(store: Store, rec: R, parts: RestParts): Json;
  /**
   * A REST create body as a draft; `uuid` in it is kept. `parent`: the patient of a sub-resource's path.
   */
  restDraft(store: Store, body: Json, parts: RestParts, parent?: string): D;
  /** A REST update body as a patch of `prev` (unknown or read-only properties refused as webservices.rest does). */
  restPatch(store: Store, prev: R, body: Json, parts: RestParts): P & VoidPatch;
  /** Sub-resources of a record (a cohort's memberships); without it, none are served. No body: 204. */
  restSub?(store: Store, rec: R, req: RestSubRequest, parts: RestParts): { status: number; body?: Json };

  /** The resource as fhir2's translator serves it. */
  toFhir(store: Store, rec: R, parts: FhirParts): Json;
  /** The FHIR type its feed entries' `fhir` link names, when the link template says another (omod-atomfeed's default config). */
  readonly feedFhirType?: string;
  /** Refusals of a create or update before translation (HAPI InvalidRequestException and the like). */
  fhirCheck?(body: Json, write: FhirWrite): void;
  /** A POST body as a draft (fhir2 assigns a new uuid). */
  fhirDraft(store: Store, body: Json): D;
  /** A PUT body applied to `prev` as the translator's toOpenmrsType(existing, resource) does. */
  fhirPatch(store: Store, prev: R, body: Json): P;

  /** What `parent.diff(child)` compares (JSON-plain; `voided` included; no audit or server-assigned fields). */
  compare(rec: R): Json & { voided: boolean };

  /** Makes `n` records for a new patient (`GenerateOptions.perPatient`). */
  generate?(ctx: GenContext, patient: string, n: number): void;
  /** Random realistic changes, with weights, offered to `mutate` once the type has records. */
  readonly mutations?: readonly (readonly [weight: number, op: (ctx: GenContext) => boolean])[];
}

/** Every registered type. */
export const SIM_TYPES: readonly SimType[] = [condition, relationship, person, allergy, drugOrder, testOrder, cohort, location];

const BY_TYPE = new Map(SIM_TYPES.map((t) => [t.type, t]));
const BY_REST = new Map<string, SimType[]>();
for (const t of SIM_TYPES) if (!t.restParent) BY_REST.set(t.restResource, [...(BY_REST.get(t.restResource) ?? []), t]);
const BY_SUB = new Map(SIM_TYPES.filter((t) => t.restParent).map((t) => [`${t.restParent}/${t.restResource}`, t]));
const BY_FHIR = new Map(SIM_TYPES.map((t) => [t.fhirType, t]));

/** The registered type of this name (throws for an unknown one: a programming error). */
export function simType(type: string): SimType {
  const t = BY_TYPE.get(type);
  if (!t) throw new Error(`no registered simulator record type ${type}`);
  return t;
}

/**
 * The registered type served at `/ws/rest/v1/{resource}`, if any. Where several share the resource
 * (orders): the one holding `uuid`, else the one whose `restType` the create body names, else the first.
 */
export function typeByRest(resource: string, store?: Store, uuid?: string, body?: unknown): SimType | undefined {
  const all = BY_REST.get(resource);
  if (!all || all.length < 2 || !store) return all?.[0];
  if (uuid !== undefined) return all.find((t) => store.records(t.type).has(uuid)) ?? all[0];
  const type = typeof body === "object" && body !== null ? (body as { type?: unknown }).type : undefined;
  return all.find((t) => t.restType === type) ?? all[0];
}

/** The registered sub-resource type served at `/ws/rest/v1/{parent}/{uuid}/{resource}`, if any. */
export function subTypeByRest(parent: string, resource: string): SimType | undefined {
  return BY_SUB.get(`${parent}/${resource}`);
}

/** The path under /ws/rest/v1/ of a record's collection: `{restResource}`, or `patient/{uuid}/{restResource}` for a sub-resource. */
export function restCollection(def: SimType, rec: BaseRecord): string {
  return def.restParent ? `${def.restParent}/${def.patientOf(rec) ?? ""}/${def.restResource}` : def.restResource;
}

/** The registered type served at `/ws/fhir2/R4/{fhirType}`, if any. */
export function typeByFhir(fhirType: string): SimType | undefined {
  return BY_FHIR.get(fhirType);
}
