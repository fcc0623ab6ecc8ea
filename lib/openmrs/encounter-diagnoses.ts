/**
 * Diagnoses for an Encounter read through fhir2 (issue 8). fhir2's Encounter carries none
 * (EncounterTranslatorImpl), and fhir2 serves them only as Conditions of category encounter-diagnosis, which
 * no feed announces: a diagnosis saved with its encounter shows up as that encounter's event. So an Encounter
 * (not a visit) read through fhir2 is completed from the same server's REST representation (GET
 * encounter/{uuid}?v=full, one request, EncounterResource2_2's `diagnoses`) as the REST path would have
 * converted it (lib/fhir/types/encounter-diagnoses.ts). A server whose REST API does not know the encounter
 * (404), or that has no diagnoses (before OpenMRS 2.2), leaves it as fhir2 served it; other failures are
 * OutcomeErrors for the caller to settle (retry on 5xx / network).
 */
import { httpFailure } from "../outcome";
import type { FhirResource } from "../fhir/convert";
import { diagnosesToFhir } from "../fhir/types/encounter-diagnoses";
import { isVisitTagged, referenceId } from "../fhir/types/shared";
import type { OpenmrsServer } from "./server";

/** The Encounter with its diagnoses from the server's REST API (see the header); anything else as it is. */
export async function withDiagnoses(server: OpenmrsServer, resource: FhirResource, headers: Record<string, string> = {}): Promise<FhirResource> {
  if (resource.resourceType !== "Encounter" || !resource.id || isVisitTagged(resource) || resource.diagnosis !== undefined) return resource;
  const patient = referenceId(resource.subject, "Patient");
  if (!patient) return resource;
  const url = `${server.restUrl("encounter", resource.id)}?v=full`;
  const res = await server.restGet(url, headers);
  if (res.status === 404) return resource;
  if (res.status !== 200) throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
  const rep = res.json as { diagnoses?: unknown } | undefined;
  const extra = diagnosesToFhir(rep?.diagnoses, patient);
  return extra.contained ? { ...resource, ...extra } : resource;
}
