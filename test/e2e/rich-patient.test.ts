/**
 * Lossless round trip of a rich patient (issue 8), through the shipped two-way flow in a real Node-RED:
 * a patient with 3 names, 2 addresses, 5 person attributes, 3 identifiers with locations and a death date
 * goes parent -> child, is edited at the clinic (one name, one address, one attribute), and comes back.
 * Both dialects: fhir2, and REST v1 only. Compared field by field on the simulators' stored records (every field but the audit dates): the child
 * holds what the parent had, and the parent ends with the clinic's edits and everything else it had.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim } from "../../sim";
import type { Patient } from "../../sim/model";
import { IDENTIFIER_TYPES, LOCATIONS, PERSON_ATTRIBUTE_TYPES } from "../../sim/metadata";
import { until, useTwoWay } from "../helpers/e2e";

/** A stored patient as compared: everything but the audit dates, sub-items in uuid order. */
function fields(p: Patient | undefined): unknown {
  assert.ok(p, "patient present");
  const byUuid = <T extends { uuid: string }>(items: T[] | undefined) => [...(items ?? [])].sort((a, b) => a.uuid.localeCompare(b.uuid));
  const { auditInfo: _audit, ...rest } = p;
  void _audit;
  return {
    ...rest,
    names: byUuid(p.names),
    addresses: byUuid(p.addresses),
    identifiers: byUuid(p.identifiers),
    attributes: byUuid(p.attributes),
  };
}

/** The rich patient: 3 names, 2 addresses, 3 identifiers with locations, 5 attributes, a death date. */
function createRichPatient(sim: OpenmrsSim): Patient {
  const attributeValues = ["+254 712 000 111", "Luo", "Kisumu", "Kenyan", "Married"];
  assert.equal(PERSON_ATTRIBUTE_TYPES.length, 5);
  return sim.store.createPatient({
    gender: "F",
    birthdate: "1961-04-02T00:00:00.000+0000",
    dead: true,
    deathDate: "2026-11-20T10:15:00.000+0000",
    names: [
      { givenName: "Akinyi", middleName: "Grace", familyName: "Odhiambo", preferred: true },
      { givenName: "Grace", familyName: "Otieno" },
      { givenName: "Mama", middleName: "Ochieng", familyName: "Odhiambo" },
    ],
    addresses: [
      {
        address1: "Plot 12",
        address2: "Kondele",
        cityVillage: "Kisumu",
        countyDistrict: "Kisumu East",
        stateProvince: "Nyanza",
        postalCode: "40100",
        country: "Kenya",
        preferred: true,
      },
      { address1: "Box 7", cityVillage: "Siaya", stateProvince: "Nyanza", country: "Kenya" },
    ],
    identifiers: IDENTIFIER_TYPES.map((t, i) => ({ identifier: `RT-${100 + i}`, identifierType: t.uuid, location: LOCATIONS[i].uuid, preferred: i === 0 })),
    attributes: PERSON_ATTRIBUTE_TYPES.map((t, i) => ({ attributeType: t.uuid, value: attributeValues[i] })),
  });
}

