/**
 * OpenMRS REST v1 (`{ctx}/ws/rest/v1/...`): full representations shaped like the webservices.rest
 * module's, and create/update/void/purge writes.
 */
import { parseInstant } from "./dates";
import { patientsWithIdentifier } from "./identifiers";
import { ADMIN_USER_UUID, META, META_RESOURCES, type NamedMeta } from "./metadata";
import {
  ADDRESS_FIELDS,
  SimError,
  TITLE_OF,
  type AddressDraft,
  type AttributeDraft,
  type AnyRecord,
  type BaseRecord,
  type Encounter,
  type EncounterDraft,
  type EncounterPatch,
  type IdentifierDraft,
  type NameDraft,
  type Obs,
  type ObsDraft,
  type ObsPatch,
  type ObsValueInput,
  type Patient,
  type PersonAttribute,
  type PatientDraft,
  type PatientPatch,
  type RecordType,
  type Store,
  type Visit,
  type VisitDraft,
  type VisitPatch,
} from "./model";
import { isObject, json, type Reply } from "./reply";
import { restForType } from "./types/handlers";
import { subTypeByRest, typeByRest, type RestParts } from "./types/registry";
import { diagnosesRep, diagnosisDrafts } from "./diagnoses";

const RESOURCE_TYPES: Readonly<Record<string, RecordType>> = {
  patient: "patient",
  visit: "visit",
  encounter: "encounter",
  obs: "obs",
};

type Json = Record<string, unknown>;

// ------------------------------------------------------------------ representations

interface Link {
  rel: string;
  uri: string;
  resourceAlias?: string;
}

function selfLink(base: string, path: string, alias?: string): Link[] {
  const l: Link = { rel: "self", uri: `${base}/ws/rest/v1/${path}` };
  if (alias) l.resourceAlias = alias;
  return [l];
}

function fullLinks(base: string, path: string): Link[] {
  return [
    { rel: "self", uri: `${base}/ws/rest/v1/${path}` },
    { rel: "full", uri: `${base}/ws/rest/v1/${path}?v=full` },
  ];
}

function ref(base: string, resource: string, uuid: string, display: string): Json {
  return { uuid, display, links: selfLink(base, `${resource}/${uuid}`, resource) };
}

function metaRef(base: string, resource: string, map: ReadonlyMap<string, NamedMeta>, uuid: string | null): Json | null {
  if (!uuid) return null;
  return ref(base, resource, uuid, map.get(uuid)?.display ?? uuid);
}

function auditInfo(base: string, rec: BaseRecord): Json {
  const admin = ref(base, "user", ADMIN_USER_UUID, "admin");
  const a: Json = {
    creator: admin,
    dateCreated: rec.auditInfo.dateCreated,
    changedBy: rec.auditInfo.dateChanged ? admin : null,
    dateChanged: rec.auditInfo.dateChanged,
  };
  if (rec.voided) {
    a.voidedBy = admin;
    a.dateVoided = rec.dateVoided;
    a.voidReason = rec.voidReason;
  }
  return a;
}

function ddmmyyyy(openmrs: string, withTime: boolean): string {
  // display strings use the wall clock of the stored value
  const d = `${openmrs.slice(8, 10)}/${openmrs.slice(5, 7)}/${openmrs.slice(0, 4)}`;
  return withTime ? `${d} ${openmrs.slice(11, 16)}` : d;
}

function personName(p: Patient): string {
  const n = p.names.find((x) => !x.voided && x.preferred) ?? p.names.find((x) => !x.voided);
  return n ? [n.givenName, n.middleName, n.familyName].filter((s) => s).join(" ") : "";
}

export function patientDisplay(p: Patient): string {
  const id = p.identifiers.find((x) => !x.voided && x.preferred) ?? p.identifiers.find((x) => !x.voided);
  const name = personName(p);
  return id ? `${id.identifier} - ${name}` : name;
}

