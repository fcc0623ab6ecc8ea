/**
 * How a durable queue's settlements are stored, in one write per group commit. A settled row is
 * deleted together with every older row of its record (they were superseded by it); a dead one moves
 * to the dead letter the same way; a retry updates the row's attempts and next attempt; every attempt
 * is audited.
 */
import type { Change, Ledger } from "../engine/engine";
import { attemptAudit, deadLetterOf } from "../engine/records";
import type { SettleInfo } from "../engine/ticket";
import type { Outcome } from "../outcome";
import { changeOf, entryIdOf, type SyncMessage } from "../message";
import { insertAudits, type AuditInput } from "../store/audit";
import { insertDeadLetter } from "../store/dead-letters";
import type { Tx } from "../store/sqlite";

export type QueuedBody = Record<string, unknown>;

const PER_DELETE = 200;

export class QueueLedger implements Ledger<QueuedBody> {
  /** Dead-letter row ids by item id, for the event that reports them. */
  readonly deadLetterIds = new Map<string, number>();
  private deletedInBatch = 0;

  constructor(
    private readonly queue: string,
    private readonly onCommitted: (changes: readonly Change<QueuedBody>[], rowsDeleted: number) => void,
  ) {}

  async persist(tx: Tx, changes: readonly Change<QueuedBody>[]): Promise<void> {
    const ended: [key: string, id: number][] = [];
    const audits: AuditInput[] = [];
    this.deletedInBatch = 0;
    this.deadLetterIds.clear();
    for (const c of changes) {
      if (c.audit) audits.push(c.audit);
      const id = Number(c.item.id);
      if (c.to === "done" || c.to === "held") ended.push([c.item.key, id]);
      else if (c.to === "dead") {
        const body = c.item.payload as SyncMessage;
        const r = await insertDeadLetter(tx, deadLetterOf(c, { id: this.queue, kind: "queue" }, entryIdOf(body), body));
        this.deadLetterIds.set(c.item.id, r.lastID);
        ended.push([c.item.key, id]);
      } else if (c.to === "waiting") {
        await tx.run("UPDATE queue_items SET attempts = ?, first_failed_at = ?, next_at = ?, last_error = ?, last_status = ? WHERE id = ?", [
          c.attempts,
          c.firstFailedAt ?? null,
          c.nextAt ?? 0,
          c.outcome.message ?? c.outcome.reason,
          c.outcome.status ?? null,
          id,
        ]);
      }
    }
    for (let i = 0; i < ended.length; i += PER_DELETE) {
      const chunk = ended.slice(i, i + PER_DELETE);
      const r = await tx.run(
        `WITH s(k, i) AS (VALUES ${chunk.map(() => "(?,?)").join(",")}) ` +
          "DELETE FROM queue_items WHERE queue = ? AND record_key IN (SELECT k FROM s) AND id <= (SELECT MAX(i) FROM s WHERE s.k = queue_items.record_key)",
        [...chunk.flat(), this.queue],
      );
      this.deletedInBatch += r.changes;
    }
    if (audits.length) await insertAudits(tx, audits);
  }

  committed(changes: readonly Change<QueuedBody>[]): void {
    this.onCommitted(changes, this.deletedInBatch);
  }
}

/** The audit row of one delivery attempt of a queued message. */
export function queueAudit(
  queue: string,
  direction: "push" | "pull",
  content: boolean,
  item: { key: string; payload: QueuedBody },
  outcome: Outcome,
  info: SettleInfo,
  attempt: number,
): AuditInput {
  const body = item.payload as SyncMessage;
  const facts = { entryId: entryIdOf(body), action: changeOf(body) };
  return attemptAudit({ id: queue, direction }, item, facts, outcome, info, attempt, content ? JSON.stringify(body.payload ?? body) : undefined);
}
