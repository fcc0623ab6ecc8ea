/**
 * Which key a store is under, checked when it opens, and the pass that brings every stored value to
 * the form the store writes now (docs/security.md).
 *
 * store_meta keeps, never a key:
 *   - `crypt_keys`: JSON list of the ids (fingerprints) of every key a stored value may be under. A key
 *     is added before the first value is written under it and removed only after a complete pass has
 *     re-encrypted every value under it. Opening without one of them is refused with an error naming
 *     it: values are never read with a wrong key, and an undecryptable row is never dropped;
 *   - `crypt_sealed`: the key id (or "plain") every value was under after the last complete pass; a
 *     store already in that form is not scanned again.
 *
 * The pass runs after open, in batches of one write each on the store's writer (deliveries go on
 * between batches); reads work throughout, since a value is opened by the key it names. On a store
 * that was plain (from before encryption, or with it off), it ends with a VACUUM and a WAL checkpoint:
 * otherwise the plain text of rows deleted or rewritten earlier could stay in free pages of the file.
 */
import { CipherError, StoreCipher, isSealed, keyId } from "./cipher";
import type { SqliteDb } from "./sqlite";

/** The columns that hold clinical content. The outbox stays plain on purpose (docs/outbox.md). */
export const SEALED_COLUMNS: readonly { table: string; columns: readonly string[] }[] = [
  { table: "queue_items", columns: ["message"] },
  { table: "dead_letters", columns: ["entry", "operation_outcome", "details"] },
  { table: "conflicts", columns: ["parent_version", "child_version"] },
  { table: "audit", columns: ["content"] },
];

const KEYS = "crypt_keys";
const SEALED = "crypt_sealed";
const PLAIN = "plain";
const BATCH = 500;

export interface EncryptionOptions {
  /** on: new values are encrypted under `key`, older ones re-encrypted; off: written plain, and values encrypted earlier are decrypted (their key is needed). */
  mode: "on" | "off";
  key?: Buffer;
  /** Keys for reading only (a rotation, or a key source that was replaced). */
  older?: readonly Buffer[];
}

export interface EncryptionState {
  cipher: StoreCipher;
  /** Whether a pass is needed to bring stored values to the cipher's form. */
  passNeeded: boolean;
  /** The store was plain until now: the pass ends by rebuilding the file (free pages may hold plain text). */
  wasPlain: boolean;
}

async function readMeta(db: SqliteDb): Promise<{ keys: string[]; sealed?: string }> {
  const rows = await db.all<{ key: string; value: string }>("SELECT key, value FROM store_meta WHERE key IN (?, ?)", [KEYS, SEALED]);
  const keys = rows.find((r) => r.key === KEYS)?.value;
  return { keys: keys ? (JSON.parse(keys) as string[]) : [], sealed: rows.find((r) => r.key === SEALED)?.value };
}

function short(ids: readonly string[]): string {
  return ids.join(", ");
}

/**
 * Checks the keys against the store and returns the cipher to use. `options` undefined (tools, tests):
 * the store is read and written as it is: plain when it holds no encrypted values, else under the
 * newest of its keys, which must be among `available`.
 */
export async function setUpEncryption(
  db: SqliteDb,
  options: EncryptionOptions | undefined,
  available: readonly Buffer[],
  readOnly: boolean,
): Promise<EncryptionState> {
  const meta = await readMeta(db).catch((err: Error) => {
    // A store without tables yet (read-only on a file nobody set up) holds nothing encrypted.
    if (/no such table/.test(err.message)) return { keys: [] as string[], sealed: undefined };
    throw err;
  });
  const keys = [...(options?.key ? [options.key] : []), ...(options?.older ?? []), ...available];
  const byId = new Map(keys.map((k) => [keyId(k), k]));
  const missing = meta.keys.filter((id) => !byId.has(id));
  if (missing.length) {
    const have = [...byId.keys()];
    throw new CipherError(
      `the store is encrypted with key ${short(missing)}, which is not configured` +
        (have.length ? ` (configured: ${short(have)}): set the key the store was encrypted with` : ": set its key") +
        " (docs/security.md)",
    );
  }
  if (!options) {
    const newest = meta.keys[meta.keys.length - 1];
    return { cipher: newest ? new StoreCipher(byId.get(newest), keys) : new StoreCipher(undefined, keys), passNeeded: false, wasPlain: false };
  }
  if (options.mode === "on" && !options.key) throw new CipherError("encryption is on but no key is configured");
  const current = options.mode === "on" ? options.key : undefined;
  const cipher = new StoreCipher(current, keys);
  const target = cipher.currentId ?? PLAIN;
  const passNeeded = meta.sealed !== target || meta.keys.some((id) => id !== cipher.currentId);
  if (!readOnly && cipher.currentId && !meta.keys.includes(cipher.currentId)) {
    // Recorded before anything is written under the new key.
    await db.run("INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)", [KEYS, JSON.stringify([...meta.keys, cipher.currentId])]);
  }
  if (!readOnly && passNeeded) await db.run("DELETE FROM store_meta WHERE key = ?", [SEALED]);
  return { cipher, passNeeded: passNeeded && !readOnly, wasPlain: !!cipher.currentId && meta.keys.length === 0 };
}

export interface PassResult {
  /** Values rewritten (encrypted, re-encrypted under the current key, or decrypted). */
  rewritten: number;
  /** Of them, plain values encrypted (a store written before encryption, or with it off). */
  fromPlain: number;
  /** Values that could not be opened: left as they are, and the old keys stay required. */
  damaged: number;
  /** The pass was stopped (the store closed) before the end; the next open goes on. */
  stopped: boolean;
}

/** Brings every stored value to the cipher's form, one batch per write. */
export async function sealPass(db: SqliteDb, cipher: StoreCipher, stopped: () => boolean, wasPlain = false): Promise<PassResult> {
  const result: PassResult = { rewritten: 0, fromPlain: 0, damaged: 0, stopped: false };
  for (const { table, columns } of SEALED_COLUMNS) {
    let after = 0;
    for (;;) {
      if (stopped()) return { ...result, stopped: true };
      const batch = await db.write(async (tx) => {
        const rows = await tx.all<Record<string, string | number | null>>(`SELECT id, ${columns.join(", ")} FROM ${table} WHERE id > ? ORDER BY id LIMIT ?`, [
          after,
          BATCH,
        ]);
        for (const row of rows) {
          const values: (string | null)[] = [];
          let change = false;
          for (const c of columns) {
            const v = row[c] as string | null;
            if (v === null || cipher.isCurrent(v)) {
              values.push(v);
              continue;
            }
            try {
              values.push(cipher.seal(cipher.open(v)));
              change = true;
              result.rewritten++;
              if (cipher.encrypting && !isSealed(v)) result.fromPlain++;
            } catch (err) {
              if (!(err instanceof CipherError)) throw err;
              values.push(v);
              result.damaged++;
            }
          }
          if (change) await tx.run(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`, [...values, row.id]);
        }
        return { n: rows.length, last: rows.length ? Number(rows[rows.length - 1].id) : after };
      });
      after = batch.last;
      if (batch.n < BATCH) break;
    }
  }
  if (!result.damaged) {
    await db.write(async (tx) => {
      await tx.run("INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)", [KEYS, JSON.stringify(cipher.currentId ? [cipher.currentId] : [])]);
      await tx.run("INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)", [SEALED, cipher.currentId ?? PLAIN]);
    });
  }
  // Free pages may still hold the plain text: rebuild the file, then empty the WAL.
  if ((wasPlain || result.fromPlain) && !stopped()) await db.exec("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
  return result;
}
