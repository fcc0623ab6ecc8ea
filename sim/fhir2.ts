/**
 * fhir2 R4 endpoint (`{ctx}/ws/fhir2/R4/...`): translation REST model <-> FHIR following
 * docs/fhir-mapping.md (written independently of lib/), and read/update/create/delete semantics of
 * openmrs-module-fhir2 (410 for voided, 404 for unknown, no create-with-id through PUT).
 */
import { randomUUID } from "node:crypto";
import { parseInstant, toFhirDateTime } from "./dates";
import { patientsWithIdentifier } from "./identifiers";
import { ciel, CONTACT_ATTRIBUTE_TYPE, META } from "./metadata";
import {
  ADDRESS_FIELDS,
  SimError,
  type AddressDraft,
  type AnyRecord,
  type AttributeDraft,
  type BaseRecord,
  type Encounter,
  type EncounterPatch,
  type IdentifierDraft,
  type NameDraft,
  type Obs,
  type ObsPatch,
  type ObsValueInput,
  type Patient,
  type PatientPatch,
  type PersonAttribute,
  type RecordType,
  type Store,
  type Visit,
  type VisitPatch,
} from "./model";
import { FHIR_TYPE, isObject, json, type Reply } from "./reply";
import { fhirForType } from "./types/handlers";
import { SIM_TYPES, typeByFhir, type FhirParts } from "./types/registry";
import { personToFhir } from "./types/person";
import { arr, bad, fhirDate, obj, optStr, refId } from "./types/parse";

type Json = Record<string, unknown>;

export const IDENTIFIER_LOCATION_EXT = "http://fhir.openmrs.org/ext/patient/identifier#location";
export const ENCOUNTER_TAG_SYSTEM = "http://fhir.openmrs.org/ext/encounter-tag";
export const VISIT_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/visit-type";
export const ENCOUNTER_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/encounter-type";
const ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
export const PERSON_ATTRIBUTE_EXT = "http://fhir.openmrs.org/ext/person-attribute";
export const PERSON_ATTRIBUTE_TYPE_EXT = "http://fhir.openmrs.org/ext/person-attribute-type";
export const PERSON_ATTRIBUTE_VALUE_EXT = "http://fhir.openmrs.org/ext/person-attribute-value";

const GENDER_TO_FHIR: Readonly<Record<string, string>> = { M: "male", F: "female", O: "other", U: "unknown" };
const GENDER_FROM_FHIR: Readonly<Record<string, string>> = { male: "M", female: "F", other: "O", unknown: "U" };

// ------------------------------------------------------------------ REST model -> FHIR

function meta(rec: BaseRecord): Json {
  const last = rec.auditInfo.dateChanged ?? rec.auditInfo.dateCreated;
  return { versionId: String(parseInstant(last) ?? 0), lastUpdated: toFhirDateTime(last) };
}

function reference(type: string, uuid: string): Json {
  return { reference: `${type}/${uuid}`, type };
}

