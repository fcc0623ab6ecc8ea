/**
 * Realistic data: bulk generation and random changes ("mutations"), all through the Store's write
 * operations so every change produces the same feed events a real server would.
 */
import { formatOpenmrs } from "./dates";
import { ENCOUNTER_TYPES, IDENTIFIER_TYPES, LOCATIONS, QUESTION_CONCEPTS, VISIT_TYPES, type Concept } from "./metadata";
import type { AddressDraft, AnyRecord, IdentifierDraft, NameDraft, Obs, ObsValueInput, Patient, RecordType, Store } from "./model";
import type { Rng } from "./rng";
import { SIM_TYPES, type GenContext } from "./types/registry";

export interface GenerateOptions {
  patients: number;
  /** Default 1. */
  visitsPerPatient?: number;
  /** Default 1. */
  encountersPerVisit?: number;
  /** Default 3. */
  obsPerEncounter?: number;
  /** Conditions of each patient (sim/types/condition.ts). Default 0: the other records of a seed stay the same. */
  conditionsPerPatient?: number;
  /** Records of each registered type (sim/types/registry.ts) per patient, by type name. Default none. */
  perPatient?: Readonly<Record<string, number>>;
}

const GIVEN_F = ["Amina", "Grace", "Fatima", "Mary", "Joyce", "Aisha", "Esther", "Ruth", "Sarah", "Halima", "Agnes", "Lucy", "Nadia", "Priya", "Rosa"];
const GIVEN_M = ["John", "Peter", "Moses", "Ali", "David", "Samuel", "Joseph", "Ibrahim", "James", "Daniel", "Emmanuel", "Paul", "Ravi", "Carlos", "Kofi"];
const FAMILY = [
  "Okello",
  "Mwangi",
  "Banda",
  "Phiri",
  "Otieno",
  "Kamau",
  "Nakato",
  "Mensah",
  "Diallo",
  "Ndlovu",
  "Sharma",
  "Silva",
  "Haile",
  "Tembo",
  "Achieng",
];
const PLACES: readonly { city: string; district: string; state: string; country: string; postal: string }[] = [
  { city: "Kampala", district: "Kampala", state: "Central", country: "Uganda", postal: "256" },
  { city: "Mukono", district: "Mukono", state: "Central", country: "Uganda", postal: "256" },
  { city: "Kisumu", district: "Kisumu", state: "Nyanza", country: "Kenya", postal: "40100" },
  { city: "Eldoret", district: "Uasin Gishu", state: "Rift Valley", country: "Kenya", postal: "30100" },
  { city: "Lilongwe", district: "Lilongwe", state: "Central Region", country: "Malawi", postal: "265" },
  { city: "Chaurpati", district: "Achham", state: "Province No. 7", country: "Nepal", postal: "10700" },
];
const STREETS = ["Market Road", "Hospital Lane", "Church Street", "Station Road", "Main Street", "Lake View"];
const NOTES = ["Patient reports feeling better.", "Follow up in two weeks.", "Complains of headache.", "Referred to lab.", "Counselled on nutrition."];

const DAY = 86_400_000;
const MINUTE = 60_000;

export class Generator {
  constructor(
    private readonly store: Store,
    private readonly rng: Rng,
    /** Prefix for generated "OpenMRS ID" values (keeps parent and child identifiers apart). */
    private readonly idPrefix: string,
  ) {}

  private fmt(ms: number): string {
    return formatOpenmrs(ms, this.store.opts.utcOffsetMinutes);
  }

  /** Identifiers are unique per type (sim/identifiers.ts): a value someone holds is drawn again. */
  private free(type: string, draw: () => string): string {
    let value = draw();
    while (this.store.identifiers.holdersOf(type, value).length > 0) value = draw();
    return value;
  }

  private newIdentifier(): string {
    return this.free(IDENTIFIER_TYPES[0].uuid, () => `${this.idPrefix}${String(this.store.identifierCounter++).padStart(6, "0")}`);
  }