function age(birthdate: string | null): number | null {
  if (!birthdate) return null;
  const b = new Date(birthdate.slice(0, 10) + "T00:00:00Z");
  const now = new Date();
  let a = now.getUTCFullYear() - b.getUTCFullYear();
  const m = now.getUTCMonth() - b.getUTCMonth();
  if (m < 0 || (m === 0 && now.getUTCDate() < b.getUTCDate())) a--;
  return a;
}

function nameRep(base: string, p: Patient, n: Patient["names"][number]): Json {
  return {
    display: [n.givenName, n.middleName, n.familyName].filter((s) => s).join(" "),
    uuid: n.uuid,
    givenName: n.givenName,
    middleName: n.middleName,
    familyName: n.familyName,
    familyName2: null,
    preferred: n.preferred,
    voided: n.voided,
    links: fullLinks(base, `person/${p.uuid}/name/${n.uuid}`),
    resourceVersion: "1.8",
  };
}

function addressRep(base: string, p: Patient, a: Patient["addresses"][number]): Json {
  const r: Json = { display: a.address1 ?? "", uuid: a.uuid, preferred: a.preferred };
  for (const f of ADDRESS_FIELDS) r[f] = a[f];
  for (let i = 3; i <= 6; i++) r[`address${i}`] = null;
  Object.assign(r, {
    startDate: null,
    endDate: null,
    latitude: null,
    longitude: null,
    voided: a.voided,
    links: fullLinks(base, `person/${p.uuid}/address/${a.uuid}`),
    resourceVersion: "2.0",
  });
  return r;
}

function identifierRep(base: string, p: Patient, i: Patient["identifiers"][number]): Json {
  const typeName = META.identifierTypes.get(i.identifierType)?.display ?? i.identifierType;
  return {
    display: `${typeName} = ${i.identifier}`,
    uuid: i.uuid,
    identifier: i.identifier,
    identifierType: metaRef(base, "patientidentifiertype", META.identifierTypes, i.identifierType),
    location: metaRef(base, "location", META.locations, i.location),
    preferred: i.preferred,
    voided: i.voided,
    links: fullLinks(base, `patient/${p.uuid}/identifier/${i.uuid}`),
    resourceVersion: "1.8",
  };
}

function attributeRep(base: string, p: Patient, a: NonNullable<Patient["attributes"]>[number]): Json {
  const type = META.personAttributeTypes.get(a.attributeType);
  return {
    display: `${type?.display ?? a.attributeType} = ${a.value}`,
    uuid: a.uuid,
    value: a.value,
    attributeType: ref(base, "personattributetype", a.attributeType, type?.display ?? a.attributeType),
    voided: false,
    links: selfLink(base, `person/${p.uuid}/attribute/${a.uuid}`),
    resourceVersion: "1.8",
  };
}

export function personRep(base: string, p: Patient): Json {
  const names = p.names.filter((n) => !n.voided);
  const addresses = p.addresses.filter((a) => !a.voided);
  const preferredName = names.find((n) => n.preferred) ?? names[0];
  const preferredAddress = addresses.find((a) => a.preferred) ?? addresses[0];
  return {
    uuid: p.uuid,
    display: personName(p),
    gender: p.gender,
    age: age(p.birthdate),
    birthdate: p.birthdate,
    birthdateEstimated: false,
    dead: p.dead,
    deathDate: p.deathDate,
    causeOfDeath: null,
    preferredName: preferredName ? nameRep(base, p, preferredName) : null,
    preferredAddress: preferredAddress ? addressRep(base, p, preferredAddress) : null,
    names: names.map((n) => nameRep(base, p, n)),
    addresses: addresses.map((a) => addressRep(base, p, a)),
    attributes: (p.attributes ?? []).filter((a) => !a.voided).map((a) => attributeRep(base, p, a)),
    voided: p.voided,
    auditInfo: auditInfo(base, p),
    deathdateEstimated: false,
    birthtime: null,
    links: selfLink(base, `person/${p.uuid}`),
    resourceVersion: "1.11",
  };
}

