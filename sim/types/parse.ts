/**
 * Reading request bodies for the registered record types: REST v1 properties (webservices.rest's
 * conversions and refusals) and FHIR R4 elements. Every reader throws a 400 SimError naming the field.
 */
import { parseInstant } from "../dates";
import { SimError } from "../errors";
import { isObject } from "../reply";
import type { Json } from "./registry";

export function bad(message: string): SimError {
  return new SimError(400, message);
}

// ------------------------------------------------------------------ REST v1

/** Properties webservices.rest drops before setting any (BaseDelegatingResource.propertiesIgnoredWhenUpdating). */
const IGNORED = new Set(["display", "links", "auditInfo", "resourceVersion"]);

/**
 * Refuses what a resource does not let a client set, as BaseDelegatingResource.setConvertedProperties
 * does ("Some properties are not allowed to be set: …"), except a property posted back unchanged
 * (`unchanged(name, value)`).
 */
export function refuseOthers(body: Json, allowed: readonly string[], unchanged: (name: string, value: unknown) => boolean = () => false): void {
  const refused = Object.keys(body).filter((k) => !IGNORED.has(k) && !allowed.includes(k) && !unchanged(k, body[k]));
  if (refused.length) throw bad(`Some properties are not allowed to be set: ${refused.join(", ")}`);
}

/** A reference: a uuid string or an object with `uuid`; null clears; undefined = not given. */
export function refUuid(v: unknown, field: string): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null || v === "") return null;
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.uuid === "string") return v.uuid;
  throw bad(`${field} must be a uuid or an object with a uuid`);
}

export function optString(v: unknown, field: string): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  throw bad(`${field} must be a string`);
}

export function optBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  throw bad(`${field} must be a boolean`);
}

/** A REST date property: any OpenMRS, ISO or FHIR datetime, or a bare date; "" or null clears. */
export function restDate(v: unknown, field: string): string | null | undefined {
  const s = optString(v, field);
  if (s === "") return null;
  if (s && parseInstant(s) === undefined) throw bad(`Invalid date for ${field}: ${s}`);
  return s;
}

/** `voided` / `voidReason` of an update body. */
export function voidFields(body: Json): { voided?: boolean; voidReason?: string } {
  const voided = optBool(body.voided, "voided");
  const reason = optString(body.voidReason, "voidReason");
  return { ...(voided !== undefined ? { voided } : {}), ...(reason ? { voidReason: reason } : {}) };
}

// ------------------------------------------------------------------ FHIR R4

export function arr(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${field} must be an array`);
  return v;
}

export function obj(v: unknown, field: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(`${field} must be an object`);
  return v;
}

export function optStr(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw bad(`${field} must be a string`);
  return v;
}

/** A FHIR dateTime (or date), checked; undefined when absent. */
export function fhirDate(v: unknown, field: string): string | undefined {
  const s = optStr(v, field);
  if (s !== undefined && parseInstant(s) === undefined) throw bad(`Invalid ${field}: ${s}`);
  return s;
}

/** `Type/uuid` (or an absolute URL ending so, or with `/_history/n`) -> uuid; the type must be one of `types`. */
export function refId(v: unknown, field: string, types: readonly string[]): string | undefined {
  const r = obj(v, field);
  if (!r) return undefined;
  const ref = optStr(r.reference, `${field}.reference`);
  if (!ref) throw bad(`${field}.reference is required`);
  const parts = ref
    .split("?")[0]
    .split("/")
    .filter((s) => s);
  const hist = parts.indexOf("_history");
  const p = hist > 0 ? parts.slice(0, hist) : parts;
  const type = p[p.length - 2];
  const id = p[p.length - 1];
  if (!type || !id || !types.includes(type)) throw bad(`${field}.reference must be ${types.map((t) => `${t}/{id}`).join(" or ")}: ${ref}`);
  return id;
}

/** The codings of a CodeableConcept (objects only). */
export function codings(v: unknown, field: string): Json[] {
  const cc = obj(v, field);
  return cc ? arr(cc.coding, `${field}.coding`).filter(isObject) : [];
}

/** The code of the first coding with this system (`undefined` system: the first coding without one). */
export function codeOf(v: unknown, field: string, system?: string): string | undefined {
  for (const c of codings(v, field)) {
    if ((system === undefined ? c.system === undefined : c.system === system) && typeof c.code === "string" && c.code) return c.code;
  }
  return undefined;
}

/** The `valueString` of the first extension with this url. */
export function extensionString(r: Json, url: string): string | undefined {
  for (const ext of arr(r.extension, "extension")) {
    if (isObject(ext) && ext.url === url) return optStr(ext.valueString, `extension ${url}`);
  }
  return undefined;
}
