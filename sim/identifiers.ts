/**
 * Patient identifiers are unique, as openmrs-core enforces on every save of a non-voided patient
 * (PatientServiceImpl.savePatient -> PatientIdentifierValidator.validateIdentifier): a non-voided
 * identifier may not have the type and value of a non-voided identifier of another non-voided patient
 * (HibernatePatientDAO.isIdentifierInUseByAnotherPatient). The refusal is an IdentifierNotUniqueException
 * with the message PatientIdentifier.error.notUniqueWithParameter, "Identifier {0} already in use by
 * another patient" (api/src/main/resources/messages.properties), reported through the validator, so
 * REST v1 and fhir2 answer it as a validation error (see SimError.validation). All identifier types of
 * the simulator are unique (openmrs-core also knows NON_UNIQUE and unique-per-LOCATION types).
 */
import type { Patient, PatientIdentifier } from "./model";

/** The text of openmrs-core's refusal (English locale). */
export function notUniqueMessage(value: string): string {
  return `Identifier ${value} already in use by another patient`;
}

/** Value -> type -> the patients holding such a non-voided identifier (voided patients too: callers filter). */
export class IdentifierIndex {
  private readonly holders = new Map<string, Map<string, Set<string>>>();

  private static active(p: Patient): PatientIdentifier[] {
    return p.identifiers.filter((i) => !i.voided);
  }

  /** Records a save: `prev` (undefined for a create) replaced by `next` (undefined for a purge). */
  replace(prev: Patient | undefined, next: Patient | undefined): void {
    if (prev) {
      for (const i of IdentifierIndex.active(prev)) {
        const byType = this.holders.get(i.identifier);
        const s = byType?.get(i.identifierType);
        s?.delete(prev.uuid);
        if (s?.size === 0) byType?.delete(i.identifierType);
        if (byType?.size === 0) this.holders.delete(i.identifier);
      }
    }
    if (next) {
      for (const i of IdentifierIndex.active(next)) {
        let byType = this.holders.get(i.identifier);
        if (!byType) this.holders.set(i.identifier, (byType = new Map()));
        let s = byType.get(i.identifierType);
        if (!s) byType.set(i.identifierType, (s = new Set()));
        s.add(next.uuid);
      }
    }
  }

  clear(): void {
    this.holders.clear();
  }

  /** Patients holding this identifier (of this type, or of any type), voided ones included. */
  holdersOf(type: string | undefined, value: string): string[] {
    const byType = this.holders.get(value);
    if (!byType) return [];
    if (type !== undefined) return [...(byType.get(type) ?? [])];
    return [...new Set([...byType.values()].flatMap((s) => [...s]))];
  }

  /** The first non-voided identifier of `p` that another patient for whom `active` is true holds; none when `p` is voided. */
  taken(p: Patient, active: (uuid: string) => boolean): PatientIdentifier | undefined {
    if (p.voided) return undefined;
    return IdentifierIndex.active(p).find((i) => this.holdersOf(i.identifierType, i.identifier).some((u) => u !== p.uuid && active(u)));
  }
}

/**
 * Non-voided patients with a non-voided identifier of this value (and type, when given): what REST v1's
 * patientByIdentifier search handler and fhir2's `Patient?identifier=` find.
 */
export function patientsWithIdentifier(
  store: { identifiers: IdentifierIndex; patients: { get(uuid: string): Patient | undefined } },
  value: string,
  type?: string,
): Patient[] {
  return store.identifiers
    .holdersOf(type, value)
    .map((u) => store.patients.get(u))
    .filter((p): p is Patient => !!p && !p.voided);
}
