/** Fault switches: set from code (`sim.faults.x = ...`) or over HTTP (`POST /__sim/faults`, merged). */
import { isObject } from "./reply";

export type RequestKind = "feed" | "rest-get" | "rest-write" | "fhir-get" | "fhir-write" | "other";
export const REQUEST_KINDS: readonly RequestKind[] = ["feed", "rest-get", "rest-write", "fhir-get", "fhir-write", "other"];

export interface StatusFault {
  /** HTTP status to answer, e.g. 503. */
  code: number;
  /** Only the next `count` matching requests (decremented; the fault clears itself at 0). */
  count?: number;
  /** Random fraction of matching requests (0..1). With neither count nor rate: every matching request. */
  rate?: number;
  /** Only requests of these kinds (default: all). */
  kinds?: RequestKind[];
  /** Retry-After header, seconds. */
  retryAfter?: number;
}

export interface Faults {
  /** Reset every incoming connection (admin routes excepted, so the switch can be turned off over HTTP). */
  down: boolean;
  /** Delay every response by this many ms. */
  slowMs: number;
  status?: StatusFault | null;
  /** Fraction of responses whose socket is destroyed half-way through the body. */
  resetRate: number;
  /** Feed pages truncated (not well-formed XML). */
  malformedFeed: boolean;
  /** Feed pages replaced by a billion-laughs document. */
  entityBomb: boolean;
  /** Pad feed pages with this many bytes of junk inside an XML comment (0 = off). */
  hugeFeed: number;
  /** Record uuids whose fhir2 GET and REST GET answer an invalid resource. */
  invalidFhir: string[];
  /** Event uuids or entry ids (`tag:atomfeed.ict4h.org:{uuid}`) left out of their feed pages. */
  hideFeedEntries: string[];
  /** Record uuids whose writes (REST or fhir2, create or update) are refused with 422 and an error body. */
  rejectWrites: string[];
}

export function defaultFaults(): Faults {
  return {
    down: false,
    slowMs: 0,
    status: null,
    resetRate: 0,
    malformedFeed: false,
    entityBomb: false,
    hugeFeed: 0,
    invalidFhir: [],
    hideFeedEntries: [],
    rejectWrites: [],
  };
}

/** Resets all switches in place (keeps the object identity `sim.faults`). */
export function clearFaults(f: Faults): void {
  Object.assign(f, defaultFaults());
}

function num(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`fault ${name} must be a number`);
  return v;
}

function bool(v: unknown, name: string): boolean {
  if (typeof v !== "boolean") throw new Error(`fault ${name} must be a boolean`);
  return v;
}

function strings(v: unknown, name: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`fault ${name} must be an array of strings`);
  return v;
}

function statusFault(v: unknown): StatusFault | null {
  if (v === null || v === undefined || v === false) return null;
  if (!isObject(v)) throw new Error("fault status must be an object or null");
  const s: StatusFault = { code: num(v.code, "status.code") };
  if (v.count !== undefined) s.count = num(v.count, "status.count");
  if (v.rate !== undefined) s.rate = num(v.rate, "status.rate");
  if (v.retryAfter !== undefined) s.retryAfter = num(v.retryAfter, "status.retryAfter");
  if (v.kinds !== undefined) {
    const kinds = strings(v.kinds, "status.kinds");
    for (const k of kinds) if (!(REQUEST_KINDS as readonly string[]).includes(k)) throw new Error(`unknown request kind ${k}`);
    s.kinds = kinds as RequestKind[];
  }
  return s;
}

/** Merges a JSON patch into the switches (`{"reset": true}` clears everything first). Throws on bad input. */
export function mergeFaults(f: Faults, patch: unknown): void {
  if (!isObject(patch)) throw new Error("faults body must be a JSON object");
  const next: Faults = { ...f };
  if (patch.reset === true) Object.assign(next, defaultFaults());
  for (const [k, v] of Object.entries(patch)) {
    switch (k) {
      case "reset":
        break;
      case "down":
      case "malformedFeed":
      case "entityBomb":
        next[k] = bool(v, k);
        break;
      case "slowMs":
      case "resetRate":
      case "hugeFeed":
        next[k] = num(v, k);
        break;
      case "status":
        next.status = statusFault(v);
        break;
      case "invalidFhir":
      case "hideFeedEntries":
      case "rejectWrites":
        next[k] = strings(v, k);
        break;
      default:
        throw new Error(`unknown fault ${k}`);
    }
  }
  Object.assign(f, next);
}

/**
 * Whether the status fault hits this request; consumes one unit of `count`.
 * `rand` in [0,1).
 */
export function takeStatusFault(f: Faults, kind: RequestKind, rand: () => number): StatusFault | null {
  const s = f.status;
  if (!s) return null;
  if (s.kinds && s.kinds.length > 0 && !s.kinds.includes(kind)) return null;
  if (s.count !== undefined && s.count <= 0) {
    f.status = null;
    return null;
  }
  if (s.rate !== undefined && rand() >= s.rate) return null;
  if (s.count !== undefined) {
    s.count -= 1;
    if (s.count <= 0) f.status = null;
  }
  return s;
}
