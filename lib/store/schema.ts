/**
 * The store's tables. Every table says what it holds; docs/engine.md says how the delivery engine
 * moves items between them.
 */
import type { SqliteDb } from "./sqlite";

/**
 * 4: clinical content encrypted at rest, stores of version 3 encrypted in place on open (encryption.ts).
 * 5: hub keys (hub_keys), and the audit's hub_key and peer columns (lib/hub/keys.ts); record_sync.sent_hash
 *    (the version sent when the target kept less: lib/sync/verify.ts).
 * 6: a hub's view of its children: hub_status, hub_child_audit, hub_patient_places (lib/hub/).
 * 7: published feed events (feed_events: atom-feed-out, lib/atom/publisher.ts) and how far each hub key
 *    read them (hub_feed_reads, lib/hub/feed-reads.ts).
 */
export const SCHEMA_VERSION = 7;

export const SCHEMA = `
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

-- What could not succeed, with why. state: dead (waiting for an admin) | requeued (a feed entry being
-- delivered again) | retried (back in custody, or delivered again successfully) | discarded.
-- entry and operation_outcome are encrypted (encryption.ts); error texts are not.
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
  details           TEXT,
  attempts          INTEGER NOT NULL DEFAULT 1,
  first_failed_at   INTEGER NOT NULL,
  dead_at           INTEGER NOT NULL,
  state             TEXT NOT NULL DEFAULT 'dead'
);
CREATE INDEX IF NOT EXISTS dead_letters_state ON dead_letters (state, id);
CREATE INDEX IF NOT EXISTS dead_letters_source ON dead_letters (source, state, id);

-- Every attempt: ids and outcomes; content (clinical, encrypted: encryption.ts) only when the admin switched it on.
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
  content     TEXT,
  -- The hub key a row is attributed to (its id), and the address the request came from (hub rows only).
  hub_key     TEXT,
  peer        TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_record ON audit (record_key);

-- retry-queue custody: one row per pending message (queued or waiting for a retry). In-flight is
-- in memory only: after a crash every row is simply delivered again. The newest row of a record is
-- the one delivered; settling it deletes it and every older row of the record. Dead ones move to
-- dead_letters. message is encrypted (encryption.ts).
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
DROP INDEX IF EXISTS queue_record;
CREATE INDEX IF NOT EXISTS queue_record_id ON queue_items (queue, record_key, id);

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
  synced_at    INTEGER NOT NULL,
  -- The version being written now (set before the write, cleared with the new hash after it): a
  -- target found with it holds our own write, which a crash kept from being recorded.
  pending_hash TEXT,
  -- When the target did not keep all it was sent (lib/sync/verify.ts): the hash of what was sent, while
  -- \`hash\` is what the target holds. Both are the record as last synchronised, one per side.
  sent_hash    TEXT
) WITHOUT ROWID;

-- Records changed on both sides since they were last synchronised, with both versions (encrypted).
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
-- Held conflicts per channel, for the admin's counts.
CREATE INDEX IF NOT EXISTS conflicts_held ON conflicts (detected_by) WHERE state = 'held';

-- A hub's keys, one per child (lib/hub/keys.ts). The secret is never stored: secret_hash is a scrypt hash
-- with its salt and parameters (none once revoked). A revoked key keeps its row, so the audit rows
-- attributed to it still name it; an active name is unique, a revoked one may be issued again.
-- catchment: JSON {locations, expression}. last_entry_read: the last feed entry the child read.
CREATE TABLE IF NOT EXISTS hub_keys (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  catchment       TEXT NOT NULL,
  secret_hash     TEXT,
  state           TEXT NOT NULL DEFAULT 'active',
  created_at      INTEGER NOT NULL,
  rotated_at      INTEGER,
  revoked_at      INTEGER,
  last_seen       INTEGER,
  last_entry_read TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS hub_keys_active_name ON hub_keys (name) WHERE state = 'active';

-- The latest status report of each child, by its key (lib/hub/status.ts): counts and times, no content.
CREATE TABLE IF NOT EXISTS hub_status (
  key_id      TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL,
  report      TEXT NOT NULL
) WITHOUT ROWID;

-- The Sync 2.0 audit messages children send (lib/hub/child-audit.ts), once per uuid; message is sealed.
CREATE TABLE IF NOT EXISTS hub_child_audit (
  uuid          TEXT PRIMARY KEY,
  key_id        TEXT NOT NULL,
  received_at   INTEGER NOT NULL,
  success       INTEGER NOT NULL,
  resource_name TEXT NOT NULL,
  operation     TEXT NOT NULL,
  timestamp     TEXT NOT NULL,
  message       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hub_child_audit_key ON hub_child_audit (key_id, received_at);

-- Where the hub has seen each patient (identifier, encounter and visit locations): the catchment rule's
-- memory (lib/hub/catchment.ts).
CREATE TABLE IF NOT EXISTS hub_patient_places (
  patient  TEXT NOT NULL,
  location TEXT NOT NULL,
  PRIMARY KEY (patient, location)
) WITHOUT ROWID;

-- The events this node publishes as ICT4H feeds (atom-feed-out, lib/atom/publisher.ts), as omod-atomfeed's
-- event_records: numbered per category from 1 (seq: page n holds seq (n-1)*size+1 .. n*size), uuid unique
-- per category (publishing an event twice keeps the first), tags JSON array, content the entry's links.
CREATE TABLE IF NOT EXISTS feed_events (
  category  TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  uuid      TEXT NOT NULL,
  title     TEXT NOT NULL,
  tags      TEXT NOT NULL,
  content   TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (category, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS feed_events_uuid ON feed_events (category, uuid);

-- How far each hub key has read each published feed (lib/hub/feed-reads.ts): the newest event of a page
-- it was served. Its lag is the events published since.
CREATE TABLE IF NOT EXISTS hub_feed_reads (
  key_id   TEXT NOT NULL,
  category TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  read_at  INTEGER NOT NULL,
  PRIMARY KEY (key_id, category)
) WITHOUT ROWID;
`;

/** Indexes on columns that older stores get from ADDED_COLUMNS (so created after them). */
const AFTER_COLUMNS = `
CREATE INDEX IF NOT EXISTS audit_hub_key ON audit (hub_key, id) WHERE hub_key IS NOT NULL;
`;

/** Columns added after version 1 (ALTER TABLE for stores created earlier). */
const ADDED_COLUMNS: [table: string, column: string, decl: string][] = [
  ["audit", "content", "TEXT"],
  ["record_sync", "pending_hash", "TEXT"],
  ["dead_letters", "details", "TEXT"],
  ["record_sync", "sent_hash", "TEXT"],
  ["audit", "hub_key", "TEXT"],
  ["audit", "peer", "TEXT"],
];

export async function createSchema(db: SqliteDb): Promise<void> {
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
  await db.exec(AFTER_COLUMNS);
  await db.run("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('schema_version', ?)", [String(SCHEMA_VERSION)]);
}
