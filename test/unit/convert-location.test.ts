/**
 * The Location converter (lib/fhir/types/location.ts) both ways against real fhir2 Location JSON
 * (test/fixtures/openmrs/SOURCES.md) and a REST v1 location as LocationResource2_0 serves it; the target
 * write (always REST v1, lib/push/targets.ts) against the simulator: a child location waits for its parent.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fhirReferences, fhirToRestCreate, isVoidedRest, restKindOfFhir, restToFhir, type FhirResource } from "../../lib/fhir/convert";
import { validateResource } from "../../lib/fhir/validate";
import { metadataRefs } from "../../lib/openmrs/metadata-check";
import { OpenmrsServer } from "../../lib/openmrs/server";
import { OpenmrsTarget } from "../../lib/push/targets";
import { OpenmrsSim } from "../../sim";
import type { Location } from "../../sim/types/location";

const FIXTURES = path.resolve(__dirname, "../fixtures/openmrs");
const fixture = (rel: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), "utf8")) as Record<string, unknown>;
const TAG = "http://fhir.openmrs.org/ext/location-tag";
const ADDR = "http://fhir.openmrs.org/ext/address";
const PARENT = "aff27d58-a15c-49a6-9beb-d30dcfc0c66e";

/** LocationResource2_0's full representation (the values of fhir2's LocationWebTest fixture, a parent and a tag). */
function restLocation(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid: "c0938432-1691-11df-97a5-7038c432aabf",
    display: "Test location",
    name: "Test location",
    description: "Ward 2",
    address1: "Plot 4",
    address2: null,
    cityVillage: "kampala",
    stateProvince: "MI",
    country: "uganda",
    postalCode: "9105 PZ",
    latitude: null,
    longitude: null,
    countyDistrict: "Central",
    tags: [{ uuid: "b8bbf83e-645f-451f-8efe-a0db56f09676", display: "mCSD_Location", links: [] }],
    parentLocation: { uuid: PARENT, display: "Xanadu", links: [] },
    childLocations: [],
    retired: false,
    auditInfo: { dateCreated: "2005-09-22T00:00:00.000+0000", dateChanged: null },
    links: [],
    resourceVersion: "2.0",
    ...over,
  };
}

describe("location converter (REST v1 location <-> FHIR Location)", () => {
  it("REST -> Location as LocationTranslatorImpl serves it, valid R4; the parent is a reference and a metadata ref", () => {
    const l = restToFhir("location", restLocation());
    assert.deepEqual(validateResource(l).errors, []);
    assert.equal(restKindOfFhir(l), "location");
    assert.deepEqual([l.status, l.name, l.description], ["active", "Test location", "Ward 2"]);
    assert.deepEqual((l.meta as { tag: unknown }).tag, [{ system: TAG, code: "mCSD_Location" }]);
    assert.deepEqual(l.address, {
      extension: [{ url: ADDR, extension: [{ url: `${ADDR}#address1`, valueString: "Plot 4" }] }],
      city: "kampala",
      district: "Central",
      state: "MI",
      postalCode: "9105 PZ",
      country: "uganda",
    });
    assert.deepEqual(l.partOf, { reference: `Location/${PARENT}`, type: "Location", display: "Xanadu" });
    assert.deepEqual(fhirReferences(l), [{ resourceType: "Location", id: PARENT }]);
    const { kind, body } = fhirToRestCreate(l);
    assert.equal(kind, "location");
    assert.deepEqual(body, {
      uuid: "c0938432-1691-11df-97a5-7038c432aabf",
      name: "Test location",
      description: "Ward 2",
      address1: "Plot 4",
      cityVillage: "kampala",
      countyDistrict: "Central",
      stateProvince: "MI",
      postalCode: "9105 PZ",
      country: "uganda",
      parentLocation: PARENT,
      tags: ["mCSD_Location"],
    });
    assert.deepEqual(metadataRefs("location", body, l), [{ kind: "location", uuid: PARENT, display: "Xanadu" }]);
    assert.equal(restToFhir("location", restLocation({ retired: true })).status, "inactive");
    assert.equal(isVoidedRest(restLocation({ retired: true })), true);
  });

  it("real fhir2 Location (LocationWebTest_create.json, a tag without a system) -> REST create body", () => {
    const l = { ...fixture("openmrs-module-fhir2/LocationWebTest_create.json"), id: "0b0b0b0b-1111-4222-8333-444455556666" } as FhirResource;
    assert.deepEqual(fhirToRestCreate(l).body, {
      uuid: "0b0b0b0b-1111-4222-8333-444455556666",
      name: "Test location",
      cityVillage: "kampala",
      stateProvince: "MI",
      postalCode: "9105 PZ",
      country: "uganda",
      tags: ["mCSD_Location"],
    });
  });
});

describe("locations written to OpenMRS (simulator)", function () {
  this.timeout(20_000);
  let source: OpenmrsSim;
  let target: OpenmrsSim;
  const servers: OpenmrsServer[] = [];

  beforeEach(async () => {
    source = new OpenmrsSim({ name: "source", seed: 31 });
    target = new OpenmrsSim({ name: "target", seed: 32 });
    source.store.createOf("location", { uuid: PARENT, name: "District", address: { cityVillage: "Gulu" }, tags: ["Visit Location"] });
    source.store.createOf("location", { uuid: "c0938432-1691-11df-97a5-7038c432aabf", name: "Clinic", address: { address1: "Plot 4" }, parent: PARENT });
    await source.start();
    await target.start();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) s.close();
    await source.stop();
    await target.stop();
  });

  for (const mode of ["fhir2", "rest"] as const)
    it(`through ${mode}: a child location waits (missing-metadata) for its parent, then both arrive whole; a retired one is retired`, async () => {
      const from = new OpenmrsServer({ url: source.url, username: "admin", password: "Admin123", fhirMode: mode });
      const to = new OpenmrsServer({ url: target.url, username: "admin", password: "Admin123", fhirMode: mode });
      servers.push(from, to);
      const t = new OpenmrsTarget(to);
      const read = async (id: string) =>
        mode === "fhir2"
          ? ((await from.fhir.read("Location", id)).body as FhirResource)
          : restToFhir("location", (await from.restGet(`${from.restUrl("location", id)}?v=full`)).json);
      const write = async (id: string) => t.write({ action: "upsert", resourceType: "Location", id, resource: await read(id) });
      const child = "c0938432-1691-11df-97a5-7038c432aabf";
      const waits = await write(child);
      assert.deepEqual([waits.outcome.kind, waits.outcome.reason], ["retry", "missing-metadata"]);
      assert.equal((await write(PARENT)).outcome.kind, "ok");
      assert.equal((await write(child)).outcome.kind, "ok");
      const stored = target.store.getOf("location", child) as Location;
      assert.deepEqual([stored.name, stored.parent, stored.address.address1], ["Clinic", PARENT, "Plot 4"]);
      assert.deepEqual((target.store.getOf("location", PARENT) as Location).tags, ["Visit Location"]);
      assert.equal(target.requests.filter((r) => r.kind === "fhir-write").length, 0, "written through REST v1");
      source.store.voidOf("location", child, "closed");
      if (mode === "fhir2") assert.equal((await write(child)).outcome.kind, "ok");
      else assert.equal((await t.write({ action: "delete", resourceType: "Location", id: child, restKind: "location" })).outcome.kind, "ok");
      assert.equal((target.store.getOf("location", child) as Location).voided, true);
    });
});
