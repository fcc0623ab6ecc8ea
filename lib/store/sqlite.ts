/**
 * One sqlite3 connection behind one executor. Every operation goes through it, in order:
 *
 *  - reads run one after another, never inside an open write batch, so nobody reads what is not
 *    committed yet;
 *  - writes are group-committed: every write queued when a batch starts runs inside one
 *    BEGIN IMMEDIATE … COMMIT, each in its own SAVEPOINT. A write's promise resolves only after COMMIT
 *    returned (durable at the chosen synchronous level; with FULL, one fsync per batch);
 *  - a write function that throws is rolled back to its savepoint and rejects alone; the others commit;
 *  - a failed BEGIN or COMMIT (disk full, I/O error, the file locked by another process) rejects every
 *    write of the batch: nothing of it is stored, and callers keep their state as it was stored;
 *  - statements are prepared once and cached; one that fails is dropped from the cache and prepared
 *    again next time (a renamed table, a schema change); a prepare error rejects the operation only.
 *
 * Why one executor: node-sqlite3 runs Database#exec only while no statement is pending, so a steady
 * stream of reads from other code starved BEGIN and COMMIT for tens of seconds on a busy machine.
 */
import sqlite3 from "sqlite3";

export type SqlValue = string | number | bigint | null | Buffer;
export type Params = SqlValue[] | Record<string, SqlValue>;

/** What a write function may use: statements on the open transaction. */
export interface Tx {
  run(sql: string, params?: Params): Promise<{ changes: number; lastID: number }>;
  get<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
}

export interface SqliteOptions {
  /** "FULL" (default): an acknowledged write survives power loss. "NORMAL": survives a process crash only. */
  synchronous?: "FULL" | "NORMAL";
  /** How long BEGIN waits for a lock held by another process before it fails with SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /** Open for reading only (tools and tests looking at a store another process owns). */
  readOnly?: boolean;
}

/** An error of the store, with the SQLite code (SQLITE_FULL, SQLITE_BUSY…) and the file it is about. */
export class StoreError extends Error {
  readonly code: string;
  constructor(
    readonly path: string,
    cause: unknown,
    what?: string,
  ) {
    const e = cause as { code?: unknown; message?: unknown } | undefined;
    const code = typeof e?.code === "string" ? e.code : "SQLITE_ERROR";
    const message = typeof e?.message === "string" ? e.message.replace(/^SQLITE_[A-Z_]+: /, "") : String(cause);
    super(`store ${path}: ${code}: ${message}${what ? ` (${what})` : ""}`);
    this.name = "StoreError";
    this.code = code;
  }
}

interface QueuedWrite {
  fn: (tx: Tx) => unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

type RunResult = { changes: number; lastID: number };

const STATEMENT_CACHE_SIZE = 200;

export class SqliteDb {
  private reads: (() => Promise<void>)[] = [];
  private writes: QueuedWrite[] = [];
  private running = false;
  private closed = false;
  private idle: (() => void)[] = [];
  private readonly statements = new Map<string, Promise<sqlite3.Statement>>();
  private readonly tx: Tx;
  /** COMMITs so far and batches that failed (for tests, benchmarks and status). */
  commits = 0;
  failedBatches = 0;

  private constructor(
    private readonly db: sqlite3.Database,
    readonly path: string,
  ) {
    // An error event with no listener would take the process down; every operation reports its own.
    db.on("error", () => undefined);
    this.tx = {
      run: (sql, params) => this.runNow(sql, params),
      get: async <T>(sql: string, params?: Params) => (await this.allNow<T>(sql, params))[0],
      all: (sql, params) => this.allNow(sql, params),
    };
  }

  static open(path: string, options: SqliteOptions = {}): Promise<SqliteDb> {
    return new Promise((resolve, reject) => {
      const mode = options.readOnly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
      const db = new sqlite3.Database(path, mode, (err) => {
        if (err) return reject(new StoreError(path, err, "opening"));
        const wrapped = new SqliteDb(db, path);
        const sync = options.synchronous === "NORMAL" ? "NORMAL" : "FULL";
        const busy = `PRAGMA busy_timeout=${options.busyTimeoutMs ?? 5000};`;
        const pragmas = options.readOnly ? busy : `PRAGMA journal_mode=WAL; PRAGMA synchronous=${sync}; ${busy} PRAGMA foreign_keys=ON;`;
        db.exec(pragmas, (e) => {
          if (!e) return resolve(wrapped);
          db.close(() => reject(new StoreError(path, e, "opening")));
        });
      });
    });
  }

  /** Runs SQL text with several statements (schema set-up); an ordinary operation of the executor. */
  exec(sql: string): Promise<void> {
    return this.read(() => new Promise<void>((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(new StoreError(this.path, err)) : resolve()))));
  }

