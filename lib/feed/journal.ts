/**
 * Write-combining for a feed consumer's state. Settling an entry changes the marker, maybe a row of
 * out-of-order settlements, a retry row, the audit and the dead letter; during a catch-up that is
 * thousands of changes a second. The journal collects them and writes them in one operation per
 * group commit: the marker once (the newest wins), rows that were added and removed again not at all,
 * audit rows in multi-row inserts. Nothing is acknowledged to anyone before it is committed, and the
 * stored marker only ever moves to a position that was settled.
 */
import { SyncStore, type AuditInput, type DeadLetterInput, type FeedMarker, type RetryRow } from "../store/store";
import type { Tx } from "../store/sqlite";

export class FeedJournal {
  private marker?: FeedMarker;
  /** entry id -> outcome to insert, or null to delete */
  private settled = new Map<string, string | null>();
  /** entry id -> retry row to upsert, or null to delete */
  private retries = new Map<string, RetryRow | null>();
  private audits: AuditInput[] = [];
  private dead: DeadLetterInput[] = [];
  private queued?: Promise<void>;

  constructor(
    private readonly store: SyncStore,
    private readonly consumer: string,
    private readonly onError: (err: Error) => void,
  ) {}

  setMarker(m: FeedMarker): void {
    this.marker = m;
    this.schedule();
  }

  addSettled(entryId: string, outcome: string): void {
    this.settled.set(entryId, outcome);
    this.schedule();
  }

  removeSettled(entryId: string): void {
    this.settled.set(entryId, null);
    this.schedule();
  }

  putRetry(row: RetryRow): void {
    this.retries.set(row.entryId, row);
    this.schedule();
  }

  removeRetry(entryId: string): void {
    this.retries.set(entryId, null);
    this.schedule();
  }

  audit(a: AuditInput): void {
    this.audits.push(a);
    this.schedule();
  }

  deadLetter(d: DeadLetterInput): void {
    this.dead.push(d);
    this.schedule();
  }

  /** Resolves once everything recorded so far is committed. */
  async flushed(): Promise<void> {
    while (this.queued) await this.queued.catch(() => undefined);
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = this.store.db.write((tx) => this.write(tx)).catch((err: Error) => {
      this.queued = undefined;
      this.onError(err);
    });
  }

  private async write(tx: Tx): Promise<void> {
    // Take what is pending now; anything recorded from here on goes into the next commit.
    const { marker, settled, retries, audits, dead } = this;
    this.marker = undefined;
    this.settled = new Map();
    this.retries = new Map();
    this.audits = [];
    this.dead = [];
    this.queued = undefined;
    for (const [id, outcome] of settled) {
      if (outcome === null) await SyncStore.deleteSettled(tx, this.consumer, id);
      else await SyncStore.insertSettled(tx, this.consumer, id, outcome);
    }
    if (marker) await SyncStore.setMarker(tx, marker);
    for (const [id, row] of retries) {
      if (row === null) await SyncStore.deleteRetry(tx, this.consumer, id);
      else await SyncStore.upsertRetry(tx, this.consumer, row);
    }
    for (const d of dead) await SyncStore.insertDeadLetter(tx, d);
    if (audits.length) await SyncStore.insertAudits(tx, audits);
  }
}
