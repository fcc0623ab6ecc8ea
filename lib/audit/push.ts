/**
 * Central visibility, as Sync 2.0 does it: a child pushes its audit rows to the parent's audit API
 * (`POST {parent}/ws/rest/sync2/messages`, openmrs-module-sync2 SyncAuditRestController), so the
 * parent's admin sees every child's attempts. Rows go in id order; a watermark in the store says how
 * far the parent has them, so a restart neither loses nor duplicates (a re-sent row has the same
 * uuid, and the parent answers 403 "already exists", which counts as delivered).
 */
import { createHash } from "node:crypto";
import type { OpenmrsServer } from "../openmrs/server";
import { classifyStatus, outcomeOfError, type Outcome } from "../outcome";
import type { SyncStore } from "../store/store";

export interface AuditRow {
  id: number;
  at: number;
  direction: string;
  source: string | null;
  entry_id: string | null;
  record_key: string | null;
  action: string | null;
  target: string | null;
  outcome: string;
  reason: string | null;
  http_status: number | null;
  error: string | null;
  attempt: number | null;
  duration_ms: number | null;
  content: string | null;
}

const CATEGORY: Record<string, string> = { Patient: "patient", Encounter: "encounter", Observation: "observation" };

/** A stable uuid for one audit row of one instance, so re-sending is idempotent. */
export function auditUuid(instanceId: string, rowId: number): string {
  const h = createHash("sha1").update(`${instanceId}:audit:${rowId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** One audit row as a Sync 2.0 audit message (sampleAuditMessage.json's shape). */
export function toSync2Message(row: AuditRow, instanceId: string, parentUrl: string): Record<string, unknown> {
  const type = row.record_key?.split("/")[0] ?? "";
  const success = row.outcome === "ok" || row.outcome === "filtered";
  const facts = [
    success ? "Success" : "Failure",
    row.reason ? `reason: ${row.reason}` : undefined,
    row.http_status ? `HTTP ${row.http_status}` : undefined,
    row.error ? `error: ${row.error}` : undefined,
    row.attempt ? `attempt ${row.attempt}` : undefined,
    row.duration_ms !== null ? `${row.duration_ms} ms` : undefined,
    // Only present when the store's admin switched clinical content on.
    row.content ? `Data: ${row.content}` : undefined,
  ].filter(Boolean);
  return {
    uuid: auditUuid(instanceId, row.id),
    success,
    timestamp: new Date(row.at).toISOString().slice(0, 19).replace("T", " "),
    resourceName: CATEGORY[type] ?? type.toLowerCase(),
    usedResourceUrl: row.target ?? "",
    availableResourceUrls: JSON.stringify({ record: row.record_key, entry: row.entry_id }),
    parentUrl,
    localUrl: "",
    action: (row.action ?? "").toUpperCase(),
    operation: row.direction.toUpperCase(),
    details: facts.join("\n"),
    linkType: "fhir",
    creatorInstanceId: instanceId,
    voided: false,
  };
}

export interface AuditPushResult {
  sent: number;
  /** The first failure that stopped this round (the rest waits for the next one). */
  failure?: Outcome;
}

export class AuditPusher {
  private readonly key: string;

  constructor(
    private readonly store: SyncStore,
    private readonly server: OpenmrsServer,
    readonly instanceId: string,
    pusherId: string,
  ) {
    this.key = `audit_push:${pusherId}`;
  }

  async watermark(): Promise<number> {
    const row = await this.store.db.get<{ value: string }>("SELECT value FROM store_meta WHERE key = ?", [this.key]);
    return row ? Number(row.value) : 0;
  }

  async pending(): Promise<number> {
    const row = await this.store.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM audit WHERE id > ?", [await this.watermark()]);
    return row?.n ?? 0;
  }

  /** Sends up to `limit` rows in id order; stops at the first failure. */
  async pushOnce(limit = 200): Promise<AuditPushResult> {
    const from = await this.watermark();
    const rows = await this.store.db.all<AuditRow>("SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", [from, limit]);
    // Content (only when the admin switched it on) is encrypted at rest.
    for (const r of rows) r.content = this.store.db.cipher.open(r.content);
    const url = `${this.server.baseUrl}/ws/rest/sync2/messages`;
    let last = from;
    let failure: Outcome | undefined;
    for (const row of rows) {
      try {
        const res = await this.server.restSend("POST", url, toSync2Message(row, this.instanceId, this.server.baseUrl));
        const exists = res.status === 403 && /already exists/i.test(res.body);
        if (!(res.status >= 200 && res.status < 300) && !exists) {
          failure = { ...classifyStatus(res.status, res.headers["retry-after"]), message: `POST ${url}: HTTP ${res.status}` };
          break;
        }
      } catch (err) {
        failure = outcomeOfError(err);
        break;
      }
      last = row.id;
    }
    if (last > from) {
      const value = String(last);
      await this.store.db.write((tx) => tx.run("INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)", [this.key, value]));
    }
    return { sent: last === from ? 0 : rows.filter((r) => r.id <= last).length, failure };
  }
}