  private nameDraft(gender: string, preferred: boolean): NameDraft {
    const r = this.rng;
    return {
      uuid: r.uuid(),
      givenName: r.pick(gender === "F" ? GIVEN_F : GIVEN_M),
      middleName: r.chance(0.3) ? r.pick(gender === "F" ? GIVEN_F : GIVEN_M) : null,
      familyName: r.pick(FAMILY),
      preferred,
    };
  }

  private addressDraft(preferred: boolean): AddressDraft {
    const r = this.rng;
    const place = r.pick(PLACES);
    return {
      uuid: r.uuid(),
      preferred,
      address1: `${r.int(1, 250)} ${r.pick(STREETS)}`,
      address2: r.chance(0.2) ? `Plot ${r.int(1, 99)}` : null,
      cityVillage: place.city,
      countyDistrict: place.district,
      stateProvince: place.state,
      postalCode: place.postal,
      country: place.country,
    };
  }

  createPatient(): Patient {
    const r = this.rng;
    const gender = r.chance(0.5) ? "F" : "M";
    const identifiers: IdentifierDraft[] = [
      { uuid: r.uuid(), identifier: this.newIdentifier(), identifierType: IDENTIFIER_TYPES[0].uuid, location: r.pick(LOCATIONS).uuid, preferred: true },
    ];
    if (r.chance(0.3)) {
      identifiers.push({
        uuid: r.uuid(),
        // with the prefix, as the OpenMRS ID: parent and child never draw the same value
        identifier: this.free(IDENTIFIER_TYPES[1].uuid, () => `OLD-${this.idPrefix}${r.int(10000, 99999)}`),
        identifierType: IDENTIFIER_TYPES[1].uuid,
        location: null,
        preferred: false,
      });
    }
    const birth = Date.UTC(r.int(1940, 2022), r.int(0, 11), r.int(1, 28));
    return this.store.createPatient({
      uuid: r.uuid(),
      gender,
      birthdate: new Date(birth).toISOString().slice(0, 10),
      dead: false,
      deathDate: null,
      names: [this.nameDraft(gender, true)],
      addresses: [this.addressDraft(true)],
      identifiers,
    });
  }

  private obsValue(c: Concept): ObsValueInput {
    const r = this.rng;
    if (c.datatype === "Numeric") return Math.round((c.min! + r.next() * (c.max! - c.min!)) * 10) / 10;
    if (c.datatype === "Text") return r.pick(NOTES);
    return { uuid: r.pick(c.answers ?? []) };
  }

  /** One visit with encounters and obs, starting at `start` (ms). */
  private createVisit(patient: string, start: number, encounters: number, obsPer: number, open: boolean): void {
    const r = this.rng;
    const location = r.pick(LOCATIONS).uuid;
    const stop = start + (encounters + 1) * 15 * MINUTE + r.int(0, 60) * MINUTE;
    const visit = this.store.createVisit({
      uuid: r.uuid(),
      patient,
      visitType: r.pick(VISIT_TYPES).uuid,
      startDatetime: this.fmt(start),
      stopDatetime: open ? null : this.fmt(stop),
      location,
    });
    for (let e = 0; e < encounters; e++) {
      const at = start + (e + 1) * 15 * MINUTE;
      const enc = this.store.createEncounter({
        uuid: r.uuid(),
        patient,
        encounterType: r.pick(ENCOUNTER_TYPES).uuid,
        encounterDatetime: this.fmt(at),
        location,
        visit: visit.uuid,
      });
      for (let o = 0; o < obsPer; o++) {
        const c = QUESTION_CONCEPTS[(o + r.int(0, QUESTION_CONCEPTS.length - 1)) % QUESTION_CONCEPTS.length];
        this.store.createObs({ uuid: r.uuid(), person: patient, concept: c.uuid, obsDatetime: this.fmt(at), encounter: enc.uuid, value: this.obsValue(c) });
      }
    }
  }

