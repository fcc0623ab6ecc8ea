/**
 * The messages this pack's nodes exchange, read and written in one place:
 *
 *   atom-feed-in  → { topic: "Patient/<uuid>", payload: FeedEntry, ticket }
 *   fhir-fetch    → { topic, payload: FHIR resource (or {resourceType, id} for a delete),
 *                     action: "upsert" | "delete", entry: FeedEntry, restKind, ticket }
 *   retry-queue   → what it was given, with a ticket of its own
 *   fhir-push     → on success also { statusCode, outcome, conflict? }
 *
 * A queued message is stored as it is (JSON), without what cannot or must not be stored: its ticket
 * (the queue issues its own), http in's req/res, errors. Its feed entry stays in `entry`.
 */
import type { FeedEntry } from "./atom/entry";
import type { FhirResource, RestKind } from "./fhir/convert";
import { OutcomeError, shownValue } from "./outcome";
import type { WriteRequest } from "./push/targets";
import { isTicket, type Ticket } from "./engine/ticket";

export interface SyncMessage {
  _msgid?: string;
  /** The record key, "Patient/<uuid>": ordering and coalescing in queues. */
  topic?: unknown;
  payload?: unknown;
  ticket?: unknown;
  action?: unknown;
  /** The feed entry the record came from. */
  entry?: unknown;
  /** The OpenMRS REST resource name, when known from the feed ("visit" vs "encounter"). */
  restKind?: unknown;
  [key: string]: unknown;
}

const NOT_STORED = new Set(["ticket", "_msgid", "req", "res", "error"]);

export function ticketOf(msg: SyncMessage): Ticket | undefined {
  return isTicket(msg.ticket) ? msg.ticket : undefined;
}

/** What atom-feed-in sends for one entry. */
export function entryMessage(entry: FeedEntry, ticket: Ticket): SyncMessage & { topic: string } {
  return { topic: ticket.key, payload: entry, ticket };
}

/** Turns an entry's message into the record's (fhir-fetch's output), in place: the ticket stays. */
export function toRecordMessage(
  msg: SyncMessage,
  entry: FeedEntry,
  rec: { action: "upsert" | "delete"; resourceType: string; id: string; resource?: FhirResource },
): void {
  msg.action = rec.action;
  msg.payload = rec.resource ?? { resourceType: rec.resourceType, id: rec.id };
  msg.topic = `${rec.resourceType}/${rec.id}`;
  msg.entry = entry;
  msg.restKind = entry.restResource;
}

/** A feed entry as atom-feed-in sends it. */
export function isFeedEntry(v: unknown): v is FeedEntry {
  return !!v && typeof v === "object" && typeof (v as FeedEntry).id === "string" && typeof (v as FeedEntry).links === "object";
}

/** What a queue stores of a message. */
export function storedBody(msg: SyncMessage): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) if (!NOT_STORED.has(k)) body[k] = v;
  return body;
}

/** The ordering and coalescing key of a message: its topic, else the payload's Type/id. */
export function recordKeyOf(msg: SyncMessage): string {
  if (typeof msg.topic === "string" && msg.topic) return msg.topic;
  const p = msg.payload as { resourceType?: unknown; id?: unknown } | undefined;
  if (p && typeof p.resourceType === "string" && typeof p.id === "string") return `${p.resourceType}/${p.id}`;
  return `msg/${msg._msgid ?? "unknown"}`;
}

/** The feed entry id a message came from (for audit rows and the x-sync-entry header). */
export function entryIdOf(msg: SyncMessage): string | undefined {
  const entry = msg.entry as { id?: unknown } | undefined;
  if (typeof entry?.id === "string") return entry.id;
  const ticket = ticketOf(msg);
  return ticket && !/^\d+$/.test(ticket.entry) ? ticket.entry : undefined;
}

/** The change the feed reported (CREATED, UPDATED, VOIDED…), else the message's action. */
export function changeOf(msg: SyncMessage): string | undefined {
  const entry = msg.entry as { action?: unknown } | undefined;
  if (typeof entry?.action === "string") return entry.action;
  return typeof msg.action === "string" ? msg.action : undefined;
}

/** The write a message asks for (fhir-push's input). Throws an OutcomeError for a malformed one. */
export function writeRequestOf(msg: SyncMessage): WriteRequest {
  const action = msg.action ?? "upsert";
  if (action !== "upsert" && action !== "delete") {
    throw new OutcomeError({ kind: "permanent", reason: "bad-action", message: `msg.action must be "upsert" or "delete" (got ${shownValue(action)})` });
  }
  const p = msg.payload as Partial<FhirResource> | undefined;
  if (!p || typeof p !== "object" || typeof p.resourceType !== "string" || typeof p.id !== "string" || !p.id) {
    throw new OutcomeError({
      kind: "permanent",
      reason: "bad-payload",
      message: "msg.payload must be a FHIR resource with resourceType and id (or {resourceType, id} for a delete)",
    });
  }
  const entry = msg.entry as { action?: unknown; links?: { rest?: unknown } } | undefined;
  const parent = patientSubResourceParent(entry?.links?.rest) ?? patientOf(action === "upsert" ? (p as FhirResource) : undefined);
  return {
    action,
    resourceType: p.resourceType,
    id: p.id,
    resource: action === "upsert" ? (p as FhirResource) : undefined,
    restKind: typeof msg.restKind === "string" ? (msg.restKind as RestKind) : undefined,
    entryId: entryIdOf(msg),
    created: entry?.action === "CREATED",
    attempt: ticketOf(msg)?.attempt,
    ...(parent ? { parent } : {}),
  };
}

/** The patient of a REST link to a patient sub-resource: `/ws/rest/v1/patient/{patient}/allergy/{uuid}`. */
function patientSubResourceParent(link: unknown): string | undefined {
  const m = typeof link === "string" ? /\/ws\/rest\/v1\/patient\/([0-9A-Za-z-]{1,38})\/[a-z_]+\/[^/?#]+/.exec(link) : null;
  return m?.[1];
}

/** The Patient an AllergyIntolerance names (the one resource whose REST form lives under its patient). */
function patientOf(resource: FhirResource | undefined): string | undefined {
  if (resource?.resourceType !== "AllergyIntolerance") return undefined;
  const ref = (resource.patient as { reference?: unknown } | undefined)?.reference;
  const m = typeof ref === "string" ? /Patient\/([^/]+)$/.exec(ref) : null;
  return m?.[1];
}