function patientRep(base: string, p: Patient): Json {
  return {
    uuid: p.uuid,
    display: patientDisplay(p),
    identifiers: p.identifiers.filter((i) => !i.voided).map((i) => identifierRep(base, p, i)),
    person: personRep(base, p),
    voided: p.voided,
    auditInfo: auditInfo(base, p),
    links: selfLink(base, `patient/${p.uuid}`),
    resourceVersion: "1.8",
  };
}

function patientRef(store: Store, base: string, uuid: string, resource = "patient"): Json {
  const p = store.patients.get(uuid);
  return ref(base, resource, uuid, p ? patientDisplay(p) : uuid);
}

function visitDisplay(v: Visit): string {
  const type = META.visitTypes.get(v.visitType)?.display ?? v.visitType;
  const loc = v.location ? ` @ ${META.locations.get(v.location)?.display ?? v.location}` : "";
  return `${type}${loc} - ${ddmmyyyy(v.startDatetime, true)}`;
}

function encounterDisplay(e: Encounter): string {
  return `${META.encounterTypes.get(e.encounterType)?.display ?? e.encounterType} ${ddmmyyyy(e.encounterDatetime, false)}`;
}

function obsValueDisplay(o: Obs): string {
  if (o.value === null) return "";
  return typeof o.value === "object" ? o.value.display : String(o.value);
}

function obsDisplay(o: Obs): string {
  return `${META.concepts.get(o.concept)?.display ?? o.concept}: ${obsValueDisplay(o)}`;
}

function visitRep(store: Store, base: string, v: Visit): Json {
  return {
    uuid: v.uuid,
    display: visitDisplay(v),
    patient: patientRef(store, base, v.patient),
    visitType: metaRef(base, "visittype", META.visitTypes, v.visitType),
    indication: null,
    location: metaRef(base, "location", META.locations, v.location),
    startDatetime: v.startDatetime,
    stopDatetime: v.stopDatetime,
    encounters: store
      .encountersOfVisit(v.uuid)
      .map((u) => store.encounters.get(u))
      .filter((e): e is Encounter => !!e && !e.voided)
      .map((e) => ref(base, "encounter", e.uuid, encounterDisplay(e))),
    attributes: [],
    voided: v.voided,
    auditInfo: auditInfo(base, v),
    links: selfLink(base, `visit/${v.uuid}`),
    resourceVersion: "1.9",
  };
}

function encounterRep(store: Store, base: string, e: Encounter): Json {
  const visit = e.visit ? store.visits.get(e.visit) : undefined;
  return {
    uuid: e.uuid,
    display: encounterDisplay(e),
    encounterDatetime: e.encounterDatetime,
    patient: patientRef(store, base, e.patient),
    location: metaRef(base, "location", META.locations, e.location),
    form: null,
    encounterType: metaRef(base, "encountertype", META.encounterTypes, e.encounterType),
    obs: store
      .obsOfEncounter(e.uuid)
      .map((u) => store.obs.get(u))
      .filter((o): o is Obs => !!o && !o.voided)
      .map((o) => ref(base, "obs", o.uuid, obsDisplay(o))),
    orders: [],
    voided: e.voided,
    auditInfo: auditInfo(base, e),
    visit: e.visit ? ref(base, "visit", e.visit, visit ? visitDisplay(visit) : e.visit) : null,
    encounterProviders: (e.providers ?? [])
      .filter((p) => !p.voided)
      .map((p) => ({
        uuid: p.uuid,
        display: `${META.providers.get(p.provider)?.display ?? p.provider}: ${META.encounterRoles.get(p.encounterRole)?.display ?? p.encounterRole}`,
        provider: metaRef(base, "provider", META.providers, p.provider),
        encounterRole: metaRef(base, "encounterrole", META.encounterRoles, p.encounterRole),
        voided: false,
        links: selfLink(base, `encounter/${e.uuid}/encounterprovider/${p.uuid}`),
      })),
    diagnoses: diagnosesRep(store, e, restParts(store, base)),
    links: selfLink(base, `encounter/${e.uuid}`),
    resourceVersion: "2.2",
  };
}

