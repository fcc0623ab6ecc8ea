/**
 * A ticket travels on a message (msg.ticket) from the channel that delivered it (atom-feed-in, or
 * retry-queue for its deliveries) to the node that finishes the job, which settles it with an outcome.
 * It is plain data, so Node-RED may clone messages freely.
 */
export interface Ticket {
  /** Id of the sync-store the channel keeps its state in. */
  store: string;
  /** Channel id (the atom-feed-in or retry-queue node id). */
  source: string;
  /** The item: a feed entry id, or a queue row id. */
  entry: string;
  /** Record key, "Patient/<uuid>". */
  key: string;
  /** Distinguishes deliveries of the same item: a retry outcome counts only from the current one. */
  serial: number;
  /** 1 for the first delivery. */
  attempt: number;
}

/** Audit details a settling node may add. */
export interface SettleInfo {
  /** Which way the record went, when the settling node knows (fhir-push does). */
  direction?: "push" | "pull";
  action?: string;
  /** Where it was written: an attempt at a target is audited. */
  target?: string;
  durationMs?: number;
}

export function isTicket(value: unknown): value is Ticket {
  if (!value || typeof value !== "object") return false;
  const t = value as Record<string, unknown>;
  return typeof t.store === "string" && typeof t.source === "string" && typeof t.entry === "string" && typeof t.serial === "number";
}
