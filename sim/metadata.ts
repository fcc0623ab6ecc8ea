/**
 * Fixed metadata present on every simulated server from the start (metadata is not synced).
 * Uuids follow the OpenMRS reference application / CIEL where one exists.
 */

export interface NamedMeta {
  uuid: string;
  display: string;
}

export type ConceptDatatype = "Numeric" | "Text" | "Coded" | "N/A";

export interface Concept extends NamedMeta {
  datatype: ConceptDatatype;
  units?: string;
  /** Numeric range used by the generator. */
  min?: number;
  max?: number;
  /** Coded: allowed answer concept uuids. */
  answers?: string[];
  /** A concept set: an obs of it is a group (no value, members instead). */
  set?: boolean;
}

/** CIEL-style uuid: the concept id padded with "A" to 36 characters. */
export function ciel(id: number): string {
  const s = String(id);
  return s + "A".repeat(36 - s.length);
}

export const LOCATIONS: readonly NamedMeta[] = [
  { uuid: "8d6c993e-c2cc-11de-8d13-0010c6dffd0f", display: "Outpatient Clinic" },
  { uuid: "7fdfa2cb-bc95-405a-88c6-32b7673c0453", display: "Inpatient Ward" },
  { uuid: "6351fcf4-e311-4a19-90f9-35667d99a8af", display: "Registration Desk" },
  { uuid: "2131aff8-2e2a-480a-b7ab-4ac53250262b", display: "Isolation Ward" },
];

export const IDENTIFIER_TYPES: readonly NamedMeta[] = [
  { uuid: "05a29f94-c0ed-11e2-94be-8c13b969e334", display: "OpenMRS ID" },
  { uuid: "8d79403a-c2cc-11de-8d13-0010c6dffd0f", display: "Old Identification Number" },
  { uuid: "a5d38e09-efcb-4d91-a526-50ce1ba5011a", display: "National ID" },
];

export const VISIT_TYPES: readonly NamedMeta[] = [
  { uuid: "7b0f5697-27e3-40c4-8bae-f4049abfb4ed", display: "Facility Visit" },
  { uuid: "d66e9fe0-7d51-4801-a550-5d462ad1c944", display: "Home Visit" },
];

export const ENCOUNTER_TYPES: readonly NamedMeta[] = [
  { uuid: "67a71486-1a54-468f-ac3e-7091a9a79584", display: "Vitals" },
  { uuid: "d7151f82-c1f3-4152-a605-2f9ea7414a79", display: "Visit Note" },
  { uuid: "ca3aed11-1aa4-42a1-b85c-8332fc8001fc", display: "Check In" },
  { uuid: "8d5b27bc-c2cc-11de-8d13-0010c6dffd0f", display: "Adult Initial" },
];

/**
 * Person attribute types (all java.lang.String here). "Telephone Number" is the type fhir2 serves as
 * telecom by default (global property fhir2.personContactPointAttributeTypeUuid).
 */
export const PERSON_ATTRIBUTE_TYPES: readonly NamedMeta[] = [
  { uuid: "14d4f066-15f5-102d-96e4-000c29c2a5d7", display: "Telephone Number" },
  { uuid: "8d871386-c2cc-11de-8d13-0010c6dffd0f", display: "Race" },
  { uuid: "8d8718c2-c2cc-11de-8d13-0010c6dffd0f", display: "Birthplace" },
  { uuid: "8d871afc-c2cc-11de-8d13-0010c6dffd0f", display: "Citizenship" },
  { uuid: "8d871f2a-c2cc-11de-8d13-0010c6dffd0f", display: "Civil Status" },
];

/** Providers (Practitioner in fhir2). The first is the reference application's "UNKNOWN - Super User". */
export const PROVIDERS: readonly NamedMeta[] = [
  { uuid: "f9badd80-ab76-11e2-9e96-0800200c9a66", display: "UNKNOWN - Super User" },
  { uuid: "3c5e3ab6-3d2f-4a34-9a8e-8d1f2b6f0c41", display: "NRS-1 - Jane Nurse" },
];

/** Encounter roles. "Unknown" (EncounterRole.UNKNOWN_ENCOUNTER_ROLE_UUID) is fhir2's default for a participant. */
export const ENCOUNTER_ROLES: readonly NamedMeta[] = [
  { uuid: "a0b03050-c99b-11e0-9572-0800200c9a66", display: "Unknown" },
  { uuid: "240b26f9-dd88-4172-823d-4a8bfeb7841f", display: "Clinician" },
];
export const UNKNOWN_ENCOUNTER_ROLE = "a0b03050-c99b-11e0-9572-0800200c9a66";

/** The contact attribute type (fhir2's default). */
export const CONTACT_ATTRIBUTE_TYPE = "14d4f066-15f5-102d-96e4-000c29c2a5d7";