  generate(opts: GenerateOptions): void {
    const visits = opts.visitsPerPatient ?? 1;
    const encounters = opts.encountersPerVisit ?? 1;
    const obsPer = opts.obsPerEncounter ?? 3;
    const perPatient: Record<string, number> = { ...opts.perPatient };
    if (opts.conditionsPerPatient !== undefined) perPatient.condition = opts.conditionsPerPatient;
    const now = Date.now();
    const created: string[] = [];
    for (let i = 0; i < opts.patients; i++) {
      const p = this.createPatient();
      created.push(p.uuid);
      let t = now - this.rng.int(30, 720) * DAY;
      for (let v = 0; v < visits; v++) {
        t += this.rng.int(1, 20) * DAY + this.rng.int(0, 600) * MINUTE;
        if (t > now - DAY) t = now - DAY + v * 3 * 60 * MINUTE;
        this.createVisit(p.uuid, t, encounters, obsPer, false);
      }
    }
    // After all the rest, and only when asked: a seed makes the same patients, visits, encounters and obs with or without.
    for (const type of SIM_TYPES) {
      const n = perPatient[type.type] ?? 0;
      if (n > 0) for (const uuid of created) type.generate?.(this.context(), uuid, n);
    }
  }

  private context(): GenContext {
    return { store: this.store, rng: this.rng, fmt: (ms) => this.fmt(ms) };
  }

  // ------------------------------------------------------------------ mutations

  /** A random record of the type matching `want` (voided or not), trying a few times. */
  private pick(type: RecordType, voided: boolean): AnyRecord | undefined {
    const t = this.store.table(type);
    const rand = (): number => this.rng.next();
    for (let i = 0; i < 12; i++) {
      const rec = t.random(rand);
      if (!rec) return undefined;
      if (rec.voided === voided) return rec;
    }
    return undefined;
  }

  private activePatient(): Patient | undefined {
    return this.pick("patient", false) as Patient | undefined;
  }

  private names(p: Patient): NameDraft[] {
    return p.names.filter((n) => !n.voided).map((n) => ({ ...n }));
  }

  private addresses(p: Patient): AddressDraft[] {
    return p.addresses.filter((a) => !a.voided).map((a) => ({ ...a }));
  }

  private identifiers(p: Patient): IdentifierDraft[] {
    return p.identifiers.filter((i) => !i.voided).map((i) => ({ ...i }));
  }

  private editName(): boolean {
    const p = this.activePatient();
    if (!p) return false;
    const names = this.names(p);
    if (this.rng.chance(0.2)) names.push(this.nameDraft(p.gender, false));
    else {
      const n = names.find((x) => x.preferred) ?? names[0];
      if (!n) return false;
      if (this.rng.chance(0.5)) n.familyName = this.rng.pick(FAMILY.filter((f) => f !== n.familyName));
      else n.givenName = this.rng.pick((p.gender === "F" ? GIVEN_F : GIVEN_M).filter((g) => g !== n.givenName));
    }
    this.store.updatePatient(p.uuid, { names });
    return true;
  }

  private editAddress(): boolean {
    const p = this.activePatient();
    if (!p) return false;
    const addresses = this.addresses(p);
    const a = addresses.find((x) => x.preferred) ?? addresses[0];
    if (!a) addresses.push(this.addressDraft(true));
    else {
      const fresh = this.addressDraft(true);
      Object.assign(a, { ...fresh, uuid: a.uuid });
    }
    this.store.updatePatient(p.uuid, { addresses });
    return true;
  }

  private addIdentifier(): boolean {
    const p = this.activePatient();
    if (!p) return false;
    const ids = this.identifiers(p);
    const type = IDENTIFIER_TYPES[2].uuid;
    const existing = ids.find((i) => i.identifierType === type);
    const value = this.free(type, () => `NID-${this.idPrefix}${this.rng.int(1_000_000, 9_999_999)}`);
    if (existing) existing.identifier = value;
    else ids.push({ uuid: this.rng.uuid(), identifier: value, identifierType: type, location: this.rng.pick(LOCATIONS).uuid, preferred: false });
    this.store.updatePatient(p.uuid, { identifiers: ids });
    return true;
  }

