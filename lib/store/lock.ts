/**
 * One owner per store file. Two Node-RED processes on one store would both move markers and both
 * claim queue rows, so the sync-store node takes this lock before it opens the store, and a second
 * process is refused with a clear error naming the first.
 *
 * The lock is an OS file lock held by a small SQLite file beside the store ("<store>.lock") opened in
 * EXCLUSIVE locking mode: the operating system releases it when the process ends, kill -9 included,
 * so a restart never waits for a stale lock. Other readers of the store itself (an outbox tool, a
 * backup, the tests) are not affected.
 */
import * as os from "node:os";
import sqlite3 from "sqlite3";

export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

export class StoreLockedError extends Error {
  constructor(
    readonly storePath: string,
    readonly holder?: LockHolder,
  ) {
    const who = holder ? `process ${holder.pid} on ${holder.host}, since ${holder.since}` : "another process";
    super(`store ${storePath} is in use by ${who}; one Node-RED at a time may use a store file (the other one keeps it until it stops)`);
    this.name = "StoreLockedError";
  }
}

function exec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}

export class StoreLock {
  private constructor(
    private readonly db: sqlite3.Database,
    readonly holder: LockHolder,
  ) {}

  static lockPath(storePath: string): string {
    return `${storePath}.lock`;
  }

  /** Takes the lock, or fails at once with StoreLockedError (the holder is read from `readHolder`). */
  static async acquire(storePath: string, readHolder?: () => Promise<LockHolder | undefined>): Promise<StoreLock> {
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d = new sqlite3.Database(StoreLock.lockPath(storePath), (err) => (err ? reject(err) : resolve(d)));
    });
    db.on("error", () => undefined);
    const holder: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
    try {
      // The first write in EXCLUSIVE locking mode takes an exclusive file lock and keeps it until close.
      await exec(
        db,
        "PRAGMA busy_timeout=0; PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=DELETE; BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER, host TEXT, since TEXT); DELETE FROM holder; COMMIT;",
      );
      await new Promise<void>((resolve, reject) =>
        db.run("INSERT INTO holder VALUES (?,?,?)", [holder.pid, holder.host, holder.since], (err) => (err ? reject(err) : resolve())),
      );
    } catch (err) {
      await new Promise<void>((resolve) => db.close(() => resolve()));
      if ((err as { code?: string }).code === "SQLITE_BUSY") throw new StoreLockedError(storePath, await readHolder?.().catch(() => undefined));
      throw err;
    }
    return new StoreLock(db, holder);
  }

  release(): Promise<void> {
    return new Promise((resolve) => this.db.close(() => resolve()));
  }
}