function patientToFhir(p: Patient): Json {
  const r: Json = { resourceType: "Patient", id: p.uuid, meta: meta(p) };
  r.identifier = p.identifiers
    .filter((i) => !i.voided)
    .map((i) => {
      const out: Json = { id: i.uuid };
      if (i.location) out.extension = [{ url: IDENTIFIER_LOCATION_EXT, valueReference: reference("Location", i.location) }];
      out.use = i.preferred ? "official" : "usual";
      out.type = { coding: [{ code: i.identifierType }], text: META.identifierTypes.get(i.identifierType)?.display ?? i.identifierType };
      out.value = i.identifier;
      return out;
    });
  r.active = !p.voided;
  r.name = p.names
    .filter((n) => !n.voided)
    .map((n) => ({
      id: n.uuid,
      use: n.preferred ? "official" : "usual",
      family: n.familyName,
      given: [n.givenName, n.middleName].filter((s): s is string => !!s),
    }));
  r.gender = GENDER_TO_FHIR[p.gender] ?? "unknown";
  if (p.birthdate) r.birthDate = p.birthdate.slice(0, 10);
  if (p.deathDate) r.deceasedDateTime = toFhirDateTime(p.deathDate);
  else r.deceasedBoolean = p.dead;
  r.address = p.addresses
    .filter((a) => !a.voided)
    .map((a) => {
      const out: Json = { id: a.uuid, use: a.preferred ? "home" : "old" };
      const line = [a.address1, a.address2].filter((s): s is string => !!s);
      if (line.length) out.line = line;
      if (a.cityVillage) out.city = a.cityVillage;
      if (a.countyDistrict) out.district = a.countyDistrict;
      if (a.stateProvince) out.state = a.stateProvince;
      if (a.postalCode) out.postalCode = a.postalCode;
      if (a.country) out.country = a.country;
      return out;
    });
  // As fhir2: every active attribute as a person-attribute extension (type by name; all types here are
  // strings), and the contact attribute type's also as telecom.
  const attributes = (p.attributes ?? []).filter((a) => !a.voided);
  const extension = attributes.map((a) => ({
    url: PERSON_ATTRIBUTE_EXT,
    extension: [
      { url: PERSON_ATTRIBUTE_TYPE_EXT, valueString: META.personAttributeTypes.get(a.attributeType)?.display ?? a.attributeType },
      { url: PERSON_ATTRIBUTE_VALUE_EXT, valueString: a.value },
    ],
  }));
  if (extension.length) r.extension = extension;
  const telecom = attributes.filter((a) => a.attributeType === CONTACT_ATTRIBUTE_TYPE).map((a) => ({ id: a.uuid, value: a.value }));
  if (telecom.length) r.telecom = telecom;
  return r;
}

const CLASS_AMB = { system: ACT_CODE_SYSTEM, code: "AMB" };

function locationList(uuid: string | null): Json[] | undefined {
  if (!uuid) return undefined;
  const loc: Json = { ...reference("Location", uuid) };
  const name = META.locations.get(uuid)?.display;
  if (name) loc.display = name;
  return [{ location: loc }];
}

function visitToFhir(v: Visit): Json {
  const r: Json = {
    resourceType: "Encounter",
    id: v.uuid,
    meta: { ...meta(v), tag: [{ system: ENCOUNTER_TAG_SYSTEM, code: "visit", display: "Visit" }] },
    status: v.stopDatetime ? "finished" : "in-progress",
    class: CLASS_AMB,
    type: [{ coding: [{ system: VISIT_TYPE_SYSTEM, code: v.visitType, display: META.visitTypes.get(v.visitType)?.display ?? v.visitType }] }],
    subject: reference("Patient", v.patient),
    period: v.stopDatetime ? { start: toFhirDateTime(v.startDatetime), end: toFhirDateTime(v.stopDatetime) } : { start: toFhirDateTime(v.startDatetime) },
  };
  const loc = locationList(v.location);
  if (loc) r.location = loc;
  return r;
}

function encounterToFhir(e: Encounter): Json {
  const r: Json = {
    resourceType: "Encounter",
    id: e.uuid,
    meta: { ...meta(e), tag: [{ system: ENCOUNTER_TAG_SYSTEM, code: "encounter", display: "Encounter" }] },
    status: "unknown",
    class: CLASS_AMB,
    type: [
      {
        coding: [{ system: ENCOUNTER_TYPE_SYSTEM, code: e.encounterType, display: META.encounterTypes.get(e.encounterType)?.display ?? e.encounterType }],
      },
    ],
    subject: reference("Patient", e.patient),
    period: { start: toFhirDateTime(e.encounterDatetime) },
  };
  // EncounterParticipantTranslatorImpl: each active provider as a Practitioner; the role is not served.
  const participant = (e.providers ?? [])
    .filter((p) => !p.voided)
    .map((p) => ({ individual: { ...reference("Practitioner", p.provider), display: META.providers.get(p.provider)?.display ?? p.provider } }));
  if (participant.length) r.participant = participant;
  const loc = locationList(e.location);
  if (loc) r.location = loc;
  if (e.visit) r.partOf = reference("Encounter", e.visit);
  return r;
}

