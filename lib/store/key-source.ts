/**
 * Where a store's key comes from (docs/security.md), in this order:
 *   1. the key given by the caller (the sync-store node's credential `key`);
 *   2. the environment variable SYNC_STORE_KEY;
 *   3. the key file `<store file>.key` (mode 0600) next to the store; created with a new random key
 *      when `generate` is set and no key is found anywhere. It is written and flushed to disk (file and
 *      directory) before anything is encrypted with it, so a crash or a restart cannot lose it.
 * Every other key found (the caller's previous key, SYNC_STORE_PREVIOUS_KEY, a key file or variable
 * that was not chosen) is offered for reading only: values under it are re-encrypted under the current
 * key when the store opens (a rotation), so moving from the key file to a credential needs nothing else.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { generateKey, keyId, parseKey } from "./cipher";

export interface KeySources {
  /** The configured key (hex or base64 of 32 bytes). */
  key?: string;
  /** The key before the last rotation, for reading only. */
  previousKey?: string;
  /** Create the key file when no key is found (the node does when encryption is on). */
  generate?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedKeys {
  key?: Buffer;
  older: Buffer[];
  source: "configured" | "env" | "file" | "generated" | "none";
}

export function keyFilePath(storeFile: string): string {
  return `${storeFile}.key`;
}

function readKeyFile(file: string): Buffer | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return parseKey(text);
  } catch (err) {
    throw new Error(`key file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes a new key file atomically (a temporary file linked into place): never a half-written key. */
function createKeyFile(file: string): Buffer {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeFileSync(fd, generateKey() + "\n");
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    // Another process made one at the same moment: theirs is the key.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const dir = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  return readKeyFile(file)!;
}

export function resolveKeys(storeFile: string, s: KeySources = {}): ResolvedKeys {
  const env = s.env ?? process.env;
  const found: { key: Buffer; source: ResolvedKeys["source"] }[] = [];
  if (s.key?.trim()) found.push({ key: parseKey(s.key), source: "configured" });
  if (env.SYNC_STORE_KEY?.trim()) found.push({ key: parseKey(env.SYNC_STORE_KEY), source: "env" });
  const file = storeFile === ":memory:" ? undefined : keyFilePath(path.resolve(storeFile));
  const fromFile = file ? readKeyFile(file) : undefined;
  if (fromFile) found.push({ key: fromFile, source: "file" });
  if (!found.length && s.generate && file) found.push({ key: createKeyFile(file), source: "generated" });
  const older: Buffer[] = found.slice(1).map((f) => f.key);
  if (s.previousKey?.trim()) older.push(parseKey(s.previousKey));
  if (env.SYNC_STORE_PREVIOUS_KEY?.trim()) older.push(parseKey(env.SYNC_STORE_PREVIOUS_KEY));
  const current = found[0];
  const seen = new Set(current ? [keyId(current.key)] : []);
  return {
    key: current?.key,
    older: older.filter((k) => !seen.has(keyId(k)) && seen.add(keyId(k))),
    source: current?.source ?? "none",
  };
}
