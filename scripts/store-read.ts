/**
 * Reads one item of a sync store for support, decrypted (docs/security.md):
 *
 *   npx tsx scripts/store-read.ts <store file> queue-item|dead-letter|conflict|audit <id>
 *   npx tsx scripts/store-read.ts <store file> list queue-item|dead-letter|conflict|audit   (ids, no content)
 *
 * The store is opened read-only (Node-RED may keep running). The key comes from SYNC_STORE_KEY (and
 * SYNC_STORE_PREVIOUS_KEY during a rotation) or from the key file `<store file>.key`; a key kept only in
 * the sync-store node's credentials must be put in SYNC_STORE_KEY for this (not on the command line,
 * where other users of the machine can see it). What it prints is clinical content: handle it as such.
 */
import { SyncStore } from "../lib/store/store";

const TABLES: Record<string, { table: string; sealed: string[]; list: string }> = {
  "queue-item": { table: "queue_items", sealed: ["message"], list: "id, queue, record_key, attempts, last_status, enqueued_at" },
  "dead-letter": { table: "dead_letters", sealed: ["entry", "operation_outcome"], list: "id, source, record_key, state, reason, http_status, dead_at" },
  conflict: { table: "conflicts", sealed: ["parent_version", "child_version"], list: "id, record_key, policy, state, resolution, detected_at" },
  audit: { table: "audit", sealed: ["content"], list: "id, at, direction, source, record_key, outcome, reason, http_status" },
};

function usage(): never {
  console.error(
    "usage: npx tsx scripts/store-read.ts <store file> <queue-item|dead-letter|conflict|audit> <id>\n       npx tsx scripts/store-read.ts <store file> list <kind>",
  );
  process.exit(2);
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

async function main(): Promise<void> {
  const [file, what, arg] = process.argv.slice(2);
  if (!file || !what || !arg) usage();
  const kind = TABLES[what === "list" ? arg : what];
  if (!kind) usage();
  const store = await SyncStore.open(file, { readOnly: true });
  try {
    if (what === "list") {
      for (const row of await store.db.all(`SELECT ${kind.list} FROM ${kind.table} ORDER BY id DESC LIMIT 100`)) console.log(JSON.stringify(row));
      return;
    }
    const row = await store.db.get<Record<string, unknown>>(`SELECT * FROM ${kind.table} WHERE id = ?`, [Number(arg)]);
    if (!row) throw new Error(`no ${what} with id ${arg}`);
    for (const c of kind.sealed) {
      const v = store.db.cipher.open(row[c] as string | null);
      row[c] = v === null ? null : parsed(v);
    }
    console.log(JSON.stringify(row, null, 2));
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