function obsToFhir(o: Obs): Json {
  const r: Json = {
    resourceType: "Observation",
    id: o.uuid,
    meta: meta(o),
    status: "final",
    code: { coding: [{ code: o.concept, display: META.concepts.get(o.concept)?.display ?? o.concept }] },
    subject: reference("Patient", o.person),
  };
  if (o.encounter) r.encounter = reference("Encounter", o.encounter);
  r.effectiveDateTime = toFhirDateTime(o.obsDatetime);
  r.issued = toFhirDateTime(o.auditInfo.dateCreated);
  // An obs group's members as references (ObservationTranslatorImpl: addHasMember).
  if (o.groupMembers?.length) r.hasMember = o.groupMembers.map((m) => reference("Observation", m));
  if (typeof o.value === "number") r.valueQuantity = { value: o.value };
  else if (typeof o.value === "string") r.valueString = o.value;
  else if (o.value !== null) r.valueCodeableConcept = { coding: [{ code: o.value.uuid, display: o.value.display }] };
  return r;
}

/** The FHIR R4 resource for a stored record. */
export function toFhir(type: RecordType, rec: AnyRecord): Json {
  switch (type) {
    case "patient":
      return patientToFhir(rec as Patient);
    case "visit":
      return visitToFhir(rec as Visit);
    case "encounter":
      return encounterToFhir(rec as Encounter);
    default:
      return obsToFhir(rec as Obs);
  }
}

// ------------------------------------------------------------------ FHIR -> REST model

function firstCode(v: unknown, field: string): string | undefined {
  const cc = obj(v, field);
  if (!cc) return undefined;
  const coding = arr(cc.coding, `${field}.coding`);
  for (const c of coding) {
    if (isObject(c) && typeof c.code === "string" && c.code) return c.code;
  }
  return undefined;
}

function identifierTypeOf(i: Json): string {
  const type = obj(i.type, "identifier.type");
  const code = type ? firstCode(type, "identifier.type") : undefined;
  if (code) return code;
  const text = type ? optStr(type.text, "identifier.type.text") : undefined;
  if (text) {
    for (const t of META.identifierTypes.values()) if (t.display === text) return t.uuid;
    throw bad(`PatientIdentifierType named ${text} not found`);
  }
  throw bad("identifier.type is required");
}

/** telecom (the contact type) and person-attribute extensions (type by name; unknown names skipped, as fhir2 does). */
function attributesFromFhir(r: Json): AttributeDraft[] {
  const drafts: AttributeDraft[] = [];
  const add = (d: AttributeDraft) => {
    // Person.addAttribute ignores an attribute equal in type and value to one it holds
    if (!drafts.some((x) => x.attributeType === d.attributeType && x.value === d.value)) drafts.push(d);
  };
  for (const c of arr(r.telecom, "telecom")) {
    if (!isObject(c)) throw bad("telecom[] must be objects");
    const value = optStr(c.value, "telecom.value");
    if (value) add({ uuid: optStr(c.id, "telecom.id"), attributeType: CONTACT_ATTRIBUTE_TYPE, value });
  }
  for (const ext of arr(r.extension, "extension")) {
    if (!isObject(ext) || ext.url !== PERSON_ATTRIBUTE_EXT) continue;
    const parts = arr(ext.extension, "extension.extension").filter(isObject);
    const name = parts.find((p) => p.url === PERSON_ATTRIBUTE_TYPE_EXT)?.valueString;
    const valuePart = parts.find((p) => p.url === PERSON_ATTRIBUTE_VALUE_EXT);
    const value =
      typeof valuePart?.valueString === "string"
        ? valuePart.valueString
        : typeof valuePart?.valueBoolean === "boolean"
          ? String(valuePart.valueBoolean)
          : undefined;
    const type = [...META.personAttributeTypes.values()].find((t) => t.display === name);
    if (type && value) add({ attributeType: type.uuid, value });
  }
  return drafts;
}

