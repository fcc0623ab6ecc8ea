/**
 * The hub's write side (issue 10): a child's push flow writes to the hub as it would to its parent
 * (fhir2 PUT/POST/DELETE, REST v1 POST with a uuid or to a record, DELETE); the hub takes each write into
 * its durable queue and replays it, verbatim, to the parent. No Node-RED here; the nodes are hub-in
 * (routes → messages) and hub-relay (messages → the parent).
 *
 *  - Verbatim: the hub converts nothing, so what the child's fhir-push decided (create through REST with
 *    the uuid, update through fhir2, the metadata it checked, the conflict rule it applied on the parent's
 *    current record, which it read through the hub) reaches the parent unchanged.
 *  - Ordering and coalescing key: the record (`Patient/<uuid>` for both dialects of a patient), as every
 *    queue of this package: a newer whole write of a record replaces an older one still waiting.
 *  - Who owns a failure: when the parent answers while the child is still waiting (the usual case), the
 *    child gets the parent's own answer (status and body) and owns the outcome (its queue retries or
 *    dead-letters); the hub then settles its item as answered, so a refusal is not dead-lettered twice.
 *    When the parent does not answer in time (down, slow), the child gets 202 with `x-openmrs-sync: queued`
 *    and the hub owns the write: it retries, and dead-letters what the parent refuses, at the hub.
 */
import { randomUUID } from "node:crypto";
import { REST_TO_FHIR_TYPE } from "../atom/entry";
import type { OpenmrsServer } from "../openmrs/server";
import { classifyStatus, outcomeOfError, type Outcome } from "../outcome";

export type RelayMethod = "PUT" | "POST" | "DELETE";

/** One child write as queued (`msg.relay`); the body is msg.payload (JSON) or absent. */
export interface RelayRequest {
  /** Unique per request: the route waits for this id's answer. */
  id: string;
  method: RelayMethod;
  /** Path under the server's base URL, with the query: `/ws/fhir2/R4/Patient/<id>`, `/ws/rest/v1/patient`. */
  path: string;
  /** Key name of the child (for the audit and the admin; never a secret). */
  child: string;
  /** The body's content type as the child sent it (`application/fhir+json`…), sent on as is. */
  contentType?: string;
}

/** What the parent answered, given back to the child as is (a few headers only). */
export interface RelayAnswer {
  status: number;
  contentType?: string;
  location?: string;
  body: string;
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,100}$/;
const MAX_PATH = 1000;

export class RelayRefused extends Error {
  constructor(
    readonly status: 400 | 404 | 405,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The record a write names, from its path under the hub's `/openmrs` (and its body for a create): its key,
 * or RelayRefused for a path that is no write a child sends.
 */
export function writeKey(method: string, path: string, body: unknown): string {
  if (method !== "PUT" && method !== "POST" && method !== "DELETE") throw new RelayRefused(405, `${method} is not a write`);
  if (path.length > MAX_PATH) throw new RelayRefused(400, "path too long");
  const [pathname] = path.split("?");
  const segs = pathname.split("/").filter(Boolean);
  if (!segs.every((s) => SEGMENT.test(s))) throw new RelayRefused(400, "bad path");
  const b = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  if (segs[0] === "ws" && segs[1] === "fhir2" && segs[2] === "R4" && segs.length >= 4 && segs.length <= 5) {
    const type = segs[3];
    const id = segs[4] ?? (typeof b.id === "string" ? b.id : undefined);
    if (method !== "POST" && !segs[4]) throw new RelayRefused(405, `${method} needs an id`);
    return id ? `${type}/${id}` : `${type}/new:${randomUUID()}`;
  }
  if (segs[0] === "ws" && segs[1] === "rest" && segs[2] === "v1" && segs.length >= 4 && segs.length <= 7) {
    const resource = segs[3];
    if (resource === "sync2") throw new RelayRefused(404, "not a record");
    const uuid = segs[4] ?? (typeof b.uuid === "string" ? b.uuid : undefined);
    if (method === "DELETE" && !segs[4]) throw new RelayRefused(405, "DELETE needs a uuid");
    // The FHIR type fhir2 serves the record as, so both dialects of one record share a key.
    const type = Object.hasOwn(REST_TO_FHIR_TYPE, resource) ? REST_TO_FHIR_TYPE[resource] : resource;
    // A sub-resource (patient/<uuid>/allergy/<uuid>, person/<uuid>/name/<uuid>) orders with its record.
    return uuid ? `${type}/${uuid}` : `${type}/new:${randomUUID()}`;
  }
  throw new RelayRefused(404, "not a write route");
}

/** Replays a write to the parent: the parent's answer, and the outcome for the hub's queue. */
export async function replay(server: OpenmrsServer, req: RelayRequest, body: unknown): Promise<{ answer?: RelayAnswer; outcome: Outcome }> {
  const url = `${server.baseUrl}${req.path}`;
  try {
    const res = await server.http.request(req.method, url, {
      headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": req.contentType ?? "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer: RelayAnswer = {
      status: res.status,
      contentType: firstHeader(res.headers["content-type"]),
      location: firstHeader(res.headers.location),
      body: res.body,
    };
    const outcome = classifyStatus(res.status, res.headers["retry-after"]);
    return { answer, outcome: outcome.kind === "ok" ? outcome : { ...outcome, message: `${req.method} ${url}: ${outcome.message ?? outcome.reason}` } };
  } catch (err) {
    return { outcome: outcomeOfError(err) };
  }
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

type Waiter = (answer: RelayAnswer) => void;

/**
 * Routes waiting for the parent's answer to their write, by request id (one runtime: the hub-in route and
 * the hub-relay node meet here). `answered` tells hub-relay whether a child took the answer.
 */
export class RelayWaiters {
  private readonly waiting = new Map<string, Waiter>();

  wait(id: string, ms: number): Promise<RelayAnswer | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, ms);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(a);
      });
    });
  }

  /** Gives the answer to the route still waiting for it; false when none is (it answered 202 already). */
  answered(id: string, answer: RelayAnswer): boolean {
    const w = this.waiting.get(id);
    if (!w) return false;
    w(answer);
    return true;
  }

  /** The route gave up (custody failed, the client went away). */
  cancel(id: string): void {
    this.waiting.delete(id);
  }
}

export const relayWaiters = new RelayWaiters();
