/**
 * Location (`org.openmrs.Location`) as a record the simulator creates, updates, retires and publishes
 * (feed category `location`, in omod-atomfeed's default configuration). The fixed locations of
 * sim/metadata.ts stay what every server has from the start (no feed events); a location record is one
 * more, and counts as metadata wherever a record names a location (`store.checkMeta`): a record may name
 * it once it exists, and `store.lacking` hides it like any metadata.
 *
 *  - Record: name, description, address (address1, address2, cityVillage, stateProvince, country,
 *    postalCode, countyDistrict), parent, tags (names), retired (kept as `voided`).
 *  - REST v1 `location` (webservices.rest LocationResource1_8 / 1_9 / 2_0): the full representation,
 *    creatable = updatable properties (name required; `retired` is neither: DELETE retires, as
 *    MetadataDelegatingCrudResource.delete does). A parent or tag the server lacks is refused.
 *  - fhir2 `Location` (LocationTranslatorImpl, LocationAddressTranslatorImpl, LocationTagTranslatorImpl,
 *    LocationReferenceTranslatorImpl): address = city / state / country / postalCode plus the
 *    `http://fhir.openmrs.org/ext/address` extension (address1, address2); status active / inactive
 *    (a retired location is still served); tags as meta.tag `{system: .../location-tag, code: name}`;
 *    partOf the parent unless it is retired. A PUT (toOpenmrsType) sets name, description, the four
 *    address fields (the address extension is not read), ADDS tags, sets the parent from partOf (an
 *    unknown parent is none: `locationDao.get` returns null) and ignores status; DELETE retires.
 *    fhir2 creates under a PUT's id only when `fhir2.upsert.supported.resources` lists Location (not by
 *    default; the simulator does not).
 */
import { createHash } from "node:crypto";
import { SimError } from "../errors";
import type { BaseRecord, Store, VoidPatch } from "../model";
import { isObject } from "../reply";
import { arr, bad, obj, optStr, optString, refId, refuseOthers, refUuid } from "./parse";
import type { FhirParts, Json, RestParts, SimType } from "./registry";

export const LOCATION_TAG_SYSTEM = "http://fhir.openmrs.org/ext/location-tag";
export const ADDRESS_EXT = "http://fhir.openmrs.org/ext/address";

export const LOCATION_ADDRESS_FIELDS = ["address1", "address2", "cityVillage", "stateProvince", "country", "postalCode", "countyDistrict"] as const;
export type LocationAddressField = (typeof LOCATION_ADDRESS_FIELDS)[number];

export interface Location extends BaseRecord {
  name: string;
  description: string | null;
  address: Record<LocationAddressField, string | null>;
  parent: string | null;
  tags: string[];
}

export interface LocationDraft {
  uuid?: string;
  name: string;
  description?: string | null;
  address?: Partial<Record<LocationAddressField, string | null>>;
  parent?: string | null;
  tags?: string[];
}

export interface LocationPatch extends VoidPatch {
  name?: string | null;
  description?: string | null;
  address?: Partial<Record<LocationAddressField, string | null>>;
  /** A parent the server must have (REST refuses an unknown one). */
  parent?: string | null;
  /** fhir2: an unknown parent is no parent. */
  parentIfKnown?: string | null;
  tags?: string[];
  /** fhir2 adds tags, never removes one. */
  addTags?: string[];
}

