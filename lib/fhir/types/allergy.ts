/**
 * Allergy, both directions (docs/fhir-mapping.md "AllergyIntolerance"): REST v1
 * `patient/{patient}/allergy/{uuid}?v=full` (webservices.rest PatientAllergyResource2_0, a patient
 * sub-resource) -> FHIR R4 AllergyIntolerance as fhir2's AllergyIntoleranceTranslatorImpl serves it, and
 * back to the REST v1 create body (with `patient`, which names the path: the body posted leaves it out).
 * That body gives `severity`, `comment` (null when none) and `reactions` (maybe empty) always: an update
 * through REST sets what it is given, so what the source cleared is cleared at the target too.
 *
 * As the translator does: the allergen concept is `code` (its name the text, replaced by the non-coded
 * allergen's text), the allergen type the category (DRUG medication, FOOD food, ENVIRONMENT environment,
 * OTHER none), the severity concept is `reaction.severity` (mild / moderate / severe through the
 * allergy.concept.severity.* global properties, whose reference-application values are CIEL 1498, 1499,
 * 1500) and `criticality` (severe high, mild low, else unable-to-assess), the reactions are the
 * manifestations, the comment the first note; a live allergy is clinicalStatus active and
 * verificationStatus confirmed. The translator's `recorder` (the creating user) is left out.
 */
import {
  asObject,
  compact,
  conceptCode,
  dateCreated,
  metaOf,
  objects,
  reference,
  refDisplay,
  refUuid,
  requireFhirId,
  requireRef,
  requireUuid,
  str,
  unconvertible,
  referenceId,
  type FhirInput,
  type FhirResource,
  type Json,
  type TypeConverter,
} from "./shared";
import { openmrsToFhirDateTime } from "../dates";

