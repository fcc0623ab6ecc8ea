/**
 * A server's person attribute types by name (GET /ws/rest/v1/personattributetype?v=default), which a
 * patient's REST create needs: fhir2 names an attribute's type, REST v1 takes the type's uuid
 * (docs/fhir-mapping.md "Person attributes"). Kept for ten minutes per server; a failed look-up is an
 * OutcomeError for the caller to settle (retry on 5xx / network), a server without the resource (404)
 * has no types.
 */
import { httpFailure } from "../outcome";
import type { OpenmrsServer } from "./server";

const TTL_MS = 10 * 60_000;

interface Cached {
  at: number;
  types: Promise<ReadonlyMap<string, string>>;
}

const cache = new WeakMap<OpenmrsServer, Cached>();

function typesOf(json: unknown): Map<string, string> {
  const types = new Map<string, string>();
  const results =
    typeof json === "object" && json !== null && Array.isArray((json as { results?: unknown }).results) ? (json as { results: unknown[] }).results : [];
  for (const r of results) {
    if (typeof r !== "object" || r === null) continue;
    const { uuid, name, display, retired } = r as { uuid?: unknown; name?: unknown; display?: unknown; retired?: unknown };
    const label = typeof name === "string" ? name : display;
    if (typeof uuid === "string" && typeof label === "string" && retired !== true && !types.has(label)) types.set(label, uuid);
  }
  return types;
}

async function load(server: OpenmrsServer): Promise<ReadonlyMap<string, string>> {
  const url = `${server.restUrl("personattributetype")}?v=default&limit=100`;
  const res = await server.restGet(url);
  if (res.status === 404) return new Map();
  if (res.status !== 200) throw httpFailure("GET", url, res.status, res.json, res.headers["retry-after"]);
  return typesOf(res.json);
}

/** The server's person attribute types, name -> uuid. */
export function personAttributeTypes(server: OpenmrsServer, now = Date.now()): Promise<ReadonlyMap<string, string>> {
  const hit = cache.get(server);
  if (hit && now - hit.at < TTL_MS) return hit.types;
  const types = load(server);
  cache.set(server, { at: now, types });
  types.catch(() => cache.delete(server));
  return types;
}
