/**
 * Promise wrapper over one sqlite3 connection, with group commit: every write is queued, and a
 * single flush runs all queued writes inside one BEGIN IMMEDIATE ... COMMIT. Callers get their
 * promise resolved only after COMMIT returned, i.e. after the data is durable under the chosen
 * synchronous level. With synchronous=FULL that is one fsync per batch instead of one per write.
 */
import sqlite3 from "sqlite3";

export type SqlValue = string | number | bigint | null | Buffer;
export type Params = SqlValue[] | Record<string, SqlValue>;

export interface Tx {
  run(sql: string, params?: Params): Promise<{ changes: number; lastID: number }>;
  get<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
}

interface QueuedWrite {
  fn: (tx: Tx) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface SqliteOptions {
  /** "FULL" (default): an acknowledged write survives power loss. "NORMAL": survives a process crash only. */
  synchronous?: "FULL" | "NORMAL";
  busyTimeoutMs?: number;
}

export class SqliteDb implements Tx {
  private queue: QueuedWrite[] = [];
  private flushing = false;
  private closed = false;
  /** Prepared statements by SQL text: parsing and planning once instead of on every call. */
  private readonly statements = new Map<string, sqlite3.Statement>();
  /** Number of COMMITs so far (for benchmarks and tests). */
  commits = 0;

  private constructor(
    private readonly db: sqlite3.Database,
    readonly path: string,
  ) {}

  static open(path: string, options: SqliteOptions = {}): Promise<SqliteDb> {
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(path, (err) => {
        if (err) return reject(new Error(`cannot open store ${path}: ${err.message}`));
        const wrapped = new SqliteDb(db, path);
        const sync = options.synchronous ?? "FULL";
        wrapped
          .exec(
            `PRAGMA journal_mode=WAL; PRAGMA synchronous=${sync}; PRAGMA busy_timeout=${options.busyTimeoutMs ?? 5000}; PRAGMA foreign_keys=ON;`,
          )
          .then(() => resolve(wrapped), reject);
      });
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  private statement(sql: string): sqlite3.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      // Multi-row statements are built per batch size; keep the cache bounded.
      if (this.statements.size < 200) this.statements.set(sql, st);
    }
    return st;
  }

  run(sql: string, params: Params = []): Promise<{ changes: number; lastID: number }> {
    return new Promise((resolve, reject) =>
      this.statement(sql).run(params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ changes: this.changes, lastID: this.lastID });
      }),
    );
  }

  /**
   * First row only. Implemented with all(): a prepared Statement#get stops on the first row without
   * resetting, which keeps a read transaction open (a stale WAL snapshot, checkpoints blocked).
   * Use it for single-row queries (aggregates, LIMIT 1, primary keys).
   */
  async get<T = Record<string, unknown>>(sql: string, params: Params = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  all<T = Record<string, unknown>>(sql: string, params: Params = []): Promise<T[]> {
    return new Promise((resolve, reject) => this.statement(sql).all(params, (err: Error | null, rows: unknown[]) => (err ? reject(err) : resolve(rows as T[]))));
  }

  /**
   * Queues a write. `fn` runs inside the next group transaction; it must only use `tx` and must not
   * wait on anything else. Resolves with fn's result once the transaction is committed.
   */
  write<T>(fn: (tx: Tx) => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`store ${this.path} is closed`));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      const results: { ok: boolean; value: unknown }[] = [];
      try {
        await this.exec("BEGIN IMMEDIATE");
      } catch (err) {
        for (const w of batch) w.reject(err);
        continue;
      }
      for (const w of batch) {
        try {
          results.push({ ok: true, value: await w.fn(this) });
        } catch (err) {
          results.push({ ok: false, value: err });
        }
      }
      try {
        await this.exec("COMMIT");
        this.commits++;
        batch.forEach((w, i) => (results[i].ok ? w.resolve(results[i].value) : w.reject(results[i].value)));
      } catch (err) {
        // Disk full, I/O error...: nothing of this batch is durable. Callers keep their state unsettled.
        await this.exec("ROLLBACK").catch(() => undefined);
        for (const w of batch) w.reject(err);
      }
    }
    this.flushing = false;
  }

  /** Waits for queued writes, then closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing || this.queue.length) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    await Promise.all([...this.statements.values()].map((st) => new Promise<void>((resolve) => st.finalize(() => resolve()))));
    this.statements.clear();
    await new Promise<void>((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
