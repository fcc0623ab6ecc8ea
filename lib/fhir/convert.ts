/**
 * OpenMRS REST v1 <-> FHIR R4 converter for the records the pack syncs (patient, visit, encounter,
 * obs), as specified in docs/fhir-mapping.md (which follows openmrs-module-fhir2's translators).
 *
 *  - restToFhir: a REST v1 `?v=full` representation -> the FHIR R4 resource fhir2 would serve.
 *  - fhirToRestCreate: a FHIR R4 resource -> the REST v1 create body that keeps the original uuid
 *    (fhir2 cannot create under a chosen id; see "Creating with the original uuid").
 *
 * Output never holds empty arrays, empty strings, nulls or undefined values. Voided sub-items
 * (names, identifiers, addresses) are skipped. Input that cannot be converted throws PermanentError.
 */
import { PermanentError, shownValue } from "../outcome";
import { fhirToOpenmrsDateTime, instantMillis, openmrsToFhirDate, openmrsToFhirDateTime } from "./dates";

export type RestKind = "patient" | "visit" | "encounter" | "obs";

export interface FhirResource {
  resourceType: string;
  id?: string;
  [k: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// Constants (docs/fhir-mapping.md)

export const ENCOUNTER_TAG_SYSTEM = "http://fhir.openmrs.org/ext/encounter-tag";
export const IDENTIFIER_LOCATION_URL = "http://fhir.openmrs.org/ext/patient/identifier#location";
export const VISIT_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/visit-type";
export const ENCOUNTER_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/encounter-type";
const ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

const GENDER_TO_FHIR = new Map(Object.entries({ M: "male", F: "female", O: "other", U: "unknown" }));
const GENDER_TO_REST = new Map(Object.entries({ male: "M", female: "F", other: "O", unknown: "U" }));

/** FHIR `id` datatype. OpenMRS uuids (36 characters) fit. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

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

interface RestIdentifier {
  uuid?: unknown;
  identifier?: unknown;
  identifierType?: unknown;
  location?: unknown;
  preferred?: unknown;
  voided?: unknown;
}

interface RestName {
  uuid?: unknown;
  givenName?: unknown;
  middleName?: unknown;
  familyName?: unknown;
  preferred?: unknown;
  voided?: unknown;
}

interface RestAddress {
  uuid?: unknown;
  address1?: unknown;
  address2?: unknown;
  cityVillage?: unknown;
  countyDistrict?: unknown;
  stateProvince?: unknown;
  postalCode?: unknown;
  country?: unknown;
  preferred?: unknown;
  voided?: unknown;
}

interface RestPerson {
  uuid?: unknown;
  gender?: unknown;
  birthdate?: unknown;
  dead?: unknown;
  deathDate?: unknown;
  names?: unknown;
  addresses?: unknown;
  preferredName?: unknown;
  preferredAddress?: unknown;
  auditInfo?: unknown;
}

interface RestPatient {
  uuid?: unknown;
  voided?: unknown;
  identifiers?: unknown;
  person?: unknown;
  auditInfo?: unknown;
}

interface RestVisit {
  uuid?: unknown;
  patient?: unknown;
  visitType?: unknown;
  startDatetime?: unknown;
  stopDatetime?: unknown;
  location?: unknown;
  auditInfo?: unknown;
}

interface RestEncounter {
  uuid?: unknown;
  patient?: unknown;
  encounterType?: unknown;
  encounterDatetime?: unknown;
  location?: unknown;
  visit?: unknown;
  auditInfo?: unknown;
}

interface RestObs {
  uuid?: unknown;
  person?: unknown;
  concept?: unknown;
  encounter?: unknown;
  obsDatetime?: unknown;
  value?: unknown;
  valueNumeric?: unknown;
  valueText?: unknown;
  valueCoded?: unknown;
  auditInfo?: unknown;
}

// ---------------------------------------------------------------------------------------------
// FHIR R4 shapes we produce and read.

interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

interface Reference {
  reference?: string;
  type?: string;
  display?: string;
}

interface Extension {
  url: string;
  valueReference?: Reference;
}

interface Meta {
  versionId?: string;
  lastUpdated?: string;
  tag?: Coding[];
}

interface Period {
  start?: string;
  end?: string;
}

interface Identifier {
  id?: string;
  extension?: Extension[];
  use?: string;
  type?: CodeableConcept;
  value?: string;
}

interface HumanName {
  id?: string;
  use?: string;
  family?: string;
  given?: string[];
}

interface Address {
  id?: string;
  use?: string;
  line?: string[];
  city?: string;
  district?: string;
  state?: string;
  postalCode?: string;
  country?: string;
}

interface Quantity {
  value?: number;
}

/** The FHIR fields fhirToRestCreate / fhirReferences read; every one unknown until checked. */
interface FhirInput {
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
  valueCodeableConcept?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Small unknown-safe readers.

type Json = Record<string, unknown>;

function asObject(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** A non-empty string, else undefined. */
function str(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() !== "" ? v : undefined;
}

function objects(v: unknown): Json[] {
  if (Array.isArray(v)) return v.map(asObject).filter((o): o is Json => o !== undefined);
  const one = asObject(v);
  return one ? [one] : [];
}

/** The uuid of a REST reference: `{uuid, display, links}` or a plain uuid string. */
function refUuid(v: unknown): string | undefined {
  if (typeof v === "string") return str(v);
  return str(asObject(v)?.uuid);
}

function refDisplay(v: unknown): string | undefined {
  return str((asObject(v) as RestRef | undefined)?.display);
}

/** Removes undefined values, empty strings and empty arrays (in place) and returns the object. */
function compact<T extends object>(o: T): T {
  const rec = o as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    const v = rec[k];
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) delete rec[k];
    else if (asObject(v) && Object.keys(v).length === 0) delete rec[k];
  }
  return o;
}

function unconvertible(message: string, details?: unknown): PermanentError {
  return new PermanentError(message, "unconvertible", details);
}

function requireUuid(rep: Json, what: string): string {
  const uuid = str(rep.uuid);
  if (!uuid) throw unconvertible(`${what} has no uuid`);
  if (!FHIR_ID.test(uuid)) throw unconvertible(`${what} uuid ${shownValue(uuid)} is not a valid FHIR id`);
  return uuid;
}

function requireRef(v: unknown, what: string, field: string): string {
  const uuid = refUuid(v);
  if (!uuid) throw unconvertible(`${what} has no ${field}`);
  if (!FHIR_ID.test(uuid)) throw unconvertible(`${what} ${field} ${shownValue(uuid)} is not a valid FHIR id`);
  return uuid;
}

function reference(type: string, uuid: string): Reference {
  return { reference: `${type}/${uuid}`, type };
}

function optionalReference(type: string, v: unknown): Reference | undefined {
  const uuid = refUuid(v);
  return uuid ? reference(type, uuid) : undefined;
}

function fhirDateTime(v: unknown): string | undefined {
  const s = str(v);
  return s === undefined ? undefined : openmrsToFhirDateTime(s);
}

function restDateTime(v: unknown): string | undefined {
  const s = str(v);
  return s === undefined ? undefined : fhirToOpenmrsDateTime(s);
}

/** meta.lastUpdated / meta.versionId from auditInfo (dateChanged, else dateCreated), plus tags. */
function metaOf(auditInfo: unknown, tag?: Coding): Meta | undefined {
  const audit = asObject(auditInfo) as RestAuditInfo | undefined;
  const when = str(audit?.dateChanged) ?? str(audit?.dateCreated);
  const meta: Meta = {};
  if (when) {
    meta.versionId = String(instantMillis(when));
    meta.lastUpdated = openmrsToFhirDateTime(when);
  }
  if (tag) meta.tag = [tag];
  return Object.keys(meta).length > 0 ? meta : undefined;
}

function isVoided(o: Json): boolean {
  return o.voided === true;
}

// ---------------------------------------------------------------------------------------------
// Kinds

/** REST resource name -> kind: "patient", "visit", "encounter", "obs" (also "observation"). */
export function restKindOf(restResource: string): RestKind | undefined {
  const name = typeof restResource === "string" ? restResource.trim().toLowerCase() : "";
  switch (name) {
    case "patient":
    case "visit":
    case "encounter":
    case "obs":
      return name;
    case "observation":
      return "obs";
    default:
      return undefined;
  }
}

/** True when the REST representation itself is voided (top-level `voided === true`). */
export function isVoidedRest(rep: unknown): boolean {
  return asObject(rep)?.voided === true;
}

/** Patient -> patient, Observation -> obs, Encounter tagged `visit` -> visit, any other Encounter -> encounter. */
export function restKindOfFhir(resource: FhirResource): RestKind | undefined {
  switch (resource?.resourceType) {
    case "Patient":
      return "patient";
    case "Observation":
      return "obs";
    case "Encounter":
      return isVisitTagged(resource) ? "visit" : "encounter";
    default:
      return undefined;
  }
}

function isVisitTagged(resource: FhirResource): boolean {
  const tags = objects(asObject(resource.meta)?.tag);
  return tags.some((t) => t.code === "visit" && (t.system === undefined || t.system === ENCOUNTER_TAG_SYSTEM));
}

// ---------------------------------------------------------------------------------------------
// REST -> FHIR

/** A REST v1 `?v=full` representation as the FHIR R4 resource (docs/fhir-mapping.md). */
export function restToFhir(kind: RestKind, rep: unknown): FhirResource {
  const o = asObject(rep);
  if (!o) throw unconvertible(`${String(kind)} representation is not an object`);
  switch (kind) {
    case "patient":
      return patientToFhir(o);
    case "visit":
      return visitToFhir(o);
    case "encounter":
      return encounterToFhir(o);
    case "obs":
      return obsToFhir(o);
    default:
      throw new PermanentError(`unsupported REST kind ${shownValue(kind)}`, "unsupported-type");
  }
}

function patientToFhir(rep: RestPatient & Json): FhirResource {
  const id = requireUuid(rep, "patient");
  const person = (asObject(rep.person) ?? {}) as RestPerson & Json;
  const preferredNameUuid = refUuid(person.preferredName);
  const preferredAddressUuid = refUuid(person.preferredAddress);

  const identifier: Identifier[] = objects(rep.identifiers)
    .filter((i) => !isVoided(i))
    .map((i: RestIdentifier) => {
      const locationUuid = refUuid(i.location);
      const typeUuid = refUuid(i.identifierType);
      const type = compact<CodeableConcept>({
        coding: typeUuid ? [{ code: typeUuid }] : undefined,
        text: refDisplay(i.identifierType),
      });
      return compact<Identifier>({
        id: str(i.uuid),
        extension: locationUuid ? [{ url: IDENTIFIER_LOCATION_URL, valueReference: reference("Location", locationUuid) }] : undefined,
        use: i.preferred === true ? "official" : "usual",
        type: Object.keys(type).length > 0 ? type : undefined,
        value: str(i.identifier),
      });
    });

  const name: HumanName[] = objects(person.names)
    .filter((n) => !isVoided(n))
    .map((n: RestName) => {
      const preferred = typeof n.preferred === "boolean" ? n.preferred : preferredNameUuid !== undefined && str(n.uuid) === preferredNameUuid;
      return compact<HumanName>({
        id: str(n.uuid),
        use: preferred ? "official" : "usual",
        family: str(n.familyName),
        given: [str(n.givenName), str(n.middleName)].filter((g): g is string => g !== undefined),
      });
    });

  const address: Address[] = objects(person.addresses)
    .filter((a) => !isVoided(a))
    .map((a: RestAddress) => {
      const preferred = typeof a.preferred === "boolean" ? a.preferred : preferredAddressUuid !== undefined && str(a.uuid) === preferredAddressUuid;
      return compact<Address>({
        id: str(a.uuid),
        use: preferred ? "home" : "old",
        line: [str(a.address1), str(a.address2)].filter((l): l is string => l !== undefined),
        city: str(a.cityVillage),
        district: str(a.countyDistrict),
        state: str(a.stateProvince),
        postalCode: str(a.postalCode),
        country: str(a.country),
      });
    });

  const gender = str(person.gender);
  const birthdate = str(person.birthdate);
  const deathDate = str(person.deathDate);
  return compact<FhirResource>({
    resourceType: "Patient",
    id,
    meta: metaOf(rep.auditInfo ?? person.auditInfo),
    active: rep.voided !== true,
    identifier,
    name,
    gender: gender ? GENDER_TO_FHIR.get(gender.toUpperCase()) : undefined,
    birthDate: birthdate ? openmrsToFhirDate(birthdate) : undefined,
    deceasedDateTime: deathDate ? openmrsToFhirDateTime(deathDate) : undefined,
    deceasedBoolean: !deathDate && typeof person.dead === "boolean" ? person.dead : undefined,
    address,
  });
}

function encounterTag(code: "visit" | "encounter"): Coding {
  return { system: ENCOUNTER_TAG_SYSTEM, code, display: code === "visit" ? "Visit" : "Encounter" };
}

function typeOf(system: string, v: unknown): CodeableConcept[] | undefined {
  const code = refUuid(v);
  if (!code) return undefined;
  return [{ coding: [compact<Coding>({ system, code, display: refDisplay(v) })] }];
}

function locationOf(v: unknown): { location: Reference }[] | undefined {
  const ref = optionalReference("Location", v);
  return ref ? [{ location: ref }] : undefined;
}

function visitToFhir(rep: RestVisit & Json): FhirResource {
  const id = requireUuid(rep, "visit");
  const patient = requireRef(rep.patient, `visit ${id}`, "patient");
  const period = compact<Period>({ start: fhirDateTime(rep.startDatetime), end: fhirDateTime(rep.stopDatetime) });
  return compact<FhirResource>({
    resourceType: "Encounter",
    id,
    meta: metaOf(rep.auditInfo, encounterTag("visit")),
    status: str(rep.stopDatetime) ? "finished" : "in-progress",
    class: { system: ACT_CODE_SYSTEM, code: "AMB" },
    type: typeOf(VISIT_TYPE_SYSTEM, rep.visitType),
    subject: reference("Patient", patient),
    period,
    location: locationOf(rep.location),
  });
}

function encounterToFhir(rep: RestEncounter & Json): FhirResource {
  const id = requireUuid(rep, "encounter");
  const patient = requireRef(rep.patient, `encounter ${id}`, "patient");
  return compact<FhirResource>({
    resourceType: "Encounter",
    id,
    meta: metaOf(rep.auditInfo, encounterTag("encounter")),
    status: "unknown",
    class: { system: ACT_CODE_SYSTEM, code: "AMB" },
    type: typeOf(ENCOUNTER_TYPE_SYSTEM, rep.encounterType),
    subject: reference("Patient", patient),
    period: compact<Period>({ start: fhirDateTime(rep.encounterDatetime) }),
    location: locationOf(rep.location),
    partOf: optionalReference("Encounter", rep.visit),
  });
}

/** value[x] of an obs: `value`, else `valueNumeric` / `valueText` / `valueCoded`. */
function obsValue(rep: RestObs): Record<string, unknown> {
  const raw =
    rep.value !== undefined && rep.value !== null
      ? rep.value
      : rep.valueNumeric !== undefined && rep.valueNumeric !== null
        ? rep.valueNumeric
        : rep.valueText !== undefined && rep.valueText !== null
          ? rep.valueText
          : undefined;
  if (raw === undefined && rep.valueCoded !== undefined && rep.valueCoded !== null) {
    const code = refUuid(rep.valueCoded);
    return code ? { valueCodeableConcept: { coding: [compact<Coding>({ code, display: refDisplay(rep.valueCoded) })] } } : {};
  }
  if (typeof raw === "number") return Number.isFinite(raw) ? { valueQuantity: { value: raw } satisfies Quantity } : {};
  if (typeof raw === "string") return raw === "" ? {} : { valueString: raw };
  if (typeof raw === "boolean") return { valueBoolean: raw };
  const coded = asObject(raw);
  const code = str(coded?.uuid);
  if (code) return { valueCodeableConcept: { coding: [compact<Coding>({ code, display: refDisplay(coded) })] } };
  return {};
}

function obsToFhir(rep: RestObs & Json): FhirResource {
  const id = requireUuid(rep, "obs");
  const person = requireRef(rep.person, `obs ${id}`, "person");
  const concept = requireRef(rep.concept, `obs ${id}`, "concept");
  const created = str((asObject(rep.auditInfo) as RestAuditInfo | undefined)?.dateCreated);
  return compact<FhirResource>({
    resourceType: "Observation",
    id,
    meta: metaOf(rep.auditInfo),
    status: "final",
    code: { coding: [compact<Coding>({ code: concept, display: refDisplay(rep.concept) })] },
    subject: reference("Patient", person),
    encounter: optionalReference("Encounter", rep.encounter),
    effectiveDateTime: fhirDateTime(rep.obsDatetime),
    issued: created ? openmrsToFhirDateTime(created) : undefined,
    ...obsValue(rep),
  });
}

// ---------------------------------------------------------------------------------------------
// FHIR -> REST create bodies

/** Parses a FHIR literal reference ("Type/id", absolute URL, optional "/_history/n"). */
function parseReference(v: unknown): { resourceType: string; id: string } | undefined {
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
function referenceId(v: unknown, expectedType: string): string | undefined {
  const parsed = parseReference(v);
  return parsed && parsed.resourceType === expectedType ? parsed.id : undefined;
}

/** The concept uuid of a CodeableConcept: the coding without a system (as fhir2 serves them), else the first. */
function conceptCode(v: unknown): string | undefined {
  const codings = objects(asObject(v)?.coding);
  const plain = codings.find((c) => c.system === undefined && str(c.code));
  return str((plain ?? codings[0])?.code);
}

/**
 * The code of the coding with the given system (if any), else of the first coding with a code, in the
 * first CodeableConcept that has one (`v` is one CodeableConcept or an array of them).
 */
function typeCode(v: unknown, system?: string): string | undefined {
  for (const cc of objects(v)) {
    const codings = objects(cc.coding);
    const match = codings.find((c) => c.system === system && str(c.code)) ?? codings.find((c) => str(c.code));
    if (match) return str(match.code);
  }
  return undefined;
}

function preferredFromUse(use: unknown, preferredUse: string): boolean | undefined {
  return typeof use === "string" ? use === preferredUse : undefined;
}

function requireFhirId(resource: FhirInput, what: string): string {
  const id = str(resource.id);
  if (!id) throw unconvertible(`${what} has no id: cannot create it with the original uuid`);
  return id;
}

/**
 * The REST v1 create body (with `uuid`) for a FHIR resource, per docs/fhir-mapping.md
 * "Creating with the original uuid". Dates in the OpenMRS format, references as uuid strings.
 */
export function fhirToRestCreate(resource: FhirResource): { kind: RestKind; body: Record<string, unknown> } {
  const r = asObject(resource);
  if (!r) throw unconvertible("resource is not an object");
  const kind = restKindOfFhir(r as FhirResource);
  switch (kind) {
    case "patient":
      return { kind, body: patientToRest(r) };
    case "visit":
      return { kind, body: visitToRest(r) };
    case "encounter":
      return { kind, body: encounterToRest(r) };
    case "obs":
      return { kind, body: obsToRest(r) };
    default:
      throw new PermanentError(`unsupported FHIR resource type ${shownValue(r.resourceType)}`, "unsupported-type");
  }
}

function patientToRest(r: FhirInput): Record<string, unknown> {
  const uuid = requireFhirId(r, "Patient");

  const names = objects(r.name).map((n) => {
    const given = Array.isArray(n.given) ? n.given.map(str) : [];
    return compact({
      uuid: str(n.id),
      givenName: given[0],
      middleName: given[1],
      familyName: str(n.family),
      preferred: preferredFromUse(n.use, "official"),
    });
  });

  const addresses = objects(r.address).map((a) => {
    const line = Array.isArray(a.line) ? a.line.map(str) : [];
    return compact({
      uuid: str(a.id),
      address1: line[0],
      address2: line[1],
      cityVillage: str(a.city),
      countyDistrict: str(a.district),
      stateProvince: str(a.state),
      postalCode: str(a.postalCode),
      country: str(a.country),
      preferred: preferredFromUse(a.use, "home"),
    });
  });

  const identifiers = objects(r.identifier).map((i) => {
    const locationExt = objects(i.extension).find((e) => e.url === IDENTIFIER_LOCATION_URL);
    return compact({
      uuid: str(i.id),
      identifier: str(i.value),
      identifierType: typeCode(i.type),
      location: locationExt ? referenceId(locationExt.valueReference, "Location") : undefined,
      preferred: preferredFromUse(i.use, "official"),
    });
  });

  const gender = str(r.gender);
  const birthDate = str(r.birthDate);
  const deathDate = restDateTime(r.deceasedDateTime);
  const dead = deathDate ? true : typeof r.deceasedBoolean === "boolean" ? r.deceasedBoolean : undefined;
  const person = compact({
    uuid,
    gender: gender ? GENDER_TO_REST.get(gender) : undefined,
    birthdate: birthDate ? fhirToOpenmrsDateTime(birthDate) : undefined,
    dead,
    deathDate,
    names,
    addresses,
  });
  return compact({ uuid, person, identifiers });
}

function requirePatientRef(r: FhirInput, what: string): string {
  const patient = referenceId(r.subject, "Patient");
  if (!patient) throw unconvertible(`${what} has no Patient subject`);
  return patient;
}

function firstLocation(v: unknown): string | undefined {
  for (const l of objects(v)) {
    const id = referenceId(l.location, "Location");
    if (id) return id;
  }
  return undefined;
}

function visitToRest(r: FhirInput): Record<string, unknown> {
  const uuid = requireFhirId(r, "Encounter (visit)");
  const period = asObject(r.period);
  return compact({
    uuid,
    patient: requirePatientRef(r, `visit ${uuid}`),
    visitType: typeCode(r.type, VISIT_TYPE_SYSTEM),
    startDatetime: restDateTime(period?.start),
    stopDatetime: restDateTime(period?.end),
    location: firstLocation(r.location),
  });
}

function encounterToRest(r: FhirInput): Record<string, unknown> {
  const uuid = requireFhirId(r, "Encounter");
  const period = asObject(r.period);
  return compact({
    uuid,
    patient: requirePatientRef(r, `encounter ${uuid}`),
    encounterType: typeCode(r.type, ENCOUNTER_TYPE_SYSTEM),
    encounterDatetime: restDateTime(period?.start),
    location: firstLocation(r.location),
    visit: referenceId(r.partOf, "Encounter"),
  });
}

function obsRestValue(r: FhirInput): unknown {
  const quantity = asObject(r.valueQuantity);
  if (quantity && typeof quantity.value === "number") return quantity.value;
  if (typeof r.valueInteger === "number") return r.valueInteger;
  if (typeof r.valueString === "string") return r.valueString;
  if (typeof r.valueBoolean === "boolean") return r.valueBoolean;
  if (r.valueCodeableConcept !== undefined) return conceptCode(r.valueCodeableConcept);
  if (typeof r.valueDateTime === "string") return restDateTime(r.valueDateTime);
  return undefined;
}

function obsToRest(r: FhirInput): Record<string, unknown> {
  const uuid = requireFhirId(r, "Observation");
  const person = requirePatientRef(r, `obs ${uuid}`);
  const concept = conceptCode(r.code);
  if (!concept) throw unconvertible(`obs ${uuid} has no concept code`);
  return compact({
    uuid,
    person,
    concept,
    obsDatetime: restDateTime(r.effectiveDateTime),
    encounter: referenceId(r.encounter, "Encounter"),
    value: obsRestValue(r),
  });
}

// ---------------------------------------------------------------------------------------------
// References to other records

/**
 * The records a resource refers to that the target must already hold before it can be written:
 * the Patient (subject) and Encounter (encounter, partOf; a visit is an Encounter too). Metadata
 * (Location, Practitioner, concepts, types) is not included.
 */
export function fhirReferences(resource: FhirResource): { resourceType: string; id: string }[] {
  const r = asObject(resource);
  if (!r) return [];
  const candidates: [unknown, string][] = [];
  switch (r.resourceType) {
    case "Encounter":
      candidates.push([r.subject, "Patient"], [r.partOf, "Encounter"]);
      break;
    case "Observation":
      candidates.push([r.subject, "Patient"], [r.encounter, "Encounter"]);
      break;
    default:
      return [];
  }
  const out: { resourceType: string; id: string }[] = [];
  for (const [ref, type] of candidates) {
    const parsed = parseReference(ref);
    if (parsed && parsed.resourceType === type && !out.some((o) => o.resourceType === type && o.id === parsed.id)) {
      out.push(parsed);
    }
  }
  return out;
}