/** A location tag's uuid, derived from its name (the simulator keeps tags by name). */
export function tagUuid(name: string): string {
  const h = createHash("sha1").update(`location-tag:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const blank = (s: string | null | undefined): string | null => (s === undefined || s === null || s.trim() === "" ? null : s);

/** A location record or fixed location this server has. */
function known(store: Store, uuid: string): boolean {
  try {
    store.checkMeta(new Map(), "Location", uuid);
    return true;
  } catch {
    return false;
  }
}

function finish(store: Store, prev: Location, p: LocationPatch): Location {
  const next: Location = { ...prev, address: { ...prev.address }, tags: [...prev.tags] };
  if (p.name !== undefined) next.name = p.name ?? "";
  if (p.description !== undefined) next.description = blank(p.description);
  for (const f of LOCATION_ADDRESS_FIELDS) if (p.address && p.address[f] !== undefined) next.address[f] = blank(p.address[f]);
  if (p.parent !== undefined) {
    if (p.parent !== null) store.checkMeta(new Map(), "Location", p.parent);
    next.parent = p.parent;
  }
  if (p.parentIfKnown !== undefined) next.parent = p.parentIfKnown && known(store, p.parentIfKnown) ? p.parentIfKnown : null;
  if (p.tags !== undefined) next.tags = [...new Set(p.tags)].sort();
  if (p.addTags !== undefined) next.tags = [...new Set([...next.tags, ...p.addTags])].sort();
  if (next.parent === next.uuid) throw bad("A location cannot be its own parent");
  // LocationValidator: a name is required.
  if (!next.name || !next.name.trim()) throw new SimError(400, "Location name is required", true);
  return next;
}

// ------------------------------------------------------------------ REST v1

const PROPERTIES = ["name", "description", ...LOCATION_ADDRESS_FIELDS, "latitude", "longitude", "tags", "parentLocation", "childLocations", "attributes"];

function nameOf(store: Store, uuid: string): string {
  const rec = store.getOf("location", uuid) as Location | undefined;
  return rec?.name ?? uuid;
}

function restRep(store: Store, l: Location, parts: RestParts): Json {
  const children = [...store.records("location").values()].filter((c) => (c as Location).parent === l.uuid);
  return {
    uuid: l.uuid,
    display: l.name,
    name: l.name,
    description: l.description,
    ...l.address,
    latitude: null,
    longitude: null,
    tags: l.tags.map((t) => parts.ref("locationtag", tagUuid(t), t)),
    parentLocation: l.parent ? parts.ref("location", l.parent, nameOf(store, l.parent)) : null,
    childLocations: children.map((c) => parts.ref("location", c.uuid, (c as Location).name)),
    retired: l.voided,
    attributes: [],
    auditInfo: parts.auditInfo(l),
    links: parts.selfLink(`location/${l.uuid}`),
    resourceVersion: "2.0",
  };
}

/** A tag by name (or `{name}` / `{display}`); the simulator keeps tags by name. */
function tagName(v: unknown, i: number): string {
  if (typeof v === "string" && v.trim()) return v;
  if (isObject(v)) {
    const n = optString(v.name ?? v.display, `tags[${i}].name`);
    if (n) return n;
  }
  throw bad(`tags[${i}] must be a location tag name`);
}

function restFields(body: Json): LocationPatch {
  const p: LocationPatch = {};
  const name = optString(body.name, "name");
  if (name !== undefined) p.name = name;
  const description = optString(body.description, "description");
  if (description !== undefined) p.description = description;
  const address: Partial<Record<LocationAddressField, string | null>> = {};
  for (const f of LOCATION_ADDRESS_FIELDS) {
    const v = optString(body[f], f);
    if (v !== undefined) address[f] = v;
  }
  if (Object.keys(address).length) p.address = address;
  const parent = refUuid(body.parentLocation, "parentLocation");
  if (parent !== undefined) p.parent = parent;
  if (body.tags !== undefined) p.tags = arr(body.tags, "tags").map(tagName);
  return p;
}

function restDraft(_store: Store, body: Json): LocationDraft {
  refuseOthers(body, ["uuid", ...PROPERTIES]);
  const f = restFields(body);
  if (!f.name) throw bad("Some required properties are missing: name");
  return { uuid: optString(body.uuid, "uuid") ?? undefined, name: f.name, description: f.description, address: f.address, parent: f.parent, tags: f.tags };
}

function restPatch(_store: Store, prev: Location, body: Json): LocationPatch {
  refuseOthers(body, PROPERTIES, (k, v) => (k === "uuid" && v === prev.uuid) || (k === "retired" && v === prev.voided));
  return restFields(body);
}

// ------------------------------------------------------------------ fhir2

function toFhir(store: Store, l: Location, parts: FhirParts): Json {
  const ext = (["address1", "address2"] as const).filter((f) => l.address[f] !== null).map((f) => ({ url: `${ADDRESS_EXT}#${f}`, valueString: l.address[f] }));
  const address: Json = {
    ...(ext.length ? { extension: [{ url: ADDRESS_EXT, extension: ext }] } : {}),
    city: l.address.cityVillage ?? undefined,
    state: l.address.stateProvince ?? undefined,
    postalCode: l.address.postalCode ?? undefined,
    country: l.address.country ?? undefined,
  };
  const parent = l.parent ? (store.getOf("location", l.parent) as Location | undefined) : undefined;
  const parentRetired = parent?.voided === true;
  return {
    resourceType: "Location",
    id: l.uuid,
    meta: { ...parts.meta(l), ...(l.tags.length ? { tag: l.tags.map((t) => ({ system: LOCATION_TAG_SYSTEM, code: t })) } : {}) },
    status: l.voided ? "inactive" : "active",
    name: l.name,
    ...(l.description ? { description: l.description } : {}),
    ...(Object.values(address).some((v) => v !== undefined) ? { address } : {}),
    ...(l.parent && !parentRetired ? { partOf: { ...parts.reference("Location", l.parent), display: nameOf(store, l.parent) } } : {}),
  };
}

/** LocationTranslatorImpl.toOpenmrsType(existing, resource). */
function fromFhir(body: Json): LocationPatch {
  const a = obj(body.address, "address");
  const meta = obj(body.meta, "meta");
  const tags = arr(meta?.tag, "meta.tag")
    .filter(isObject)
    .map((t, i) => optStr(t.code, `meta.tag[${i}].code`))
    .filter((t): t is string => !!t);
  const partOf = obj(body.partOf, "partOf");
  return {
    name: optStr(body.name, "name") ?? null,
    description: optStr(body.description, "description") ?? null,
    ...(a
      ? {
          address: {
            cityVillage: optStr(a.city, "address.city") ?? null,
            stateProvince: optStr(a.state, "address.state") ?? null,
            country: optStr(a.country, "address.country") ?? null,
            postalCode: optStr(a.postalCode, "address.postalCode") ?? null,
          },
        }
      : {}),
    addTags: tags,
    parentIfKnown: partOf?.reference ? (refId(partOf, "partOf", ["Location"]) ?? null) : null,
  };
}

// ------------------------------------------------------------------ the type

const NO_ADDRESS: Record<LocationAddressField, null> = {
  address1: null,
  address2: null,
  cityVillage: null,
  stateProvince: null,
  country: null,
  postalCode: null,
  countyDistrict: null,
};

export const location: SimType<Location, LocationDraft, LocationPatch> = {
  type: "location",
  category: "location",
  title: "Location",
  restResource: "location",
  fhirType: "Location",
  section: "locations",
  retirable: true,

  build(store, d, base) {
    const empty: Location = { ...base, name: "", description: null, address: { ...NO_ADDRESS }, parent: null, tags: [] };
    return finish(store, empty, { name: d.name, description: d.description, address: d.address, parent: d.parent ?? null, tags: d.tags ?? [] });
  },
  apply: (store, prev, patch) => finish(store, prev, patch),
  patientOf: () => null,

  restRep,
  restDraft,
  restPatch,

  toFhir,
  fhirDraft: (store, body) => {
    const p = fromFhir(body);
    const parent = p.parentIfKnown && known(store, p.parentIfKnown) ? p.parentIfKnown : null;
    return { name: p.name ?? "", description: p.description, address: p.address, tags: p.addTags, parent };
  },
  fhirPatch: (_store, _prev, body) => fromFhir(body),

  compare: (l) => ({ voided: l.voided, name: l.name, description: l.description, address: { ...l.address }, parent: l.parent, tags: [...l.tags] }),
};
