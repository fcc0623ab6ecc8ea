/**
 * Tickets travel on messages (msg.ticket) from the channel that issued them (atom-feed-in, or a
 * retry-queue for its deliveries) to the node that finishes the job (fhir-push, a sync-settle node, or
 * fhir-fetch when it fails). The store's hub routes a settlement to the channel named in the ticket.
 * A node working on a ticket says so (workOn), so a long chain of requests is never taken for a
 * dropped message.
 */
import type { Outcome } from "./outcome";
import { isTicket, type SettleInfo, type Ticket } from "./engine/ticket";

export { isTicket };
export type { Ticket, SettleInfo };

export interface TicketOwner {
  settle(ticket: Ticket, outcome: Outcome, info?: SettleInfo): boolean;
  working(ticket: Ticket, on: boolean): void;
}

export class SettlementHub {
  private readonly owners = new Map<string, TicketOwner>();

  register(ownerId: string, owner: TicketOwner): void {
    this.owners.set(ownerId, owner);
  }

  unregister(ownerId: string, owner: TicketOwner): void {
    if (this.owners.get(ownerId) === owner) this.owners.delete(ownerId);
  }

  /** False when the owner is gone (redeployed or removed): the item will be delivered again. */
  settle(ticket: Ticket, outcome: Outcome, info?: SettleInfo): boolean {
    const owner = this.owners.get(ticket.source);
    return owner ? owner.settle(ticket, outcome, info) : false;
  }

  working(ticket: Ticket, on: boolean): void {
    this.owners.get(ticket.source)?.working(ticket, on);
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

/** Settles the ticket of a message, if it has one. Returns whether a channel took it. */
export function settleTicket(ticket: unknown, outcome: Outcome, info?: SettleInfo): boolean {
  if (!isTicket(ticket)) return false;
  return hubFor(ticket.store).settle(ticket, outcome, info);
}

/** Runs a node's work on a ticket: the ticket does not time out while it runs. */
export async function workOn<T>(ticket: unknown, fn: () => Promise<T>): Promise<T> {
  if (!isTicket(ticket)) return fn();
  const hub = hubFor(ticket.store);
  hub.working(ticket, true);
  try {
    return await fn();
  } finally {
    hub.working(ticket, false);
  }
}

/** Attempt number of a ticket (1 when there is none). */
export function attemptOf(ticket: unknown): number {
  return isTicket(ticket) ? ticket.attempt : 1;
}

/** Retries that wait for something to arrive at the target, reported elsewhere or not at all. */
const WAITING_REASONS = new Set(["missing-reference", "missing-metadata"]);

/**
 * Whether a failure should be reported to the debug pane and Catch nodes: always for permanent
 * failures; for transient failures only on the first attempt of an entry, so a record retried fifty
 * times raises one alert, not fifty (the Mirth alert flood); auth failures of ticketed messages not at
 * all, because the channel pauses and raises one alert for itself; a missing reference not at all
 * (it heals by itself, and is reported if it ends in the dead letter), nor missing metadata (the
 * fhir-push says once which metadata the target lacks and how many records wait for it).
 */
export function shouldReport(outcome: Outcome, ticket: unknown): boolean {
  if (outcome.kind === "permanent") return true;
  if (outcome.kind === "auth") return !isTicket(ticket);
  if (outcome.kind === "retry") return attemptOf(ticket) <= 1 && !(WAITING_REASONS.has(outcome.reason) && isTicket(ticket));
  return false;
}
