/**
 * One sqlite3 connection with a cache of prepared statements. A statement is prepared once; one that
 * fails is dropped from the cache and prepared again next time (a renamed table, a schema change); a
 * prepare error rejects that operation only. Every error is a StoreError naming the file and the
 * SQLite code.
 */
import sqlite3 from "sqlite3";

export type SqlValue = string | number | bigint | null | Buffer;
export type Params = SqlValue[] | Record<string, SqlValue>;
export type RunResult = { changes: number; lastID: number };

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

const STATEMENT_CACHE_SIZE = 200;

export class Connection {
  private readonly statements = new Map<string, Promise<sqlite3.Statement>>();

  private constructor(
    private readonly db: sqlite3.Database,
    readonly path: string,
  ) {
    // An error event with no listener would take the process down; every operation reports its own.
    db.on("error", () => undefined);
  }

  static open(path: string, readOnly: boolean, pragmas: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const mode = readOnly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
      const db = new sqlite3.Database(path, mode, (err) => {
        if (err) return reject(new StoreError(path, err, "opening"));
        db.exec(pragmas, (e) => {
          if (!e) return resolve(new Connection(db, path));
          db.close(() => reject(new StoreError(path, e, "opening")));
        });
      });
    });
  }

  /** SQL text with several statements (schema set-up, PRAGMAs). */
  exec(sql: string): Promise<void> {
    return new Promise<void>((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(new StoreError(this.path, err)) : resolve())));
  }

  async run(sql: string, params: Params = []): Promise<RunResult> {
    const { st, cached } = await this.statement(sql);
    try {
      return await new Promise<RunResult>((resolve, reject) =>
        st.run(params, function (this: sqlite3.RunResult, err: Error | null) {
          if (err) reject(err);
          else resolve({ changes: this.changes, lastID: this.lastID });
        }),
      );
    } catch (err) {
      if (cached) this.forget(sql);
      throw new StoreError(this.path, err);
    } finally {
      if (!cached) st.finalize();
    }
  }

  async all<T>(sql: string, params: Params = []): Promise<T[]> {
    const { st, cached } = await this.statement(sql);
    try {
      return await new Promise<T[]>((resolve, reject) => st.all(params, (err: Error | null, rows: unknown[]) => (err ? reject(err) : resolve(rows as T[]))));
    } catch (err) {
      if (cached) this.forget(sql);
      throw new StoreError(this.path, err);
    } finally {
      if (!cached) st.finalize();
    }
  }

  private statement(sql: string): Promise<{ st: sqlite3.Statement; cached: boolean }> {
    const hit = this.statements.get(sql);
    if (hit) return hit.then((st) => ({ st, cached: true }));
    const prepared = new Promise<sqlite3.Statement>((resolve, reject) => {
      const st: sqlite3.Statement = this.db.prepare(sql, (err: Error | null) => (err ? reject(new StoreError(this.path, err, "prepare")) : resolve(st)));
    });
    // Multi-row statements are built per batch size: past the cache's size they are finalised after use.
    const cached = this.statements.size < STATEMENT_CACHE_SIZE;
    if (cached) {
      this.statements.set(sql, prepared);
      prepared.catch(() => this.forget(sql));
    }
    return prepared.then((st) => ({ st, cached }));
  }

  private forget(sql: string): void {
    const p = this.statements.get(sql);
    if (!p) return;
    this.statements.delete(sql);
    p.then(
      (st) => st.finalize(),
      () => undefined,
    );
  }

  async close(): Promise<void> {
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
