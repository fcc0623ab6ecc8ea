/**
 * Every attempt to handle a record ends in one Outcome. The kind decides what happens next:
 *   ok         the record was written (or the delete applied): settle, move on
 *   filtered   deliberately not written (coalesced, unchanged, not found at the source): settle
 *   retry      transient (network, timeout, 5xx, 408, 429, a reference not there yet): try again later
 *   held       kept back for an admin's decision (a conflict held under the "hold" policy): settle
 *   permanent  a retry cannot fix it (400/404/409/422, invalid FHIR): dead-letter at once
 *   auth       401/403: pause the channel and alert once instead of burning retries
 * A retry that says the channel is down rather than the record wrong (isChannelFailure) makes the
 * channel wait for its target and probe, without using up the record's attempts.
 */
import { NetworkError } from "./http";
import { OriginError, redactUrl } from "./origin";
import type { MetadataRef } from "./openmrs/metadata-check";

export type OutcomeKind = "ok" | "filtered" | "held" | "retry" | "permanent" | "auth";

export interface Outcome {
  kind: OutcomeKind;
  /** Short reason code, e.g. "http-503", "timeout", "invalid-fhir", "missing-reference", "missing-metadata", "coalesced". */
  reason: string;
  /** One line for people: what happened, without clinical content. */
  message?: string;
  status?: number;
  /** From a Retry-After header, milliseconds. */
  retryAfterMs?: number;
  /** The server's OperationOutcome (or REST error object), if it sent one. */
  operationOutcome?: unknown;
  /** A held conflict's id in the conflicts table. */
  conflictId?: number;
  /** missing-metadata: what the target lacks (lib/openmrs/metadata-check.ts). */
  missing?: MetadataRef[];
  /** Reason "duplicate-identifier": what an admin needs to merge the two patients. */
  duplicate?: DuplicateIdentifier;
}

/**
 * A patient refused because another patient on the target holds one of its identifiers (two idgens
 * handed out the same one). The value is PHI-ish: it is kept here and in the dead letter's encrypted
 * details, never in a message, log or audit row.
 */
export interface DuplicateIdentifier {
  /** The identifier type's name (its uuid when the name cannot be shown). */
  identifierType: string;
  /** The value both patients hold. */
  identifier: string;
  /** The patient on the target that holds it, "Patient/<uuid>". */
  holder: string;
}

/** What an outcome carries beyond its reason and message, for the dead letter's encrypted details. */
export function outcomeDetails(o: Outcome): { duplicate: DuplicateIdentifier } | undefined {
  return o.duplicate ? { duplicate: o.duplicate } : undefined;
}

/** The longest Retry-After honoured (a server asking for a day is asked again in an hour). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export const OK: Outcome = { kind: "ok", reason: "ok" };

/** Parses Retry-After: delta-seconds or an HTTP date. Returns milliseconds from now, or undefined. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const trimmed = v.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(MAX_RETRY_AFTER_MS, Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

/** Maps an HTTP status (and Retry-After) to an outcome kind. 2xx/304 are ok. */
export function classifyStatus(status: number, retryAfter?: string | string[]): Outcome {
  if ((status >= 200 && status < 300) || status === 304) return { kind: "ok", reason: "ok", status };
  const reason = `http-${status}`;
  if (status === 401 || status === 403) return { kind: "auth", reason, status, message: `HTTP ${status}: not authorised` };
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    return { kind: "retry", reason, status, retryAfterMs: parseRetryAfter(retryAfter), message: `HTTP ${status}` };
  }
  if (status >= 300 && status < 400) {
    return { kind: "permanent", reason, status, message: `HTTP ${status}: redirect not followed (credentials stay with their origin)` };
  }
  return { kind: "permanent", reason, status, message: `HTTP ${status}` };
}

/**
 * A value from a server or a message, safe to put in an error text: ids, codes and type names are shown;
 * anything else (it may be clinical content) only as its length.
 */
export function shownValue(v: unknown): string {
  if (typeof v === "string" && CODE.test(v)) return `"${v}"`;
  if (typeof v === "string") return `(a text of ${v.length} characters)`;
  return `(${v === null ? "null" : typeof v})`;
}