export const ALLERGY_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
export const ALLERGY_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
/** allergy.concept.otherNonCoded (CIEL 5622 "Other non-coded"): the coded allergen / reaction of free text. */
export const OTHER_NON_CODED_CONCEPT = "5622AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
/** allergy.concept.severity.mild / moderate / severe, as the reference application sets them (CIEL). */
export const ALLERGY_SEVERITY_CONCEPTS: Readonly<Record<"mild" | "moderate" | "severe", string>> = {
  mild: "1498AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  moderate: "1499AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  severe: "1500AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

const CATEGORY = new Map([
  ["DRUG", "medication"],
  ["FOOD", "food"],
  ["ENVIRONMENT", "environment"],
]);
const ALLERGEN_TYPE = new Map([...CATEGORY].map(([k, v]) => [v, k]));

function severityCode(uuid: string | undefined): "mild" | "moderate" | "severe" | undefined {
  for (const [code, u] of Object.entries(ALLERGY_SEVERITY_CONCEPTS)) if (u === uuid) return code as "mild" | "moderate" | "severe";
  return undefined;
}

function conceptCc(v: unknown, freeText: unknown): Json | undefined {
  const uuid = refUuid(v);
  if (!uuid) return undefined;
  const name = refDisplay(v);
  return compact({ coding: [compact({ code: uuid, display: name })], text: str(freeText) ?? name });
}

function allergyToFhir(rep: Json): FhirResource {
  const id = requireUuid(rep, "allergy");
  const patient = requireRef(rep.patient, `allergy ${id}`, "patient");
  const allergen = asObject(rep.allergen);
  const code = conceptCc(allergen?.codedAllergen, allergen?.nonCodedAllergen);
  if (!code) throw unconvertible(`allergy ${id} has no coded allergen`);
  const severity = severityCode(refUuid(rep.severity));
  const category = CATEGORY.get(String(allergen?.allergenType));
  const created = dateCreated(rep.auditInfo);
  const comment = str(rep.comment);
  const manifestations = objects(rep.reactions)
    .map((r) => conceptCc(r.reaction, r.reactionNonCoded))
    .filter((c): c is Json => c !== undefined);
  return compact<FhirResource>({
    resourceType: "AllergyIntolerance",
    id,
    meta: metaOf(rep.auditInfo),
    clinicalStatus: { coding: [{ system: ALLERGY_CLINICAL_SYSTEM, code: "active", display: "Active" }], text: "Active" },
    verificationStatus: { coding: [{ system: ALLERGY_VERIFICATION_SYSTEM, code: "confirmed", display: "Confirmed" }], text: "Confirmed" },
    type: "allergy",
    category: category ? [category] : undefined,
    criticality: severity === "severe" ? "high" : severity === "mild" ? "low" : severity ? "unable-to-assess" : undefined,
    code,
    patient: reference("Patient", patient),
    recordedDate: created ? openmrsToFhirDateTime(created) : undefined,
    note: comment ? [{ text: comment }] : undefined,
    // R4 requires a manifestation in every reaction: without any, the severity is in `criticality` alone.
    reaction: manifestations.length ? [compact({ substance: code, manifestation: manifestations, severity })] : undefined,
  });
}

/**
 * fhir2 serves an allergy without reactions with a `reaction` that has no `manifestation` (its substance
 * and severity only), which R4 does not allow (AllergyIntolerance.reaction.manifestation is 1..*). Such
 * reactions are dropped; the severity stays readable from `criticality`.
 */
export function validAllergy<T extends FhirResource>(resource: T): T {
  if (resource.resourceType !== "AllergyIntolerance" || !Array.isArray(resource.reaction)) return resource;
  const reactions = objects(resource.reaction).filter((r) => objects(r.manifestation).length > 0);
  const { reaction: _r, ...rest } = resource;
  void _r;
  return (reactions.length ? { ...rest, reaction: reactions } : rest) as T;
}

const FROM_CRITICALITY = new Map<unknown, keyof typeof ALLERGY_SEVERITY_CONCEPTS>([
  ["high", "severe"],
  ["low", "mild"],
  ["unable-to-assess", "moderate"],
]);

function allergyToRest(r: FhirInput): Json {
  const uuid = requireFhirId(r, "AllergyIntolerance");
  const o = r as Json;
  const patient = referenceId(o.patient, "Patient");
  if (!patient) throw unconvertible(`allergy ${uuid} has no Patient`);
  const coded = conceptCode(r.code);
  if (!coded) throw unconvertible(`allergy ${uuid} has no allergen concept`);
  const codeText = str(asObject(r.code)?.text);
  const category = str(Array.isArray(r.category) ? (r.category as unknown[])[0] : undefined);
  const reactions = objects(o.reaction);
  const severity =
    reactions
      .map((x) => str(x.severity))
      .filter((s): s is string => s !== undefined && s in ALLERGY_SEVERITY_CONCEPTS)
      // AllergyIntoleranceCriticalityTranslatorImpl gives each severity its own criticality, so either says it.
      .pop() ?? FROM_CRITICALITY.get(o.criticality);
  const body = compact({
    uuid,
    patient,
    allergen: compact({
      allergenType: (category && ALLERGEN_TYPE.get(category)) ?? "OTHER",
      codedAllergen: coded,
      nonCodedAllergen: coded === OTHER_NON_CODED_CONCEPT ? codeText : undefined,
    }),
  });
  // Given even when empty (an update through REST replaces them: none left is none there).
  return {
    ...body,
    severity: severity ? ALLERGY_SEVERITY_CONCEPTS[severity as keyof typeof ALLERGY_SEVERITY_CONCEPTS] : null,
    comment: str(objects(r.note)[0]?.text) ?? null,
    reactions: reactions.flatMap((x) =>
      objects(x.manifestation).flatMap((m) => {
        const reaction = conceptCode(m);
        return reaction ? [compact({ reaction, reactionNonCoded: reaction === OTHER_NON_CODED_CONCEPT ? str(m.text) : undefined })] : [];
      }),
    ),
  };
}

export const allergy: TypeConverter = { kind: "allergy", toFhir: allergyToFhir, toRest: allergyToRest };
