/**
 * OpenMRS REST v1 <-> FHIR R4 converter for the records the pack syncs (patient, visit, encounter with
 * its diagnoses, obs, condition, relationship, person), as specified in docs/fhir-mapping.md (which follows openmrs-module-fhir2's translators).
 *
 *  - restToFhir: a REST v1 `?v=full` representation -> the FHIR R4 resource fhir2 would serve.
 *  - fhirToRestCreate: a FHIR R4 resource -> the REST v1 create body that keeps the original uuid
 *    (fhir2 cannot create under a chosen id; see "Creating with the original uuid").
 *
 * This file only dispatches: each record type, both directions, lives in `./types/<type>.ts`, and what
 * they share in `./types/shared.ts`. Every table here is a Map, so a kind or resource type such as
 * "__proto__" or "constructor" is unknown, never a property of Object.prototype.
 *
 * Output never holds empty arrays, empty strings, nulls or undefined values. Voided sub-items
 * (names, identifiers, addresses) are skipped. Input that cannot be converted throws PermanentError.
 */
import { PermanentError, shownValue } from "../outcome";
import { allergy } from "./types/allergy";
import { order } from "./types/order";
import { cohort } from "./types/cohort";
import { condition } from "./types/condition";
import { encounter } from "./types/encounter";
import { location } from "./types/location";
import { observation } from "./types/observation";
import { patient } from "./types/patient";
import { relatedPersonA, relatedPersonB, relationship } from "./types/relationship";
import { diagnosisConditions } from "./types/encounter-diagnoses";
import { person } from "./types/person";
import {
  asObject,
  isVisitTagged,
  parseReference,
  unconvertible,
  type ConvertOptions,
  type FhirResource,
  type RestKind,
  type TypeConverter,
} from "./types/shared";
import { visit } from "./types/visit";

export type { ConvertOptions, FhirResource, RestKind } from "./types/shared";
export { ENCOUNTER_TAG_SYSTEM } from "./types/shared";
export { IDENTIFIER_LOCATION_URL } from "./types/patient";
export { DEFAULT_CONTACT_ATTRIBUTE_TYPE, PERSON_ATTRIBUTE_TYPE_URL, PERSON_ATTRIBUTE_URL, PERSON_ATTRIBUTE_VALUE_URL } from "./types/person-attributes";
export { VISIT_TYPE_SYSTEM } from "./types/visit";
export { ENCOUNTER_TYPE_SYSTEM } from "./types/encounter";
export { LOCATION_TAG_SYSTEM, OPENMRS_ADDRESS_URL } from "./types/location";
export { GROUP_DESCRIPTION_URL, groupMembers, liveMemberships } from "./types/cohort";
export { CONDITION_CATEGORY_SYSTEM, CONDITION_CLINICAL_SYSTEM, CONDITION_VERIFICATION_SYSTEM, NON_CODED_CONDITION_URL } from "./types/condition";
export { RELATED_PERSON_IDENTIFIER_SYSTEM, RELATIONSHIP_PERSON_B_URL, RELATIONSHIP_TYPE_SYSTEM } from "./types/relationship";
export { DIAGNOSIS_CONDITION_URL, DIAGNOSIS_RANK_URL } from "./types/encounter-diagnoses";
export { PERSON_DECEASED_URL } from "./types/person";
export { ALLERGY_SEVERITY_CONCEPTS, OTHER_NON_CODED_CONCEPT, validAllergy } from "./types/allergy";
export { ORDER_DETAILS_URL } from "./types/order";

/** Kind -> its converter. */
const CONVERTERS = new Map<RestKind, TypeConverter>(
  [patient, visit, encounter, observation, condition, relationship, person, allergy, order, cohort, location].map((c) => [c.kind, c]),
);

/** REST resource name (lower case) -> kind. */
const REST_KINDS = new Map<string, RestKind>([
  ["patient", "patient"],
  ["visit", "visit"],
  ["encounter", "encounter"],
  ["obs", "obs"],
  ["observation", "obs"],
  ["condition", "condition"],
  ["relationship", "relationship"],
  ["person", "person"],
  ["allergy", "allergy"],
  ["order", "order"],
  ["cohort", "cohort"],
  ["location", "location"],
]);

/** FHIR resourceType -> kind (an Encounter is a visit when tagged so). */
const FHIR_KINDS = new Map<string, (resource: FhirResource) => RestKind>([
  ["Patient", () => "patient"],
  ["Observation", () => "obs"],
  ["Condition", () => "condition"],
  ["Encounter", (r) => (isVisitTagged(r) ? "visit" : "encounter")],
  ["RelatedPerson", () => "relationship"],
  ["Person", () => "person"],
  ["AllergyIntolerance", () => "allergy"],
  ["MedicationRequest", () => "order"],
  ["ServiceRequest", () => "order"],
  ["Group", () => "cohort"],
  ["Location", () => "location"],
]);

/** FHIR resourceType -> the [field, referenced type] pairs of the records it needs on the target first. */
const RECORD_REFERENCES = new Map<string, [string, string][]>([
  [
    "Encounter",
    [
      ["subject", "Patient"],
      ["partOf", "Encounter"],
    ],
  ],
  [
    "Observation",
    [
      ["subject", "Patient"],
      ["encounter", "Encounter"],
      // An obs group's members are written before it.
      ["hasMember", "Observation"],
    ],
  ],
  ["Condition", [["subject", "Patient"]]],
  ["AllergyIntolerance", [["patient", "Patient"]]],
  [
    "MedicationRequest",
    [
      ["subject", "Patient"],
      ["encounter", "Encounter"],
      // A revision or discontinuation names the order it stops, which must be there (and active) first.
      ["priorPrescription", "MedicationRequest"],
    ],
  ],
  [
    "ServiceRequest",
    [
      ["subject", "Patient"],
      ["encounter", "Encounter"],
      ["replaces", "ServiceRequest"],
    ],
  ],
  // A cohort's members: `member[].entity`.
  ["Group", [["member.entity", "Patient"]]],
  // A location's parent (also waited for as metadata: lib/openmrs/metadata-check.ts).
  ["Location", [["partOf", "Location"]]],
]);

