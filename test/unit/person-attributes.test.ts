/**
 * Person attributes on Patient, both directions (docs/fhir-mapping.md "Person attributes"), checked
 * against a real REST v1 patient (openmrs-module-webservices.rest's create_patient_from_get.json, whose
 * one attribute is concept-valued) and that patient with a telephone number, a text attribute, a
 * location attribute and a voided attribute added (the additions are ours, shaped like REST v1 output).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  DEFAULT_CONTACT_ATTRIBUTE_TYPE,
  fhirToRestCreate,
  PERSON_ATTRIBUTE_TYPE_URL,
  PERSON_ATTRIBUTE_URL,
  PERSON_ATTRIBUTE_VALUE_URL,
  restToFhir,
  type FhirResource,
} from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";

const FIXTURE = path.resolve(__dirname, "../fixtures/openmrs/openmrs-module-webservices.rest/create_patient_from_get.json");
const CASTE_TYPE = "55e6ce9e-25bf-11e3-a013-3c0754156a5d";
const CASTE_ATTR = "800a5043-97b0-4ef8-9dfa-2075bce3a434";
const CHAD = "e10ffe54-5184-4efe-8960-cd565ec1cdf8";
const RACE_TYPE = "8d871386-c2cc-11de-8d13-0010c6dffd0f";
const HEALTH_CENTER_TYPE = "8d87236c-c2cc-11de-8d13-0010c6dffd0f";
const CLINIC = "8d6c993e-c2cc-11de-8d13-0010c6dffd0f";
const PHONE_ATTR = "a4b14a36-966a-4bfa-ac44-2ef81ff81f49";
const RACE_ATTR = "0c2c7d4e-1d4f-4f8e-9a37-5b0c1f2d9e01";
const CENTER_ATTR = "3e1f0a9b-7c55-4d8e-8f0e-6a2b9c4d1e02";

const TARGET_TYPES = new Map([
  ["Caste", CASTE_TYPE],
  ["Race", RACE_TYPE],
  ["Health Center", HEALTH_CENTER_TYPE],
  ["Telephone Number", DEFAULT_CONTACT_ATTRIBUTE_TYPE],
]);

function realPatient(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(FIXTURE, "utf8")) as Record<string, unknown>;
}

function ref(uuid: string, display: string, resource: string): Record<string, unknown> {
  return { uuid, display, links: [{ rel: "self", uri: `http://example.org/openmrs/ws/rest/v1/${resource}/${uuid}` }] };
}

/** The real patient with four more attributes, one of them voided. */
function richPatient(): Record<string, unknown> {
  const rep = realPatient();
  const person = rep.person as { attributes: unknown[] };
  person.attributes.push(
    {
      uuid: PHONE_ATTR,
      display: "Telephone Number = 147852",
      value: "147852",
      attributeType: ref(DEFAULT_CONTACT_ATTRIBUTE_TYPE, "Telephone Number", "personattributetype"),
      voided: false,
    },
    { uuid: RACE_ATTR, display: "Race = Kalenjin", value: "Kalenjin", attributeType: ref(RACE_TYPE, "Race", "personattributetype"), voided: false },
    {
      uuid: CENTER_ATTR,
      display: "Health Center",
      value: ref(CLINIC, "Outpatient Clinic", "location"),
      attributeType: ref(HEALTH_CENTER_TYPE, "Health Center", "personattributetype"),
      voided: false,
    },
    { uuid: "9a9a9a9a-0000-4000-8000-000000000003", value: "old", attributeType: ref(RACE_TYPE, "Race", "personattributetype"), voided: true },
  );
  return rep;
}

function attributeExt(typeName: string, value: Record<string, unknown>, id?: string): Record<string, unknown> {
  return {
    ...(id ? { id } : {}),
    url: PERSON_ATTRIBUTE_URL,
    extension: [
      { url: PERSON_ATTRIBUTE_TYPE_URL, valueString: typeName },
      { url: PERSON_ATTRIBUTE_VALUE_URL, ...value },
    ],
  };
}

function sortByType(list: unknown): Record<string, unknown>[] {
  return [...(list as Record<string, unknown>[])].sort((a, b) => String(a.attributeType).localeCompare(String(b.attributeType)));
}

