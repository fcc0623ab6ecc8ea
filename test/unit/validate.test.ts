/**
 * R4 validation: real fhir2 resources pass, a wrong field is named, a contained resource is checked for
 * its type only (what keeps the per-type validators small: lib/fhir/validate.ts).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { validateResource } from "../../lib/fhir/validate";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs/openmrs-module-fhir2");
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), "utf8")) as Record<string, unknown>;

describe("R4 validation", () => {
  it("accepts the real resources of the fhir2 module's web tests", () => {
    for (const name of ["PatientWebTest_update.json", "EncounterWebTest_create.json", "ObservationWebTest_create.json"]) {
      const r = validateResource(fixture(name));
      assert.deepEqual(r.errors, [], name);
      assert.equal(r.valid, true, name);
    }
  });

  it("names what is wrong, field by field (the fhir2 web test's create body has a single identifier object)", () => {
    assert.deepEqual(validateResource(fixture("PatientWebTest_create.json")).errors, ["/identifier must be array"]);
    const patient = { ...fixture("PatientWebTest_update.json"), gender: "bogus", nickname: "x" };
    const r = validateResource(patient);
    assert.equal(r.valid, false);
    assert.ok(
      r.errors.some((e) => /^\/gender must be equal to one of the allowed values \(male, female, other, unknown\)/.test(e)),
      r.errors.join("\n"),
    );
    assert.ok(
      r.errors.some((e) => /unknown property "nickname"/.test(e)),
      r.errors.join("\n"),
    );
    assert.deepEqual(validateResource({ resourceType: "Nonsense" }).errors, ['/resourceType "Nonsense" is not an R4 resource type']);
    assert.deepEqual(validateResource([]).errors, ["/ is not a JSON object"]);
  });

  it("keeps an element called description (only the schema's own descriptions are dropped)", () => {
    const location = { resourceType: "Location", id: "l1", name: "Ward 1", description: "first floor" };
    assert.deepEqual(validateResource(location).errors, []);
    assert.deepEqual(validateResource({ ...location, description: 3 }).errors, ["/description must be string"]);
  });

  it("checks a contained resource for its type only, and an extension's value deeply", () => {
    const base = fixture("PatientWebTest_update.json");
    assert.equal(validateResource({ ...base, contained: [{ resourceType: "Organization", id: "o1" }] }).valid, true);
    assert.equal(validateResource({ ...base, contained: [{ id: "o1" }] }).valid, false, "a contained resource must name its type");
    const r = validateResource({ ...base, extension: [{ url: "http://x", valueString: 3 }] });
    assert.ok(
      r.errors.some((e) => /^\/extension\/0\/valueString must be string/.test(e)),
      r.errors.join("\n"),
    );
  });
});
