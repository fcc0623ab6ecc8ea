/**
 * A patient the target refuses because another patient there already holds one of its identifiers: two
 * clinics' idgen handed out the same OpenMRS ID. No retry can fix that; an admin merges the two
 * patients. So it is an outcome of its own, permanent with reason "duplicate-identifier", naming both.
 *
 * How OpenMRS refuses it: openmrs-core's PatientIdentifierValidator throws IdentifierNotUniqueException,
 * "Identifier {0} already in use by another patient" (PatientIdentifier.error.notUniqueWithParameter,
 * translated into the server's locale, always with the value); REST v1 answers 400 with it in the
 * validation error's globalErrors, fhir2 answers 422 with it in the OperationOutcome's diagnostics.
 * Detection asks for both: the refusal's text names one of the record's identifier values (in any
 * locale), and a search of the target finds another non-voided patient holding that identifier (same
 * type and value). When either is missing the refusal stays the ordinary one.
 *
 * Identifier values are PHI-ish: the message names the two patients and the identifier type; the value
 * is only in `outcome.duplicate`, which the dead letter keeps encrypted.
 */
import type { FhirResource } from "../fhir/convert";
import { isSafeId } from "../origin";
import type { DuplicateIdentifier, Outcome } from "../outcome";
import type { WriteRequest } from "./targets";

/** Patients on the target with a non-voided identifier of this value (any type), voided patients left out. */
export type PatientsWithIdentifier = (value: string) => Promise<FhirResource[]>;

interface Identifier {
  value: string;
  typeCode?: string;
  typeText?: string;
}

const REFUSED = new Set([400, 409, 422]);
/** At most this many of the record's identifiers are looked up (each one search). */
const MAX_LOOKUPS = 4;

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function identifiersOf(resource: FhirResource): Identifier[] {
  const list: unknown = resource.identifier;
  if (!Array.isArray(list)) return [];
  return list.flatMap((i: unknown) => {
    const o = (i && typeof i === "object" ? i : {}) as { value?: unknown; type?: { text?: unknown; coding?: unknown } };
    const value = str(o.value);
    if (!value) return [];
    const coding = Array.isArray(o.type?.coding) ? (o.type.coding as { code?: unknown }[]) : [];
    return [{ value, typeCode: coding.map((c) => str(c?.code)).find((c) => c), typeText: str(o.type?.text) }];
  });
}

/** Every string in an error body (bounded): OperationOutcome diagnostics, REST globalErrors, messages. */
function textsOf(body: unknown, out: string[] = [], depth = 0): string[] {
  if (out.length >= 200 || depth > 6) return out;
  if (typeof body === "string") out.push(body.slice(0, 4000));
  else if (Array.isArray(body)) for (const v of body) textsOf(v, out, depth + 1);
  else if (body && typeof body === "object") for (const v of Object.values(body)) textsOf(v, out, depth + 1);
  return out;
}

const WORD = /[\p{L}\p{N}]/u;

/** Whether `text` names `value` as a word of its own ("X1" is not named by "X12"). */
function names(text: string, value: string): boolean {
  for (let at = text.indexOf(value); at >= 0; at = text.indexOf(value, at + 1)) {
    const before = text[at - 1];
    const after = text[at + value.length];
    if (!(before && WORD.test(before)) && !(after && WORD.test(after))) return true;
  }
  return false;
}

function sameType(a: Identifier, b: Identifier): boolean {
  if (a.typeCode && b.typeCode) return a.typeCode === b.typeCode;
  if (a.typeText && b.typeText) return a.typeText === b.typeText;
  return true;
}

/** The identifier type as a message may show it: its name (metadata, not clinical), else its uuid. */
function typeLabel(i: Identifier): string {
  if (i.typeText && /^[\p{L}\p{N} ._:()/#-]{1,60}$/u.test(i.typeText)) return i.typeText;
  if (i.typeCode && /^[A-Za-z0-9._:-]{1,64}$/.test(i.typeCode)) return i.typeCode;
  return "identifier";
}

/**
 * The duplicate-identifier outcome of a refused patient write, or undefined when the refusal is not one
 * (then the caller keeps its own outcome). A failed search counts as "not confirmed".
 */
export async function duplicateIdentifierOutcome(req: WriteRequest, refusal: Outcome, find: PatientsWithIdentifier): Promise<Outcome | undefined> {
  if (req.action !== "upsert" || req.resourceType !== "Patient" || !req.resource) return undefined;
  if (refusal.kind !== "permanent" || !refusal.status || !REFUSED.has(refusal.status)) return undefined;
  const text = textsOf(refusal.operationOutcome).join("\n");
  const named = identifiersOf(req.resource)
    .filter((i) => names(text, i.value))
    .slice(0, MAX_LOOKUPS);
  for (const mine of named) {
    let found: FhirResource[];
    try {
      found = await find(mine.value);
    } catch {
      return undefined;
    }
    for (const other of found) {
      const id = str(other.id);
      if (!id || id === req.id || !isSafeId(id) || other.active === false) continue;
      if (!identifiersOf(other).some((theirs) => theirs.value === mine.value && sameType(mine, theirs))) continue;
      const duplicate: DuplicateIdentifier = { identifierType: typeLabel(mine), identifier: mine.value, holder: `Patient/${id}` };
      return {
        kind: "permanent",
        reason: "duplicate-identifier",
        status: refusal.status,
        message:
          `Patient/${req.id} refused: its ${duplicate.identifierType} identifier is already held by ${duplicate.holder} on the target ` +
          `(two idgens handed out the same identifier); merge the two patients there, then retry or discard this one` +
          (refusal.message ? ` (${refusal.message})` : ""),
        operationOutcome: refusal.operationOutcome,
        duplicate,
      };
    }
  }
  return undefined;
}
