/**
 * An encounter with two providers and an obs group with its members (issue 8), through the shipped two-way
 * flow in a real Node-RED, in both dialects: a "Vital signs" group of a numeric, a coded and a text
 * observation goes parent -> child, the clinic adds a member, the parent voids the group (its members with
 * it). Compared field by field on the simulators' stored records (every field but the audit dates), and
 * `diff` on both. The providers' roles travel through REST; fhir2 serves no role (its participants are the
 * providers only), so through fhir2 the child gives them its default role: checked as such.
 */
import { strict as assert } from "node:assert";
import { OpenmrsSim } from "../../sim";
import type { Obs } from "../../sim/model";
import { ciel, ENCOUNTER_ROLES, ENCOUNTER_TYPES, LOCATIONS, PROVIDERS, UNKNOWN_ENCOUNTER_ROLE } from "../../sim/metadata";
import { until, useTwoWay } from "../helpers/e2e";
const VITALS = ciel(1114);

function obsFields(sim: OpenmrsSim, uuids: string[]): unknown[] {
  return uuids.map((u) => {
    const o: Obs | undefined = sim.store.obs.get(u);
    assert.ok(o, `obs ${u} at ${sim.name}`);
    const { auditInfo: _audit, dateVoided: _when, ...rest } = o;
    void _audit;
    void _when;
    return { ...rest, groupMembers: o.groupMembers ? [...o.groupMembers].sort() : undefined };
  });
}

/** An encounter's active providers as "provider/role". */
function providers(sim: OpenmrsSim, uuid: string): string[] {
  return (sim.store.encounters.get(uuid)?.providers ?? [])
    .filter((p) => !p.voided)
    .map((p) => `${p.provider}/${p.encounterRole}`)
    .sort();
}

describe("encounter providers and obs groups, parent -> child -> parent", function () {
  this.timeout(300_000);
  const twoWay = useTwoWay("e2e-obs-groups");

  for (const mode of ["fhir2", "rest"] as const)
    it(`an encounter's providers arrive (roles through REST), a group and its members arrive whole, a member added at the clinic comes back, a voided group voids its members (${mode})`, async () => {
      const parent = new OpenmrsSim({ name: "parent", seed: 95 });
      const child = new OpenmrsSim({ name: "child", seed: 96 });
      const s = parent.store;
      const p = s.createPatient({ gender: "M", names: [{ givenName: "Otieno", familyName: "Were" }] });
      const clinician = ENCOUNTER_ROLES.find((r) => r.display === "Clinician")!.uuid;
      const e = s.createEncounter({
        patient: p.uuid,
        encounterType: ENCOUNTER_TYPES[0].uuid,
        location: LOCATIONS[0].uuid,
        providers: [
          { provider: PROVIDERS[0].uuid, encounterRole: clinician },
          { provider: PROVIDERS[1].uuid, encounterRole: UNKNOWN_ENCOUNTER_ROLE },
        ],
      });
      const members = [
        s.createObs({ person: p.uuid, encounter: e.uuid, concept: ciel(5089), value: 71.5 }),
        s.createObs({ person: p.uuid, encounter: e.uuid, concept: ciel(32), value: ciel(703) }),
        s.createObs({ person: p.uuid, encounter: e.uuid, concept: ciel(162169), value: "looks well" }),
      ].map((o) => o.uuid);
      const group = s.createObs({ person: p.uuid, encounter: e.uuid, concept: VITALS, groupMembers: members }).uuid;
      assert.equal(s.groupOf(members[0])?.uuid, group);
      const round = (await twoWay.start(parent, child, mode)).syncOnce;
      const all = [...members, group];
      const syncOnce = async () => {
        await round();
        // A group waits for its members (missing-reference), retried a second or so later.
        await until(() => all.every((u) => child.store.obs.has(u) && parent.store.obs.has(u)), 60_000, "every obs on both sides");
      };
      await syncOnce();
      await until(() => child.store.obs.get(group)?.groupMembers?.length === 3, 60_000, "the group at the child");
      assert.deepEqual(obsFields(child, all), obsFields(parent, all), "the child holds the group and its members as the parent has them");
      assert.equal(child.store.groupOf(members[1])?.uuid, group);
      const roleAtChild = mode === "rest" ? clinician : UNKNOWN_ENCOUNTER_ROLE;
      assert.deepEqual(
        providers(child, e.uuid),
        [`${PROVIDERS[0].uuid}/${roleAtChild}`, `${PROVIDERS[1].uuid}/${UNKNOWN_ENCOUNTER_ROLE}`].sort(),
        mode === "rest" ? "both providers with their roles" : "both providers; fhir2 serves no role, the child's default applies",
      );
      const rolesDiffer = (line: string) => mode === "fhir2" && line.startsWith(`encounter ${e.uuid}`) && line.includes("providers");

      // The clinic adds a member to the group.
      const added = child.store.createObs({ person: p.uuid, encounter: e.uuid, concept: ciel(5090), value: 168 }).uuid;
      child.store.updateObs(group, { groupMembers: [...members, added] });
      all.push(added);
      await syncOnce();
      await until(() => parent.store.obs.get(group)?.groupMembers?.length === 4, 60_000, "the clinic's member at the parent");
      assert.deepEqual(obsFields(parent, all), obsFields(child, all), "the parent holds the clinic's group");

      // The parent voids the group: its members go with it, on both sides.
      parent.store.voidRecord("obs", group, "entered in error");
      assert.ok(all.every((u) => parent.store.obs.get(u)?.voided));
      await syncOnce();
      await until(() => all.every((u) => child.store.obs.get(u)?.voided), 60_000, "the group and its members voided at the child");
      assert.deepEqual(
        parent.diff(child).filter((l) => !rolesDiffer(l)),
        [],
      );
    });
});