function obsRep(store: Store, base: string, o: Obs): Json {
  const enc = o.encounter ? store.encounters.get(o.encounter) : undefined;
  const group = store.groupOf(o.uuid);
  return {
    uuid: o.uuid,
    display: obsDisplay(o),
    concept: metaRef(base, "concept", META.concepts, o.concept),
    person: patientRef(store, base, o.person, "person"),
    obsDatetime: o.obsDatetime,
    accessionNumber: null,
    obsGroup: group ? ref(base, "obs", group.uuid, obsDisplay(group)) : null,
    valueCodedName: null,
    groupMembers: o.groupMembers?.length
      ? o.groupMembers.map((m) => {
          const member = store.obs.get(m);
          return ref(base, "obs", m, member ? obsDisplay(member) : m);
        })
      : null,
    comment: null,
    location: null,
    order: null,
    encounter: o.encounter ? ref(base, "encounter", o.encounter, enc ? encounterDisplay(enc) : o.encounter) : null,
    voided: o.voided,
    value: o.value !== null && typeof o.value === "object" ? metaRef(base, "concept", META.concepts, o.value.uuid) : o.value,
    valueModifier: null,
    formFieldPath: null,
    formFieldNamespace: null,
    status: "FINAL",
    interpretation: null,
    auditInfo: auditInfo(base, o),
    links: selfLink(base, `obs/${o.uuid}`),
    resourceVersion: "1.11",
  };
}

/** What a registered type's representation uses (sim/types/registry.ts). */
function restParts(store: Store, base: string): RestParts {
  return {
    base,
    ref: (resource, uuid, display) => ref(base, resource, uuid, display),
    selfLink: (path) => selfLink(base, path) as unknown as Json[],
    patientRef: (uuid) => patientRef(store, base, uuid),
    auditInfo: (rec) => auditInfo(base, rec),
    person: (uuid) => {
      const p = store.personOf(uuid);
      return p ? personRep(base, p) : undefined;
    },
    personPatch: (body, prev) => {
      const patch = personPatch(body);
      if (prev && patch.attributes) patch.attributes = mergeRestAttributes(prev.attributes ?? [], patch.attributes);
      return patch;
    },
  };
}

/** Full REST representation of any record. */
export function restRep(store: Store, base: string, type: RecordType, rec: AnyRecord): Json {
  switch (type) {
    case "patient":
      return patientRep(base, rec as Patient);
    case "visit":
      return visitRep(store, base, rec as Visit);
    case "encounter":
      return encounterRep(store, base, rec as Encounter);
    default:
      return obsRep(store, base, rec as Obs);
  }
}

// ------------------------------------------------------------------ request bodies -> drafts

function bad(message: string): SimError {
  return new SimError(400, message);
}

/** A reference: a uuid string or an object with `uuid`; null clears; undefined = not given. */
function refUuid(v: unknown, field: string): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null || v === "") return null;
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.uuid === "string") return v.uuid;
  throw bad(`${field} must be a uuid or an object with a uuid`);
}

function optString(v: unknown, field: string): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  throw bad(`${field} must be a string`);
}

function optBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  throw bad(`${field} must be a boolean`);
}

function list(v: unknown, field: string): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad(`${field} must be an array`);
  // items posted as voided are not part of the record any more
  return v.filter((x) => !(isObject(x) && x.voided === true));
}

function nameDrafts(v: unknown): NameDraft[] | undefined {
  return list(v, "names")?.map((x) => {
    if (!isObject(x)) throw bad("names[] must be objects");
    return {
      uuid: optString(x.uuid, "name.uuid") ?? undefined,
      givenName: optString(x.givenName, "givenName") ?? "",
      middleName: optString(x.middleName, "middleName") ?? null,
      familyName: optString(x.familyName, "familyName") ?? "",
      preferred: optBool(x.preferred, "preferred"),
    };
  });
}

