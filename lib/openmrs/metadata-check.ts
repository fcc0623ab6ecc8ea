/**
 * The metadata a record refers to on an OpenMRS server (concepts, encounter and visit types, identifier
 * types, locations, providers), and whether the target has it (issue 8, "Metadata check").
 *
 * Metadata is not synchronised: each server is set up with it (for example with the Initializer module).
 * A clinic set up without a concept refuses every observation of it with a generic 400, which used to
 * become a dead letter. Before a record is written, the metadata it names is looked up on the target
 * (GET /ws/rest/v1/{resource}/{uuid}); what is missing becomes its own outcome, `missing-metadata`: the
 * record waits and is retried, and the admin is told which metadata to install.
 *
 * Look-ups are cached per server: what is there is not asked again for ten minutes; what is missing is
 * asked again at the next attempt (so installing it lets the records through without a restart). Records
 * that need the same metadata at the same time share one request. A look-up that fails (a 5xx, a 403 for a
 * user not allowed to read the resource, a network error) does not block the write: the server decides.
 */
import type { RestKind } from "../fhir/convert";

type Json = Record<string, unknown>;
import type { OpenmrsServer } from "./server";

/** REST v1 resource names of the metadata checked. */
export type MetadataKind =
  | "concept"
  | "encountertype"
  | "visittype"
  | "location"
  | "patientidentifiertype"
  | "provider"
  | "encounterrole"
  | "relationshiptype"
  | "caresetting"
  | "drug"
  | "orderfrequency";

export interface MetadataRef {
  kind: MetadataKind;
  uuid: string;
  /** Its name as the source shows it (a concept's name, a location's), when the record carries one. */
  display?: string;
}

const PRESENT_TTL_MS = 10 * 60_000;

/** What each record kind's REST create body names, by field: the metadata kind of each. */
const FIELDS: Readonly<Record<RestKind, readonly [string, MetadataKind][]>> = {
  patient: [],
  visit: [
    ["visitType", "visittype"],
    ["location", "location"],
  ],
  encounter: [
    ["encounterType", "encountertype"],
    ["location", "location"],
  ],
  obs: [["concept", "concept"]],
  condition: [],
  relationship: [["relationshipType", "relationshiptype"]],
  person: [],
  allergy: [["severity", "concept"]],
  order: [
    ["concept", "concept"],
    ["careSetting", "caresetting"],
    ["orderer", "provider"],
    ["drug", "drug"],
    ["frequency", "orderfrequency"],
    ["doseUnits", "concept"],
    ["route", "concept"],
    ["quantityUnits", "concept"],
    ["durationUnits", "concept"],
  ],
  cohort: [],
  location: [["parentLocation", "location"]],
};

/** OpenMRS uuids are 36 characters (a few old ones 38): anything else (a name) is not looked up. */
const UUID = /^[0-9A-Za-z-]{36,38}$/;

function uuidOf(v: unknown): string | undefined {
  const s =
    typeof v === "string"
      ? v
      : typeof v === "object" && v !== null && typeof (v as { uuid?: unknown }).uuid === "string"
        ? (v as { uuid: string }).uuid
        : undefined;
  return s !== undefined && UUID.test(s) ? s : undefined;
}

function objects(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x): x is Json => typeof x === "object" && x !== null) : [];
}

/** uuid -> display, from every coding (`code` + `display`) and reference (`reference` + `display`) in a resource. */
function displays(resource: unknown, out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(resource)) for (const x of resource) displays(x, out);
  else if (typeof resource === "object" && resource !== null) {
    const o = resource as Json;
    if (typeof o.display === "string") {
      const id = typeof o.code === "string" ? o.code : typeof o.reference === "string" ? o.reference.slice(o.reference.lastIndexOf("/") + 1) : undefined;
      if (id && !out.has(id)) out.set(id, o.display);
    }
    for (const v of Object.values(o)) if (typeof v === "object" && v !== null) displays(v, out);
  }
  return out;
}