/** Codes, ids and field names only: a word of letters, digits and . _ : [ ] - (no spaces, so no sentences). */
const CODE = /^[A-Za-z0-9_.:[\]-]{1,80}$/;

/**
 * A content-free summary of an error body: the OperationOutcome's issue codes, or a REST error's code and
 * the names of the fields it rejects. Never the server's text: OpenMRS validation messages quote names,
 * dates and values. The whole body stays in the dead letter's stored OperationOutcome.
 */
export function errorSummary(body: unknown): string | undefined {
  if (!body || typeof body !== "object") return undefined;
  const b = body as {
    resourceType?: string;
    issue?: { code?: unknown; severity?: unknown }[];
    error?: { code?: unknown; fieldErrors?: { field?: unknown }[] };
  };
  const words: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && CODE.test(v) && !words.includes(v) && words.length < 8) words.push(v);
  };
  if (b.resourceType === "OperationOutcome" && Array.isArray(b.issue)) {
    for (const i of b.issue) add(i?.code);
  } else if (b.error && typeof b.error === "object") {
    add(b.error.code);
    if (Array.isArray(b.error.fieldErrors)) for (const f of b.error.fieldErrors) add(f?.field);
  }
  return words.length ? words.join(", ") : undefined;
}

export function httpOutcome(method: string, url: string, status: number, body: unknown, retryAfter?: string | string[]): Outcome {
  const outcome = classifyStatus(status, retryAfter);
  if (outcome.kind === "ok") return outcome;
  const summary = errorSummary(body);
  return {
    ...outcome,
    message: `${method} ${redactUrl(url)}: ${outcome.message ?? `HTTP ${status}`}${summary ? ` (${summary})` : ""}`,
    operationOutcome: body && typeof body === "object" ? body : undefined,
  };
}

/** An HTTP failure as an OutcomeError, for callers that throw. */
export function httpFailure(method: string, url: string, status: number, body: unknown, retryAfter?: string | string[]): OutcomeError {
  return new OutcomeError(httpOutcome(method, url, status, body, retryAfter));
}

/** Thrown by our own code for a record that can never succeed as it is (bad content, unsupported type). */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly reason: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "PermanentError";
  }
}

/** An error that carries its outcome, so nodes can report and settle in one place. */
export class OutcomeError extends Error {
  constructor(readonly outcome: Outcome) {
    super(outcome.message ?? outcome.reason);
    this.name = "OutcomeError";
  }
}

export function outcomeOfError(err: unknown): Outcome {
  if (err instanceof OutcomeError) return err.outcome;
  if (err instanceof NetworkError) {
    if (err.code === "TOO_LARGE") return { kind: "permanent", reason: "too-large", message: err.message };
    if (err.code === "INVALID") return { kind: "permanent", reason: "invalid-request", message: err.message };
    return { kind: "retry", reason: err.code.toLowerCase(), message: err.message };
  }
  if (err instanceof OriginError) return { kind: "permanent", reason: "foreign-origin", message: err.message };
  if (err instanceof PermanentError) {
    return { kind: "permanent", reason: err.reason, message: err.message, operationOutcome: err.details };
  }
  const message = err instanceof Error ? err.message : String(err);
  // Unknown failures are treated as transient: retrying is safe (writes are idempotent) and bounded.
  return { kind: "retry", reason: "error", message };
}

/** Kinds that end an item's life in its channel (it is not delivered again). */
export function isSettledKind(kind: OutcomeKind): boolean {
  return kind === "ok" || kind === "filtered" || kind === "held" || kind === "permanent";
}

/** Failures that say the channel is down or overloaded, not this record. */
export function isChannelFailure(o: Outcome): boolean {
  if (o.kind !== "retry") return false;
  if (o.status === 429 || o.status === 502 || o.status === 503 || o.status === 504) return true;
  // "store": the next stage could not take custody (its store failed), not this record's fault.
  return ["refused", "reset", "timeout", "dns", "network", "store"].includes(o.reason);
}
