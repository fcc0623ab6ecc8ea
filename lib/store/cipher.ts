/**
 * Encryption of clinical content at rest (docs/security.md): AES-256-GCM from node:crypto, a random
 * 12-byte IV per value, the 16-byte auth tag kept with it. A stored value is either plain text (a store
 * written before encryption, or with encryption off) or
 *
 *     enc1:<key id>:<base64 of iv | tag | ciphertext>
 *
 * where the key id is a fingerprint of the key (an HMAC of a fixed text under the key: it names the key
 * and says nothing about it). Plain values are JSON and never start with "enc1:", so the two are told
 * apart without a flag; the key id tells values under an older key from values under the current one.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

export const SEALED_PREFIX = "enc1:";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A key that cannot be used, or a value that cannot be decrypted (wrong key, tampered, truncated). */
export class CipherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CipherError";
  }
}

/** 32 random bytes as base64: a new key. */
export function generateKey(): string {
  return randomBytes(32).toString("base64");
}

/** A key as configured: 32 bytes written as 64 hex digits or as base64. */
export function parseKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) ? Buffer.from(t, "base64") : Buffer.alloc(0);
  if (key.length !== 32) throw new CipherError("a store key must be 32 bytes, written as 64 hex digits or as base64 (44 characters)");
  return key;
}

/** The key's fingerprint: stored in values and in store_meta, never the key. */
export function keyId(key: Buffer): string {
  return createHmac("sha256", key).update("openmrs-sync store key id").digest("hex").slice(0, 16);
}

export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/** The key id of a sealed value; undefined for a plain one. */
export function sealedKeyId(value: string): string | undefined {
  if (!isSealed(value)) return undefined;
  const end = value.indexOf(":", SEALED_PREFIX.length);
  return end < 0 ? "" : value.slice(SEALED_PREFIX.length, end);
}

/**
 * Seals and opens values with a current key (none: values are written plain) and any number of older
 * keys (read only). Opening a plain value returns it unchanged.
 */
export class StoreCipher {
  /** Writes plain values; reads plain ones only. */
  static readonly none = new StoreCipher(undefined, []);
  private readonly keys = new Map<string, Buffer>();
  readonly currentId: string | undefined;

  constructor(
    private readonly current: Buffer | undefined,
    older: readonly Buffer[],
  ) {
    this.currentId = current && keyId(current);
    if (current) this.keys.set(this.currentId!, current);
    for (const k of older) this.keys.set(keyId(k), k);
  }

  /** Whether values are written encrypted. */
  get encrypting(): boolean {
    return this.current !== undefined;
  }

  /** Ids of every key this cipher can read with. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  seal(text: string): string;
  seal(text: string | null): string | null;
  seal(text: string | null): string | null {
    if (text === null || !this.current) return text;
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv("aes-256-gcm", this.current, iv);
    const body = Buffer.concat([c.update(text, "utf8"), c.final()]);
    return `${SEALED_PREFIX}${this.currentId!}:${Buffer.concat([iv, c.getAuthTag(), body]).toString("base64")}`;
  }

  open(value: string): string;
  open(value: string | null): string | null;
  open(value: string | null): string | null {
    if (value === null || !isSealed(value)) return value;
    const id = sealedKeyId(value)!;
    const key = this.keys.get(id);
    if (!key) throw new CipherError(`a stored value is encrypted with key ${id || "(none)"}, which is not configured`);
    const raw = Buffer.from(value.slice(SEALED_PREFIX.length + id.length + 1), "base64");
    if (raw.length < IV_BYTES + TAG_BYTES) throw new CipherError(`a stored value under key ${id} is truncated`);
    try {
      const d = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
      d.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([d.update(raw.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString("utf8");
    } catch {
      throw new CipherError(`a stored value under key ${id} fails its integrity check (altered or damaged)`);
    }
  }

  /** Whether a stored value is as this cipher writes values: under the current key, or plain when there is none. */
  isCurrent(value: string): boolean {
    return this.current ? sealedKeyId(value) === this.currentId : !isSealed(value);
  }
}
