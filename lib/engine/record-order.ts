/**
 * Per-record order for the delivery engine: items go out lowest position first, but one item per
 * record at a time. The record's *active* item is the one out, being committed, or (in a feed)
 * waiting for its retry; a newer item of the record waits behind it (*parked*), and of two waiting
 * there, or two ready in the heap, only the newer is needed: the older is superseded ("the latest
 * whole record wins"). Superseding is the engine's: it settles the item as filtered.
 */
import { ItemHeap } from "./heap";
import type { ItemState } from "./states";

export interface Ordered {
  readonly key: string;
  readonly seq: number;
  state: ItemState;
  /** Where a ready item waits: in the delivery heap, or parked behind its record's active item. */
  queued?: "heap" | "parked";
}

export class RecordOrder<T extends Ordered> {
  private heap = new ItemHeap<T>();
  private readonly active = new Map<string, T>();
  private readonly parked = new Map<string, T>();
  /** The newest item of a record in the heap. */
  private readonly newestReady = new Map<string, T>();
  private inHeap = 0;

  constructor(private readonly supersede: (item: T) => void) {}

  /** Items ready to go (in the heap or parked). */
  get ready(): number {
    return this.inHeap + this.parked.size;
  }

  /** Ready items in the heap (not parked). */
  get deliverable(): number {
    return this.inHeap;
  }

  /** Puts an item (in state ready) where it waits for its turn. */
  makeReady(item: T): void {
    const owner = this.active.get(item.key);
    item.state = "ready";
    if (owner && owner !== item) {
      const other = this.parked.get(item.key);
      if (other && other.seq > item.seq) return this.supersede(item);
      this.parked.set(item.key, item);
      item.queued = "parked";
      if (other) this.supersede(other);
      return;
    }
    // Two changes of a record waiting to go out (read during a catch-up): only the newer is delivered.
    const other = this.newestReady.get(item.key);
    if (other && other !== item && other.state === "ready") {
      if (other.seq > item.seq) return this.supersede(item);
      this.supersede(other);
    }
    this.inHeap++;
    item.queued = "heap";
    this.heap.push(item);
    this.newestReady.set(item.key, item);
  }

  /** The next item whose record is free, or undefined. Items of a busy record are parked on the way. */
  next(): T | undefined {
    for (;;) {
      const item = this.heap.pop();
      if (!item) return undefined;
      if (item.state !== "ready" || item.queued !== "heap") continue;
      this.leave(item);
      const owner = this.active.get(item.key);
      if (owner && owner !== item) {
        this.makeReady(item);
        continue;
      }
      return item;
    }
  }

  /** The item is its record's active one now (it went out, or it waits for a retry). */
  claim(item: T): void {
    this.active.set(item.key, item);
  }

  /** Claims the record for a waiting item unless another item has it. */
  claimIfFree(item: T): void {
    if (!this.active.has(item.key)) this.active.set(item.key, item);
  }

  /** A ready item leaves the heap or its parking place (it is settled, superseded or dropped). */
  leave(item: T): void {
    if (item.queued === "parked") {
      if (this.parked.get(item.key) === item) this.parked.delete(item.key);
    } else if (item.queued === "heap") {
      this.inHeap--;
      if (this.newestReady.get(item.key) === item) this.newestReady.delete(item.key);
    }
    item.queued = undefined;
  }

  /** The item is done with its record: the newer item parked behind it, if any, becomes ready. */
  release(item: T): void {
    if (this.active.get(item.key) !== item) return;
    this.active.delete(item.key);
    const next = this.parked.get(item.key);
    if (next) {
      this.leave(next);
      this.makeReady(next);
    }
  }

  /** Whether a newer item of the record waits behind its active one. */
  hasParked(key: string): boolean {
    return this.parked.has(key);
  }

  /** The ready items of a record that have not gone out. */
  readyOf(key: string): T[] {
    return [this.parked.get(key), this.newestReady.get(key)].filter((i): i is T => !!i && i.state === "ready");
  }

  /** Forgets every ready and parked item, and the record of an item that is not kept. */
  clear(keep: (item: T) => boolean): void {
    for (const [key, item] of this.active) if (!keep(item)) this.active.delete(key);
    this.parked.clear();
    this.newestReady.clear();
    this.heap = new ItemHeap<T>();
    this.inHeap = 0;
  }
}