function addressDrafts(v: unknown): AddressDraft[] | undefined {
  return list(v, "addresses")?.map((x) => {
    if (!isObject(x)) throw bad("addresses[] must be objects");
    const d: AddressDraft = { uuid: optString(x.uuid, "address.uuid") ?? undefined, preferred: optBool(x.preferred, "preferred") };
    for (const f of ADDRESS_FIELDS) d[f] = optString(x[f], f) ?? null;
    return d;
  });
}

function attributeDrafts(v: unknown): AttributeDraft[] | undefined {
  return list(v, "attributes")?.map((x) => {
    if (!isObject(x)) throw bad("attributes[] must be objects");
    const value = typeof x.value === "boolean" || typeof x.value === "number" ? String(x.value) : refUuid(x.value, "value");
    return {
      uuid: optString(x.uuid, "attribute.uuid") ?? undefined,
      attributeType: refUuid(x.attributeType, "attributeType") ?? "",
      value: value ?? "",
    };
  });
}

function identifierDrafts(v: unknown): IdentifierDraft[] | undefined {
  return list(v, "identifiers")?.map((x) => {
    if (!isObject(x)) throw bad("identifiers[] must be objects");
    return {
      uuid: optString(x.uuid, "identifier.uuid") ?? undefined,
      identifier: optString(x.identifier, "identifier") ?? "",
      identifierType: refUuid(x.identifierType, "identifierType") ?? "",
      location: refUuid(x.location, "location") ?? null,
      preferred: optBool(x.preferred, "preferred"),
    };
  });
}

function dateField(v: unknown, field: string): string | null | undefined {
  const s = optString(v, field);
  if (s && parseInstant(s) === undefined) throw bad(`Invalid date for ${field}: ${s}`);
  return s;
}

/** Person fields from `body.person` (object) merged over person fields given at the top level. */
function personPatch(body: Json): PatientPatch {
  const person = isObject(body.person) ? body.person : {};
  const src: Json = { ...body, ...person };
  const patch: PatientPatch = {};
  const gender = optString(src.gender, "gender");
  if (gender !== undefined && gender !== null) patch.gender = gender.toUpperCase();
  const birthdate = dateField(src.birthdate, "birthdate");
  if (birthdate !== undefined) patch.birthdate = birthdate;
  const dead = optBool(src.dead, "dead");
  if (dead !== undefined) patch.dead = dead;
  const deathDate = dateField(src.deathDate, "deathDate");
  if (deathDate !== undefined) patch.deathDate = deathDate;
  const names = nameDrafts(src.names);
  if (names) patch.names = names;
  const addresses = addressDrafts(src.addresses);
  if (addresses) patch.addresses = addresses;
  const attributes = attributeDrafts(src.attributes);
  if (attributes) patch.attributes = attributes;
  return patch;
}

function voidPatch(body: Json): { voided?: boolean; voidReason?: string } {
  const voided = optBool(body.voided, "voided");
  const reason = optString(body.voidReason, "voidReason");
  return { ...(voided !== undefined ? { voided } : {}), ...(reason ? { voidReason: reason } : {}) };
}

function patientDraft(store: Store, body: Json): PatientDraft {
  if (typeof body.person === "string") {
    // a patient made from an existing person: the simulator has no standalone persons
    if (store.patients.has(body.person)) throw bad(`Patient with uuid ${body.person} already exists`);
    throw bad(`Person with uuid ${body.person} not found`);
  }
  if (!isObject(body.person)) throw bad("person is required");
  const uuid = optString(body.uuid, "uuid") ?? undefined;
  const personUuid = optString(body.person.uuid, "person.uuid") ?? undefined;
  if (uuid && personUuid && uuid !== personUuid) throw bad(`patient uuid ${uuid} differs from person uuid ${personUuid}`);
  const p = personPatch(body);
  if (!p.gender) throw bad("gender is required");
  return {
    uuid: uuid ?? personUuid,
    gender: p.gender,
    birthdate: p.birthdate,
    dead: p.dead,
    deathDate: p.deathDate,
    names: p.names ?? [],
    addresses: p.addresses,
    identifiers: identifierDrafts(body.identifiers),
    attributes: p.attributes,
  };
}

