/**
 * The hub's record reads for children: `GET {hub}/openmrs/ws/fhir2/R4/{Type}/{id}` (and `metadata`, and
 * searches) and `GET {hub}/openmrs/ws/rest/v1/{resource}/{uuid}…`, answered by the same read at the parent
 * (with the hub's own credentials for the parent: a child never holds them). The parent's status, body and
 * content type are passed back; a network failure is 502/504. Only the two API paths are forwarded, never
 * a path with "." or ".." segments. The catchment check (issue 10) goes in `allow`: a record it refuses is
 * answered as absent (404), never as forbidden. No Node-RED here.
 */
import type { OpenmrsServer } from "../openmrs/server";
import { NetworkError } from "../http";

export interface RecordAnswer {
  status: number;
  contentType?: string;
  body: string;
}

/** Checks a record read by a key; the seam for the catchment rule (lib/hub/catchment.ts). */
export type RecordFilter = (keyId: string, path: string, body: unknown) => Promise<boolean>;

const API_PATH = /^\/ws\/(?:fhir2\/R4|rest\/v1)\/[^?#]+$/;

/** The "/ws/…" path to forward, or undefined when it is not one of the two APIs or is not plain. */
export function forwardablePath(path: string): string | undefined {
  if (!API_PATH.test(path)) return undefined;
  const segments = path.split("/");
  if (segments.some((s) => s === "." || s === ".." || /%2f|%5c|%2e/i.test(s))) return undefined;
  return path;
}

const NOT_FOUND: RecordAnswer = {
  status: 404,
  contentType: "application/json",
  body: JSON.stringify({ error: { message: "Object with given uuid doesn't exist" } }),
};

export async function readFromParent(
  parent: OpenmrsServer,
  path: string,
  query: string,
  accept: string | undefined,
  allow?: (body: unknown) => Promise<boolean>,
): Promise<RecordAnswer> {
  const ws = forwardablePath(path);
  if (!ws) return NOT_FOUND;
  const url = `${parent.baseUrl}${ws}${query ? `?${query}` : ""}`;
  let res;
  try {
    res = await parent.http.request("GET", url, { headers: { accept: accept || "application/json" } });
  } catch (err) {
    if (err instanceof NetworkError)
      return {
        status: err.code === "TIMEOUT" ? 504 : 502,
        contentType: "application/json",
        body: JSON.stringify({ error: { message: "parent unreachable" } }),
      };
    throw err;
  }
  const contentType = typeof res.headers["content-type"] === "string" ? res.headers["content-type"] : undefined;
  if (allow && res.status === 200) {
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      body = undefined;
    }
    if (!(await allow(body))) return NOT_FOUND;
  }
  return { status: res.status, contentType, body: res.body };
}
