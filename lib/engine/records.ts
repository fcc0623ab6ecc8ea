/**
 * What a settlement writes besides the item's own state, the same way for every channel: the audit row
 * of the attempt and the dead letter of an item that cannot succeed.
 */
import { outcomeDetails, type Outcome } from "../outcome";
import type { AuditInput } from "../store/audit";
import type { DeadLetterInput } from "../store/dead-letters";
import type { SettleInfo } from "./ticket";
import type { Change } from "./types";

/** The item as audit rows and dead letters name it. */
export interface ItemFacts {
  /** The feed entry it came from. */
  entryId?: string;
  /** The change the feed reported (CREATED, UPDATED…). */
  action?: string;
}

/** The audit row of one attempt. Clinical content only when `content` is given (the admin's switch). */
export function attemptAudit(
  channel: { id: string; direction: "push" | "pull" },
  item: { key: string },
  facts: ItemFacts,
  outcome: Outcome,
  info: SettleInfo,
  attempt: number,
  content?: string,
): AuditInput {
  return {
    direction: info.direction ?? channel.direction,
    source: channel.id,
    entryId: facts.entryId,
    recordKey: item.key,
    action: info.action ?? facts.action,
    target: info.target,
    outcome: outcome.kind,
    reason: outcome.reason,
    httpStatus: outcome.status,
    error: outcome.kind === "ok" ? undefined : outcome.message,
    attempt,
    durationMs: info.durationMs,
    content,
  };
}

/** The dead letter of a change to `dead`; `entry` is what an admin's retry delivers again. */
export function deadLetterOf<P>(c: Change<P>, source: { id: string; kind: "feed" | "queue" }, entryId: string | undefined, entry: unknown): DeadLetterInput {
  return {
    source: source.id,
    sourceKind: source.kind,
    recordKey: c.item.key,
    entryId,
    entry,
    reason: c.outcome.reason,
    error: c.outcome.message,
    httpStatus: c.outcome.status,
    operationOutcome: c.outcome.operationOutcome,
    details: outcomeDetails(c.outcome),
    attempts: c.attempts,
    firstFailedAt: c.firstFailedAt ?? Date.now(),
  };
}