function patientPatch(body: Json): PatientPatch {
  const patch = { ...personPatch(body), ...voidPatch(body) };
  const identifiers = identifierDrafts(body.identifiers);
  if (identifiers) patch.identifiers = identifiers;
  return patch;
}

function visitFields(body: Json): VisitPatch {
  const f: VisitPatch = voidPatch(body);
  const patient = refUuid(body.patient, "patient");
  if (patient) f.patient = patient;
  const visitType = refUuid(body.visitType, "visitType");
  if (visitType) f.visitType = visitType;
  const start = dateField(body.startDatetime, "startDatetime");
  if (start) f.startDatetime = start;
  const stop = dateField(body.stopDatetime, "stopDatetime");
  if (stop !== undefined) f.stopDatetime = stop;
  const location = refUuid(body.location, "location");
  if (location !== undefined) f.location = location;
  return f;
}

function encounterFields(body: Json, uuid?: string): EncounterPatch {
  const f: EncounterPatch = voidPatch(body);
  const diagnoses = diagnosisDrafts(body.diagnoses, uuid ?? optString(body.uuid, "uuid") ?? undefined);
  if (diagnoses) f.diagnoses = diagnoses;
  const patient = refUuid(body.patient, "patient");
  if (patient) f.patient = patient;
  const type = refUuid(body.encounterType, "encounterType");
  if (type) f.encounterType = type;
  const dt = dateField(body.encounterDatetime, "encounterDatetime");
  if (dt) f.encounterDatetime = dt;
  const location = refUuid(body.location, "location");
  if (location !== undefined) f.location = location;
  const visit = refUuid(body.visit, "visit");
  if (visit !== undefined) f.visit = visit;
  const providers = list(body.encounterProviders, "encounterProviders");
  if (providers) {
    f.providers = providers.map((x, i) => {
      if (!isObject(x)) throw bad(`encounterProviders[${i}] must be an object`);
      const provider = required(refUuid(x.provider, "provider") ?? undefined, `encounterProviders[${i}].provider`);
      const role = refUuid(x.encounterRole, "encounterRole") ?? undefined;
      const uuid = optString(x.uuid, "uuid") ?? undefined;
      return { provider, ...(role ? { encounterRole: role } : {}), ...(uuid ? { uuid } : {}) };
    });
  }
  return f;
}

function obsValueInput(body: Json): ObsValueInput | undefined {
  const v = body.value ?? body.valueNumeric ?? body.valueText ?? body.valueCoded;
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number" || typeof v === "string") return v;
  if (isObject(v) && typeof v.uuid === "string") return { uuid: v.uuid };
  throw bad("value must be a number, a string or a concept reference");
}

function obsFields(body: Json): ObsPatch {
  const f: ObsPatch = voidPatch(body);
  const person = refUuid(body.person ?? body.patient, "person");
  if (person) f.person = person;
  const concept = refUuid(body.concept, "concept");
  if (concept) f.concept = concept;
  const dt = dateField(body.obsDatetime, "obsDatetime");
  if (dt) f.obsDatetime = dt;
  const enc = refUuid(body.encounter, "encounter");
  if (enc !== undefined) f.encounter = enc;
  const value = obsValueInput(body);
  if (value !== undefined) f.value = value;
  // A group's members, as uuids or references (ObsResource's groupMembers).
  const members = list(body.groupMembers, "groupMembers");
  if (members) f.groupMembers = members.map((m) => required(refUuid(m, "groupMembers[]") ?? undefined, "groupMembers[].uuid"));
  return f;
}

function required<T>(v: T | undefined, field: string): T {
  if (v === undefined || v === null || v === "") throw bad(`${field} is required`);
  return v;
}

