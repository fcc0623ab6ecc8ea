/**
 * A cohort's members as REST v1 holds them: `GET cohort/{uuid}/membership?v=full` (webservices.rest
 * CohortMembershipResource2_1, openmrs-core 2.1+). The cohort representation itself has no members (only
 * `size`), and fhir2's Group lists the patient of every membership, voided ones too; so both the source
 * read and the target read complete a cohort from here (docs/fhir-mapping.md "Cohort").
 */
import { httpFailure } from "../outcome";
import { groupMembers, liveMemberships, type FhirResource } from "../fhir/convert";
import { reference } from "../fhir/types/shared";
import type { OpenmrsServer } from "./server";

type Json = Record<string, unknown>;

/** Every membership of a cohort (voided ones too), as the server lists them; [] when it has no such sub-resource (404). */
export async function cohortMemberships(server: OpenmrsServer, uuid: string, headers: Record<string, string> = {}): Promise<Json[]> {
  const url = `${server.restUrl("cohort", uuid)}/membership?v=full`;
  const res = await server.restGet(url, headers);
  if (res.status === 404) return [];
  if (res.status !== 200) throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
  const results = (res.json as { results?: unknown } | undefined)?.results;
  return Array.isArray(results) ? results.filter((m): m is Json => typeof m === "object" && m !== null) : [];
}

/** A REST cohort representation with its `memberships` added. */
export async function withMemberships(server: OpenmrsServer, rep: Json, headers: Record<string, string> = {}): Promise<Json> {
  return { ...rep, memberships: await cohortMemberships(server, String(rep.uuid), headers) };
}

/**
 * A fhir2 Group whose members are the cohort's live memberships (fhir2 also lists voided ones), without
 * `managingEntity` (the creating user: users are not synchronised, and REST v1 cannot set a creator).
 */
export async function withLiveMembers(server: OpenmrsServer, group: FhirResource, headers: Record<string, string> = {}): Promise<FhirResource> {
  const { member: _m, managingEntity: _e, ...rest } = group;
  void _m;
  void _e;
  const memberships = await cohortMemberships(server, String(group.id), headers);
  // No membership sub-resource (openmrs-core before 2.1): the members as fhir2 says.
  if (memberships.length === 0 && groupMembers(group).length > 0) return { ...rest, member: group.member };
  const live = liveMemberships({ memberships });
  return { ...rest, quantity: live.length, ...(live.length ? { member: live.map((p) => ({ entity: reference("Patient", p) })) } : {}) };
}
