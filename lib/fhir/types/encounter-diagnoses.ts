/**
 * An encounter's diagnoses (docs/fhir-mapping.md "Encounter diagnoses"), both directions: REST v1
 * `encounter.diagnoses` (webservices.rest EncounterResource2_2, each as DiagnosisResource's default
 * representation) <-> the Encounter's `diagnosis[]`, each pointing at a `contained` Condition written as
 * fhir2's DiagnosisTranslatorImpl writes a diagnosis (category encounter-diagnosis, code, the non-coded
 * extension, verificationStatus from the certainty, the rank extension, clinicalStatus "unknown").
 *
 * fhir2's Encounter carries no diagnoses, and no feed announces a diagnosis (only its encounter's save):
 * the pack reads them from REST with the encounter (lib/openmrs/encounter-diagnoses.ts) and writes them
 * through REST with it. The link to a problem-list condition is the pack's extension on `diagnosis[]`.
 */
import { CONDITION_CATEGORY_SYSTEM, CONDITION_CLINICAL_SYSTEM, CONDITION_VERIFICATION_SYSTEM, NON_CODED_CONDITION_URL } from "./condition";
import { asObject, compact, conceptCode, objects, parseReference, refDisplay, refUuid, reference, str, type FhirInput, type Json } from "./shared";

/** fhir2's (FhirConstants.DIAGNOSIS_RANK_EXTENSION_URI). */
export const DIAGNOSIS_RANK_URL = "http://fhir.openmrs.org/R4/StructureDefinition/diagnosis-rank";
/** The pack's: the problem-list condition a diagnosis is about (Diagnosis.condition). */
export const DIAGNOSIS_CONDITION_URL = "http://fhir.openmrs.org/ext/diagnosis/condition";

/** The Encounter's `contained` Conditions and `diagnosis[]` for the REST diagnoses (voided ones left out). */
export function diagnosesToFhir(diagnoses: unknown, patient: string): { contained?: Json[]; diagnosis?: Json[] } {
  const contained: Json[] = [];
  const diagnosis: Json[] = [];
  for (const d of objects(diagnoses)) {
    const uuid = str(d.uuid);
    if (!uuid || d.voided === true) continue;
    const cot = asObject(d.diagnosis);
    const coded = refUuid(cot?.coded);
    const nonCoded = str(cot?.nonCoded);
    const certainty = str(d.certainty);
    const rank = typeof d.rank === "number" ? d.rank : undefined;
    const verification = certainty === "CONFIRMED" ? "confirmed" : certainty === "PROVISIONAL" ? "provisional" : "unconfirmed";
    const extension = [
      ...(nonCoded ? [{ url: NON_CODED_CONDITION_URL, valueString: nonCoded }] : []),
      ...(rank !== undefined ? [{ url: DIAGNOSIS_RANK_URL, valueInteger: rank }] : []),
    ];
    contained.push(
      compact<Json>({
        resourceType: "Condition",
        id: uuid,
        extension,
        clinicalStatus: { coding: [{ system: CONDITION_CLINICAL_SYSTEM, code: "unknown", display: "Unknown" }] },
        verificationStatus: {
          coding: [{ system: CONDITION_VERIFICATION_SYSTEM, code: verification, display: verification[0].toUpperCase() + verification.slice(1) }],
        },
        category: [{ coding: [{ system: CONDITION_CATEGORY_SYSTEM, code: "encounter-diagnosis", display: "Encounter Diagnosis" }] }],
        code: coded ? { coding: [compact({ code: coded, display: refDisplay(cot?.coded) })] } : undefined,
        subject: reference("Patient", patient),
      }),
    );
    const condition = refUuid(d.condition);
    diagnosis.push(
      compact<Json>({
        extension: condition ? [{ url: DIAGNOSIS_CONDITION_URL, valueReference: reference("Condition", condition) }] : undefined,
        condition: { reference: `#${uuid}` },
        rank: rank !== undefined && rank >= 1 ? rank : undefined,
      }),
    );
  }
  return contained.length ? { contained, diagnosis } : {};
}

/** The problem-list conditions an Encounter's diagnoses name (they must be on the target first). */
export function diagnosisConditions(r: FhirInput): string[] {
  return objects((r as Json).diagnosis).flatMap((d) => {
    const ext = objects(d.extension).find((e) => e.url === DIAGNOSIS_CONDITION_URL);
    const ref = parseReference(ext?.valueReference);
    return ref?.resourceType === "Condition" ? [ref.id] : [];
  });
}

/**
 * REST `diagnoses` for an Encounter's `diagnosis[]` and contained Conditions, as DiagnosisResource takes
 * them (encounter and patient named, condition present even when null: its creatable properties require
 * them); undefined when the Encounter has none. Certainty as fhir2 reads it: "confirmed" is CONFIRMED,
 * anything else PROVISIONAL.
 */
export function diagnosesToRest(r: FhirInput, encounter: string, patient: string): Json[] | undefined {
  const contained = new Map(
    objects((r as Json).contained)
      .filter((c) => c.resourceType === "Condition" && typeof c.id === "string")
      .map((c) => [String(c.id).replace(/^#/, ""), c]),
  );
  const out: Json[] = [];
  for (const d of objects((r as Json).diagnosis)) {
    const local = str(asObject(d.condition)?.reference);
    const c = local?.startsWith("#") ? contained.get(local.slice(1)) : undefined;
    if (!c) continue;
    const extensions = objects(c.extension);
    const nonCoded = str(extensions.find((e) => e.url === NON_CODED_CONDITION_URL)?.valueString);
    const rankExt = extensions.find((e) => e.url === DIAGNOSIS_RANK_URL)?.valueInteger;
    const rank = typeof d.rank === "number" ? d.rank : typeof rankExt === "number" ? rankExt : undefined;
    const verification = objects(asObject(c.verificationStatus)?.coding).find((x) => x.system === CONDITION_VERIFICATION_SYSTEM || x.system === undefined);
    const condition = parseReference(objects(d.extension).find((e) => e.url === DIAGNOSIS_CONDITION_URL)?.valueReference);
    out.push({
      uuid: String(c.id),
      diagnosis: compact({ coded: conceptCode(c.code), nonCoded }),
      encounter,
      patient,
      condition: condition?.resourceType === "Condition" ? condition.id : null,
      certainty: verification?.code === "confirmed" ? "CONFIRMED" : "PROVISIONAL",
      ...(rank !== undefined ? { rank } : {}),
    });
  }
  return out.length ? out : undefined;
}
