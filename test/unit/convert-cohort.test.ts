/**
 * The cohort converter (lib/fhir/types/cohort.ts) both ways against real fhir2 Group JSON
 * (test/fixtures/openmrs/SOURCES.md) and a REST v1 cohort as CohortResource2_1 / CohortMembershipResource2_1
 * serve it; the source read (lib/openmrs/fetch-record.ts) and the target write (lib/push/cohort.ts) against
 * the simulator, through fhir2 and through REST alone.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fhirReferences, fhirToRestCreate, groupMembers, restKindOf, restKindOfFhir, restToFhir, type FhirResource } from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";
import { fetchRecord } from "../../lib/openmrs/fetch-record";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { PermanentError } from "../../lib/outcome";
import { OpenmrsTarget } from "../../lib/push/targets";
import { describeEntry } from "../../lib/atom/entry";
import { OpenmrsSim } from "../../sim";
import { liveMembers, type Cohort } from "../../sim/types/cohort";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const fixture = (rel: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), "utf8")) as Record<string, unknown>;
const DESCRIPTION = "http://fhir.openmrs.org/ext/group/description";

/** CohortResource2_1's full representation plus the membership list (the values of fhir2's GroupWebTest fixture). */
function restCohort(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid: "1d64befb-3b2e-48e5-85f5-353d43e23e46",
    display: "Test group",
    name: "Test group",
    description: "Patients with at least one encounter",
    voided: false,
    size: 1,
    auditInfo: { dateCreated: "2019-10-16T00:00:28.000+0300", dateChanged: null },
    links: [],
    resourceVersion: "2.1",
    memberships: [
      {
        uuid: "d275f94d-a093-42c8-a4b1-24f90f7c0fb9",
        patientUuid: "61b38324-e2fd-4feb-95b7-9e9a2a4400df",
        startDate: "2019-10-16T00:00:28.000+0300",
        endDate: null,
        voided: false,
      },
      {
        uuid: "e275f94d-a093-42c8-a4b1-24f90f7c0fb9",
        patientUuid: "71b38324-e2fd-4feb-95b7-9e9a2a4400df",
        startDate: "2019-10-16T00:00:28.000+0300",
        endDate: null,
        voided: true,
      },
    ],
    ...over,
  };
}

describe("cohort converter (REST v1 cohort <-> FHIR Group)", () => {
  it("kinds: cohort <-> Group; a Group's member patients are references it waits for", () => {
    assert.equal(restKindOf("cohort"), "cohort");
    const group = fixture("openmrs-module-fhir2/GroupWebTest_update.json") as FhirResource;
    assert.equal(restKindOfFhir(group), "cohort");
    assert.deepEqual(fhirReferences(group), [{ resourceType: "Patient", id: "61b38324-e2fd-4feb-95b7-9e9a2a4400df" }]);
  });

  it("REST -> Group as GroupTranslatorImpl serves it, live memberships only, valid R4", () => {
    const g = restToFhir("cohort", restCohort());
    assert.deepEqual(g, {
      resourceType: "Group",
      id: "1d64befb-3b2e-48e5-85f5-353d43e23e46",
      meta: g.meta,
      extension: [{ url: DESCRIPTION, valueString: "Patients with at least one encounter" }],
      active: true,
      type: "person",
      actual: true,
      name: "Test group",
      quantity: 1,
      member: [{ entity: { reference: "Patient/61b38324-e2fd-4feb-95b7-9e9a2a4400df", type: "Patient" } }],
    });
    assert.ok((g.meta as { lastUpdated?: string }).lastUpdated);
    assert.deepEqual(validateResource(g).errors, []);
  });

  it("real fhir2 Group (GroupWebTest_update.json) -> REST create body: name, description, empty memberIds; members apart", () => {
    const group = fixture("openmrs-module-fhir2/GroupWebTest_update.json") as FhirResource;
    assert.deepEqual(validateResource(group).errors, []);
    const { kind, body } = fhirToRestCreate(group);
    assert.equal(kind, "cohort");
    assert.deepEqual(body, {
      uuid: "1d64befb-3b2e-48e5-85f5-353d43e23e46",
      name: "Test group",
      description: "Patients with at least one encounter",
      memberIds: [],
    });
    assert.deepEqual(groupMembers(group), ["61b38324-e2fd-4feb-95b7-9e9a2a4400df"]);
    // Round trip: REST -> Group -> REST says the same.
    assert.deepEqual(fhirToRestCreate(restToFhir("cohort", restCohort())).body, body);
  });

  it("refuses a Group without a name or with a non-patient member", () => {
    const group = fixture("openmrs-module-fhir2/GroupWebTest_update.json") as FhirResource;
    assert.throws(() => fhirToRestCreate({ ...group, name: undefined }), PermanentError);
    assert.throws(() => fhirToRestCreate({ ...group, member: [{ entity: { reference: "Practitioner/abc" } }] }), PermanentError);
  });
});