function create(store: Store, type: RecordType, body: Json): AnyRecord {
  const uuid = optString(body.uuid, "uuid") ?? undefined;
  switch (type) {
    case "patient":
      return store.createPatient(patientDraft(store, body));
    case "visit": {
      const f = visitFields(body);
      const d: VisitDraft = { ...f, uuid, patient: required(f.patient, "patient"), visitType: required(f.visitType, "visitType") };
      return store.createVisit(d);
    }
    case "encounter": {
      const f = encounterFields(body);
      const d: EncounterDraft = {
        ...f,
        uuid,
        patient: required(f.patient, "patient"),
        encounterType: required(f.encounterType, "encounterType"),
      };
      return store.createEncounter(d);
    }
    default: {
      const f = obsFields(body);
      const d: ObsDraft = {
        ...f,
        uuid,
        person: required(f.person, "person"),
        concept: required(f.concept, "concept"),
        // A group has members instead of a value.
        value: f.groupMembers ? f.value : required(f.value, "value"),
      };
      return store.createObs(d);
    }
  }
}

/**
 * REST v1 updates attributes as PersonResource1_8.setAttributes does: an active attribute of a type the
 * body names takes the new value in place (its uuid kept), a type not there yet is added, and attributes of
 * types the body does not name stay.
 */
function mergeRestAttributes(existing: readonly PersonAttribute[], drafts: readonly AttributeDraft[]): AttributeDraft[] {
  const out: AttributeDraft[] = existing.filter((a) => !a.voided).map((a) => ({ uuid: a.uuid, attributeType: a.attributeType, value: a.value }));
  for (const d of drafts) {
    const same = out.find((o) => o.attributeType === d.attributeType);
    if (same) same.value = d.value;
    else out.push(d);
  }
  return out;
}

function patchFor(type: RecordType, body: Json): PatientPatch | VisitPatch | EncounterPatch | ObsPatch {
  switch (type) {
    case "patient":
      return patientPatch(body);
    case "visit":
      return visitFields(body);
    case "encounter":
      return encounterFields(body);
    default:
      return obsFields(body);
  }
}

// ------------------------------------------------------------------ handler

export function restError(status: number, message: string): Reply {
  const code = status === 404 ? "org.openmrs.module.webservices.rest.web.response.ObjectNotFoundException" : "webservices.rest.error.invalid.submission";
  return json(status, { error: { message, code, detail: "" } });
}

/**
 * A ValidationException, as openmrs-module-webservices.rest answers it (omod-common BaseRestController
 * .validationExceptionHandler -> RestUtil.wrapValidationErrorResponse): 400, the message of
 * webservices.rest.error.invalid.submission, and each validator's reject() as a global error whose code
 * is the validator's text (PatientIdentifierValidator rejects with the exception's message).
 */
function validationError(message: string): Reply {
  return json(400, {
    error: {
      message: "Invalid Submission",
      code: "webservices.rest.error.invalid.submission",
      globalErrors: [{ code: message, message }],
      fieldErrors: {},
    },
  });
}

function errorReply(e: unknown): Reply {
  if (e instanceof SimError) {
    if (e.validation) return validationError(e.message);
    if (e.status === 404) return restError(404, e.message);
    return restError(e.status, `[Invalid Submission : ${e.message}]`);
  }
  throw e;
}

/** A deliberately broken REST representation (fault `invalidFhir`). */
function invalidRep(uuid: string): Json {
  return { uuid, display: 42, voided: "maybe", person: "not-an-object", identifiers: "bogus", auditInfo: null, links: null };
}

export interface RestRequest {
  method: string;
  /** Path segments after `/ws/rest/v1/`. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  /** Absolute base URL incl. context path (for links). */
  base: string;
  invalid: ReadonlySet<string> | null;
  username: string;
}

