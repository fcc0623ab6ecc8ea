/**
 * The sync store: one SQLite file holding feed markers, settlement state, retries, the dead letter
 * and the audit log. Durability: WAL with synchronous=FULL by default (an acknowledged write survives
 * kill -9 and power loss); writes are group-committed (see sqlite.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SqliteDb, type SqliteOptions, type Tx } from "./sqlite";

export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT);

-- One row per feed consumer (an atom-feed-in node): the last entry of the settled prefix.
CREATE TABLE IF NOT EXISTS feed_markers (
  consumer   TEXT PRIMARY KEY,
  feed_uri   TEXT NOT NULL,
  entry_id   TEXT,
  page_url   TEXT,
  updated_at INTEGER NOT NULL
);

-- Entries settled out of order (after an unsettled one): skipped when the feed is re-read.
CREATE TABLE IF NOT EXISTS feed_settled (
  consumer   TEXT NOT NULL,
  entry_id   TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  settled_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, entry_id)
) WITHOUT ROWID;

-- Entries waiting for a retry: the attempt count and first failure survive restarts.
CREATE TABLE IF NOT EXISTS feed_retries (
  consumer        TEXT NOT NULL,
  entry_id        TEXT NOT NULL,
  attempts        INTEGER NOT NULL,
  first_failed_at INTEGER NOT NULL,
  next_at         INTEGER NOT NULL,
  last_error      TEXT,
  PRIMARY KEY (consumer, entry_id)
) WITHOUT ROWID;

-- What could not succeed, with why. state: dead | retried | discarded.
CREATE TABLE IF NOT EXISTS dead_letters (
  id                INTEGER PRIMARY KEY,
  source            TEXT NOT NULL,
  source_kind       TEXT NOT NULL,
  record_key        TEXT,
  entry_id          TEXT,
  entry             TEXT,
  reason            TEXT,
  error             TEXT,
  http_status       INTEGER,
  operation_outcome TEXT,
  attempts          INTEGER NOT NULL DEFAULT 1,
  first_failed_at   INTEGER NOT NULL,
  dead_at           INTEGER NOT NULL,
  state             TEXT NOT NULL DEFAULT 'dead'
);
CREATE INDEX IF NOT EXISTS dead_letters_state ON dead_letters (state, id);

-- Every attempt: ids and outcomes, no clinical content.
CREATE TABLE IF NOT EXISTS audit (
  id          INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,
  direction   TEXT NOT NULL,
  source      TEXT,
  entry_id    TEXT,
  record_key  TEXT,
  action      TEXT,
  target      TEXT,
  outcome     TEXT NOT NULL,
  reason      TEXT,
  http_status INTEGER,
  error       TEXT,
  attempt     INTEGER,
  duration_ms INTEGER,
  content     TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_record ON audit (record_key);

-- retry-queue custody: one row per pending message (queued or waiting for a retry). In-flight is
-- in memory only: after a crash every row is simply delivered again. Done rows are deleted,
-- dead ones move to dead_letters.
CREATE TABLE IF NOT EXISTS queue_items (
  id              INTEGER PRIMARY KEY,
  queue           TEXT NOT NULL,
  record_key      TEXT NOT NULL,
  message         TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  enqueued_at     INTEGER NOT NULL,
  first_failed_at INTEGER,
  next_at         INTEGER NOT NULL,
  last_error      TEXT,
  last_status     INTEGER,
  coalesced       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_claim ON queue_items (queue, next_at, id);
CREATE INDEX IF NOT EXISTS queue_record ON queue_items (queue, record_key);

-- Scenario C: messages a third-party tool reads and marks done with SQL (docs/outbox.md).
CREATE TABLE IF NOT EXISTS outbox (
  id            INTEGER PRIMARY KEY,
  outbox        TEXT NOT NULL,
  record_key    TEXT NOT NULL,
  resource_type TEXT,
  resource_id   TEXT,
  action        TEXT NOT NULL,
  payload       TEXT,
  entry_id      TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  state         TEXT NOT NULL DEFAULT 'pending',
  taken_at      TEXT,
  done_at       TEXT,
  note          TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (outbox, state, id);
CREATE INDEX IF NOT EXISTS outbox_record ON outbox (outbox, record_key, state);

-- Last synchronised content per record (hash of the normalised FHIR resource): echo suppression and
-- conflict detection for pull and push alike.
CREATE TABLE IF NOT EXISTS record_sync (
  record_key   TEXT PRIMARY KEY,
  hash         TEXT NOT NULL,
  last_updated TEXT,
  direction    TEXT NOT NULL,
  synced_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Records changed on both sides since they were last synchronised, with both versions.
CREATE TABLE IF NOT EXISTS conflicts (
  id             INTEGER PRIMARY KEY,
  record_key     TEXT NOT NULL,
  detected_at    INTEGER NOT NULL,
  detected_by    TEXT,
  policy         TEXT NOT NULL,
  parent_hash    TEXT NOT NULL,
  child_hash     TEXT NOT NULL,
  parent_version TEXT NOT NULL,
  child_version  TEXT NOT NULL,
  state          TEXT NOT NULL,
  resolution     TEXT,
  resolved_at    INTEGER,
  UNIQUE (record_key, parent_hash, child_hash)
);
`;

/** Columns added after version 1 (ALTER TABLE for stores created earlier). */
const ADDED_COLUMNS: [table: string, column: string, decl: string][] = [["audit", "content", "TEXT"]];