  /** A read of committed data. */
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    return this.read(() => this.allNow<T>(sql, params));
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
    if (this.closed) return Promise.reject(new StoreError(this.path, { code: "SQLITE_MISUSE", message: "the store is closed" }));
    return new Promise<T>((resolve, reject) => {
      this.writes.push({ fn, resolve: resolve, reject });
      this.kick();
    });
  }

  /** A single statement in its own transaction. */
  run(sql: string, params?: Params): Promise<RunResult> {
    return this.write((tx) => tx.run(sql, params));
  }

  private read<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError(this.path, { code: "SQLITE_MISUSE", message: "the store is closed" }));
    return new Promise<T>((resolve, reject) => {
      this.reads.push(() => op().then(resolve, reject));
      this.kick();
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // Writes queued in the same turn of the event loop go into one batch.
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    while (this.reads.length || this.writes.length) {
      const reads = this.reads;
      this.reads = [];
      for (const r of reads) await r();
      if (this.writes.length) {
        const batch = this.writes;
        this.writes = [];
        await this.commitBatch(batch);
      }
    }
    this.running = false;
    for (const w of this.idle.splice(0)) w();
  }

  private async commitBatch(batch: QueuedWrite[]): Promise<void> {
    const fail = (err: unknown) => {
      this.failedBatches++;
      const e = err instanceof StoreError ? err : new StoreError(this.path, err);
      for (const w of batch) w.reject(e);
    };
    try {
      await this.runNow("BEGIN IMMEDIATE");
    } catch (err) {
      return fail(err);
    }
    const results: { ok: boolean; value: unknown }[] = [];
    const single = batch.length === 1;
    try {
      for (const w of batch) {
        if (!single) await this.runNow("SAVEPOINT w");
        try {
          const value = await w.fn(this.tx);
          if (!single) await this.runNow("RELEASE w");
          results.push({ ok: true, value });
        } catch (err) {
          // This write alone is undone; a failure of the savepoint commands themselves aborts the batch.
          if (single) throw err;
          await this.runNow("ROLLBACK TO w");
          await this.runNow("RELEASE w");
          results.push({ ok: false, value: err });
        }
      }
      await this.runNow("COMMIT");
    } catch (err) {
      await this.runNow("ROLLBACK").catch(() => undefined);
      if (single && results.length === 0 && !(err instanceof StoreError)) {
        // The only write threw before COMMIT: its own error, not a store fault.
        this.failedBatches++;
        batch[0].reject(err);
        return;
      }
      return fail(err);
    }
    this.commits++;
    batch.forEach((w, i) => (results[i].ok ? w.resolve(results[i].value) : w.reject(results[i].value)));
  }

  // ---- statements (executor only) ---------------------------------------------------------------

  private statement(sql: string): Promise<{ st: sqlite3.Statement; cached: boolean }> {
    const hit = this.statements.get(sql);
    if (hit) return hit.then((st) => ({ st, cached: true }));
    const prepared = new Promise<sqlite3.Statement>((resolve, reject) => {
      const st: sqlite3.Statement = this.db.prepare(sql, (err: Error | null) => (err ? reject(new StoreError(this.path, err, "prepare")) : resolve(st)));
    });
    const cached = this.statements.size < STATEMENT_CACHE_SIZE;
    if (cached) {
      this.statements.set(sql, prepared);
      prepared.catch(() => this.forget(sql, prepared));
    }
    return prepared.then((st) => ({ st, cached }));
  }

  private forget(sql: string, p: Promise<sqlite3.Statement>): void {
    if (this.statements.get(sql) !== p) return;
    this.statements.delete(sql);
    p.then(
      (st) => st.finalize(),
      () => undefined,
    );
  }

  private async runNow(sql: string, params: Params = []): Promise<RunResult> {
    const { st, cached } = await this.statement(sql);
    try {
      return await new Promise<RunResult>((resolve, reject) =>
        st.run(params, function (this: sqlite3.RunResult, err: Error | null) {
          if (err) reject(err);
          else resolve({ changes: this.changes, lastID: this.lastID });
        }),
      );
    } catch (err) {
      if (cached) this.forget(sql, this.statements.get(sql)!);
      throw new StoreError(this.path, err);
    } finally {
      if (!cached) st.finalize();
    }
  }

  private async allNow<T>(sql: string, params: Params = []): Promise<T[]> {
    const { st, cached } = await this.statement(sql);
    try {
      return await new Promise<T[]>((resolve, reject) => st.all(params, (err: Error | null, rows: unknown[]) => (err ? reject(err) : resolve(rows as T[]))));
    } catch (err) {
      if (cached) this.forget(sql, this.statements.get(sql)!);
      throw new StoreError(this.path, err);
    } finally {
      if (!cached) st.finalize();
    }
  }

  /** Resolves when nothing is queued or running (or after timeoutMs). */
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

  /** Lets queued work finish, then closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drained();
    this.closed = true;
    const statements = [...this.statements.values()];
    this.statements.clear();
    await Promise.all(
      statements.map((p) =>
        p.then(
          (st) => new Promise<void>((resolve) => st.finalize(() => resolve())),
          () => undefined,
        ),
      ),
    );
    await new Promise<void>((resolve) => this.db.close(() => resolve()));
  }
}