/** References that are not one field's: a relationship's two persons (a patient is a person too). */
const COMPUTED_REFERENCES = new Map<string, (r: FhirResource) => (string | undefined)[]>([
  ["RelatedPerson", (r) => [relatedPersonA(r), relatedPersonB(r)].map((id) => (id ? `Person/${id}` : undefined))],
  // The problem-list conditions an encounter's diagnoses are about.
  ["Encounter", (r) => diagnosisConditions(r).map((id) => `Condition/${id}`)],
]);

// ---------------------------------------------------------------------------------------------
// Kinds

/** REST resource name -> kind: "patient", "visit", "encounter", "obs" (also "observation"), "condition", "relationship", "person". */
export function restKindOf(restResource: string): RestKind | undefined {
  const name = typeof restResource === "string" ? restResource.trim().toLowerCase() : "";
  return REST_KINDS.get(name);
}

/** True when the REST representation itself is voided (top-level `voided === true`), or retired (metadata records: a location). */
export function isVoidedRest(rep: unknown): boolean {
  const o = asObject(rep);
  return o?.voided === true || o?.retired === true;
}

/**
 * Patient -> patient, Observation -> obs, Condition -> condition, RelatedPerson -> relationship, Person -> person,
 * Encounter tagged `visit` -> visit, any other Encounter -> encounter.
 */
export function restKindOfFhir(resource: FhirResource): RestKind | undefined {
  const type: unknown = resource?.resourceType;
  const kindOf = typeof type === "string" ? FHIR_KINDS.get(type) : undefined;
  return kindOf ? kindOf(resource) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Conversions

/** A REST v1 `?v=full` representation as the FHIR R4 resource (docs/fhir-mapping.md). */
export function restToFhir(kind: RestKind, rep: unknown, options: ConvertOptions = {}): FhirResource {
  const o = asObject(rep);
  if (!o) throw unconvertible(`${String(kind)} representation is not an object`);
  const converter = CONVERTERS.get(kind);
  if (!converter) throw new PermanentError(`unsupported REST kind ${shownValue(kind)}`, "unsupported-type");
  return converter.toFhir(o, options);
}

/**
 * The REST v1 create body (with `uuid`) for a FHIR resource, per docs/fhir-mapping.md
 * "Creating with the original uuid". Dates in the OpenMRS format, references as uuid strings.
 * `warnings` (only when there are some) names what the body leaves out (a person attribute whose type the target lacks).
 */
export function fhirToRestCreate(resource: FhirResource, options: ConvertOptions = {}): { kind: RestKind; body: Record<string, unknown>; warnings?: string[] } {
  const r = asObject(resource);
  if (!r) throw unconvertible("resource is not an object");
  const kind = restKindOfFhir(r as FhirResource);
  const converter = kind === undefined ? undefined : CONVERTERS.get(kind);
  if (!kind || !converter) throw new PermanentError(`unsupported FHIR resource type ${shownValue(r.resourceType)}`, "unsupported-type");
  const warnings: string[] = [];
  const body = converter.toRest(r, options, warnings);
  return warnings.length > 0 ? { kind, body, warnings } : { kind, body };
}

// ---------------------------------------------------------------------------------------------
// References to other records

/** The values at a dotted path ("member.entity"), through arrays on the way. */
function valuesAt(r: Record<string, unknown>, path: string): unknown[] {
  let values: unknown[] = [r];
  for (const key of path.split(".")) {
    values = values.flatMap((v) => {
      const o = asObject(v);
      const next = o ? o[key] : undefined;
      return Array.isArray(next) ? (next as unknown[]) : next === undefined ? [] : [next];
    });
  }
  return values;
}

/**
 * The records a resource refers to that the target must already hold before it can be written:
 * the Patient (subject), Encounter (encounter, partOf; a visit is an Encounter too), an obs group's
 * member Observations (hasMember), a relationship's two Persons, the Conditions an encounter's
 * diagnoses are about. Metadata
 * (Location, Practitioner, concepts, types) is not included.
 */
export function fhirReferences(resource: FhirResource): { resourceType: string; id: string }[] {
  const r = asObject(resource);
  const type = r?.resourceType;
  const computed = r && typeof type === "string" ? COMPUTED_REFERENCES.get(type) : undefined;
  const fields = r && typeof type === "string" ? RECORD_REFERENCES.get(type) : undefined;
  if (!r || (!fields && !computed)) return [];
  const out: { resourceType: string; id: string }[] = [];
  for (const ref of computed?.(r as FhirResource) ?? []) {
    const parsed = parseReference({ reference: ref });
    if (parsed && !out.some((o) => o.resourceType === parsed.resourceType && o.id === parsed.id)) out.push(parsed);
  }
  if (!fields) return out;
  for (const [field, expected] of fields) {
    for (const one of valuesAt(r, field)) {
      const parsed = parseReference(one);
      if (parsed && parsed.resourceType === expected && !out.some((o) => o.resourceType === expected && o.id === parsed.id)) {
        out.push(parsed);
      }
    }
  }
  return out;
}
