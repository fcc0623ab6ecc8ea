/**
 * Relationship, both directions (docs/fhir-mapping.md "Relationship"): REST v1 `relationship?v=full`
 * (webservices.rest RelationshipResource1_9) -> FHIR R4 RelatedPerson, and back to the REST v1 create body.
 *
 * fhir2's RelatedPerson (RelatedPersonTranslatorImpl) is read only and one-sided: person A's demographics,
 * person B as `patient` only when B is a patient, and no relationship type, so no copy can be made from it.
 * The pack therefore reads relationships through REST v1 and writes them through REST v1 (with their uuid),
 * and carries in the RelatedPerson what fhir2's leaves out:
 *  - person A as fhir2 writes it: identifier `{system: "RelatedPerson", value: "Person/<A>"}`;
 *  - person B as `patient` (Patient/<B>, as fhir2 when B is a patient; REST does not say whether B is one)
 *    and as the pack's extension `http://fhir.openmrs.org/ext/relationship/person-b` (Person/<B>);
 *  - the relationship type as `relationship[0].coding[0]` of the pack's system
 *    `http://fhir.openmrs.org/code-system/relationship-type` (code = type uuid, display = its name);
 *  - startDate / endDate as `period`. `active` (from the dates and the clock) is left out: it changes
 *    with time while the record does not.
 * Person A's names, gender, birth date and addresses are not repeated here: the person's own record has them.
 */
import {
  asObject,
  compact,
  fhirDateTime,
  metaOf,
  objects,
  parseReference,
  reference,
  refDisplay,
  refUuid,
  requireFhirId,
  requireRef,
  requireUuid,
  restDateTime,
  str,
  unconvertible,
  type Coding,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";

/** fhir2's identifier system for person A (FhirConstants.RELATED_PERSON). */
export const RELATED_PERSON_IDENTIFIER_SYSTEM = "RelatedPerson";
/** The pack's: the relationship type (fhir2 serves none). */
export const RELATIONSHIP_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/relationship-type";
/** The pack's: person B as a Person (fhir2 names B only when B is a patient). */
export const RELATIONSHIP_PERSON_B_URL = "http://fhir.openmrs.org/ext/relationship/person-b";

function relationshipToFhir(rep: Json): FhirResource {
  const id = requireUuid(rep, "relationship");
  const a = requireRef(rep.personA, `relationship ${id}`, "personA");
  const b = requireRef(rep.personB, `relationship ${id}`, "personB");
  const type = requireRef(rep.relationshipType, `relationship ${id}`, "relationshipType");
  const bDisplay = refDisplay(rep.personB);
  return compact<FhirResource>({
    resourceType: "RelatedPerson",
    id,
    meta: metaOf(rep.auditInfo),
    extension: [{ url: RELATIONSHIP_PERSON_B_URL, valueReference: compact({ ...reference("Person", b), display: bDisplay }) }],
    identifier: [{ system: RELATED_PERSON_IDENTIFIER_SYSTEM, value: `Person/${a}` }],
    patient: compact({ ...reference("Patient", b), display: bDisplay }),
    relationship: [{ coding: [compact<Coding>({ system: RELATIONSHIP_TYPE_SYSTEM, code: type, display: refDisplay(rep.relationshipType) })] }],
    period: compact({ start: fhirDateTime(rep.startDate), end: fhirDateTime(rep.endDate) }),
  });
}

/** Person A: fhir2's identifier `Person/<uuid>` of system "RelatedPerson". */
export function relatedPersonA(r: FhirInput): string | undefined {
  const id = objects(r.identifier).find((i) => i.system === RELATED_PERSON_IDENTIFIER_SYSTEM && typeof i.value === "string");
  const parsed = id ? parseReference({ reference: id.value }) : undefined;
  return parsed?.resourceType === "Person" ? parsed.id : undefined;
}

/** Person B: the pack's extension, else the patient (fhir2's, when B is a patient). */
export function relatedPersonB(r: FhirInput): string | undefined {
  const ext = objects(r.extension).find((e) => e.url === RELATIONSHIP_PERSON_B_URL);
  const fromExt = parseReference(ext?.valueReference);
  if (fromExt && (fromExt.resourceType === "Person" || fromExt.resourceType === "Patient")) return fromExt.id;
  const patient = parseReference(r.patient);
  return patient?.resourceType === "Patient" ? patient.id : undefined;
}

function relationshipToRest(r: FhirInput): Json {
  const uuid = requireFhirId(r, "RelatedPerson");
  const personA = relatedPersonA(r);
  const personB = relatedPersonB(r);
  if (!personA) throw unconvertible(`RelatedPerson ${uuid} names no person A (identifier "RelatedPerson" = "Person/<uuid>")`);
  if (!personB) throw unconvertible(`RelatedPerson ${uuid} names no person B`);
  const coding = objects(r.relationship)
    .flatMap((cc) => objects(cc.coding))
    .find((c) => c.system === RELATIONSHIP_TYPE_SYSTEM && str(c.code));
  const relationshipType = refUuid(coding?.code);
  if (!relationshipType) throw unconvertible(`RelatedPerson ${uuid} has no relationship type (fhir2 serves none: read it through REST v1)`);
  const period = asObject(r.period);
  return compact({ uuid, personA, relationshipType, personB, startDate: restDateTime(period?.start), endDate: restDateTime(period?.end) });
}

export const relationship: TypeConverter = { kind: "relationship", toFhir: relationshipToFhir, toRest: relationshipToRest };
