/**
 * Person: a person who is not a patient (a relative, a contact), a registered record type
 * (sim/types/registry.ts). A patient's person is the patient record itself.
 *
 *  - Record: a patient's person fields (gender, birthdate, death, names, addresses, attributes; identifiers
 *    always empty), built and checked by the store as a patient's are (`Store.personChanged`). Its uuid is
 *    not a patient's, and a patient cannot take a person's uuid.
 *  - REST v1 `person` (webservices.rest PersonResource1_8/2_0): the full representation as for a patient's
 *    person; create and update take the person fields (attributes merged by type, as PersonResource does);
 *    DELETE voids. `/person/{uuid}` of a patient is that patient's person (sim/rest.ts).
 *  - fhir2 `Person` (PersonTranslatorImpl): active true, names, gender, birthDate, addresses, telecom (the
 *    contact attribute), person-attribute extensions, and `link` to the Patient when the person is one; R4
 *    Person has no deceased element: a death is not served. Writes through fhir2 Person are not simulated.
 *  - Feed: category `person`, title "Person" (omod-atomfeed's default configuration publishes
 *    org.openmrs.Person with `/ws/rest/v1/person/{uuid}?v=full` and a Person fhir link). Saving a patient is
 *    a Patient event, not a Person one.
 */
import { instantIso } from "../dates";
import { SimError } from "../errors";
import type { Patient, PatientPatch } from "../model";
import { bad, optString } from "./parse";
import type { FhirParts, GenContext, Json, SimType } from "./registry";

/** A person who is not a patient: a patient's person fields, no identifiers. */
export type Person = Patient;
export type PersonDraft = PatientPatch & { uuid?: string };

function notWritable(): never {
  throw new SimError(400, "Writing a Person through fhir2 is not simulated");
}

/** PersonTranslatorImpl.toFhirResource (the Patient translator's names, gender, birthDate, addresses, telecom, attributes). */
export function personToFhir(p: Patient, parts: FhirParts, isPatient: boolean): Json {
  const full = parts.person(p.uuid) ?? {};
  const r: Json = { resourceType: "Person", id: p.uuid, meta: parts.meta(p), active: true };
  for (const k of ["extension", "name", "gender", "birthDate", "address", "telecom"]) if (full[k] !== undefined) r[k] = full[k];
  if (isPatient) r.link = [{ target: parts.reference("Patient", p.uuid) }];
  return r;
}

// ------------------------------------------------------------------ generator

const GIVEN = ["Mercy", "Joseph", "Wanjiru", "Otieno", "Achieng", "Baraka"];
const FAMILY = ["Kamau", "Onyango", "Mutua", "Njeri"];
const DAY = 86_400_000;

/** A relative of `patient` who is not a patient, and their relationship (sim/types/relationship.ts). */
function relative(ctx: GenContext, patient: string): void {
  const r = ctx.rng;
  const person = ctx.store.createOf("person", {
    uuid: r.uuid(),
    gender: r.pick(["M", "F"]),
    birthdate: ctx.fmt(Date.now() - r.int(20, 70) * 365 * DAY).slice(0, 10),
    names: [{ givenName: r.pick(GIVEN), familyName: r.pick(FAMILY), preferred: true }],
    addresses: r.chance(0.5) ? [{ cityVillage: r.pick(["Kisumu", "Nakuru", "Eldoret"]), country: "Kenya", preferred: true }] : [],
  } satisfies PersonDraft);
  ctx.store.createOf("relationship", {
    uuid: r.uuid(),
    personA: person.uuid,
    personB: patient,
    relationshipType: r.pick(["8d91a210-c2cc-11de-8d13-0010c6dffd0f", "8d91a01c-c2cc-11de-8d13-0010c6dffd0f"]),
  });
}

// ------------------------------------------------------------------ the type

export const person: SimType<Person, PersonDraft, PatientPatch> = {
  type: "person",
  category: "person",
  title: "Person",
  restResource: "person",
  fhirType: "Person",
  section: "persons",

  build(store, d, base) {
    if (store.patients.has(base.uuid)) throw bad(`Patient with uuid ${base.uuid} already exists`);
    if (!d.gender) throw bad("gender is required");
    const empty: Person = { ...base, gender: "U", birthdate: null, dead: false, deathDate: null, names: [], addresses: [], identifiers: [], attributes: [] };
    return store.personChanged(empty, { ...d, identifiers: undefined });
  },
  apply: (store, prev, patch) => store.personChanged(prev, { ...patch, identifiers: undefined }),
  patientOf: () => null,

  restRep: (_store, p, parts) => parts.person(p.uuid) ?? {},
  restDraft(_store, body, parts) {
    if (typeof body.person === "string" || body.identifiers !== undefined)
      throw bad("A person has no identifiers: create a patient through the patient resource");
    return { ...parts.personPatch(body), uuid: optString(body.uuid, "uuid") ?? undefined };
  },
  restPatch(_store, prev, body, parts) {
    const voided = body.voided;
    if (voided !== undefined && typeof voided !== "boolean") throw bad("voided must be a boolean");
    return { ...parts.personPatch(body, prev), ...(voided !== undefined ? { voided } : {}) };
  },

  toFhir: (_store, p, parts) => personToFhir(p, parts, false),
  fhirDraft: notWritable,
  fhirPatch: notWritable,

  compare: (p) => ({
    voided: p.voided,
    gender: p.gender,
    birthdate: p.birthdate?.slice(0, 10) ?? null,
    dead: p.dead,
    deathDate: instantIso(p.deathDate),
    names: p.names.filter((n) => !n.voided).sort((a, b) => a.uuid.localeCompare(b.uuid)),
    addresses: p.addresses.filter((a) => !a.voided).sort((a, b) => a.uuid.localeCompare(b.uuid)),
    attributes: (p.attributes ?? []).filter((a) => !a.voided).sort((a, b) => a.uuid.localeCompare(b.uuid)),
  }),

  generate(ctx, patient, n) {
    for (let i = 0; i < n; i++) relative(ctx, patient);
  },
};