/**
 * fhir2 updates attributes with Person.addAttribute: an equal one is kept (with its uuid), one of the same
 * type with another value is voided and replaced, attributes of types the resource does not mention stay.
 */
export function mergeFhirAttributes(existing: readonly PersonAttribute[], drafts: readonly AttributeDraft[]): AttributeDraft[] {
  const active = existing.filter((a) => !a.voided);
  const out: AttributeDraft[] = [];
  for (const a of active) {
    const same = drafts.find((d) => d.attributeType === a.attributeType && d.value === a.value);
    if (same || !drafts.some((d) => d.attributeType === a.attributeType)) out.push({ uuid: a.uuid, attributeType: a.attributeType, value: a.value });
  }
  for (const d of drafts) {
    if (!out.some((o) => o.attributeType === d.attributeType && o.value === d.value)) out.push(d);
  }
  return out;
}

function patientFromFhir(r: Json): PatientPatch {
  const identifiers: IdentifierDraft[] = arr(r.identifier, "identifier").map((x) => {
    if (!isObject(x)) throw bad("identifier[] must be objects");
    let location: string | null = null;
    for (const ext of arr(x.extension, "identifier.extension")) {
      if (isObject(ext) && ext.url === IDENTIFIER_LOCATION_EXT) location = refId(ext.valueReference, "identifier location", ["Location"]) ?? null;
    }
    return {
      uuid: optStr(x.id, "identifier.id"),
      identifier: optStr(x.value, "identifier.value") ?? "",
      identifierType: identifierTypeOf(x),
      location,
      preferred: x.use === "official",
    };
  });
  const names: NameDraft[] = arr(r.name, "name").map((x) => {
    if (!isObject(x)) throw bad("name[] must be objects");
    const given = arr(x.given, "name.given").map((g) => optStr(g, "name.given") ?? "");
    return {
      uuid: optStr(x.id, "name.id"),
      givenName: given[0] ?? "",
      middleName:
        given
          .slice(1)
          .filter((g) => g)
          .join(" ") || null,
      familyName: optStr(x.family, "name.family") ?? "",
      preferred: x.use === "official",
    };
  });
  const addresses: AddressDraft[] = arr(r.address, "address").map((x) => {
    if (!isObject(x)) throw bad("address[] must be objects");
    const line = arr(x.line, "address.line").map((l) => optStr(l, "address.line") ?? "");
    const d: AddressDraft = { uuid: optStr(x.id, "address.id"), preferred: x.use === "home" };
    for (const f of ADDRESS_FIELDS) d[f] = null;
    d.address1 = line[0] || null;
    d.address2 =
      line
        .slice(1)
        .filter((l) => l)
        .join(", ") || null;
    d.cityVillage = optStr(x.city, "address.city") ?? null;
    d.countyDistrict = optStr(x.district, "address.district") ?? null;
    d.stateProvince = optStr(x.state, "address.state") ?? null;
    d.postalCode = optStr(x.postalCode, "address.postalCode") ?? null;
    d.country = optStr(x.country, "address.country") ?? null;
    return d;
  });
  const g = optStr(r.gender, "gender");
  const gender = g === undefined ? undefined : GENDER_FROM_FHIR[g];
  if (!gender) throw bad(`Patient.gender must be male, female, other or unknown${g ? `, not ${g}` : ""}`);
  const birthDate = fhirDate(r.birthDate, "birthDate");
  const deceasedDateTime = fhirDate(r.deceasedDateTime, "deceasedDateTime");
  const deceasedBoolean = r.deceasedBoolean;
  if (deceasedBoolean !== undefined && typeof deceasedBoolean !== "boolean") throw bad("deceasedBoolean must be a boolean");
  if (r.active !== undefined && typeof r.active !== "boolean") throw bad("active must be a boolean");
  return {
    gender,
    birthdate: birthDate ?? null,
    dead: deceasedDateTime ? true : deceasedBoolean === true,
    deathDate: deceasedDateTime ?? null,
    names,
    addresses,
    identifiers,
    attributes: attributesFromFhir(r),
    voided: r.active === false,
    ...(r.active === false ? { voidReason: "Patient.active set to false through FHIR" } : {}),
  };
}

