/** Verify by reading back (lib/sync/verify.ts): shapes, the fields a target did not keep, when to read back. */
import { strict as assert } from "node:assert";
import { lostFields, shapeOf, WriteVerifier } from "../../lib/sync/verify";
import type { FhirResource } from "../../lib/fhir/convert";

const ATTR = "http://fhir.openmrs.org/ext/person-attribute";
const patient = (family: string, extra: Partial<FhirResource> = {}): FhirResource => ({
  resourceType: "Patient",
  id: "p1",
  meta: { lastUpdated: "2026-01-01T00:00:00Z" },
  name: [{ family, given: ["Ann"] }],
  ...extra,
});
const attribute = (type: string, value: string) => ({
  url: ATTR,
  extension: [
    { url: `${ATTR}-type`, valueString: type },
    { url: `${ATTR}-value`, valueString: value },
  ],
});

describe("verify by reading back", () => {
  it("a shape is the set of field paths: values, meta and list lengths do not change it", () => {
    assert.equal(shapeOf(patient("Doe")), shapeOf(patient("Roe", { meta: { versionId: "9" } })));
    assert.equal(shapeOf(patient("Doe", { name: [{ family: "A" }, { family: "B" }] })), shapeOf(patient("Doe", { name: [{ family: "C" }] })));
    assert.notEqual(shapeOf(patient("Doe")), shapeOf(patient("Doe", { telecom: [{ value: "1" }] })));
    assert.notEqual(
      shapeOf(patient("Doe", { extension: [attribute("Race", "x")] })),
      shapeOf(patient("Doe", { extension: [{ url: "other", valueString: "x" }] })),
    );
  });

  it("names the fields not kept, extensions by url, nothing for an equal copy", () => {
    const sent = patient("Doe", { telecom: [{ value: "1" }], extension: [attribute("Race", "x"), attribute("Civil Status", "y")] });
    assert.deepEqual(lostFields(sent, patient("Doe", { extension: [attribute("Race", "x")], meta: { versionId: "2" } })), [
      "extension(person-attribute)",
      "telecom",
    ]);
    assert.deepEqual(lostFields(sent, { ...sent, meta: { versionId: "3" } }), []);
    assert.deepEqual(lostFields(sent, undefined), ["the whole record (it cannot be read back)"]);
  });

  it("reads back each new shape once; a lossy shape every time; warns once per type and fields", () => {
    const v = new WriteVerifier();
    const whole = patient("Doe");
    assert.equal(v.needed(whole), true);
    assert.deepEqual(v.check(whole, { ...whole, meta: {} }).lost, []);
    assert.equal(v.needed(patient("Roe")), false, "the same shape, read back whole once");
    const rich = patient("Doe", { telecom: [{ value: "1" }] });
    const first = v.check(rich, patient("Doe"));
    assert.deepEqual([first.lost, first.firstOfKind], [["telecom"], true]);
    assert.equal(v.needed(patient("Zed", { telecom: [{ value: "2" }] })), true, "a lossy shape is always read back");
    assert.equal(v.check(rich, patient("Doe")).firstOfKind, false, "warned once");
  });
});
