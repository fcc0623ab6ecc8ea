/**
 * Observation, both directions (docs/fhir-mapping.md "Observation"): REST v1 `obs?v=full` -> FHIR R4
 * Observation, as fhir2's ObservationTranslatorImpl serves it, and back to the REST v1 create body.
 */
import { openmrsToFhirDateTime } from "../dates";
import {
  compact,
  conceptCode,
  dateCreated,
  fhirDateTime,
  metaOf,
  optionalReference,
  reference,
  referenceId,
  refDisplay,
  refUuid,
  requireFhirId,
  requirePatientRef,
  requireRef,
  requireUuid,
  restDateTime,
  str,
  asObject,
  unconvertible,
  type Coding,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";

interface RestObs {
  uuid?: unknown;
  person?: unknown;
  concept?: unknown;
  encounter?: unknown;
  obsDatetime?: unknown;
  value?: unknown;
  valueNumeric?: unknown;
  valueText?: unknown;
  valueCoded?: unknown;
  groupMembers?: unknown;
  auditInfo?: unknown;
}

interface Quantity {
  value?: number;
}

/** value[x] of an obs: `value`, else `valueNumeric` / `valueText` / `valueCoded`. */
function obsValue(rep: RestObs): Json {
  const raw =
    rep.value !== undefined && rep.value !== null
      ? rep.value
      : rep.valueNumeric !== undefined && rep.valueNumeric !== null
        ? rep.valueNumeric
        : rep.valueText !== undefined && rep.valueText !== null
          ? rep.valueText
          : undefined;
  if (raw === undefined && rep.valueCoded !== undefined && rep.valueCoded !== null) {
    const code = refUuid(rep.valueCoded);
    return code ? { valueCodeableConcept: { coding: [compact<Coding>({ code, display: refDisplay(rep.valueCoded) })] } } : {};
  }
  if (typeof raw === "number") return Number.isFinite(raw) ? { valueQuantity: { value: raw } satisfies Quantity } : {};
  if (typeof raw === "string") return raw === "" ? {} : { valueString: raw };
  if (typeof raw === "boolean") return { valueBoolean: raw };
  const coded = asObject(raw);
  const code = str(coded?.uuid);
  if (code) return { valueCodeableConcept: { coding: [compact<Coding>({ code, display: refDisplay(coded) })] } };
  return {};
}

function obsToFhir(rep: RestObs & Json): FhirResource {
  const id = requireUuid(rep, "obs");
  const person = requireRef(rep.person, `obs ${id}`, "person");
  const concept = requireRef(rep.concept, `obs ${id}`, "concept");
  const created = dateCreated(rep.auditInfo);
  return compact<FhirResource>({
    resourceType: "Observation",
    id,
    meta: metaOf(rep.auditInfo),
    status: "final",
    code: { coding: [compact<Coding>({ code: concept, display: refDisplay(rep.concept) })] },
    subject: reference("Patient", person),
    encounter: optionalReference("Encounter", rep.encounter),
    effectiveDateTime: fhirDateTime(rep.obsDatetime),
    issued: created ? openmrsToFhirDateTime(created) : undefined,
    hasMember: groupMembersToFhir(rep.groupMembers),
    ...obsValue(rep),
  });
}

function obsRestValue(r: FhirInput): unknown {
  const quantity = asObject(r.valueQuantity);
  if (quantity && typeof quantity.value === "number") return quantity.value;
  if (typeof r.valueInteger === "number") return r.valueInteger;
  if (typeof r.valueString === "string") return r.valueString;
  if (typeof r.valueBoolean === "boolean") return r.valueBoolean;
  if (r.valueCodeableConcept !== undefined) return conceptCode(r.valueCodeableConcept);
  if (typeof r.valueDateTime === "string") return restDateTime(r.valueDateTime);
  return undefined;
}

function obsToRest(r: FhirInput): Json {
  const uuid = requireFhirId(r, "Observation");
  const person = requirePatientRef(r, `obs ${uuid}`);
  const concept = conceptCode(r.code);
  if (!concept) throw unconvertible(`obs ${uuid} has no concept code`);
  return compact({
    uuid,
    person,
    concept,
    obsDatetime: restDateTime(r.effectiveDateTime),
    encounter: referenceId(r.encounter, "Encounter"),
    value: obsRestValue(r),
    groupMembers: groupMembersToRest(r.hasMember, uuid),
  });
}

/** An obs group's members (Observation.hasMember) as the REST `groupMembers` uuids. */
function groupMembersToRest(hasMember: unknown, uuid: string): string[] | undefined {
  if (hasMember === undefined) return undefined;
  if (!Array.isArray(hasMember)) throw unconvertible(`obs ${uuid}: hasMember is not a list`);
  return hasMember.map((m, i) => {
    const id = referenceId(m, "Observation");
    if (!id) throw unconvertible(`obs ${uuid}: hasMember[${i}] is not a reference to an Observation`);
    return id;
  });
}

/** The REST `groupMembers` of an obs group as Observation.hasMember (ObservationTranslatorImpl: addHasMember). */
function groupMembersToFhir(groupMembers: unknown): ReturnType<typeof reference>[] | undefined {
  if (!Array.isArray(groupMembers)) return undefined;
  const ids = groupMembers.map((m) => refUuid(m)).filter((id): id is string => id !== undefined);
  return ids.length ? ids.map((id) => reference("Observation", id)) : undefined;
}

export const observation: TypeConverter = { kind: "obs", toFhir: obsToFhir, toRest: obsToRest };
