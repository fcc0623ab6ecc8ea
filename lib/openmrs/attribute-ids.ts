/**
 * Person attribute uuids for a Patient read through fhir2 (issue 8, lossless create). fhir2 serves each
 * attribute as a person-attribute extension without its uuid (PersonAttributeTranslatorImpl sets no id);
 * only the contact attribute's uuid rides on its telecom entry. Created on the target without them, the
 * attributes get new uuids there, and the two servers no longer agree on which attribute is which.
 *
 * So a Patient read through fhir2 whose attribute extensions have no id is completed from the same
 * server's REST representation (GET person/{uuid}?v=full, one request): each extension gets the uuid of the
 * active attribute with the same type name and value, as the REST path gives it (lib/fhir/types/
 * person-attributes.ts). The contact attribute keeps its uuid on telecom only (an id is unique in a
 * resource). A person the REST API does not know (404) is left as fhir2 served it; other failures are
 * OutcomeErrors for the caller to settle (retry on 5xx / network).
 */
import { httpFailure } from "../outcome";
import { PERSON_ATTRIBUTE_TYPE_URL, PERSON_ATTRIBUTE_URL, PERSON_ATTRIBUTE_VALUE_URL, type FhirResource } from "../fhir/convert";
import type { OpenmrsServer } from "./server";

type Json = Record<string, unknown>;

function objects(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x): x is Json => typeof x === "object" && x !== null) : [];
}

const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** What identifies an attribute in both forms: its type's name and its value as text (or the uuid it names). */
function extensionKey(ext: Json): string | undefined {
  const parts = objects(ext.extension);
  const type = text(parts.find((p) => p.url === PERSON_ATTRIBUTE_TYPE_URL)?.valueString);
  const v = parts.find((p) => p.url === PERSON_ATTRIBUTE_VALUE_URL);
  if (!type || !v) return undefined;
  const ref = typeof v.valueReference === "object" && v.valueReference !== null ? text((v.valueReference as Json).reference) : undefined;
  const coding = objects((v.valueCodeableConcept as Json | undefined)?.coding)[0];
  const value =
    text(v.valueString) ?? (typeof v.valueBoolean === "boolean" ? String(v.valueBoolean) : undefined) ?? ref?.split("/").pop() ?? text(coding?.code);
  return value === undefined ? undefined : `${type}\u0000${value}`;
}

function restKey(a: Json): string | undefined {
  const type = typeof a.attributeType === "object" && a.attributeType !== null ? (a.attributeType as Json) : undefined;
  const name = text(type?.display) ?? text(type?.name);
  const raw = a.value;
  const value =
    typeof raw === "object" && raw !== null
      ? text((raw as Json).uuid)
      : typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean"
        ? String(raw)
        : undefined;
  return name && value !== undefined ? `${name}\u0000${value}` : undefined;
}

/** True when the Patient has attribute extensions without an id. */
export function lacksAttributeIds(resource: FhirResource): boolean {
  return objects(resource.extension).some((e) => e.url === PERSON_ATTRIBUTE_URL && e.id === undefined);
}

/** The Patient with its attribute extensions' ids filled in from the server's REST API (see the header). */
export async function withAttributeIds(server: OpenmrsServer, resource: FhirResource, headers: Record<string, string> = {}): Promise<FhirResource> {
  if (!resource.id || !lacksAttributeIds(resource)) return resource;
  const url = `${server.restUrl("person", resource.id)}?v=full`;
  const res = await server.restGet(url, headers);
  if (res.status === 404) return resource;
  if (res.status !== 200) throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
  const taken = new Set(objects(resource.telecom).map((t) => t.id));
  const uuids = new Map<string, string[]>();
  for (const a of objects((res.json as Json | undefined)?.attributes)) {
    const key = restKey(a);
    const uuid = text(a.uuid);
    if (a.voided === true || !key || !uuid || taken.has(uuid)) continue;
    uuids.set(key, [...(uuids.get(key) ?? []), uuid]);
  }
  if (uuids.size === 0) return resource;
  const extension = objects(resource.extension).map((e) => {
    if (e.url !== PERSON_ATTRIBUTE_URL || e.id !== undefined) return e;
    const key = extensionKey(e);
    const id = key ? uuids.get(key)?.shift() : undefined;
    return id ? { id, ...e } : e;
  });
  return { ...resource, extension };
}
