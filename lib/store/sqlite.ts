/**
 * The store's database: a writer connection behind one executor, and a reader connection.
 *
 *  - writes are group-committed: every write queued when a batch starts runs inside one
 *    BEGIN IMMEDIATE … COMMIT, each in its own SAVEPOINT. A write's promise resolves only after COMMIT
 *    returned (durable at the chosen synchronous level; with FULL, one fsync per batch);
 *  - a write function that throws is rolled back to its savepoint and rejects alone; the others commit;
 *  - a failed BEGIN or COMMIT (disk full, I/O error, the file locked by another process) rejects every
 *    write of the batch: nothing of it is stored, and callers keep their state as it was stored;
 *  - reads go to the reader connection: in WAL mode it sees what is committed and nothing else, and it
 *    never waits behind a commit (a read is not held up by an fsync);
 *  - `exec` (schema, PRAGMAs of the writer) runs on the writer, between batches.
 *
 * Why one executor for the writer: node-sqlite3 runs Database#exec only while no statement is pending
 * on that connection, so a stream of statements starved BEGIN and COMMIT for tens of seconds on a busy
 * machine. Here the writer runs one thing at a time, and BEGIN/COMMIT are prepared statements.
 */
import { Connection, StoreError, type Params, type RunResult } from "./connection";
import { StoreCipher } from "./cipher";

export { StoreError };
export type { Params, RunResult, SqlValue } from "./connection";

/** What a write function may use: statements on the open transaction. */
export interface Tx {
  run(sql: string, params?: Params): Promise<RunResult>;
  get<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
  /** Seals and opens the columns that hold clinical content (cipher.ts). */
  readonly cipher: StoreCipher;
}

export interface SqliteOptions {
  /** "FULL" (default): an acknowledged write survives power loss. "NORMAL": survives a process crash only. */
  synchronous?: "FULL" | "NORMAL";
  /** How long BEGIN waits for a lock held by another process before it fails with SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /** Open for reading only (tools and tests looking at a store another process owns). */
  readOnly?: boolean;
}

type Op = { kind: "write"; fn: (tx: Tx) => unknown; resolve(value: unknown): void; reject(err: unknown): void } | { kind: "exec"; run: () => Promise<void> };

export class SqliteDb {
  private ops: Op[] = [];
  private running = false;
  private closed = false;
  private idle: (() => void)[] = [];
  private readonly tx: Tx;
  /** COMMITs so far and batches that failed (for tests, benchmarks and status). */
  commits = 0;
  failedBatches = 0;
  /** Seals and opens clinical content; set by the store once the key is checked (crypto.ts). */
  cipher: StoreCipher = StoreCipher.none;

  private constructor(
    private readonly writer: Connection,
    private readonly reader: Connection,
    readonly path: string,
  ) {
    const db = this;
    this.tx = {
      run: (sql, params) => this.writer.run(sql, params),
      get: async <T>(sql: string, params?: Params) => (await this.writer.all<T>(sql, params))[0],
      all: (sql, params) => this.writer.all(sql, params),
      get cipher() {
        return db.cipher;
      },
    };
  }

  static async open(path: string, options: SqliteOptions = {}): Promise<SqliteDb> {
    const busy = `PRAGMA busy_timeout=${options.busyTimeoutMs ?? 5000};`;
    if (options.readOnly) {
      const only = await Connection.open(path, true, busy);
      return new SqliteDb(only, only, path);
    }
    const sync = options.synchronous === "NORMAL" ? "NORMAL" : "FULL";
    const writer = await Connection.open(path, false, `PRAGMA journal_mode=WAL; PRAGMA synchronous=${sync}; ${busy} PRAGMA foreign_keys=ON;`);
    // An in-memory database is one per connection: there, reads share the writer (and its executor).
    if (path === ":memory:") return new SqliteDb(writer, writer, path);
    try {
      return new SqliteDb(writer, await Connection.open(path, true, busy), path);
    } catch (err) {
      await writer.close();
      throw err;
    }
  }

  private get shared(): boolean {
    return this.reader === this.writer;
  }

