/**
 * Person attributes on a Patient, both directions, as openmrs-module-fhir2 carries them
 * (PatientTranslatorImpl, PersonAttributeTranslatorImpl, TelecomTranslatorImpl; docs/fhir-mapping.md
 * "Person attributes"):
 *  - every active attribute becomes an extension `http://fhir.openmrs.org/ext/person-attribute` holding
 *    two extensions: `…/person-attribute-type` (valueString = the attribute type's *name*) and
 *    `…/person-attribute-value` (valueString, valueBoolean, valueReference to a Location, or
 *    valueCodeableConcept for a concept);
 *  - active attributes of the contact attribute type (fhir2's global property
 *    `fhir2.personContactPointAttributeTypeUuid`, "Telephone Number" by default) also become
 *    `telecom` entries `{id: attribute uuid, value}`.
 * fhir2 names the attribute type by name, so writing back through REST (which takes the type's uuid)
 * needs the target's types by name; an attribute whose type the target lacks is left out with a warning.
 * The pack adds the attribute uuid as the extension's `id` (fhir2 sets none) so that the REST path keeps
 * uuids; the contact attribute's uuid rides on its telecom entry instead (an id is unique in a resource).
 */
import {
  asObject,
  compact,
  conceptCode,
  isVoided,
  objects,
  refDisplay,
  referenceId,
  refUuid,
  str,
  type Coding,
  type ConvertOptions,
  type Json,
} from "./shared";

export const PERSON_ATTRIBUTE_URL = "http://fhir.openmrs.org/ext/person-attribute";
export const PERSON_ATTRIBUTE_TYPE_URL = "http://fhir.openmrs.org/ext/person-attribute-type";
export const PERSON_ATTRIBUTE_VALUE_URL = "http://fhir.openmrs.org/ext/person-attribute-value";

/** fhir2's default for `fhir2.personContactPointAttributeTypeUuid`: the reference "Telephone Number" type. */
export const DEFAULT_CONTACT_ATTRIBUTE_TYPE = "14d4f066-15f5-102d-96e4-000c29c2a5d7";

interface ContactPoint {
  id?: string;
  value?: string;
}

interface Extension {
  id?: string;
  url: string;
  extension?: Extension[];
  [value: `value${string}`]: unknown;
}

// ---------------------------------------------------------------------------------------------
// REST -> FHIR

/** True when a REST reference's self link points at a REST resource of this name (e.g. "location"). */
function linksTo(v: Json, resource: string): boolean {
  return objects(v.links).some((l) => typeof l.uri === "string" && l.uri.includes(`/ws/rest/v1/${resource}/`));
}

/** The value[x] of an attribute's value extension, from the REST `value` (a string, or a reference for Attributable formats). */
function fhirValue(value: unknown): Json | undefined {
  if (typeof value === "string") return value === "" ? undefined : { valueString: value };
  if (typeof value === "boolean") return { valueBoolean: value };
  if (typeof value === "number" && Number.isFinite(value)) return { valueString: String(value) };
  const ref = asObject(value);
  const uuid = refUuid(ref);
  if (!ref || !uuid) return undefined;
  if (linksTo(ref, "location")) return { valueReference: { reference: `Location/${uuid}`, type: "Location" } };
  return { valueCodeableConcept: { coding: [compact<Coding>({ code: uuid, display: refDisplay(ref) })] } };
}

/** `telecom` and the person-attribute extensions for a REST person's `attributes`. */
export function attributesToFhir(attributes: unknown, options: ConvertOptions = {}): { telecom: ContactPoint[]; extension: Extension[] } {
  const contactType = options.contactAttributeType ?? DEFAULT_CONTACT_ATTRIBUTE_TYPE;
  const telecom: ContactPoint[] = [];
  const extension: Extension[] = [];
  for (const a of objects(attributes).filter((o) => !isVoided(o))) {
    const typeUuid = refUuid(a.attributeType);
    const typeName = refDisplay(a.attributeType);
    const value = fhirValue(a.value);
    const isContact = typeUuid === contactType;
    if (isContact && typeof a.value === "string" && a.value !== "") telecom.push(compact<ContactPoint>({ id: str(a.uuid), value: a.value }));
    if (!typeName || !value) continue;
    extension.push(
      compact<Extension>({
        id: isContact ? undefined : str(a.uuid),
        url: PERSON_ATTRIBUTE_URL,
        extension: [
          { url: PERSON_ATTRIBUTE_TYPE_URL, valueString: typeName },
          { url: PERSON_ATTRIBUTE_VALUE_URL, ...value },
        ],
      }),
    );
  }
  return { telecom, extension };
}

// ---------------------------------------------------------------------------------------------
// FHIR -> REST

/** The REST `value` for a person-attribute-value extension: a string, or the uuid of the location / concept. */
function restValue(e: Json): string | undefined {
  if (typeof e.valueString === "string") return str(e.valueString);
  if (typeof e.valueBoolean === "boolean") return String(e.valueBoolean);
  if (e.valueReference !== undefined) return referenceId(e.valueReference, "Location");
  if (e.valueCodeableConcept !== undefined) return conceptCode(e.valueCodeableConcept);
  return undefined;
}

/**
 * `person.attributes` for a REST create, from `telecom` and the person-attribute extensions. Attributes
 * that cannot be carried are left out and named in `warnings`.
 */
export function attributesToRest(telecom: unknown, extensions: unknown, options: ConvertOptions = {}): { attributes: Json[]; warnings: string[] } {
  const contactType = options.contactAttributeType ?? DEFAULT_CONTACT_ATTRIBUTE_TYPE;
  const attributes: Json[] = [];
  const warnings: string[] = [];
  const contactValues = new Set<string>();
  for (const c of objects(telecom)) {
    const value = str(c.value);
    if (!value) continue;
    contactValues.add(value);
    attributes.push(compact({ uuid: str(c.id), attributeType: contactType, value }));
  }
  for (const ext of objects(extensions).filter((e) => e.url === PERSON_ATTRIBUTE_URL)) {
    const parts = objects(ext.extension);
    const typeName = str(parts.find((p) => p.url === PERSON_ATTRIBUTE_TYPE_URL)?.valueString);
    const valuePart = parts.find((p) => p.url === PERSON_ATTRIBUTE_VALUE_URL);
    const value = valuePart ? restValue(valuePart) : undefined;
    if (!typeName || value === undefined) {
      warnings.push(`person attribute ${typeName ? `"${typeName}" ` : ""}without a type name or a value it can carry: left out`);
      continue;
    }
    const typeUuid = options.attributeTypes?.get(typeName);
    // fhir2 serves the contact attribute twice (telecom and extension): carry it once.
    if ((typeUuid === contactType || typeUuid === undefined) && contactValues.has(value)) continue;
    if (!typeUuid) {
      warnings.push(`person attribute "${typeName}": the target has no person attribute type of that name; left out`);
      continue;
    }
    attributes.push(compact({ uuid: str(ext.id), attributeType: typeUuid, value }));
  }
  return { attributes, warnings };
}