export function handleRest(store: Store, req: RestRequest): Reply {
  const [resource = "", uuid, ...rest] = req.segments;
  try {
    if (resource === "session" && req.method === "GET") {
      return json(200, { sessionId: "simulated", authenticated: true, user: { uuid: ADMIN_USER_UUID, display: req.username, username: req.username } });
    }
    const meta = Object.hasOwn(META_RESOURCES, resource) ? META_RESOURCES[resource] : undefined;
    if (meta && req.method === "GET" && !uuid) {
      const results = [...meta.values()]
        .filter((m) => !store.lacking.has(m.uuid))
        .map((m) => ({ ...m, name: m.display, retired: false, links: selfLink(req.base, `${resource}/${m.uuid}`) }));
      return json(200, { results });
    }
    const registered = typeByRest(resource, store, uuid, req.body);
    if (meta && req.method === "GET" && uuid && rest.length === 0) {
      const m = store.lacking.has(uuid) ? undefined : meta.get(uuid);
      // A location (provider) record is served by its registered type.
      if (m) return json(200, { ...m, name: m.display, retired: false, links: selfLink(req.base, `${resource}/${uuid}`) });
      if (!registered || store.lacking.has(uuid)) return restError(404, "Object with given uuid doesn't exist");
    }
    const sub = uuid && rest.length > 0 ? subTypeByRest(resource, rest[0]) : undefined;
    if (sub) {
      const request = { method: req.method, uuid: rest[1], rest: rest.slice(2), query: req.query, body: req.body, invalid: req.invalid, parent: uuid };
      return restForType(store, sub, request, restParts(store, req.base));
    }
    // A person who is a patient is served as the patient's person (below); others by the person type.
    if (registered && !(resource === "person" && uuid !== undefined && store.patients.has(uuid))) {
      const request = { method: req.method, uuid, rest, query: req.query, body: req.body, invalid: req.invalid };
      return restForType(store, registered, request, restParts(store, req.base));
    }
    const personAlias = resource === "person";
    const type = personAlias ? "patient" : RESOURCE_TYPES[resource];
    if (!type || rest.length > 0) return restError(404, `Unknown resource: ${req.segments.join("/")}`);

    if (req.method === "GET") {
      const identifier = resource === "patient" && !uuid ? req.query.get("identifier") : null;
      if (identifier) {
        // PatientByIdentifierSearchHandler1_8: non-voided patients with a non-voided identifier of this value, any type
        const full = req.query.get("v") === "full";
        const results = patientsWithIdentifier(store, identifier).map((p) =>
          full ? patientRep(req.base, p) : ref(req.base, resource, p.uuid, patientDisplay(p)),
        );
        return json(200, { results });
      }
      if (!uuid) {
        const limit = Math.min(100, Math.max(1, Number(req.query.get("limit") ?? 50) || 50));
        const results: Json[] = [];
        for (const r of store.table(type).values()) {
          if (results.length >= limit) break;
          if (!r.voided) results.push(ref(req.base, resource, r.uuid, TITLE_OF[type]));
        }
        return json(200, { results });
      }
      if (req.invalid?.has(uuid)) return json(200, invalidRep(uuid));
      const rec = store.get(type, uuid);
      if (!rec) return restError(404, "Object with given uuid doesn't exist");
      return json(200, personAlias ? personRep(req.base, rec as Patient) : restRep(store, req.base, type, rec));
    }

    if (req.method === "POST") {
      if (!isObject(req.body)) return restError(400, "[Invalid Submission : request body must be a JSON object]");
      if (!uuid) {
        if (personAlias) return restError(400, "[Invalid Submission : create persons through the patient resource]");
        const rec = create(store, type, req.body);
        return json(201, restRep(store, req.base, type, rec));
      }
      const patch = personAlias ? personPatch(req.body) : patchFor(type, req.body);
      if (type === "patient" && (patch as PatientPatch).attributes) {
        const existing = store.patients.get(uuid)?.attributes ?? [];
        (patch as PatientPatch).attributes = mergeRestAttributes(existing, (patch as PatientPatch).attributes!);
      }
      const rec = store.update(type, uuid, patch);
      return json(200, personAlias ? personRep(req.base, rec as Patient) : restRep(store, req.base, type, rec));
    }

    if (req.method === "DELETE" && uuid) {
      if (req.query.get("purge") === "true") store.purge(type, uuid);
      else store.voidRecord(type, uuid, req.query.get("reason") || "web service call");
      return { status: 204, headers: {}, body: "" };
    }
    return restError(405, `Method ${req.method} not supported`);
  } catch (e) {
    return errorReply(e);
  }
}