export interface FeedMarker {
  consumer: string;
  feedUri: string;
  entryId: string | null;
  pageUrl: string | null;
}

export interface RetryRow {
  entryId: string;
  attempts: number;
  firstFailedAt: number;
  nextAt: number;
  lastError: string | null;
}

export interface DeadLetterInput {
  source: string;
  sourceKind: "feed" | "queue";
  recordKey?: string;
  entryId?: string;
  entry?: unknown;
  reason?: string;
  error?: string;
  httpStatus?: number;
  operationOutcome?: unknown;
  attempts: number;
  firstFailedAt: number;
}

export interface DeadLetterRow {
  id: number;
  source: string;
  source_kind: string;
  record_key: string | null;
  entry_id: string | null;
  entry: string | null;
  reason: string | null;
  error: string | null;
  http_status: number | null;
  operation_outcome: string | null;
  attempts: number;
  first_failed_at: number;
  dead_at: number;
  state: string;
}

export interface AuditInput {
  direction: "pull" | "push";
  source?: string;
  entryId?: string;
  recordKey?: string;
  action?: string;
  target?: string;
  outcome: string;
  reason?: string;
  httpStatus?: number;
  error?: string;
  attempt?: number;
  durationMs?: number;
  /** Clinical content (the resource sent): only when the store's admin switched it on. */
  content?: string;
}

const AUDIT_INSERT_HEAD = "INSERT INTO audit (at, direction, source, entry_id, record_key, action, target, outcome, reason, http_status, error, attempt, duration_ms, content) VALUES ";
const AUDIT_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
const AUDIT_INSERT = AUDIT_INSERT_HEAD + AUDIT_ROW;

function auditParams(a: AuditInput, at: number): (string | number | null)[] {
  return [
    at,
    a.direction,
    a.source ?? null,
    a.entryId ?? null,
    a.recordKey ?? null,
    a.action ?? null,
    a.target ?? null,
    a.outcome,
    a.reason ?? null,
    a.httpStatus ?? null,
    a.error ?? null,
    a.attempt ?? null,
    a.durationMs ?? null,
    a.content ?? null,
  ];
}

export class SyncStore {
  private constructor(readonly db: SqliteDb) {}

