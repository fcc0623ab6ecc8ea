/**
 * Person attributes through the pull flow (issue 8): a parent patient with a telephone number and two
 * other attributes arrives at the child with all three, whether the parent is read through fhir2 (telecom
 * + person-attribute extensions) or through REST v1 (converted here); the child creates it through REST v1
 * with its own attribute type uuids.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim } from "../../sim";
import { CONTACT_ATTRIBUTE_TYPE } from "../../sim/metadata";
import { caughtUp, getNode, loadPull, pullFlow, usePeers } from "../helpers/red";

const PHONE = "a4b14a36-966a-4bfa-ac44-2ef81ff81f49";
const RACE = "8d871386-c2cc-11de-8d13-0010c6dffd0f";
const BIRTHPLACE = "8d8718c2-c2cc-11de-8d13-0010c6dffd0f";
const RACE_ATTR = "0c2c7d4e-1d4f-4f8e-9a37-5b0c1f2d9e01";
const BIRTHPLACE_ATTR = "3e1f0a9b-7c55-4d8e-8f0e-6a2b9c4d1e02";

function attributesOf(sim: OpenmrsSim, uuid: string): { uuid: string; attributeType: string; value: string }[] {
  const p = sim.store.get("patient", uuid);
  assert.ok(p, `patient ${uuid} on ${sim.name}`);
  return (p.attributes ?? [])
    .filter((a) => !a.voided)
    .map(({ uuid: u, attributeType, value }) => ({ uuid: u, attributeType, value }))
    .sort((a, b) => a.attributeType.localeCompare(b.attributeType));
}

describe("person attributes through the pull flow", function () {
  this.timeout(60_000);
  let parent: OpenmrsSim;
  let child: OpenmrsSim;
  let db: string;
  usePeers("pull-attributes", { parent: 17, child: 18 }, (peers) => {
    ({ parent, child, db } = peers);
  });

  function createRichPatient(): string {
    const p = parent.store.createPatient({
      gender: "F",
      names: [{ givenName: "Amaka", familyName: "Obi", preferred: true }],
      attributes: [
        { uuid: PHONE, attributeType: CONTACT_ATTRIBUTE_TYPE, value: "+234 803 123 4567" },
        { uuid: RACE_ATTR, attributeType: RACE, value: "Igbo" },
        { uuid: BIRTHPLACE_ATTR, attributeType: BIRTHPLACE, value: "Enugu" },
      ],
    });
    return p.uuid;
  }

  async function pull(serverProps: Record<string, unknown>): Promise<void> {
    await loadPull(pullFlow(parent.url, child.url, db, {}, serverProps));
    const cycle = caughtUp();
    getNode("feed").receive({});
    await cycle;
  }

  it("through fhir2: telephone number (with its uuid, from telecom) and both other attributes arrive", async () => {
    const uuid = createRichPatient();
    await pull({ fhirMode: "fhir2" });
    assert.deepEqual(parent.diff(child), []);
    const got = attributesOf(child, uuid);
    assert.equal(got.length, 3, JSON.stringify(got));
    assert.deepEqual(
      got.map((a) => [a.attributeType, a.value]),
      [
        [CONTACT_ATTRIBUTE_TYPE, "+234 803 123 4567"],
        [RACE, "Igbo"],
        [BIRTHPLACE, "Enugu"],
      ].sort((a, b) => a[0].localeCompare(b[0])),
    );
    assert.equal(got.find((a) => a.attributeType === CONTACT_ATTRIBUTE_TYPE)?.uuid, PHONE, "telecom.id carries the contact attribute's uuid");
  });

  it("through REST v1: all three arrive with their uuids", async () => {
    const uuid = createRichPatient();
    await pull({ fhirMode: "rest" });
    assert.deepEqual(parent.diff(child), []);
    assert.deepEqual(attributesOf(child, uuid), attributesOf(parent, uuid));
  });
});