describe("a rich patient, parent -> child -> parent, field by field", function () {
  this.timeout(300_000);
  const twoWay = useTwoWay("e2e-rich");

  for (const mode of ["fhir2", "rest"] as const)
    it(`arrives whole, comes back with the clinic's edits and nothing else changed (read and written through ${mode})`, async () => {
      const parent = new OpenmrsSim({ name: "parent", seed: 91 });
      const child = new OpenmrsSim({ name: "child", seed: 92 });
      const p = createRichPatient(parent);
      assert.equal(p.names.length, 3);
      assert.equal(p.addresses.length, 2);
      assert.equal(p.identifiers.length, 3);
      assert.equal(p.attributes?.length, 5);
      const { syncOnce } = await twoWay.start(parent, child, mode);

      await syncOnce();
      assert.deepEqual(fields(child.store.patients.get(p.uuid)), fields(parent.store.patients.get(p.uuid)), "the child holds what the parent has");
      const before = fields(parent.store.patients.get(p.uuid));

      // The clinic edits one name, one address and one attribute.
      const atClinic = child.store.patients.get(p.uuid)!;
      const phone = atClinic.attributes!.find((a) => a.attributeType === PERSON_ATTRIBUTE_TYPES[0].uuid)!;
      child.store.updatePatient(p.uuid, {
        names: atClinic.names.map((n) => (n.familyName === "Otieno" ? { ...n, familyName: "Otieno-Odhiambo" } : n)),
        addresses: atClinic.addresses.map((a) => (a.cityVillage === "Siaya" ? { ...a, address1: "Box 9" } : a)),
        attributes: atClinic.attributes!.map((a) => (a.uuid === phone.uuid ? { ...a, value: "+254 712 000 222" } : a)),
      });
      const edited = fields(child.store.patients.get(p.uuid));
      await syncOnce();
      await until(() => parent.store.patients.get(p.uuid)!.names.some((n) => n.familyName === "Otieno-Odhiambo"), 30_000, "the clinic's edit at the parent");
      const after = fields(parent.store.patients.get(p.uuid));
      assert.deepEqual(after, edited, "the parent holds the clinic's version, field for field");
      // And, said the other way: what the clinic did not touch is as it was at the parent.
      const untouched = (x: unknown) => {
        const v = x as { names: { familyName: string }[]; addresses: { address1: string | null }[]; attributes: { value: string }[] } & Record<string, unknown>;
        return {
          ...v,
          names: v.names.filter((n) => !n.familyName.startsWith("Otieno")),
          addresses: v.addresses.filter((a) => !a.address1?.startsWith("Box")),
          attributes: v.attributes.filter((a) => !a.value.startsWith("+254")),
        };
      };
      assert.deepEqual(untouched(after), untouched(before));
      assert.deepEqual(parent.diff(child), []);
    });

  for (const mode of ["fhir2", "rest"] as const)
    it(`a child that cannot hold an attribute: the loss is named once, and the trimmed copy is never pushed back (${mode})`, async () => {
      const parent = new OpenmrsSim({ name: "parent", seed: 93 });
      const child = new OpenmrsSim({ name: "child", seed: 94 });
      const p = createRichPatient(parent);
      const civilStatus = PERSON_ATTRIBUTE_TYPES.find((t) => t.display === "Civil Status")!.uuid;
      child.store.lacking.add(civilStatus);
      const { nodeRed, syncOnce } = await twoWay.start(parent, child, mode);
      const writesToParent = () => parent.requests.filter((r) => (r.kind === "rest-write" || r.kind === "fhir-write") && r.uuid === p.uuid).length;

      await syncOnce();
      await syncOnce();
      const atChild = child.store.patients.get(p.uuid)!;
      assert.equal(atChild.attributes?.filter((a) => !a.voided).length, 4, "the child holds four of the five attributes");
      assert.match(nodeRed.log, new RegExp(`Patient/${p.uuid} was written, but the target did not keep: extension\\(person-attribute\\)`));
      assert.equal(writesToParent(), 0, "the trimmed copy is not pushed back");
      assert.equal(parent.store.patients.get(p.uuid)!.attributes?.filter((a) => !a.voided).length, 5);

      // A real edit at the clinic goes to the parent, and the parent keeps what the clinic cannot hold.
      child.store.updatePatient(p.uuid, { names: atChild.names.map((n) => (n.familyName === "Otieno" ? { ...n, familyName: "Otieno-Were" } : n)) });
      await syncOnce();
      await until(() => parent.store.patients.get(p.uuid)!.names.some((n) => n.familyName === "Otieno-Were"), 30_000, "the clinic's edit at the parent");
      const atParent = parent.store.patients.get(p.uuid)!;
      assert.ok(
        atParent.attributes?.some((a) => !a.voided && a.attributeType === civilStatus && a.value === "Married"),
        "the attribute the clinic cannot hold is still at the parent",
      );
    });
});
