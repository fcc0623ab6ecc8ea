/**
 * The audit rows children send to the hub (`POST <hub>/ws/rest/sync2/messages`), as they send them to a
 * parent with openmrs-module-sync2 (lib/audit/push.ts writes them). The hub keeps each message once, by
 * its uuid, attributed to the key that sent it; a message sent again answers "already exists" (403), as
 * sync2's SyncAuditRestController does, which the child counts as delivered. The message is kept sealed
 * with the store's key (its details may carry clinical content when the child's admin switched that on).
 * No Node-RED here.
 */
import type { SqliteDb } from "../store/sqlite";

/** What the admin sees of one message (the rest stays sealed in the row). */
export interface ChildAuditRow {
  uuid: string;
  keyId: string;
  receivedAt: number;
  success: boolean;
  resourceName: string;
  operation: string;
  timestamp: string;
}

export class ChildAuditError extends Error {
  constructor(readonly field: string) {
    super(`bad audit message: ${field}`);
  }
}

const UUID = /^[0-9A-Za-z-]{1,64}$/;

function field(o: Record<string, unknown>, name: string, max: number): string {
  const v = o[name] ?? "";
  if (typeof v !== "string" || v.length > max) throw new ChildAuditError(name);
  return v;
}

/** A message checked for what the hub indexes; the rest is kept as sent. */
export function parseAuditMessage(body: unknown): { row: Omit<ChildAuditRow, "keyId" | "receivedAt">; json: string } {
  const o = body as Record<string, unknown> | null;
  if (!o || typeof o !== "object" || Array.isArray(o)) throw new ChildAuditError("body");
  if (typeof o.uuid !== "string" || !UUID.test(o.uuid)) throw new ChildAuditError("uuid");
  if (typeof o.success !== "boolean") throw new ChildAuditError("success");
  const row = {
    uuid: o.uuid,
    success: o.success,
    resourceName: field(o, "resourceName", 100),
    operation: field(o, "operation", 40),
    timestamp: field(o, "timestamp", 40),
  };
  return { row, json: JSON.stringify(o) };
}

/** Keeps one message: "stored", or "exists" when its uuid is already there. */
export async function saveAuditMessage(db: SqliteDb, keyId: string, body: unknown, now = Date.now()): Promise<"stored" | "exists"> {
  const { row, json } = parseAuditMessage(body);
  const sealed = db.cipher.seal(json);
  const r = await db.write((tx) =>
    tx.run(
      "INSERT INTO hub_child_audit (uuid, key_id, received_at, success, resource_name, operation, timestamp, message) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (uuid) DO NOTHING",
      [row.uuid, keyId, now, row.success ? 1 : 0, row.resourceName, row.operation, row.timestamp, sealed],
    ),
  );
  return r.changes ? "stored" : "exists";
}

/** Per key: messages kept and how many were failures (for the admin's list of children). */
export async function auditCounts(db: SqliteDb): Promise<Map<string, { messages: number; failures: number }>> {
  const rows = await db.all<{ key_id: string; n: number; f: number }>(
    "SELECT key_id, COUNT(*) AS n, SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END) AS f FROM hub_child_audit GROUP BY key_id",
  );
  return new Map(rows.map((r) => [r.key_id, { messages: r.n, failures: r.f ?? 0 }]));
}
