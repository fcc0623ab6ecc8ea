/**
 * Tickets travel on messages (msg.ticket) from the node that issued them (atom-feed-in, later the
 * retry-queue) to the node that finishes the job (fhir-push, or fhir-fetch when it fails). A ticket
 * is plain data, so Node-RED can clone messages freely; it names the sync-store and the owner, and
 * the store's hub routes the settlement to the owner, which persists it.
 */
import type { Outcome } from "./outcome";
import type { SyncStore } from "./store/store";
import type { SettleInfo, Ticket } from "./feed/consumer";

export type { Ticket, SettleInfo };

export interface TicketOwner {
  settle(ticket: Ticket, outcome: Outcome, info?: SettleInfo): boolean;
}

export class SettlementHub {
  private readonly owners = new Map<string, TicketOwner>();
  /** The store itself, once open: fhir-push uses it for echo suppression and conflict detection. */
  store?: SyncStore;
  /** Keep clinical content in audit rows (an admin setting of the sync-store). */
  auditContent = false;

  register(ownerId: string, owner: TicketOwner): void {
    this.owners.set(ownerId, owner);
  }

  unregister(ownerId: string, owner: TicketOwner): void {
    if (this.owners.get(ownerId) === owner) this.owners.delete(ownerId);
  }

  /** False when the owner is gone (redeployed or removed): the entry will be delivered again. */
  settle(ticket: Ticket, outcome: Outcome, info?: SettleInfo): boolean {
    const owner = this.owners.get(ticket.source);
    return owner ? owner.settle(ticket, outcome, info) : false;
  }
}

const hubs = new Map<string, SettlementHub>();

/** The hub of one sync-store (by store node id); created on first use. */
export function hubFor(storeId: string): SettlementHub {
  let hub = hubs.get(storeId);
  if (!hub) {
    hub = new SettlementHub();
    hubs.set(storeId, hub);
  }
  return hub;
}

export function isTicket(value: unknown): value is Ticket {
  if (!value || typeof value !== "object") return false;
  const t = value as Record<string, unknown>;
  return typeof t.store === "string" && typeof t.source === "string" && typeof t.entry === "string" && typeof t.serial === "number";
}

/** Settles the ticket of a message, if it has one. Returns whether an owner took it. */
export function settleTicket(ticket: unknown, outcome: Outcome, info?: SettleInfo): boolean {
  if (!isTicket(ticket)) return false;
  return hubFor(ticket.store).settle(ticket, outcome, info);
}

/** Attempt number of a ticket (1 when there is none). */
export function attemptOf(ticket: unknown): number {
  return isTicket(ticket) ? ticket.attempt : 1;
}

/**
 * Whether a failure should be reported to the debug pane and Catch nodes: always for permanent
 * failures; for transient failures only on the first attempt of an entry, so a record retried fifty
 * times raises one alert, not fifty (the Mirth alert flood); auth failures of ticketed messages not at
 * all, because the ticket's owner pauses and raises one alert for the whole channel; a missing
 * reference not at all (it heals by itself, and is reported if it ends in the dead letter).
 */
export function shouldReport(outcome: Outcome, ticket: unknown): boolean {
  if (outcome.kind === "permanent") return true;
  if (outcome.kind === "auth") return !isTicket(ticket);
  // A record waiting for the record it refers to is the normal order of separate feeds, not a fault:
  // it is reported only if it ends in the dead letter.
  if (outcome.kind === "retry") return attemptOf(ticket) <= 1 && !(outcome.reason === "missing-reference" && isTicket(ticket));
  return false;
}