function isVisitTagged(r: Json): boolean {
  const m = obj(r.meta, "meta");
  for (const t of arr(m?.tag, "meta.tag")) {
    if (isObject(t) && t.system === ENCOUNTER_TAG_SYSTEM && t.code === "visit") return true;
  }
  return false;
}

function locationOf(r: Json): string | null {
  const first = arr(r.location, "location")[0];
  if (!isObject(first)) return null;
  return refId(first.location, "location[0].location", ["Location"]) ?? null;
}

function typeCode(r: Json, what: string): string {
  const t = arr(r.type, "type")[0];
  const code = t === undefined ? undefined : firstCode(t, "type[0]");
  if (!code) throw bad(`${what} is required (type[0].coding[0].code)`);
  return code;
}

function visitFromFhir(r: Json): VisitPatch {
  const period = obj(r.period, "period");
  const start = fhirDate(period?.start, "period.start");
  if (!start) throw bad("period.start is required");
  const patient = refId(r.subject, "subject", ["Patient"]);
  if (!patient) throw bad("subject is required");
  return {
    patient,
    visitType: typeCode(r, "visit type"),
    startDatetime: start,
    stopDatetime: fhirDate(period?.end, "period.end") ?? null,
    location: locationOf(r),
    voided: false,
  };
}

function encounterFromFhir(r: Json): EncounterPatch {
  const period = obj(r.period, "period");
  const start = fhirDate(period?.start, "period.start");
  if (!start) throw bad("period.start is required");
  const patient = refId(r.subject, "subject", ["Patient"]);
  if (!patient) throw bad("subject is required");
  return {
    patient,
    encounterType: typeCode(r, "encounter type"),
    encounterDatetime: start,
    location: locationOf(r),
    visit: refId(r.partOf, "partOf", ["Encounter"]) ?? null,
    // EncounterTranslatorImpl: the participants replace the providers, each with the default role (Unknown).
    providers: (r.participant === undefined ? [] : arr(r.participant, "participant")).map((x, i) => {
      const provider = refId(obj(x, `participant[${i}]`)?.individual, `participant[${i}].individual`, ["Practitioner"]);
      if (!provider) throw bad(`participant[${i}].individual is required`);
      return { provider };
    }),
    voided: false,
  };
}

function obsFromFhir(r: Json): ObsPatch {
  const concept = firstCode(r.code, "code");
  if (!concept) throw bad("Observation.code.coding[0].code is required");
  const person = refId(r.subject, "subject", ["Patient", "Person"]);
  if (!person) throw bad("subject is required");
  let value: ObsValueInput | undefined;
  const q = obj(r.valueQuantity, "valueQuantity");
  if (q) {
    if (typeof q.value !== "number") throw bad("valueQuantity.value must be a number");
    value = q.value;
  } else if (r.valueString !== undefined) value = optStr(r.valueString, "valueString");
  else if (r.valueCodeableConcept !== undefined) {
    const code = firstCode(r.valueCodeableConcept, "valueCodeableConcept");
    if (!code) throw bad("valueCodeableConcept.coding[0].code is required");
    value = { uuid: code };
  } else if (r.valueBoolean !== undefined) {
    if (typeof r.valueBoolean !== "boolean") throw bad("valueBoolean must be a boolean");
    value = { uuid: ciel(r.valueBoolean ? 1065 : 1066) };
  }
  const groupMembers = r.hasMember === undefined ? undefined : arr(r.hasMember, "hasMember").map((m, i) => refId(m, `hasMember[${i}]`, ["Observation"]) ?? "");
  if (value === undefined && !groupMembers?.length) throw bad("Observation value[x] (or hasMember) is required");
  return {
    ...(groupMembers ? { groupMembers } : {}),
    person,
    concept,
    obsDatetime: fhirDate(r.effectiveDateTime, "effectiveDateTime"),
    encounter: refId(r.encounter, "encounter", ["Encounter"]) ?? null,
    value,
    voided: false,
  };
}

