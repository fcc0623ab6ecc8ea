/**
 * Encounter, both directions (docs/fhir-mapping.md "Encounter"): REST v1 `encounter?v=full` -> FHIR
 * R4 Encounter tagged `encounter`, as fhir2's EncounterTranslatorImpl serves it, and back to the
 * REST v1 create body.
 */
import {
  ambulatoryClass,
  compact,
  encounterTag,
  fhirDateTime,
  firstLocation,
  locationOf,
  metaOf,
  objects,
  optionalReference,
  refDisplay,
  refUuid,
  reference,
  referenceId,
  requireFhirId,
  requirePatientRef,
  requireRef,
  requireUuid,
  restDateTime,
  typeCode,
  typeOf,
  asObject,
  type FhirInput,
  type FhirResource,
  type Json,
  type Period,
  type TypeConverter,
} from "./shared";
import { diagnosesToFhir, diagnosesToRest } from "./encounter-diagnoses";

export const ENCOUNTER_TYPE_SYSTEM = "http://fhir.openmrs.org/code-system/encounter-type";
/**
 * The pack's system for an encounter provider's role, on `participant.type` (fhir2 serves no role: its
 * participants are the providers only, written back with the default role). Only the REST path has it.
 */
export const ENCOUNTER_ROLE_SYSTEM = "http://fhir.openmrs.org/code-system/encounter-role";

interface RestEncounter {
  uuid?: unknown;
  patient?: unknown;
  encounterType?: unknown;
  encounterDatetime?: unknown;
  location?: unknown;
  visit?: unknown;
  encounterProviders?: unknown;
  diagnoses?: unknown;
  auditInfo?: unknown;
}

/** The active REST encounterProviders as participants: the provider as a Practitioner, the role as type. */
function participantsToFhir(providers: unknown): Json[] | undefined {
  const out = objects(providers)
    .filter((p) => p.voided !== true)
    .flatMap((p) => {
      const provider = refUuid(p.provider);
      if (!provider) return [];
      const role = refUuid(p.encounterRole);
      return [
        compact<Json>({
          type: role ? [{ coding: [compact({ system: ENCOUNTER_ROLE_SYSTEM, code: role, display: refDisplay(p.encounterRole) })] }] : undefined,
          individual: compact({ ...reference("Practitioner", provider), display: refDisplay(p.provider) }),
        }),
      ];
    });
  return out.length ? out : undefined;
}

/** Participants as REST encounterProviders: the Practitioner is the provider, a role only when the pack's system names one. */
function participantsToRest(participant: unknown): Json[] | undefined {
  const out = objects(participant).flatMap((p) => {
    const provider = referenceId(p.individual, "Practitioner");
    if (!provider) return [];
    const role = objects(p.type)
      .flatMap((t) => objects(t.coding))
      .find((c) => c.system === ENCOUNTER_ROLE_SYSTEM && typeof c.code === "string")?.code;
    return [compact({ provider, encounterRole: role })];
  });
  return out.length ? out : undefined;
}

function encounterToFhir(rep: RestEncounter & Json): FhirResource {
  const id = requireUuid(rep, "encounter");
  const patient = requireRef(rep.patient, `encounter ${id}`, "patient");
  return compact<FhirResource>({
    resourceType: "Encounter",
    id,
    meta: metaOf(rep.auditInfo, encounterTag("encounter")),
    // Its diagnoses (REST only: fhir2's Encounter has none), as contained Conditions.
    ...diagnosesToFhir(rep.diagnoses, patient),
    status: "unknown",
    class: ambulatoryClass(),
    type: typeOf(ENCOUNTER_TYPE_SYSTEM, rep.encounterType),
    subject: reference("Patient", patient),
    period: compact<Period>({ start: fhirDateTime(rep.encounterDatetime) }),
    participant: participantsToFhir(rep.encounterProviders),
    location: locationOf(rep.location),
    partOf: optionalReference("Encounter", rep.visit),
  });
}

function encounterToRest(r: FhirInput): Json {
  const uuid = requireFhirId(r, "Encounter");
  const period = asObject(r.period);
  const patient = requirePatientRef(r, `encounter ${uuid}`);
  return compact({
    uuid,
    patient,
    encounterType: typeCode(r.type, ENCOUNTER_TYPE_SYSTEM),
    encounterDatetime: restDateTime(period?.start),
    location: firstLocation(r.location),
    visit: referenceId(r.partOf, "Encounter"),
    encounterProviders: participantsToRest(r.participant),
    diagnoses: diagnosesToRest(r, uuid, patient),
  });
}

export const encounter: TypeConverter = { kind: "encounter", toFhir: encounterToFhir, toRest: encounterToRest };
