/**
 * Tells an admin which metadata a target lacks, once, instead of once per waiting record (issue 8:
 * "the admin is told once which metadata to install"). Fed by a fhir-push with the outcome of every write:
 *  - a record waits for metadata (outcome `missing-metadata`): the first record that needs a given piece
 *    raises an alarm at once; while more records come to wait for it, one summary per window says how
 *    many ("concept X: 12 records wait");
 *  - a record that waited is written: its metadata is on the target now; a clear says so and how many
 *    records were waiting for it (they go through at their next attempt).
 * Nothing else is said: records that keep waiting for a piece already reported are silent.
 * No Node-RED here; the node turns each alert into an error with a msg (Catch nodes, the debug pane).
 */
import { systemClock, type Clock, type TimerHandle } from "../engine/clock";
import type { MetadataRef } from "../openmrs/metadata-check";

export interface MetadataAlert {
  kind: "missing-metadata" | "metadata-installed";
  severity: "alarm" | "clear";
  /** Wall-clock ISO 8601. */
  at: string;
  metadata: MetadataRef;
  /** Records known to wait (or to have waited) for it. */
  records: number;
  /** Some of them (`Observation/<uuid>`), at most MAX_NAMED. */
  named: string[];
  /** missing-metadata: a summary of the window after the first alarm. */
  summary?: boolean;
}

export interface MissingMetadataOptions {
  emit(alert: MetadataAlert): void;
  windowMs?: number;
  clock?: Clock;
}

const MAX_NAMED = 10;
/** Record keys remembered per piece of metadata; beyond, they are only counted. */
const MAX_KEYS = 10_000;

interface Waiting {
  ref: MetadataRef;
  keys: Set<string>;
  /** Waiting records not remembered by key (beyond MAX_KEYS). */
  uncounted: number;
  /** The count last reported. */
  reported: number;
  timer?: TimerHandle;
}

export class MissingMetadataAlerts {
  private readonly waiting = new Map<string, Waiting>();
  private readonly windowMs: number;
  private readonly clock: Clock;

  constructor(private readonly o: MissingMetadataOptions) {
    this.windowMs = o.windowMs ?? 60_000;
    this.clock = o.clock ?? systemClock;
  }

  /** `record` waits for `missing`. */
  waits(record: string, missing: readonly MetadataRef[]): void {
    for (const ref of missing) {
      const id = `${ref.kind}/${ref.uuid}`;
      let w = this.waiting.get(id);
      const first = !w;
      if (!w) {
        w = { ref, keys: new Set(), uncounted: 0, reported: 0 };
        this.waiting.set(id, w);
      }
      if (w.keys.size < MAX_KEYS) w.keys.add(record);
      else if (!w.keys.has(record)) w.uncounted++;
      if (first) {
        this.say(w, "missing-metadata", false);
        this.arm(id, w);
      }
    }
  }

  /** `record` was written (or settled otherwise): what it waited for is there now. */
  written(record: string): void {
    if (this.waiting.size === 0) return;
    for (const [id, w] of this.waiting) {
      if (!w.keys.has(record)) continue;
      w.timer?.cancel();
      this.waiting.delete(id);
      this.say(w, "metadata-installed", false);
    }
  }

  /** Cancels the timers (the node closes). */
  stop(): void {
    for (const w of this.waiting.values()) w.timer?.cancel();
    this.waiting.clear();
  }

  private count(w: Waiting): number {
    return w.keys.size + w.uncounted;
  }

  private arm(id: string, w: Waiting): void {
    w.timer = this.clock.setTimer(() => {
      if (this.waiting.get(id) !== w) return;
      if (this.count(w) > w.reported) this.say(w, "missing-metadata", true);
      this.arm(id, w);
    }, this.windowMs);
  }

  private say(w: Waiting, kind: MetadataAlert["kind"], summary: boolean): void {
    w.reported = this.count(w);
    this.o.emit({
      kind,
      severity: kind === "missing-metadata" ? "alarm" : "clear",
      at: new Date(this.clock.wallNow()).toISOString(),
      metadata: w.ref,
      records: w.reported,
      named: [...w.keys].slice(0, MAX_NAMED),
      ...(summary ? { summary } : {}),
    });
  }
}
