/**
 * Location as a synchronised record, both directions (docs/fhir-mapping.md "Location"): REST v1
 * `location?v=full` (webservices.rest LocationResource2_0) -> FHIR R4 Location as fhir2's
 * LocationTranslatorImpl serves it, and back to the REST v1 create body.
 *
 * As the translator does: name, description, status active / inactive (retired), the address as city /
 * state / country / postalCode plus the `http://fhir.openmrs.org/ext/address` extension for address1..6
 * (LocationAddressTranslatorImpl), tags as `meta.tag` (`system` .../location-tag, `code` the tag name), the
 * parent as `partOf`. Beyond it: `countyDistrict` is `address.district` (fhir2 leaves it out, so it
 * travels only REST to REST). Latitude, longitude, attributes and the location type are not carried.
 */
import {
  asObject,
  compact,
  metaOf,
  objects,
  referenceId,
  refDisplay,
  refUuid,
  requireFhirId,
  requireUuid,
  str,
  unconvertible,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";

export const LOCATION_TAG_SYSTEM = "http://fhir.openmrs.org/ext/location-tag";
export const OPENMRS_ADDRESS_URL = "http://fhir.openmrs.org/ext/address";
const ADDRESS_LINES = ["address1", "address2", "address3", "address4", "address5", "address6"] as const;

function locationToFhir(rep: Json): FhirResource {
  const id = requireUuid(rep, "location");
  const name = str(rep.name);
  if (!name) throw unconvertible(`location ${id} has no name`);
  const tags = objects(rep.tags)
    .map((t) => str(t.display) ?? str(t.name))
    .filter((t): t is string => t !== undefined);
  const meta = { ...(metaOf(rep.auditInfo) ?? {}), ...(tags.length ? { tag: tags.map((code) => ({ system: LOCATION_TAG_SYSTEM, code })) } : {}) };
  const lines = ADDRESS_LINES.filter((f) => str(rep[f])).map((f) => ({ url: `${OPENMRS_ADDRESS_URL}#${f}`, valueString: str(rep[f]) }));
  const address = compact({
    extension: lines.length ? [{ url: OPENMRS_ADDRESS_URL, extension: lines }] : undefined,
    city: str(rep.cityVillage),
    district: str(rep.countyDistrict),
    state: str(rep.stateProvince),
    postalCode: str(rep.postalCode),
    country: str(rep.country),
  });
  const parent = refUuid(rep.parentLocation);
  return compact<FhirResource>({
    resourceType: "Location",
    id,
    meta: Object.keys(meta).length ? meta : undefined,
    status: rep.retired === true ? "inactive" : "active",
    name,
    description: str(rep.description),
    address: Object.keys(address).length ? address : undefined,
    partOf: parent ? compact({ reference: `Location/${parent}`, type: "Location", display: refDisplay(rep.parentLocation) }) : undefined,
  });
}

function locationToRest(r: FhirInput & { status?: unknown; description?: unknown }): Json {
  const uuid = requireFhirId(r, "Location");
  const name = str(r.name);
  if (!name) throw unconvertible(`Location ${uuid} has no name: an OpenMRS location needs one`);
  const a = asObject(r.address);
  const lines: Json = {};
  for (const ext of objects(a?.extension).filter((e) => e.url === OPENMRS_ADDRESS_URL)) {
    for (const e of objects(ext.extension)) {
      const field = typeof e.url === "string" ? e.url.slice(e.url.lastIndexOf("#") + 1) : "";
      if ((ADDRESS_LINES as readonly string[]).includes(field) && str(e.valueString)) lines[field] = str(e.valueString);
    }
  }
  const tags = objects(asObject(r.meta)?.tag)
    .filter((t) => t.system === LOCATION_TAG_SYSTEM || t.system === undefined)
    .map((t) => str(t.code))
    .filter((t): t is string => t !== undefined);
  const partOf = asObject(r.partOf);
  const parent = partOf ? referenceId(partOf, "Location") : undefined;
  if (partOf && partOf.reference !== undefined && !parent) throw unconvertible(`Location ${uuid}: partOf is not a Location reference`);
  return compact({
    uuid,
    name,
    description: str(r.description),
    ...lines,
    cityVillage: str(a?.city),
    countyDistrict: str(a?.district),
    stateProvince: str(a?.state),
    postalCode: str(a?.postalCode),
    country: str(a?.country),
    parentLocation: parent,
    tags: tags.length ? tags : undefined,
  });
}

export const location: TypeConverter = { kind: "location", toFhir: locationToFhir, toRest: locationToRest };
