/**
 * Scenario C: an outbox table that a third-party tool reads and marks done with plain SQL
 * (docs/outbox.md). A newer change of a record still pending replaces the older one, so the tool
 * sees the latest whole record once.
 */
import type { SyncStore } from "../store/store";

export interface OutboxMessage {
  key: string;
  action: string;
  resourceType?: string;
  resourceId?: string;
  payload?: unknown;
  entryId?: string;
}

export class Outbox {
  constructor(
    private readonly store: SyncStore,
    readonly name: string,
  ) {}

  /** Resolves once committed. */
  put(m: OutboxMessage): Promise<{ id: number; replaced: boolean }> {
    const now = new Date().toISOString();
    const payload = m.payload === undefined ? null : JSON.stringify(m.payload);
    return this.store.db.write(async (tx) => {
      const pending = await tx.get<{ id: number }>("SELECT id FROM outbox WHERE outbox = ? AND record_key = ? AND state = 'pending' ORDER BY id DESC LIMIT 1", [
        this.name,
        m.key,
      ]);
      if (pending) {
        await tx.run("UPDATE outbox SET action = ?, payload = ?, entry_id = ?, updated_at = ? WHERE id = ?", [
          m.action,
          payload,
          m.entryId ?? null,
          now,
          pending.id,
        ]);
        return { id: pending.id, replaced: true };
      }
      const r = await tx.run(
        "INSERT INTO outbox (outbox, record_key, resource_type, resource_id, action, payload, entry_id, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [this.name, m.key, m.resourceType ?? null, m.resourceId ?? null, m.action, payload, m.entryId ?? null, now, now],
      );
      return { id: r.lastID, replaced: false };
    });
  }

  async counts(): Promise<Record<string, number>> {
    const rows = await this.store.db.all<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM outbox WHERE outbox = ? GROUP BY state", [this.name]);
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