describe("cohorts read from and written to OpenMRS (simulator)", function () {
  this.timeout(20_000);
  let source: OpenmrsSim;
  let target: OpenmrsSim;
  const servers: OpenmrsServer[] = [];
  let patients: string[];
  let uuid: string;

  beforeEach(async () => {
    source = new OpenmrsSim({ name: "source", seed: 21 });
    target = new OpenmrsSim({ name: "target", seed: 21 });
    source.generate({ patients: 3, visitsPerPatient: 0 });
    target.generate({ patients: 3, visitsPerPatient: 0 });
    patients = [...source.store.patients.values()].map((p) => p.uuid);
    uuid = source.store.createOf("cohort", { name: "ANC", description: "Antenatal clients", members: [patients[0], patients[1]] }).uuid;
    const first = (source.store.getOf("cohort", uuid) as Cohort).memberships[0].uuid;
    source.store.updateOf("cohort", uuid, { remove: [first] });
    await source.start();
    await target.start();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) s.close();
    await source.stop();
    await target.stop();
  });
  const server = (url: string, fhirMode: "fhir2" | "rest") => {
    const s = new OpenmrsServer({ url, username: "admin", password: "Admin123", fhirMode });
    servers.push(s);
    return s;
  };
  const entry = () =>
    describeEntry({
      id: "tag:atomfeed.ict4h.org:1",
      title: "Cohort",
      updated: "2026-01-01T00:00:00Z",
      categories: ["cohort", "CREATED"],
      content: JSON.stringify({ rest: `/ws/rest/v1/cohort/${uuid}?v=full`, fhir: `/ws/fhir2/R4/Group/${uuid}` }),
      page: "http://x/1",
    });

  for (const mode of ["fhir2", "rest"] as const)
    it(`through ${mode}: the source read has the live members only; the target gets the cohort with its uuid, then a member change and the void`, async () => {
      const fetched = await fetchRecord(server(source.url, mode), { fhir2: mode === "fhir2" }, entry());
      assert.equal(fetched.via, mode);
      assert.deepEqual(groupMembers(fetched.resource!), [patients[1]]);
      assert.equal(fetched.resource!.quantity, 1);

      const to = new OpenmrsTarget(server(target.url, mode));
      const write = (resource: FhirResource) => to.write({ action: "upsert", resourceType: "Group", id: uuid, resource });
      assert.equal((await write(fetched.resource!)).outcome.reason, "created");
      const stored = () => target.store.getOf("cohort", uuid) as Cohort;
      assert.deepEqual([stored().name, stored().description, liveMembers(stored())], ["ANC", "Antenatal clients", [patients[1]]]);

      const changed = { ...fetched.resource!, name: "ANC 2026", member: [{ entity: { reference: `Patient/${patients[2]}` } }] };
      assert.equal((await write(changed)).outcome.kind, "ok");
      assert.deepEqual([stored().name, liveMembers(stored())], ["ANC 2026", [patients[2]]]);
      assert.deepEqual(groupMembers((await to.read("Group", uuid))!), [patients[2]]);

      const missing = { ...changed, member: [{ entity: { reference: "Patient/0c0c0c0c-0000-4000-8000-000000000000" } }] };
      const waits = await write(missing);
      assert.deepEqual([waits.outcome.kind, waits.outcome.reason], ["retry", "missing-reference"]);

      assert.equal((await to.write({ action: "delete", resourceType: "Group", id: uuid, restKind: "cohort" })).outcome.kind, "ok");
      assert.equal(stored().voided, true);
    });
});