describe("person attributes on Patient", function () {
  it("a real REST patient's concept-valued attribute becomes fhir2's person-attribute extension, and the result is valid R4", function () {
    const patient = restToFhir("patient", realPatient());
    assert.deepEqual(patient.extension, [attributeExt("Caste", { valueCodeableConcept: { coding: [{ code: CHAD, display: "Chad" }] } }, CASTE_ATTR)]);
    assert.equal(patient.telecom, undefined, "no contact attribute, no telecom");
    const result = validateResource(patient);
    assert.ok(result.valid, JSON.stringify(result));
  });

  it("the contact attribute type becomes telecom (and, as fhir2 does, an extension too); voided attributes are left out", function () {
    const patient = restToFhir("patient", richPatient());
    assert.deepEqual(patient.telecom, [{ id: PHONE_ATTR, value: "147852" }]);
    assert.deepEqual(patient.extension, [
      attributeExt("Caste", { valueCodeableConcept: { coding: [{ code: CHAD, display: "Chad" }] } }, CASTE_ATTR),
      attributeExt("Telephone Number", { valueString: "147852" }),
      attributeExt("Race", { valueString: "Kalenjin" }, RACE_ATTR),
      attributeExt("Health Center", { valueReference: { reference: `Location/${CLINIC}`, type: "Location" } }, CENTER_ATTR),
    ]);
    const result = validateResource(patient);
    assert.ok(result.valid, JSON.stringify(result));
  });

  it("another contact attribute type can be configured (fhir2.personContactPointAttributeTypeUuid)", function () {
    const patient = restToFhir("patient", richPatient(), { contactAttributeType: RACE_TYPE });
    assert.deepEqual(patient.telecom, [{ id: RACE_ATTR, value: "Kalenjin" }]);
  });

  it("REST -> FHIR -> REST create keeps every active attribute: type uuid, value, uuid; the telephone number once", function () {
    const patient = restToFhir("patient", richPatient());
    const { body, warnings = [] } = fhirToRestCreate(patient, { attributeTypes: TARGET_TYPES });
    assert.deepEqual(warnings, []);
    const person = body.person as { attributes: unknown };
    assert.deepEqual(
      sortByType(person.attributes),
      sortByType([
        { uuid: CASTE_ATTR, attributeType: CASTE_TYPE, value: CHAD },
        { uuid: PHONE_ATTR, attributeType: DEFAULT_CONTACT_ATTRIBUTE_TYPE, value: "147852" },
        { uuid: RACE_ATTR, attributeType: RACE_TYPE, value: "Kalenjin" },
        { uuid: CENTER_ATTR, attributeType: HEALTH_CENTER_TYPE, value: CLINIC },
      ]),
    );
  });

  it("a fhir2-served Patient (no ids on the extensions, valueBoolean) converts to a REST create without duplicating the contact attribute", function () {
    const resource: FhirResource = {
      resourceType: "Patient",
      id: "ba58033f-3e1a-49aa-8089-18c86f7d49dd",
      telecom: [{ id: PHONE_ATTR, value: "147852" }],
      extension: [
        attributeExt("Telephone Number", { valueString: "147852" }),
        attributeExt("Race", { valueString: "Kalenjin" }),
        attributeExt("Caste", { valueBoolean: true }),
        { url: "http://example.org/other-extension", valueString: "not an attribute" },
      ],
    };
    const { body, warnings = [] } = fhirToRestCreate(resource, { attributeTypes: TARGET_TYPES });
    assert.deepEqual(warnings, []);
    assert.deepEqual(sortByType((body.person as { attributes: unknown }).attributes), [
      { uuid: PHONE_ATTR, attributeType: DEFAULT_CONTACT_ATTRIBUTE_TYPE, value: "147852" },
      { attributeType: CASTE_TYPE, value: "true" },
      { attributeType: RACE_TYPE, value: "Kalenjin" },
    ]);
  });

  it("an attribute whose type the target lacks is left out with a warning naming it, not silently", function () {
    const patient = restToFhir("patient", richPatient());
    const { body, warnings = [] } = fhirToRestCreate(patient, { attributeTypes: new Map([["Race", RACE_TYPE]]) });
    assert.deepEqual(
      sortByType((body.person as { attributes: unknown }).attributes).map((a) => a.attributeType),
      [DEFAULT_CONTACT_ATTRIBUTE_TYPE, RACE_TYPE].sort(),
    );
    assert.equal(warnings.length, 2);
    assert.match(warnings.join("\n"), /"Caste": the target has no person attribute type of that name/);
    assert.match(warnings.join("\n"), /"Health Center": the target has no person attribute type of that name/);
  });

  it("a malformed person-attribute extension is named in the warnings and carries nothing", function () {
    const { body, warnings = [] } = fhirToRestCreate(
      { resourceType: "Patient", id: "p1", extension: [{ url: PERSON_ATTRIBUTE_URL, extension: [{ url: PERSON_ATTRIBUTE_TYPE_URL, valueString: "Race" }] }] },
      { attributeTypes: TARGET_TYPES },
    );
    assert.equal((body.person as Record<string, unknown>).attributes, undefined);
    assert.equal(warnings.length, 1);
  });

  it("a patient without attributes converts exactly as before (no telecom, no extension, no attributes)", function () {
    const rep = realPatient();
    (rep.person as Record<string, unknown>).attributes = [];
    const patient = restToFhir("patient", rep);
    assert.equal("telecom" in patient, false);
    assert.equal("extension" in patient, false);
    assert.equal("attributes" in (fhirToRestCreate(patient).body.person as object), false);
  });
});