/** Record content from a FHIR resource, as a full-replacement patch (also voided=false unless Patient.active=false). */
export function fromFhir(type: RecordType, r: Json): PatientPatch | VisitPatch | EncounterPatch | ObsPatch {
  switch (type) {
    case "patient":
      return patientFromFhir(r);
    case "visit":
      return visitFromFhir(r);
    case "encounter":
      return encounterFromFhir(r);
    default:
      return obsFromFhir(r);
  }
}

// ------------------------------------------------------------------ handler

export function outcome(status: number, code: string, diagnostics: string, severity = "error"): Reply {
  return json(status, { resourceType: "OperationOutcome", issue: [{ severity, code, diagnostics }] }, FHIR_TYPE);
}

function resourceReply(status: number, type: RecordType, rec: AnyRecord, extra: Record<string, string> = {}): Reply {
  const r = toFhir(type, rec);
  const m = r.meta as Json;
  const reply = json(status, r, FHIR_TYPE);
  reply.headers.etag = `W/"${String(m.versionId)}"`;
  reply.headers["last-modified"] = new Date(Number(m.versionId)).toUTCString();
  Object.assign(reply.headers, extra);
  return reply;
}

function capabilityStatement(base: string): Json {
  const interactions = ["read", "update", "create", "delete"].map((code) => ({ code }));
  return {
    resourceType: "CapabilityStatement",
    status: "active",
    date: new Date().toISOString(),
    publisher: "Not provided",
    kind: "instance",
    software: { name: "OpenMRS FHIR Server (openmrs-sim)", version: "2.x-sim" },
    implementation: { description: "OpenMRS simulator fhir2 endpoint", url: `${base}/ws/fhir2/R4` },
    fhirVersion: "4.0.1",
    format: ["application/fhir+json"],
    rest: [
      {
        mode: "server",
        resource: ["Patient", "Encounter", "Observation", ...SIM_TYPES.map((t) => t.fhirType)].map((type) => ({
          type,
          profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
          interaction: interactions,
          versioning: "no-version",
        })),
      },
    ],
  };
}

/** A deliberately invalid resource (fault `invalidFhir`). */
function invalidResource(fhirType: string, id: string): Json {
  switch (fhirType) {
    case "Patient":
      return { resourceType: "Patient", id, gender: "bogus", name: "not-an-array", bogusProperty: "unexpected" };
    case "Encounter":
      return { resourceType: "Encounter", id, status: "bogus-status", period: "yesterday", bogusProperty: "unexpected" };
    default:
      return { resourceType: "Observation", id, status: "bogus", valueQuantity: "seventy", bogusProperty: "unexpected" };
  }
}