  /** Runs SQL text with several statements on the writer (schema set-up, PRAGMAs), between batches. */
  exec(sql: string): Promise<void> {
    return this.enqueue<void>((resolve, reject) => ({ kind: "exec", run: () => this.writer.exec(sql).then(resolve, reject) }));
  }

  /** A read of committed data. */
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    if (this.closed) return Promise.reject(this.closedError());
    if (!this.shared) return this.reader.all<T>(sql, params);
    return this.enqueue<T[]>((resolve, reject) => ({ kind: "exec", run: () => this.writer.all<T>(sql, params).then(resolve, reject) }));
  }

  /** The first row of a read (use with single-row queries). */
  async get<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  /**
   * Queues a write. `fn` runs inside the next group transaction; it must only use `tx` and must not
   * wait on anything else. Resolves with fn's result once the transaction is committed.
   */
  write<T>(fn: (tx: Tx) => Promise<T> | T): Promise<T> {
    return this.enqueue<T>((resolve, reject) => ({ kind: "write", fn, resolve: resolve, reject }));
  }

  /** A single statement in its own transaction. */
  run(sql: string, params?: Params): Promise<RunResult> {
    return this.write((tx) => tx.run(sql, params));
  }

  private closedError(): StoreError {
    return new StoreError(this.path, { code: "SQLITE_MISUSE", message: "the store is closed" });
  }

  private enqueue<T>(make: (resolve: (v: T) => void, reject: (e: unknown) => void) => Op): Promise<T> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<T>((resolve, reject) => {
      this.ops.push(make(resolve, reject));
      if (this.running) return;
      this.running = true;
      // Writes queued in the same turn of the event loop go into one batch.
      setImmediate(() => void this.loop());
    });
  }

  private async loop(): Promise<void> {
    while (this.ops.length) {
      const op = this.ops[0];
      if (op.kind === "exec") {
        this.ops.shift();
        await op.run();
        continue;
      }
      // Every write queued up to the next exec goes into this batch.
      const end = this.ops.findIndex((o) => o.kind !== "write");
      const batch = this.ops.splice(0, end < 0 ? this.ops.length : end) as Extract<Op, { kind: "write" }>[];
      await this.commitBatch(batch);
    }
    this.running = false;
    for (const w of this.idle.splice(0)) w();
  }

  private async commitBatch(batch: Extract<Op, { kind: "write" }>[]): Promise<void> {
    const fail = (err: unknown) => {
      this.failedBatches++;
      const e = err instanceof StoreError ? err : new StoreError(this.path, err);
      for (const w of batch) w.reject(e);
    };
    const w = this.writer;
    try {
      await w.run("BEGIN IMMEDIATE");
    } catch (err) {
      return fail(err);
    }
    const results: { ok: boolean; value: unknown }[] = [];
    const single = batch.length === 1;
    try {
      for (const op of batch) {
        if (!single) await w.run("SAVEPOINT w");
        try {
          const value = await op.fn(this.tx);
          if (!single) await w.run("RELEASE w");
          results.push({ ok: true, value });
        } catch (err) {
          // This write alone is undone; a failure of the savepoint commands themselves aborts the batch.
          if (single) throw err;
          await w.run("ROLLBACK TO w");
          await w.run("RELEASE w");
          results.push({ ok: false, value: err });
        }
      }
      await w.run("COMMIT");
    } catch (err) {
      await w.run("ROLLBACK").catch(() => undefined);
      if (single && results.length === 0 && !(err instanceof StoreError)) {
        // The only write threw before COMMIT: its own error, not a store fault.
        this.failedBatches++;
        batch[0].reject(err);
        return;
      }
      return fail(err);
    }
    this.commits++;
    batch.forEach((op, i) => (results[i].ok ? op.resolve(results[i].value) : op.reject(results[i].value)));
  }

  /** Resolves when nothing is queued or running on the writer (or after timeoutMs). */
  drained(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Lets queued work finish, then closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drained();
    this.closed = true;
    if (!this.shared) await this.reader.close();
    await this.writer.close();
  }
}
