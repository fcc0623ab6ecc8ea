/**
 * What the per-type converters in this folder share: the REST and FHIR shapes, unknown-safe readers,
 * ids, meta, references, codings and the Encounter pieces that visits and encounters both use
 * (docs/fhir-mapping.md). Nothing here knows one record type.
 */
import { PermanentError, shownValue } from "../../outcome";
import { fhirToOpenmrsDateTime, instantMillis, openmrsToFhirDateTime } from "../dates";

export type RestKind = "patient" | "visit" | "encounter" | "obs" | "condition" | "relationship" | "person" | "allergy" | "order" | "cohort" | "location";

export interface FhirResource {
  resourceType: string;
  id?: string;
  [k: string]: unknown;
}

export type Json = Record<string, unknown>;

/** What a conversion may need to know about the servers (docs/fhir-mapping.md "Person attributes"). */
export interface ConvertOptions {
  /** Uuid of the person attribute type that fhir2 serves as `telecom` (default: "Telephone Number"). */
  contactAttributeType?: string;
  /** The target's person attribute types, name -> uuid: needed to write non-contact attributes through REST. */
  attributeTypes?: ReadonlyMap<string, string>;
}

/**
 * One record type, both directions. `toFhir` gets an object; `toRest` gets an object of its resource
 * type and adds to `warnings` what it had to leave out.
 */
export interface TypeConverter {
  kind: RestKind;
  toFhir(rep: Json, options: ConvertOptions): FhirResource;
  toRest(resource: FhirInput, options: ConvertOptions, warnings: string[]): Json;
}

// ---------------------------------------------------------------------------------------------
// Constants (docs/fhir-mapping.md)

export const ENCOUNTER_TAG_SYSTEM = "http://fhir.openmrs.org/ext/encounter-tag";
const ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/** FHIR `id` datatype. OpenMRS uuids (36 characters) fit. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

// ---------------------------------------------------------------------------------------------
// REST v1 shapes we read. Every field is optional and unknown until checked.

interface RestRef {
  uuid?: unknown;
  display?: unknown;
}

interface RestAuditInfo {
  dateCreated?: unknown;
  dateChanged?: unknown;
}

// ---------------------------------------------------------------------------------------------
// FHIR R4 shapes we produce and read.

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

export interface Reference {
  reference?: string;
  type?: string;
  display?: string;
}

interface Meta {
  versionId?: string;
  lastUpdated?: string;
  tag?: Coding[];
}

export interface Period {
  start?: string;
  end?: string;
}

/** The FHIR fields fhirToRestCreate / fhirReferences read; every one unknown until checked. */
export interface FhirInput {
  resourceType?: unknown;
  id?: unknown;
  meta?: unknown;
  identifier?: unknown;
  name?: unknown;
  gender?: unknown;
  birthDate?: unknown;
  deceasedBoolean?: unknown;
  deceasedDateTime?: unknown;
  address?: unknown;
  telecom?: unknown;
  extension?: unknown;
  type?: unknown;
  subject?: unknown;
  period?: unknown;
  location?: unknown;
  partOf?: unknown;
  code?: unknown;
  encounter?: unknown;
  effectiveDateTime?: unknown;
  valueQuantity?: unknown;
  valueString?: unknown;
  valueBoolean?: unknown;
  valueInteger?: unknown;
  valueDateTime?: unknown;
  hasMember?: unknown;
  participant?: unknown;
  valueCodeableConcept?: unknown;
  clinicalStatus?: unknown;
  member?: unknown;
  status?: unknown;
  description?: unknown;
  verificationStatus?: unknown;
  category?: unknown;
  onsetDateTime?: unknown;
  onsetPeriod?: unknown;
  abatementDateTime?: unknown;
  abatementPeriod?: unknown;
  note?: unknown;
  patient?: unknown;
  relationship?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Small unknown-safe readers.

export function asObject(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** A non-empty string, else undefined. */
export function str(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() !== "" ? v : undefined;
}

export function objects(v: unknown): Json[] {
  if (Array.isArray(v)) return v.map(asObject).filter((o): o is Json => o !== undefined);
  const one = asObject(v);
  return one ? [one] : [];
}

/** The uuid of a REST reference: `{uuid, display, links}` or a plain uuid string. */
export function refUuid(v: unknown): string | undefined {
  if (typeof v === "string") return str(v);
  return str(asObject(v)?.uuid);
}

export function refDisplay(v: unknown): string | undefined {
  return str((asObject(v) as RestRef | undefined)?.display);
}

/** Removes undefined values, empty strings and empty arrays (in place) and returns the object. */
export function compact<T extends object>(o: T): T {
  const rec = o as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    const v = rec[k];
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) delete rec[k];
    else if (asObject(v) && Object.keys(v).length === 0) delete rec[k];
  }
  return o;
}

export function unconvertible(message: string, details?: unknown): PermanentError {
  return new PermanentError(message, "unconvertible", details);
}

export function isVoided(o: Json): boolean {
  return o.voided === true;
}

// ---------------------------------------------------------------------------------------------
// REST -> FHIR helpers

export function requireUuid(rep: Json, what: string): string {
  const uuid = str(rep.uuid);
  if (!uuid) throw unconvertible(`${what} has no uuid`);
  if (!FHIR_ID.test(uuid)) throw unconvertible(`${what} uuid ${shownValue(uuid)} is not a valid FHIR id`);
  return uuid;
}

