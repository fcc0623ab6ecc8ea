/**
 * Verify by reading back (issue 8, lossless create and update): a target may keep less than it was sent
 * (a field it has no place for, a uuid it replaces) and still answer 2xx. Unseen, that loss is silent,
 * and in two-way sync it is worse: the trimmed copy, read from the target's own feed, looks like a local
 * change and is pushed back over the full record.
 *
 * So after a write the record is read back from the target where it may have dropped something, and
 * compared with what was sent (as contentHash compares: no meta, no narrative, normalised):
 *  - equal: nothing was lost; records of the same *shape* (the same set of field paths) are not read back
 *    again — losses are of fields, and a shape read back whole once will be whole again;
 *  - different: the fields the target did not keep are named in a warning, once per record type and set
 *    of fields, and every later record of that shape is read back too, because the baseline of a lossy
 *    record must be what the target really holds (see fhir-push): then its own feed does not make the
 *    trimmed copy look like a change, and nothing is pushed back over the source.
 * No Node-RED here.
 */
import { comparable, contentHash } from "./reconcile";
import type { FhirResource } from "../fhir/convert";

/** Shapes remembered (per verifier); beyond, the oldest are forgotten (they are read back again). */
const MAX_SHAPES = 2_000;

function paths(value: unknown, prefix: string, out: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) paths(v, `${prefix}[]`, out);
  else if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    // Extensions are told apart by their url, as people read them.
    const at = typeof o.url === "string" && prefix.endsWith("extension[]") ? `${prefix}(${o.url})` : prefix;
    for (const [k, v] of Object.entries(o)) paths(v, at ? `${at}.${k}` : k, out);
  } else out.add(prefix);
}

/** The set of leaf paths of a resource (arrays collapsed), as one string. */
export function shapeOf(resource: FhirResource): string {
  const out = new Set<string>();
  paths(comparable(resource), "", out);
  return `${resource.resourceType}:${[...out].sort().join(",")}`;
}

function short(path: string): string {
  return path.replace(/\(http:\/\/fhir\.openmrs\.org\/ext\/([^)]*)\)/g, "($1)");
}

/**
 * The fields of `sent` the target did not keep as sent: top-level fields that differ, and inside a list
 * of extensions, the extension urls. At most 10 named.
 */
export function lostFields(sent: FhirResource, kept: FhirResource | undefined): string[] {
  if (!kept) return ["the whole record (it cannot be read back)"];
  const a = comparable(sent);
  const b = comparable(kept);
  const out: string[] = [];
  for (const k of Object.keys(a)) {
    const x = JSON.stringify(a[k]);
    if (x === JSON.stringify(b[k])) continue;
    if (k === "extension" && Array.isArray(a[k])) {
      const theirs = new Set(((b[k] as unknown[]) ?? []).map((e) => JSON.stringify(e)));
      for (const e of a[k] as Record<string, unknown>[]) if (!theirs.has(JSON.stringify(e))) out.push(short(`extension(${String(e.url)})`));
    } else out.push(k);
  }
  return [...new Set(out)].slice(0, 10);
}

export interface Verification {
  /** The target's version as read back. */
  kept: FhirResource | undefined;
  /** Its content hash: the baseline to record. */
  hash: string | undefined;
  /** Fields not kept (empty when nothing was lost). */
  lost: string[];
  /** True the first time this record type lost this set of fields (warn then). */
  firstOfKind: boolean;
}

export class WriteVerifier {
  /** shape -> whole (true) or lossy (false). */
  private readonly shapes = new Map<string, boolean>();
  private readonly warned = new Set<string>();

  /** Whether a record of this content should be read back after it is written. */
  needed(resource: FhirResource): boolean {
    return this.shapes.get(shapeOf(resource)) !== true;
  }

  /** Compares what was sent with what the target `kept` (undefined: not there) and remembers the shape. */
  check(sent: FhirResource, kept: FhirResource | undefined): Verification {
    const shape = shapeOf(sent);
    const hash = kept ? contentHash(kept) : undefined;
    const whole = hash !== undefined && hash === contentHash(sent);
    if (this.shapes.size >= MAX_SHAPES && !this.shapes.has(shape)) this.shapes.delete(this.shapes.keys().next().value as string);
    this.shapes.set(shape, whole);
    if (whole) return { kept, hash, lost: [], firstOfKind: false };
    const lost = lostFields(sent, kept);
    const kind = `${sent.resourceType}:${lost.join(",")}`;
    const firstOfKind = !this.warned.has(kind);
    if (firstOfKind && this.warned.size < MAX_SHAPES) this.warned.add(kind);
    return { kept, hash, lost, firstOfKind };
  }
}
