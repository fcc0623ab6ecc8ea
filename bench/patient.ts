/** A synthetic FHIR Patient for the queue and push-drain benchmarks (the same shape as the simulator's). */
import type { FhirResource } from "../lib/fhir/convert";

export function patient(i: number): FhirResource {
  const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
  return {
    resourceType: "Patient",
    id,
    meta: { versionId: "1764320000000", lastUpdated: "2026-11-28T08:00:00.000+00:00" },
    identifier: [
      {
        id: `${id.slice(0, 30)}aaaaaa`,
        use: "official",
        type: { coding: [{ code: "05a29f94-c0ed-11e2-94be-8c13b969e334" }], text: "OpenMRS ID" },
        value: `CHI${String(i).padStart(6, "0")}`,
      },
    ],
    active: true,
    name: [{ id: `${id.slice(0, 30)}bbbbbb`, family: `Family${i % 977}`, given: ["Given", "Middle"], use: "official" }],
    gender: i % 2 ? "female" : "male",
    birthDate: "1985-04-12",
    address: [
      {
        id: `${id.slice(0, 30)}cccccc`,
        use: "home",
        line: ["12 Long Street"],
        city: "Kampala",
        district: "Central",
        state: "Central Region",
        country: "Uganda",
        postalCode: "256",
      },
    ],
  };
}