export function requireRef(v: unknown, what: string, field: string): string {
  const uuid = refUuid(v);
  if (!uuid) throw unconvertible(`${what} has no ${field}`);
  if (!FHIR_ID.test(uuid)) throw unconvertible(`${what} ${field} ${shownValue(uuid)} is not a valid FHIR id`);
  return uuid;
}

export function reference(type: string, uuid: string): Reference {
  return { reference: `${type}/${uuid}`, type };
}

export function optionalReference(type: string, v: unknown): Reference | undefined {
  const uuid = refUuid(v);
  return uuid ? reference(type, uuid) : undefined;
}

export function fhirDateTime(v: unknown): string | undefined {
  const s = str(v);
  return s === undefined ? undefined : openmrsToFhirDateTime(s);
}

export function restDateTime(v: unknown): string | undefined {
  const s = str(v);
  return s === undefined ? undefined : fhirToOpenmrsDateTime(s);
}

/** auditInfo.dateCreated, when there is one. */
export function dateCreated(auditInfo: unknown): string | undefined {
  return str((asObject(auditInfo) as RestAuditInfo | undefined)?.dateCreated);
}

/** meta.lastUpdated / meta.versionId from auditInfo (dateChanged, else dateCreated), plus tags. */
export function metaOf(auditInfo: unknown, tag?: Coding): Json | undefined {
  const audit = asObject(auditInfo) as RestAuditInfo | undefined;
  const when = str(audit?.dateChanged) ?? str(audit?.dateCreated);
  const meta: Meta = {};
  if (when) {
    meta.versionId = String(instantMillis(when));
    meta.lastUpdated = openmrsToFhirDateTime(when);
  }
  if (tag) meta.tag = [tag];
  return Object.keys(meta).length > 0 ? (meta as Json) : undefined;
}

// ---------------------------------------------------------------------------------------------
// FHIR -> REST helpers

/** Parses a FHIR literal reference ("Type/id", absolute URL, optional "/_history/n"). */
export function parseReference(v: unknown): { resourceType: string; id: string } | undefined {
  const ref = asObject(v) as Reference | undefined;
  const literal = str(ref?.reference);
  if (!literal) return undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(literal);
  if (m) return { resourceType: m[1], id: m[2] };
  // A bare id with an explicit type (not a literal reference, but harmless to accept).
  const type = str(ref?.type);
  if (type && FHIR_ID.test(literal)) return { resourceType: type, id: literal };
  return undefined;
}

/** The id a reference points at when it is of the expected type. */
export function referenceId(v: unknown, expectedType: string): string | undefined {
  const parsed = parseReference(v);
  return parsed && parsed.resourceType === expectedType ? parsed.id : undefined;
}

/** The concept uuid of a CodeableConcept: the coding without a system (as fhir2 serves them), else the first. */
export function conceptCode(v: unknown): string | undefined {
  const codings = objects(asObject(v)?.coding);
  const plain = codings.find((c) => c.system === undefined && str(c.code));
  return str((plain ?? codings[0])?.code);
}

/**
 * The code of the coding with the given system (if any), else of the first coding with a code, in the
 * first CodeableConcept that has one (`v` is one CodeableConcept or an array of them).
 */
export function typeCode(v: unknown, system?: string): string | undefined {
  for (const cc of objects(v)) {
    const codings = objects(cc.coding);
    const match = codings.find((c) => c.system === system && str(c.code)) ?? codings.find((c) => str(c.code));
    if (match) return str(match.code);
  }
  return undefined;
}

export function preferredFromUse(use: unknown, preferredUse: string): boolean | undefined {
  return typeof use === "string" ? use === preferredUse : undefined;
}

export function requireFhirId(resource: FhirInput, what: string): string {
  const id = str(resource.id);
  if (!id) throw unconvertible(`${what} has no id: cannot create it with the original uuid`);
  return id;
}

export function requirePatientRef(r: FhirInput, what: string): string {
  const patient = referenceId(r.subject, "Patient");
  if (!patient) throw unconvertible(`${what} has no Patient subject`);
  return patient;
}

// ---------------------------------------------------------------------------------------------
// Encounter pieces shared by visits and encounters (both are FHIR Encounters)

export function encounterTag(code: "visit" | "encounter"): Coding {
  return { system: ENCOUNTER_TAG_SYSTEM, code, display: code === "visit" ? "Visit" : "Encounter" };
}

/** `class` of every Encounter the pack writes. */
export function ambulatoryClass(): Coding {
  return { system: ACT_CODE_SYSTEM, code: "AMB" };
}

export function typeOf(system: string, v: unknown): CodeableConcept[] | undefined {
  const code = refUuid(v);
  if (!code) return undefined;
  return [{ coding: [compact<Coding>({ system, code, display: refDisplay(v) })] }];
}

export function locationOf(v: unknown): { location: Reference }[] | undefined {
  const ref = optionalReference("Location", v);
  return ref ? [{ location: ref }] : undefined;
}

export function firstLocation(v: unknown): string | undefined {
  for (const l of objects(v)) {
    const id = referenceId(l.location, "Location");
    if (id) return id;
  }
  return undefined;
}

export function isVisitTagged(resource: FhirResource): boolean {
  const tags = objects(asObject(resource.meta)?.tag);
  return tags.some((t) => t.code === "visit" && (t.system === undefined || t.system === ENCOUNTER_TAG_SYSTEM));
}
