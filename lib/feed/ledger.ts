/**
 * How a feed consumer's settlements are stored, in one write per group commit: the marker once (the
 * newest wins), a row for each entry settled ahead of an unsettled one (and their removal once the
 * marker passes), retry rows, dead letters, audit rows. Entries delivered again from the dead letter
 * ("requeued") live outside the window: their dead-letter row records how they end.
 */
import type { FeedEntry } from "../atom/entry";
import type { Change, Ledger } from "../engine/engine";
import { deadLetterOf } from "../engine/records";
import { outcomeDetails } from "../outcome";
import { insertAudits, type AuditInput } from "../store/audit";
import { insertDeadLetter, reviveDeadLetter, setDeadLetterState } from "../store/dead-letters";
import type { Tx } from "../store/sqlite";
import { SyncStore } from "../store/store";
import type { MarkerWindow, WindowPlan } from "./window";

/** Item id of an entry delivered again from dead-letter row `id`. */
export function requeuedId(deadLetterId: number): string {
  return `dead-letter:${deadLetterId}`;
}

function deadLetterIdOf(itemId: string): number | undefined {
  const m = /^dead-letter:(\d+)$/.exec(itemId);
  return m ? Number(m[1]) : undefined;
}

function settledLabel(c: Change<FeedEntry>): string {
  if (c.to === "dead" || c.to === "held") return c.to;
  return c.outcome.kind === "filtered" ? `filtered:${c.outcome.reason}` : c.outcome.kind;
}

export class FeedLedger implements Ledger<FeedEntry> {
  private planned?: { plan: WindowPlan; settledNow: Set<string> };

  constructor(
    private readonly consumer: string,
    private readonly window: MarkerWindow,
    private readonly onCommitted: (changes: readonly Change<FeedEntry>[]) => void,
  ) {}

  async persist(tx: Tx, changes: readonly Change<FeedEntry>[]): Promise<void> {
    const settledNow = new Set<string>();
    const audits: AuditInput[] = [];
    const labels = new Map<string, string>();
    for (const c of changes) {
      if (c.audit) audits.push(c.audit);
      const deadLetterId = deadLetterIdOf(c.item.id);
      if (deadLetterId !== undefined) {
        await this.persistRequeued(tx, deadLetterId, c);
        continue;
      }
      const we = this.window.get(c.item.id);
      if (!we) continue;
      if (c.to === "dead") await insertDeadLetter(tx, deadLetterOf(c, { id: this.consumer, kind: "feed" }, c.item.payload.id, c.item.payload));
      if (c.to === "waiting") {
        await SyncStore.upsertRetry(tx, this.consumer, {
          entryId: c.item.id,
          attempts: c.attempts,
          firstFailedAt: c.firstFailedAt ?? c.nextAt ?? 0,
          nextAt: c.nextAt ?? 0,
          lastError: c.outcome.message ?? c.outcome.reason,
        });
      } else if (c.to !== "ready") {
        settledNow.add(c.item.id);
        labels.set(c.item.id, settledLabel(c));
        if (we.retryRow) await SyncStore.deleteRetry(tx, this.consumer, c.item.id);
      }
    }
    const plan = this.window.plan(settledNow);
    for (const we of plan.ahead) await SyncStore.insertSettled(tx, this.consumer, we.entry.id, labels.get(we.entry.id) ?? "ok");
    for (const id of plan.passedRows) await SyncStore.deleteSettled(tx, this.consumer, id);
    if (plan.marker) await SyncStore.setMarker(tx, plan.marker);
    if (audits.length) await insertAudits(tx, audits);
    this.planned = { plan, settledNow };
  }

  committed(changes: readonly Change<FeedEntry>[]): void {
    if (this.planned) this.window.apply(this.planned.plan, this.planned.settledNow);
    this.planned = undefined;
    for (const c of changes) {
      const we = c.to === "waiting" ? this.window.get(c.item.id) : undefined;
      if (we) we.retryRow = true;
    }
    this.onCommitted(changes);
  }

  private async persistRequeued(tx: Tx, id: number, c: Change<FeedEntry>): Promise<void> {
    if (c.to === "done" || c.to === "held") await setDeadLetterState(tx, id, "requeued", "retried");
    else if (c.to === "dead")
      await reviveDeadLetter(tx, id, {
        reason: c.outcome.reason,
        error: c.outcome.message,
        httpStatus: c.outcome.status,
        operationOutcome: c.outcome.operationOutcome,
        details: outcomeDetails(c.outcome),
        attempts: c.attempts,
      });
  }
}
