/**
 * The write-combiner: collects changes and writes all of them in one write of the store's next group
 * commit, one batch at a time. Its one failure rule: a batch is stored whole or not at all, and
 * whoever keeps state in memory applies a change only once its batch is committed (`committed`), or
 * goes back to what is stored when it failed (`failed`). Nothing is put back and tried again behind
 * the caller's back.
 */
import type { SqliteDb, Tx } from "./sqlite";

export interface CombinerOptions<C> {
  db: SqliteDb;
  /** Writes a batch inside the open transaction. */
  write(tx: Tx, batch: C[]): Promise<void>;
  committed?(batch: C[]): void;
  failed?(batch: C[], err: unknown): void;
  /** Whether to write now; false holds the changes until flush() is called (a store being retried). */
  ready?(): boolean;
}

export class WriteCombiner<C> {
  private pending: C[] = [];
  private waiters: { resolve(): void; reject(err: unknown): void }[] = [];
  private writing = false;
  private wantEmpty = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: CombinerOptions<C>) {}

  /** Changes waiting for a write, and whether one is being written. */
  get size(): number {
    return this.pending.length;
  }

  get busy(): boolean {
    return this.writing;
  }

  /** Resolves once nothing is pending or being written (what was added is committed, or failed). */
  idle(): Promise<void> {
    if (!this.writing && !this.pending.length) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  add(change: C): void {
    this.pending.push(change);
    this.flush();
  }

  /** Adds a change and resolves once it is committed (rejects when its batch failed). */
  addAndWait(change: C): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.add(change);
    });
  }

  /** Writes what is pending now; `empty`: write even with nothing pending (the writer has state of its own to store). */
  flush(empty = false): void {
    if (empty) this.wantEmpty = true;
    if (this.writing || (!this.pending.length && !this.wantEmpty)) return;
    if (this.o.ready && !this.o.ready()) return;
    this.writing = true;
    this.wantEmpty = false;
    let batch: C[] | undefined;
    let waiters: typeof this.waiters = [];
    this.o.db
      .write(async (tx) => {
        batch = this.pending;
        waiters = this.waiters;
        this.pending = [];
        this.waiters = [];
        await this.o.write(tx, batch);
      })
      .then(
        () => {
          this.writing = false;
          this.o.committed?.(batch ?? []);
          for (const w of waiters) w.resolve();
        },
        (err: unknown) => {
          this.writing = false;
          // Whatever was taken into the failed write, or is still pending because BEGIN failed, failed.
          if (!batch) {
            batch = this.pending;
            waiters = this.waiters;
            this.pending = [];
            this.waiters = [];
          }
          this.o.failed?.(batch, err);
          for (const w of waiters) w.reject(err);
        },
      )
      .finally(() => {
        this.flush();
        if (!this.writing && !this.pending.length) for (const w of this.idleWaiters.splice(0)) w();
      });
  }
}