export interface FhirRequest {
  method: string;
  /** Path segments after `/ws/fhir2/R4/`. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  base: string;
  invalid: ReadonlySet<string> | null;
}

/** Which stored type an id of this FHIR type is (Encounter: visit or encounter). */
function lookup(store: Store, fhirType: string, id: string): { type: RecordType; rec: AnyRecord } | undefined {
  if (fhirType === "Patient") {
    const rec = store.patients.get(id);
    return rec && { type: "patient", rec };
  }
  if (fhirType === "Encounter") {
    const e = store.encounters.get(id);
    if (e) return { type: "encounter", rec: e };
    const v = store.visits.get(id);
    return v && { type: "visit", rec: v };
  }
  const o = store.obs.get(id);
  return o && { type: "obs", rec: o };
}

/**
 * fhir2 validates what it is about to save (BaseFhirService.validateObject -> openmrs-core's
 * ValidateUtil.validate) and answers a ValidationException as HAPI's UnprocessableEntityException:
 * 422, with the exception's message, "'Patient#<patient_id>' failed to validate with reason: …"
 * (ValidateUtil.throwValidationError; Patient.toString). A new patient has no id yet ("null"); the
 * simulator has no database ids and writes its place in the store instead.
 */
function simError(e: unknown, subject: () => string): Reply {
  if (e instanceof SimError && e.validation) {
    return outcome(422, "processing", `'${subject()}' failed to validate with reason: ${e.message}`);
  }
  if (e instanceof SimError) {
    if (e.status === 404) return outcome(404, "not-found", e.message);
    return outcome(e.status, e.status === 400 ? "invalid" : "processing", e.message);
  }
  throw e;
}

/**
 * `Patient?identifier=[system|]value[,value…]` as fhir2 searches (FhirPatientDaoImpl.handleIdentifier):
 * non-voided identifiers with one of the values, of the type named by the system when there is one; a
 * searchset Bundle of the non-voided patients holding one.
 */
function identifierSearch(store: Store, req: FhirRequest): Reply {
  const token = req.query.get("identifier") ?? "";
  const bar = token.indexOf("|");
  const system = bar >= 0 ? token.slice(0, bar) : "";
  const type = system ? ([...META.identifierTypes.values()].find((t) => t.display === system)?.uuid ?? "") : undefined;
  const found = new Map<string, Patient>();
  for (const value of token.slice(bar + 1).split(",")) for (const p of patientsWithIdentifier(store, value, type)) found.set(p.uuid, p);
  const entry = [...found.values()].map((p) => ({ fullUrl: `${req.base}/ws/fhir2/R4/Patient/${p.uuid}`, resource: toFhir("patient", p) }));
  const bundle: Json = {
    resourceType: "Bundle",
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: "searchset",
    total: entry.length,
    link: [{ relation: "self", url: `${req.base}/ws/fhir2/R4/Patient?${req.query.toString()}` }],
  };
  if (entry.length) bundle.entry = entry;
  return json(200, bundle, FHIR_TYPE);
}

/** A stand-in for a patient's database id: its place in the store (only for error texts). */
function databaseId(store: Store, uuid: string): number | undefined {
  let n = 0;
  for (const p of store.patients.values()) {
    n++;
    if (p.uuid === uuid) return n;
  }
  return undefined;
}

const FHIR_TYPES = new Set(["Patient", "Encounter", "Observation"]);

/** What a registered type's translator uses (sim/types/registry.ts). */
function fhirParts(store: Store): FhirParts {
  return {
    meta,
    reference,
    person: (uuid) => {
      const p = store.personOf(uuid);
      return p ? patientToFhir(p) : undefined;
    },
  };
}

export function handleFhir(store: Store, req: FhirRequest): Reply {
  const [fhirType = "", id, ...rest] = req.segments;
  if (fhirType === "metadata" && req.method === "GET" && id === undefined) {
    return json(200, capabilityStatement(req.base), FHIR_TYPE);
  }
  const registered = typeByFhir(fhirType);
  // FhirPersonService serves every person: a patient's too, linked to the Patient (sim/types/person.ts).
  const patient = fhirType === "Person" && req.method === "GET" && id !== undefined && rest.length === 0 ? store.patients.get(id) : undefined;
  if (patient) {
    if (patient.voided) return outcome(410, "deleted", `HAPI-0972: Resource Person/${id} is gone/deleted`);
    return json(200, personToFhir(patient, fhirParts(store), true), FHIR_TYPE);
  }
  if (registered) {
    if (rest.length > 0) return outcome(400, "not-supported", `Operation ${rest.join("/")} is not supported by the simulator`);
    try {
      return fhirForType(store, registered, { method: req.method, id, body: req.body, base: req.base, invalid: req.invalid }, fhirParts(store), outcome);
    } catch (e) {
      return simError(e, () => `${fhirType}#${id !== undefined && store.getOf(registered.type, id) ? id : "null"}`);
    }
  }
  if (!FHIR_TYPES.has(fhirType)) {
    const known = [...FHIR_TYPES, ...SIM_TYPES.map((t) => t.fhirType)].sort().join(", ");
    return outcome(404, "not-supported", `HAPI-0302: Unknown resource type '${fhirType}' - Server knows how to handle: [${known}]`);
  }
  if (rest.length > 0) return outcome(400, "not-supported", `Operation ${rest.join("/")} is not supported by the simulator`);
  try {
    if (id === undefined) {
      if (req.method === "POST") return create(store, fhirType, req.body, req.base);
      if (req.method === "GET" && fhirType === "Patient" && req.query.has("identifier")) return identifierSearch(store, req);
      return outcome(400, "not-supported", "Search is not supported by the simulator");
    }
    const found = lookup(store, fhirType, id);
    switch (req.method) {
      case "GET": {
        if (req.invalid?.has(id)) return json(200, invalidResource(fhirType, id), FHIR_TYPE);
        if (!found) return outcome(404, "not-found", `HAPI-0971: Resource ${fhirType}/${id} is not known`);
        if (found.rec.voided) return outcome(410, "deleted", `HAPI-0972: Resource ${fhirType}/${id} is gone/deleted`);
        return resourceReply(200, found.type, found.rec);
      }
      case "PUT": {
        const body = checkBody(req.body, fhirType);
        if (typeof body.id !== "string" || !body.id) {
          return outcome(400, "invalid", "HAPI-0419: Can not update resource, resource body must contain an ID element for update (PUT) operation");
        }
        if (body.id !== id) {
          return outcome(
            400,
            "invalid",
            `HAPI-0420: Can not update resource, resource body must contain an ID element which matches the request URL for update (PUT) operation - Resource body ID of "${body.id}" does not match URL ID of "${id}"`,
          );
        }
        if (!found) return outcome(404, "not-found", `HAPI-0971: Resource ${fhirType}/${id} is not known`);
        const patch = fromFhir(found.type, body);
        if (found.type === "patient") {
          const p = patch as PatientPatch;
          p.attributes = mergeFhirAttributes((found.rec as Patient).attributes ?? [], p.attributes ?? []);
        }
        const saved = store.update(found.type, id, patch);
        return resourceReply(200, found.type, saved);
      }
      case "DELETE": {
        if (!found) return outcome(404, "not-found", `HAPI-0971: Resource ${fhirType}/${id} is not known`);
        if (!found.rec.voided) store.voidRecord(found.type, id, "Deleted through FHIR");
        return outcome(200, "informational", "Successfully deleted object", "information");
      }
      default:
        return outcome(405, "not-supported", `Method ${req.method} not supported`);
    }
  } catch (e) {
    return simError(e, () => `${fhirType}#${(id !== undefined && databaseId(store, id)) || "null"}`);
  }
}

function checkBody(body: unknown, fhirType: string): Json {
  if (!isObject(body)) throw bad("request body must be a FHIR JSON resource");
  if (body.resourceType !== fhirType) throw bad(`resourceType must be ${fhirType}, not ${String(body.resourceType)}`);
  return body;
}

function create(store: Store, fhirType: string, rawBody: unknown, base: string): Reply {
  const body = checkBody(rawBody, fhirType);
  let type: RecordType;
  let rec: AnyRecord;
  if (fhirType === "Patient") {
    type = "patient";
    const p = fromFhir("patient", body) as PatientPatch;
    rec = store.createPatient({ ...p, gender: p.gender ?? "U", names: p.names ?? [] });
    if (p.voided) rec = store.voidRecord("patient", rec.uuid, p.voidReason);
  } else if (fhirType === "Encounter") {
    if (isVisitTagged(body)) {
      type = "visit";
      const v = fromFhir("visit", body) as VisitPatch;
      rec = store.createVisit({ ...v, patient: v.patient ?? "", visitType: v.visitType ?? "" });
    } else {
      type = "encounter";
      const e = fromFhir("encounter", body) as EncounterPatch;
      rec = store.createEncounter({ ...e, patient: e.patient ?? "", encounterType: e.encounterType ?? "" });
    }
  } else {
    type = "obs";
    const o = fromFhir("obs", body) as ObsPatch;
    if (o.value === undefined) throw bad("Observation value[x] is required");
    rec = store.createObs({ ...o, person: o.person ?? "", concept: o.concept ?? "", value: o.value });
  }
  return resourceReply(201, type, rec, { location: `${base}/ws/fhir2/R4/${fhirType}/${rec.uuid}` });
}
