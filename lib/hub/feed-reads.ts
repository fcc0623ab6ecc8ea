/**
 * How far each hub key has read the feeds the hub publishes (table hub_feed_reads): when a key is served a
 * page, the newest event on it is where that child has read to in that category (it has the page; whether
 * it has processed it is its own business, reported in its status). The key's lag is the events published
 * since, summed over the categories it reads; its "last entry read" (hub_keys.last_entry_read) is the id
 * of the newest entry it was served. Only a read that moves a key forward is written. No Node-RED here.
 */
import type { SqliteDb } from "../store/sqlite";
import type { KeyStore } from "./keys";
import { ENTRY_ID_PREFIX } from "../atom/page-xml";

export interface KeyLag {
  /** Events published since the key's last read, over the categories it reads. */
  entries: number;
  categories: Record<string, { read: number; head: number }>;
}

const trackers = new WeakMap<SqliteDb, FeedReads>();

export class FeedReads {
  /** Newest event seq seen per key and category (what is in the table, once loaded). */
  private readonly seen = new Map<string, number>();
  private loaded?: Promise<void>;

  private constructor(private readonly db: SqliteDb) {}

  static of(db: SqliteDb): FeedReads {
    let t = trackers.get(db);
    if (!t) trackers.set(db, (t = new FeedReads(db)));
    return t;
  }

  private load(): Promise<void> {
    this.loaded ??= this.db.all<{ key_id: string; category: string; seq: number }>("SELECT key_id, category, seq FROM hub_feed_reads").then((rows) => {
      for (const r of rows) this.seen.set(`${r.key_id}\n${r.category}`, Math.max(r.seq, this.seen.get(`${r.key_id}\n${r.category}`) ?? 0));
    });
    return this.loaded;
  }

  /** A key was served a page whose newest event is `seq` (`uuid`) of `category`. */
  async served(keys: KeyStore, keyId: string, category: string, newest: { seq: number; uuid: string }): Promise<void> {
    await this.load();
    const k = `${keyId}\n${category}`;
    if ((this.seen.get(k) ?? 0) >= newest.seq) return;
    this.seen.set(k, newest.seq);
    await this.db.run(
      "INSERT INTO hub_feed_reads (key_id, category, seq, read_at) VALUES (?, ?, ?, ?) ON CONFLICT (key_id, category) DO UPDATE SET seq = excluded.seq, read_at = excluded.read_at WHERE excluded.seq > hub_feed_reads.seq",
      [keyId, category, newest.seq, Date.now()],
    );
    await keys.noteEntryRead(keyId, ENTRY_ID_PREFIX + newest.uuid);
  }

  /** Every key's lag (keys that never read a feed have none). */
  async lags(): Promise<Map<string, KeyLag>> {
    const rows = await this.db.all<{ key_id: string; category: string; seq: number; head: number | null }>(
      "SELECT r.key_id, r.category, r.seq, (SELECT MAX(e.seq) FROM feed_events e WHERE e.category = r.category) AS head FROM hub_feed_reads r",
    );
    const out = new Map<string, KeyLag>();
    for (const r of rows) {
      const lag = out.get(r.key_id) ?? { entries: 0, categories: {} };
      const head = r.head ?? 0;
      lag.categories[r.category] = { read: r.seq, head };
      lag.entries += Math.max(0, head - r.seq);
      out.set(r.key_id, lag);
    }
    return out;
  }
}