/**
 * The metadata a record's REST create body names (`body`, from fhirToRestCreate), with the names its FHIR
 * form gives them. `codedValue`: the observation's value is a concept (its FHIR form has
 * valueCodeableConcept), so the body's `value` is a concept uuid, not text.
 */
export function metadataRefs(kind: RestKind, body: Json, resource: unknown, codedValue = false): MetadataRef[] {
  const found: MetadataRef[] = [];
  const add = (k: MetadataKind, v: unknown) => {
    const uuid = uuidOf(v);
    if (uuid && !found.some((f) => f.kind === k && f.uuid === uuid)) found.push({ kind: k, uuid });
  };
  for (const [field, k] of FIELDS[kind] ?? []) add(k, body[field]);
  if (kind === "obs" && codedValue) add("concept", body.value);
  // A condition's concept is in its CodedOrFreeText (free text needs none).
  if (kind === "condition") add("concept", (body.condition as Json | undefined)?.coded);
  // An allergy's allergen and its reactions are concepts.
  if (kind === "allergy") {
    add("concept", (body.allergen as Json | undefined)?.codedAllergen);
    for (const r of objects(body.reactions)) add("concept", r.reaction);
  }
  if (kind === "patient") {
    for (const i of objects(body.identifiers)) {
      add("patientidentifiertype", i.identifierType);
      add("location", i.location);
    }
  }
  if (kind === "encounter") {
    for (const p of objects(body.encounterProviders)) {
      add("provider", p.provider);
      add("encounterrole", p.encounterRole);
    }
    // Its diagnoses' concepts (free text needs none).
    for (const d of objects(body.diagnoses)) add("concept", (d.diagnosis as Json | undefined)?.coded);
  }
  if (found.length === 0) return found;
  const names = displays(resource);
  return found.map((f) => (names.has(f.uuid) ? { ...f, display: names.get(f.uuid) } : f));
}

/** A metadata reference as people read it: `concept 5089AAAA… (Weight (kg))`. */
export function metadataText(ref: MetadataRef): string {
  const what: Readonly<Record<MetadataKind, string>> = {
    concept: "concept",
    encountertype: "encounter type",
    visittype: "visit type",
    location: "location",
    patientidentifiertype: "identifier type",
    provider: "provider",
    encounterrole: "encounter role",
    relationshiptype: "relationship type",
    caresetting: "care setting",
    drug: "drug",
    orderfrequency: "order frequency",
  };
  return `${what[ref.kind] ?? ref.kind} ${ref.uuid}${ref.display ? ` (${ref.display})` : ""}`;
}

/** Which metadata a server lacks, cached as the header says. One per server. */
export class MetadataCheck {
  private readonly present = new Map<string, number>();
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly server: OpenmrsServer,
    private readonly now: () => number = Date.now,
  ) {}

  /** The refs the server does not have (404), in the order given. */
  async missing(refs: readonly MetadataRef[]): Promise<MetadataRef[]> {
    const answers = await Promise.all(refs.map((r) => this.has(r)));
    return refs.filter((_, i) => !answers[i]);
  }

  private has(ref: MetadataRef): Promise<boolean> {
    const key = `${ref.kind}/${ref.uuid}`;
    const at = this.present.get(key);
    if (at !== undefined && this.now() - at < PRESENT_TTL_MS) return Promise.resolve(true);
    let asked = this.asking.get(key);
    if (!asked) {
      asked = this.lookUp(ref).then(
        (has) => {
          if (has) this.present.set(key, this.now());
          return has;
        },
        () => true,
      );
      asked.finally(() => this.asking.delete(key)).catch(() => undefined);
      this.asking.set(key, asked);
    }
    return asked;
  }

  /** False only when the server says it has no such object (404). */
  private async lookUp(ref: MetadataRef): Promise<boolean> {
    const res = await this.server.restGet(this.server.restUrl(ref.kind, ref.uuid));
    return res.status !== 404;
  }
}
