/**
 * Retention: how long finished rows are kept. Pruning runs when the store opens and then hourly, on
 * the store's writer, in batches of one short write each, so deliveries wait at most one batch.
 *
 * Only what is finished is ever deleted: audit rows; dead letters an admin retried or discarded
 * (`retried`, `discarded`, by the time they were dead-lettered); resolved conflicts (by the time they
 * were resolved). Never: queue_items, dead letters still `dead` or `requeued`, held conflicts, feed
 * retries, markers, baselines, the outbox.
 */
import type { SqliteDb } from "./sqlite";

export interface RetentionDays {
  /** Audit rows (default 90). 0: kept for ever. */
  audit?: number;
  /** Dead letters retried or discarded (default 30). 0: kept for ever. */
  deadLetters?: number;
  /** Resolved conflicts (default 90). 0: kept for ever. */
  conflicts?: number;
}

export const RETENTION_DEFAULTS: Required<RetentionDays> = { audit: 90, deadLetters: 30, conflicts: 90 };

const DAY_MS = 86_400_000;
const BATCH = 500;
export const PRUNE_EVERY_MS = 3_600_000;

export interface PruneCounts {
  audit: number;
  deadLetters: number;
  conflicts: number;
}

/** Selects the ids of prunable rows older than the cutoff (first parameter); LIMIT is added. */
const PRUNABLE: Record<keyof PruneCounts, { table: string; select: string }> = {
  audit: { table: "audit", select: "SELECT id FROM audit WHERE at < ? ORDER BY at" },
  deadLetters: { table: "dead_letters", select: "SELECT id FROM dead_letters WHERE state IN ('retried', 'discarded') AND dead_at < ?" },
  conflicts: { table: "conflicts", select: "SELECT id FROM conflicts WHERE state = 'resolved' AND COALESCE(resolved_at, detected_at) < ?" },
};

/** One pruning round: every kind, batch by batch; `stopped` is asked between batches. */
export async function prune(db: SqliteDb, days: RetentionDays, now = Date.now(), stopped: () => boolean = () => false): Promise<PruneCounts> {
  const counts: PruneCounts = { audit: 0, deadLetters: 0, conflicts: 0 };
  for (const kind of Object.keys(PRUNABLE) as (keyof PruneCounts)[]) {
    const d = days[kind] ?? RETENTION_DEFAULTS[kind];
    if (!(d > 0)) continue;
    const cutoff = now - d * DAY_MS;
    const { table, select } = PRUNABLE[kind];
    for (;;) {
      if (stopped()) return counts;
      const r = await db.write((tx) => tx.run(`DELETE FROM ${table} WHERE id IN (${select} LIMIT ${BATCH})`, [cutoff]));
      counts[kind] += r.changes;
      if (r.changes < BATCH) break;
    }
  }
  return counts;
}

/** Prunes now and then every hour until stopped; the timer never keeps the process alive. */
export class Retention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly db: SqliteDb,
    private readonly days: RetentionDays,
    private readonly report: (err: Error | undefined, counts?: PruneCounts) => void = () => undefined,
    private readonly everyMs = PRUNE_EVERY_MS,
  ) {}

  start(): void {
    void this.run();
    this.timer = setInterval(() => void this.run(), this.everyMs);
    this.timer.unref();
  }

  /** A round, unless one is running; resolves when the round ends. */
  run(): Promise<void> {
    this.running ??= prune(this.db, this.days, Date.now(), () => this.stopped)
      .then(
        (counts) => this.report(undefined, counts),
        (err: Error) => {
          if (!this.stopped) this.report(err);
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
