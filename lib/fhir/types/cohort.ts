/**
 * Cohort, both directions (docs/fhir-mapping.md "Cohort"): REST v1 `cohort?v=full` (webservices.rest
 * CohortResource2_1) with its memberships (`cohort/{uuid}/membership?v=full`, CohortMembershipResource2_1,
 * put under `memberships` by whoever fetched it: lib/openmrs/cohort.ts) -> FHIR R4 Group as fhir2's
 * GroupTranslatorImpl serves it, and back to the REST v1 create body.
 *
 * As the translator does: `active` is not voided, the description is the extension
 * `http://fhir.openmrs.org/ext/group/description`, `actual` true, `type` person, the name, `quantity`
 * the live memberships, one `member` per patient. Unlike fhir2, only LIVE memberships are members:
 * GroupTranslatorImpl lists the patient of every membership, voided ones too (Cohort.getMemberIds), so a
 * patient taken out of a cohort would come back at the target. `managingEntity` (the creating user) is
 * left out: users are not synchronised.
 *
 * REST v1 cannot take members in the cohort body (memberIds are the server's own patient ids): the
 * create body is name, description and an empty memberIds; the members are written one membership at
 * a time (lib/push/cohort.ts), from `groupMembers`.
 */
import {
  compact,
  metaOf,
  objects,
  reference,
  referenceId,
  requireFhirId,
  requireUuid,
  str,
  unconvertible,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";

export const GROUP_DESCRIPTION_URL = "http://fhir.openmrs.org/ext/group/description";

/** Patients of the live memberships of a REST cohort representation (its `memberships`), sorted, once each. */
export function liveMemberships(rep: Json): string[] {
  const live = objects(rep.memberships)
    .filter((m) => m.voided !== true && !m.endDate)
    .map((m) => str(m.patientUuid))
    .filter((p): p is string => p !== undefined);
  return [...new Set(live)].sort();
}

/** The patient uuids a Group's members name (entity references to Patient), once each, sorted. */
export function groupMembers(r: FhirInput & { member?: unknown }): string[] {
  const ids = objects(r.member)
    .map((m) => referenceId(m.entity, "Patient"))
    .filter((p): p is string => p !== undefined);
  return [...new Set(ids)].sort();
}

function cohortToFhir(rep: Json): FhirResource {
  const id = requireUuid(rep, "cohort");
  const members = liveMemberships(rep);
  const description = str(rep.description);
  return compact<FhirResource>({
    resourceType: "Group",
    id,
    meta: metaOf(rep.auditInfo),
    extension: description !== undefined ? [{ url: GROUP_DESCRIPTION_URL, valueString: description }] : undefined,
    active: rep.voided !== true,
    type: "person",
    actual: true,
    name: str(rep.name),
    quantity: members.length,
    member: members.length ? members.map((p) => ({ entity: reference("Patient", p) })) : undefined,
  });
}

function cohortToRest(r: FhirInput & { member?: unknown; active?: unknown }): Json {
  const uuid = requireFhirId(r, "Group");
  const name = str(r.name);
  if (!name) throw unconvertible(`Group ${uuid} has no name: an OpenMRS cohort needs one`);
  for (const m of objects(r.member)) {
    if (!referenceId(m.entity, "Patient")) throw unconvertible(`Group ${uuid} has a member that is not a Patient: ${JSON.stringify(m.entity)}`);
  }
  const description = str(objects(r.extension).find((e) => e.url === GROUP_DESCRIPTION_URL)?.valueString);
  // CohortResource1_8's creatable properties: name, description, memberIds (all required).
  return { uuid, name, description: description ?? "", memberIds: [] };
}

export const cohort: TypeConverter = {
  kind: "cohort",
  toFhir: cohortToFhir,
  toRest: (r) => cohortToRest(r),
};
