/**
 * Writes a cohort (FHIR Group) to an OpenMRS target through REST v1, with or without fhir2 there:
 * fhir2 cannot create a Group under its id (no upsert: a PUT to an unknown id is 404) and its PUT only
 * ADDS members (GroupTranslatorImpl.toOpenmrsType calls addMember), so a patient taken out of a cohort
 * could never be taken out at the target. REST v1 (webservices.rest CohortResource2_1 and
 * CohortMembershipResource2_1, openmrs-core 2.1+) does all of it:
 *  - the cohort: created with its uuid (`POST cohort` with name, description, memberIds []), or its
 *    name and description updated when they differ (`POST cohort/{uuid}`);
 *  - its members: the target's live memberships (`GET cohort/{uuid}/membership`) are made the Group's
 *    members: a missing patient gets a membership (`POST .../membership` with patientUuid), a patient
 *    no longer in the Group has its membership voided (`DELETE .../membership/{uuid}`).
 * A step the target refuses ends the write with that refusal: the caller decides whether it is a
 * member patient not there yet (retried) or the record's own fault.
 */
import { httpOutcome, OK, type Outcome } from "../outcome";
import { fhirToRestCreate, groupMembers, type FhirResource } from "../fhir/convert";
import { cohortMemberships } from "../openmrs/cohort";
import type { OpenmrsServer } from "../openmrs/server";

export interface CohortWrite {
  outcome: Outcome;
  method: string;
  url: string;
}

type Json = Record<string, unknown>;

export async function writeCohort(server: OpenmrsServer, id: string, resource: FhirResource, headers: Record<string, string>): Promise<CohortWrite> {
  const { body } = fhirToRestCreate({ ...resource, id });
  const cohortUrl = server.restUrl("cohort", id);
  const send = async (method: "POST" | "DELETE", url: string, payload?: unknown): Promise<CohortWrite | undefined> => {
    const res = await server.restSend(method, url, payload, headers);
    return res.status >= 200 && res.status < 300
      ? undefined
      : { outcome: httpOutcome(method, url, res.status, res.json, res.headers["retry-after"]), method, url };
  };

  const current = await server.restGet(`${cohortUrl}?v=full`, headers);
  let created = false;
  if (current.status === 404) {
    const refused = await send("POST", server.restUrl("cohort"), body);
    if (refused) return refused;
    created = true;
  } else if (current.status !== 200) {
    return { outcome: httpOutcome("GET", cohortUrl, current.status, current.json, current.headers["retry-after"]), method: "GET", url: cohortUrl };
  } else {
    const rep = current.json as Json;
    if (rep.name !== body.name || (rep.description ?? "") !== body.description) {
      const refused = await send("POST", cohortUrl, { name: body.name, description: body.description });
      if (refused) return refused;
    }
  }

  const wanted = new Set(groupMembers(resource));
  const live = (await cohortMemberships(server, id, headers)).filter((m) => m.voided !== true && !m.endDate);
  const there = new Set(live.map((m) => String(m.patientUuid)));
  for (const patient of wanted) {
    if (there.has(patient)) continue;
    const refused = await send("POST", `${cohortUrl}/membership`, { patientUuid: patient });
    if (refused) return refused;
  }
  for (const m of live) {
    if (wanted.has(String(m.patientUuid))) continue;
    const refused = await send("DELETE", `${cohortUrl}/membership/${encodeURIComponent(String(m.uuid))}`);
    if (refused) return refused;
  }
  return { outcome: created ? { ...OK, status: 201, reason: "created" } : { ...OK, status: 200 }, method: "POST", url: cohortUrl };
}