export const ANSWER_CONCEPTS: readonly Concept[] = [
  { uuid: ciel(703), display: "Positive", datatype: "N/A" },
  { uuid: ciel(664), display: "Negative", datatype: "N/A" },
  { uuid: ciel(1138), display: "Indeterminate", datatype: "N/A" },
  { uuid: ciel(1065), display: "Yes", datatype: "N/A" },
  { uuid: ciel(1066), display: "No", datatype: "N/A" },
];

export const QUESTION_CONCEPTS: readonly Concept[] = [
  { uuid: ciel(5089), display: "Weight (kg)", datatype: "Numeric", units: "kg", min: 3, max: 120 },
  { uuid: ciel(5090), display: "Height (cm)", datatype: "Numeric", units: "cm", min: 50, max: 200 },
  { uuid: ciel(5088), display: "Temperature (C)", datatype: "Numeric", units: "DEG C", min: 35, max: 41 },
  { uuid: ciel(5087), display: "Pulse", datatype: "Numeric", units: "beats/min", min: 40, max: 160 },
  { uuid: ciel(162169), display: "Text of encounter note", datatype: "Text" },
  { uuid: ciel(32), display: "Malaria smear, qualitative", datatype: "Coded", answers: [ciel(703), ciel(664), ciel(1138)] },
  { uuid: ciel(1724), display: "Currently taking ARVs", datatype: "Coded", answers: [ciel(1065), ciel(1066)] },
];

/** Concept sets an obs group is made of (not picked by the generator's plain obs). */
export const GROUP_CONCEPTS: readonly Concept[] = [{ uuid: ciel(1114), display: "Vital signs", datatype: "N/A", set: true }];

/** Diagnoses (CIEL), the concepts of conditions (sim/types/condition.ts). */
export const DIAGNOSIS_CONCEPTS: readonly Concept[] = [
  { uuid: ciel(117399), display: "Hypertension", datatype: "N/A" },
  { uuid: ciel(121629), display: "Anaemia", datatype: "N/A" },
  { uuid: ciel(160148), display: "Malaria, confirmed", datatype: "N/A" },
  { uuid: ciel(138571), display: "HIV Positive", datatype: "N/A" },
  { uuid: ciel(119481), display: "Diabetes mellitus", datatype: "N/A" },
  { uuid: ciel(121375), display: "Asthma", datatype: "N/A" },
];

/**
 * Relationship types (openmrs-core's standard ones, aIsToB / bIsToA), the types of relationships
 * (sim/types/relationship.ts). `display` is the REST display, "aIsToB/bIsToA".
 */
export interface RelationshipType extends NamedMeta {
  aIsToB: string;
  bIsToA: string;
}
export const RELATIONSHIP_TYPES: readonly RelationshipType[] = [
  { uuid: "8d919b58-c2cc-11de-8d13-0010c6dffd0f", display: "Doctor/Patient", aIsToB: "Doctor", bIsToA: "Patient" },
  { uuid: "8d91a01c-c2cc-11de-8d13-0010c6dffd0f", display: "Sibling/Sibling", aIsToB: "Sibling", bIsToA: "Sibling" },
  { uuid: "8d91a210-c2cc-11de-8d13-0010c6dffd0f", display: "Parent/Child", aIsToB: "Parent", bIsToA: "Child" },
  { uuid: "8d91a3dc-c2cc-11de-8d13-0010c6dffd0f", display: "Aunt/Uncle/Niece/Nephew", aIsToB: "Aunt/Uncle", bIsToA: "Niece/Nephew" },
];

export const CONCEPTS: readonly Concept[] = [...QUESTION_CONCEPTS, ...ANSWER_CONCEPTS, ...GROUP_CONCEPTS, ...DIAGNOSIS_CONCEPTS];

/** The simulator's one user (admin), creator of every record. */
export const ADMIN_USER_UUID = "1c3db49d-440a-11e6-a65c-00e04c680037";

function index<T extends NamedMeta>(items: readonly T[]): ReadonlyMap<string, T> {
  return new Map(items.map((i) => [i.uuid, i]));
}

export const META = {
  locations: index(LOCATIONS),
  identifierTypes: index(IDENTIFIER_TYPES),
  visitTypes: index(VISIT_TYPES),
  encounterTypes: index(ENCOUNTER_TYPES),
  concepts: index(CONCEPTS),
  personAttributeTypes: index(PERSON_ATTRIBUTE_TYPES),
  providers: index(PROVIDERS),
  encounterRoles: index(ENCOUNTER_ROLES),
  relationshipTypes: index(RELATIONSHIP_TYPES),
};

/** REST resource name for each metadata kind (GET {ctx}/ws/rest/v1/{resource}/{uuid}). */
export const META_RESOURCES: Readonly<Record<string, ReadonlyMap<string, NamedMeta>>> = {
  location: META.locations,
  patientidentifiertype: META.identifierTypes,
  visittype: META.visitTypes,
  encountertype: META.encounterTypes,
  concept: META.concepts,
  personattributetype: META.personAttributeTypes,
  provider: META.providers,
  encounterrole: META.encounterRoles,
  relationshiptype: META.relationshipTypes,
};
