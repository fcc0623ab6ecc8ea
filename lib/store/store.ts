/**
 * The sync store: one SQLite file holding feed markers, settlement state, retries, the queue, the dead
 * letter, the audit log and the sync baselines. Durability: WAL with synchronous=FULL by default (an
 * acknowledged write survives kill -9 and power loss); writes are group-committed (sqlite.ts).
 *
 * Opened with `exclusive`, the store belongs to this process alone (lock.ts): a second Node-RED on
 * the same file is refused with an error naming the first.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SqliteDb, type SqliteOptions, type Tx } from "./sqlite";
import { createSchema } from "./schema";
import { StoreLock, type LockHolder } from "./lock";
import { auditRows, pruneAudit } from "./audit";
import { listDeadLetters, type DeadLetterFilter, type DeadLetterRow } from "./dead-letters";
import { sealPass, setUpEncryption, type EncryptionOptions, type PassResult } from "./encryption";
import { resolveKeys } from "./key-source";
import { Retention, type PruneCounts, type RetentionDays } from "./retention";

export { SCHEMA_VERSION } from "./schema";
export type { AuditInput } from "./audit";
export type { DeadLetterInput, DeadLetterRow, DeadLetterState } from "./dead-letters";
export type { EncryptionOptions, PassResult } from "./encryption";
export type { PruneCounts, RetentionDays } from "./retention";

export interface FeedMarker {
  consumer: string;
  feedUri: string;
  /** The last entry of the settled prefix; null: nothing settled on `pageUrl` yet (start at its top). */
  entryId: string | null;
  pageUrl: string | null;
}

/** A feed entry waiting for a retry (times are engine stamps, see lib/engine/clock.ts). */
export interface RetryRow {
  entryId: string;
  attempts: number;
  firstFailedAt: number;
  nextAt: number;
  lastError: string | null;
}

export interface OpenOptions extends SqliteOptions {
  /** Take the store's owner lock (the sync-store node does; tools and tests reading the file do not). */
  exclusive?: boolean;
  /**
   * Clinical content at rest (encryption.ts). Omitted (tools, tests): the store is kept as it is, with
   * keys found in SYNC_STORE_KEY or the key file next to it (key-source.ts) when it is encrypted.
   */
  encryption?: EncryptionOptions;
  /** Called once the pass that brings stored values to the current key (or to plain) ends. */
  onSealed?(err: Error | undefined, result?: PassResult): void;
  /** Prune finished rows at open and hourly (retention.ts); omitted: never pruned. */
  retention?: RetentionDays;
  onPruned?(err: Error | undefined, counts?: PruneCounts): void;
}

const OWNER_KEY = "owner";

export class SyncStore {
  /** The pass that re-encrypts stored values (resolves at once when none is needed). */
  sealing: Promise<PassResult | undefined> = Promise.resolve(undefined);
  private retention?: Retention;
  private closing = false;

  private constructor(
    readonly db: SqliteDb,
    private readonly lock?: StoreLock,
  ) {}

  static async open(file: string, options: OpenOptions = {}): Promise<SyncStore> {
    if (file !== ":memory:" && !options.readOnly) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    let lock: StoreLock | undefined;
    if (options.exclusive && file !== ":memory:") lock = await StoreLock.acquire(file, () => SyncStore.readOwner(file));
    let db: SqliteDb | undefined;
    try {
      db = await SqliteDb.open(file, options);
      if (!options.readOnly) await createSchema(db);
      if (lock) await db.run("INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)", [OWNER_KEY, JSON.stringify(lock.holder)]);
      const found = options.encryption ? { key: undefined, older: [] } : resolveKeys(file);
      const crypt = await setUpEncryption(db, options.encryption, [...(found.key ? [found.key] : []), ...found.older], !!options.readOnly);
      db.cipher = crypt.cipher;
      const store = new SyncStore(db, lock);
      if (crypt.passNeeded) {
        store.sealing = sealPass(db, crypt.cipher, () => store.closing, crypt.wasPlain).then(
          (r) => {
            options.onSealed?.(undefined, r);
            return r;
          },
          (err: Error) => {
            if (!store.closing) options.onSealed?.(err);
            return undefined;
          },
        );
      }
      if (options.retention && !options.readOnly) {
        store.retention = new Retention(db, options.retention, (err, counts) => options.onPruned?.(err, counts));
        store.retention.start();
      }
      return store;
    } catch (err) {
      await db?.close().catch(() => undefined);
      await lock?.release();
      throw err;
    }
  }