  static async open(file: string, options: SqliteOptions = {}): Promise<SyncStore> {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = await SqliteDb.open(file, options);
    await db.exec(SCHEMA);
    for (const [table, column, decl] of ADDED_COLUMNS) {
      const cols = await db.all<{ name: string }>(`PRAGMA table_info(${table})`);
      if (!cols.some((c) => c.name === column)) {
        // Another process may add it at the same moment: a duplicate column is fine.
        await db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${decl}`).catch((err: Error) => {
          if (!/duplicate column/.test(err.message)) throw err;
        });
      }
    }
    await db.run("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('schema_version', ?)", [String(SCHEMA_VERSION)]);
    return new SyncStore(db);
  }

  get path(): string {
    return this.db.path;
  }

  close(): Promise<void> {
    return this.db.close();
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
      rows.map((r) => [r.entry_id, { entryId: r.entry_id, attempts: r.attempts, firstFailedAt: r.first_failed_at, nextAt: r.next_at, lastError: r.last_error }]),
    );
  }

  static insertSettled(tx: Tx, consumer: string, entryId: string, outcome: string): Promise<unknown> {
    return tx.run("INSERT OR REPLACE INTO feed_settled (consumer, entry_id, outcome, settled_at) VALUES (?,?,?,?)", [
      consumer,
      entryId,
      outcome,
      Date.now(),
    ]);
  }

  static deleteSettled(tx: Tx, consumer: string, entryId: string): Promise<unknown> {
    return tx.run("DELETE FROM feed_settled WHERE consumer = ? AND entry_id = ?", [consumer, entryId]);
  }

  static upsertRetry(tx: Tx, consumer: string, r: RetryRow): Promise<unknown> {
    return tx.run(
      "INSERT OR REPLACE INTO feed_retries (consumer, entry_id, attempts, first_failed_at, next_at, last_error) VALUES (?,?,?,?,?,?)",
      [consumer, r.entryId, r.attempts, r.firstFailedAt, r.nextAt, r.lastError],
    );
  }

  static deleteRetry(tx: Tx, consumer: string, entryId: string): Promise<unknown> {
    return tx.run("DELETE FROM feed_retries WHERE consumer = ? AND entry_id = ?", [consumer, entryId]);
  }

  // ---- dead letter -----------------------------------------------------------------------------

  static insertDeadLetter(tx: Tx, d: DeadLetterInput): Promise<{ lastID: number }> {
    return tx.run(
      "INSERT INTO dead_letters (source, source_kind, record_key, entry_id, entry, reason, error, http_status, operation_outcome, attempts, first_failed_at, dead_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
      [
        d.source,
        d.sourceKind,
        d.recordKey ?? null,
        d.entryId ?? null,
        d.entry === undefined ? null : JSON.stringify(d.entry),
        d.reason ?? null,
        d.error ?? null,
        d.httpStatus ?? null,
        d.operationOutcome === undefined ? null : JSON.stringify(d.operationOutcome),
        d.attempts,
        d.firstFailedAt,
        Date.now(),
      ],
    );
  }

  deadLetters(filter: { source?: string; state?: string; limit?: number } = {}): Promise<DeadLetterRow[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.source) {
      where.push("source = ?");
      params.push(filter.source);
    }
    where.push("state = ?");
    params.push(filter.state ?? "dead");
    params.push(filter.limit ?? 100);
    return this.db.all<DeadLetterRow>(`SELECT * FROM dead_letters WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`, params);
  }

  async setDeadLetterState(id: number, state: "retried" | "discarded"): Promise<boolean> {
    const r = await this.db.write((tx) => tx.run("UPDATE dead_letters SET state = ? WHERE id = ? AND state = 'dead'", [state, id]));
    return r.changes === 1;
  }

  // ---- audit -----------------------------------------------------------------------------------

  static insertAudit(tx: Tx, a: AuditInput): Promise<unknown> {
    return tx.run(AUDIT_INSERT, auditParams(a, Date.now()));
  }

  /** Many audit rows in as few statements as possible (50 rows each). */
  static async insertAudits(tx: Tx, rows: AuditInput[]): Promise<void> {
    const now = Date.now();
    for (let i = 0; i < rows.length; i += 50) {
      const chunk = rows.slice(i, i + 50);
      await tx.run(AUDIT_INSERT_HEAD + chunk.map(() => AUDIT_ROW).join(","), chunk.flatMap((a) => auditParams(a, now)));
    }
  }

  /**
   * Deletes audit rows older than the cutoff. Audit only: queued items, dead letters and held
   * conflicts live in their own tables and are never pruned here.
   */
  async pruneAudit(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    const r = await this.db.write((tx) => tx.run("DELETE FROM audit WHERE at < ?", [cutoff]));
    return r.changes;
  }

  audit(filter: { recordKey?: string; limit?: number } = {}): Promise<Record<string, unknown>[]> {
    if (filter.recordKey) {
      return this.db.all("SELECT * FROM audit WHERE record_key = ? ORDER BY id DESC LIMIT ?", [filter.recordKey, filter.limit ?? 100]);
    }
    return this.db.all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [filter.limit ?? 100]);
  }
}