  private editDemographics(): boolean {
    const p = this.activePatient();
    if (!p) return false;
    if (this.rng.chance(0.15) && !p.dead) {
      this.store.updatePatient(p.uuid, { dead: true, deathDate: this.fmt(Date.now() - this.rng.int(0, 30) * DAY) });
    } else {
      const birth = Date.UTC(this.rng.int(1940, 2022), this.rng.int(0, 11), this.rng.int(1, 28));
      this.store.updatePatient(p.uuid, { birthdate: new Date(birth).toISOString().slice(0, 10) });
    }
    return true;
  }

  private newVisit(): boolean {
    const p = this.activePatient();
    if (!p) return false;
    const start = Date.now() - this.rng.int(60, 180) * MINUTE;
    this.createVisit(p.uuid, start, this.rng.int(1, 2), this.rng.int(1, 4), this.rng.chance(0.4));
    return true;
  }

  private endVisit(): boolean {
    for (let i = 0; i < 12; i++) {
      const v = this.store.visits.random(() => this.rng.next());
      if (!v) return false;
      if (!v.voided && !v.stopDatetime) {
        this.store.updateVisit(v.uuid, { stopDatetime: this.fmt(Date.now()) });
        return true;
      }
    }
    return false;
  }

  /** OpenMRS edits an obs by voiding it and saving a new one (new uuid). */
  private editObs(): boolean {
    const o = this.pick("obs", false) as Obs | undefined;
    if (!o) return false;
    const c = QUESTION_CONCEPTS.find((q) => q.uuid === o.concept);
    if (!c) return false;
    let value = this.obsValue(c);
    for (
      let i = 0;
      i < 5 && JSON.stringify(value) === JSON.stringify(o.value !== null && typeof o.value === "object" ? { uuid: o.value.uuid } : o.value);
      i++
    ) {
      value = this.obsValue(c);
    }
    this.store.voidRecord("obs", o.uuid, "obs was edited");
    this.store.createObs({ uuid: this.rng.uuid(), person: o.person, concept: o.concept, obsDatetime: o.obsDatetime, encounter: o.encounter, value });
    return true;
  }

  private voidOne(type: RecordType): boolean {
    const rec = this.pick(type, false);
    if (!rec) return false;
    this.store.voidRecord(type, rec.uuid, type === "patient" ? "Duplicate record" : "Entered in error");
    return true;
  }

  private unvoidOne(): boolean {
    const types: RecordType[] = ["patient", "encounter", "obs"];
    const type = this.rng.pick(types);
    const rec = this.pick(type, true);
    if (!rec) return false;
    // an edited obs stays replaced; unvoid only records voided as errors/duplicates
    if (type === "obs" && (rec as Obs).voidReason === "obs was edited") return false;
    this.store.unvoidRecord(type, rec.uuid);
    return true;
  }

  /** Applies `n` random realistic changes. */
  mutate(n = 1): void {
    let ops: readonly [number, () => boolean][] = [
      [22, () => this.editName()],
      [10, () => this.editAddress()],
      [8, () => this.addIdentifier()],
      [4, () => this.editDemographics()],
      [24, () => this.newVisit()],
      [4, () => this.endVisit()],
      [14, () => this.editObs()],
      [5, () => this.createPatient() !== undefined],
      [4, () => this.voidOne("encounter")],
      [3, () => this.voidOne("obs")],
      [1, () => this.voidOne("patient")],
      [1, () => this.unvoidOne()],
    ];
    // A registered type's changes join only once it has records (a seed without them changes as before).
    const registered = SIM_TYPES.filter((t) => this.store.records(t.type).size > 0).flatMap((t) =>
      (t.mutations ?? []).map(([w, op]) => [w, () => op(this.context())] as [number, () => boolean]),
    );
    if (registered.length) ops = [...ops, ...registered];
    const total = ops.reduce((s, [w]) => s + w, 0);
    for (let i = 0; i < n; i++) {
      if (this.store.patients.size === 0) {
        this.createPatient();
        continue;
      }
      let done = false;
      for (let attempt = 0; attempt < 5 && !done; attempt++) {
        let x = this.rng.next() * total;
        for (const [w, op] of ops) {
          x -= w;
          if (x < 0) {
            done = op();
            break;
          }
        }
      }
      if (!done && !this.newVisit()) this.createPatient();
    }
  }
}