  /** Who holds the store, as its owner wrote it (for the refusal message). */
  private static async readOwner(file: string): Promise<LockHolder | undefined> {
    if (!fs.existsSync(file)) return undefined;
    const db = await SqliteDb.open(file, { busyTimeoutMs: 1000, readOnly: true });
    try {
      const row = await db.get<{ value: string }>("SELECT value FROM store_meta WHERE key = ?", [OWNER_KEY]);
      return row ? (JSON.parse(row.value) as LockHolder) : undefined;
    } finally {
      await db.close();
    }
  }

  get path(): string {
    return this.db.path;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([this.sealing, this.retention?.stop()]);
    await this.db.close();
    await this.lock?.release();
  }

  // ---- feed markers and settlement -------------------------------------------------------------

  async getMarker(consumer: string): Promise<FeedMarker | undefined> {
    const row = await this.db.get<{ consumer: string; feed_uri: string; entry_id: string | null; page_url: string | null }>(
      "SELECT consumer, feed_uri, entry_id, page_url FROM feed_markers WHERE consumer = ?",
      [consumer],
    );
    return row && { consumer: row.consumer, feedUri: row.feed_uri, entryId: row.entry_id, pageUrl: row.page_url };
  }

  static setMarker(tx: Tx, m: FeedMarker): Promise<unknown> {
    return tx.run(
      "INSERT INTO feed_markers (consumer, feed_uri, entry_id, page_url, updated_at) VALUES (?,?,?,?,?) " +
        "ON CONFLICT(consumer) DO UPDATE SET feed_uri = excluded.feed_uri, entry_id = excluded.entry_id, page_url = excluded.page_url, updated_at = excluded.updated_at",
      [m.consumer, m.feedUri, m.entryId, m.pageUrl, Date.now()],
    );
  }

  /** Forgets a consumer's marker, out-of-order settlements and retries (an admin's reset). */
  async deleteMarker(consumer: string): Promise<void> {
    await this.db.write(async (tx) => {
      await tx.run("DELETE FROM feed_markers WHERE consumer = ?", [consumer]);
      await tx.run("DELETE FROM feed_settled WHERE consumer = ?", [consumer]);
      await tx.run("DELETE FROM feed_retries WHERE consumer = ?", [consumer]);
    });
  }

  async settledEntries(consumer: string): Promise<Set<string>> {
    const rows = await this.db.all<{ entry_id: string }>("SELECT entry_id FROM feed_settled WHERE consumer = ?", [consumer]);
    return new Set(rows.map((r) => r.entry_id));
  }

  async retries(consumer: string): Promise<Map<string, RetryRow>> {
    const rows = await this.db.all<{ entry_id: string; attempts: number; first_failed_at: number; next_at: number; last_error: string | null }>(
      "SELECT entry_id, attempts, first_failed_at, next_at, last_error FROM feed_retries WHERE consumer = ?",
      [consumer],
    );
    return new Map(
      rows.map((r) => [
        r.entry_id,
        { entryId: r.entry_id, attempts: r.attempts, firstFailedAt: r.first_failed_at, nextAt: r.next_at, lastError: r.last_error },
      ]),
    );
  }

  static insertSettled(tx: Tx, consumer: string, entryId: string, outcome: string): Promise<unknown> {
    return tx.run("INSERT OR REPLACE INTO feed_settled (consumer, entry_id, outcome, settled_at) VALUES (?,?,?,?)", [consumer, entryId, outcome, Date.now()]);
  }

  static deleteSettled(tx: Tx, consumer: string, entryId: string): Promise<unknown> {
    return tx.run("DELETE FROM feed_settled WHERE consumer = ? AND entry_id = ?", [consumer, entryId]);
  }

  static upsertRetry(tx: Tx, consumer: string, r: RetryRow): Promise<unknown> {
    return tx.run("INSERT OR REPLACE INTO feed_retries (consumer, entry_id, attempts, first_failed_at, next_at, last_error) VALUES (?,?,?,?,?,?)", [
      consumer,
      r.entryId,
      r.attempts,
      r.firstFailedAt,
      r.nextAt,
      r.lastError,
    ]);
  }

  static deleteRetry(tx: Tx, consumer: string, entryId: string): Promise<unknown> {
    return tx.run("DELETE FROM feed_retries WHERE consumer = ? AND entry_id = ?", [consumer, entryId]);
  }

  // ---- dead letter and audit (see dead-letters.ts, audit.ts) ------------------------------------

  deadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetterRow[]> {
    return listDeadLetters(this.db, filter);
  }

  pruneAudit(olderThanMs: number): Promise<number> {
    return pruneAudit(this.db, olderThanMs);
  }

  audit(filter: { recordKey?: string; limit?: number } = {}): Promise<Record<string, unknown>[]> {
    return auditRows(this.db, filter);
  }
}
