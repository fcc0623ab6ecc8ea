/**
 * What the admin API can see and act on in this runtime: the open stores, the channels (feed consumers
 * and durable queues) and the writers that can resolve a held conflict. Nodes register themselves when
 * they start and unregister when they close (as channels register with the settlement hub); the API
 * reads from here and never holds on to a node. No Node-RED here.
 */
import type { EngineStats } from "../engine/engine";
import type { SyncStore } from "../store/store";

export type ChannelKind = "feed" | "queue";

/** A channel's live figures; a queue adds what is stored in its custody. */
export interface ChannelStats extends EngineStats {
  /** Queue: messages in custody (rows), retrying included. */
  queued?: number;
  /** Queue: rows waiting for a retry. */
  retrying?: number;
  coalesced?: number;
  /** Feed: entries read and not yet behind the marker, and the feed time of the oldest. */
  lag?: { entries: number; oldest?: string };
  walkError?: string;
}

export interface AdminChannel {
  id: string;
  kind: ChannelKind;
  /** The node's name, or its category (feed) when it has none. */
  name: string;
  /** Feed: the category read. */
  category?: string;
  storeId: string;
  stats(): ChannelStats;
  retryDead(which: number[] | "all"): Promise<number>;
  discardDead(which: number[] | "all"): Promise<number>;
}

export interface AdminStore {
  id: string;
  name: string;
  /** The store once open (undefined while it is being opened or retried). */
  current(): SyncStore | undefined;
  /** The admin's switch: clinical content may be shown. */
  auditContent: boolean;
  /** Why it is not open yet. */
  lastError?(): string | undefined;
  /**
   * Opens the store if no node has yet (the store node opens lazily, for its users; a hub whose keys
   * are all there is to it has none). Resolves once open; a store that cannot open keeps being retried.
   */
  open?(): Promise<unknown>;
}

/** The store once open, opening it if needed and waiting at most `waitMs` for it; undefined if not open by then. */
export async function openedStore(s: AdminStore, waitMs: number): Promise<SyncStore | undefined> {
  const now = s.current();
  if (now || !s.open) return now;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    s.open().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref?.();
    }),
  ]);
  clearTimeout(timer);
  return s.current();
}

/** A writer (fhir-push) that can resolve a held conflict of its store by writing the chosen side. */
export interface ConflictWriter {
  id: string;
  storeId: string;
  /** The side it writes to. */
  targetRole: "parent" | "child";
  resolve(conflictId: number, use: "parent" | "child"): Promise<void>;
}

export class AdminRegistry {
  readonly stores = new Map<string, AdminStore>();
  readonly channels = new Map<string, AdminChannel>();
  readonly writers = new Map<string, ConflictWriter>();

  addStore(s: AdminStore): void {
    this.stores.set(s.id, s);
  }

  removeStore(s: AdminStore): void {
    if (this.stores.get(s.id) === s) this.stores.delete(s.id);
  }

  addChannel(c: AdminChannel): void {
    this.channels.set(c.id, c);
  }

  removeChannel(c: AdminChannel): void {
    if (this.channels.get(c.id) === c) this.channels.delete(c.id);
  }

  addWriter(w: ConflictWriter): void {
    this.writers.set(w.id, w);
  }

  removeWriter(w: ConflictWriter): void {
    if (this.writers.get(w.id) === w) this.writers.delete(w.id);
  }

  channelsOf(storeId: string): AdminChannel[] {
    return [...this.channels.values()].filter((c) => c.storeId === storeId);
  }
}

/** The registry of this runtime (one per process, like the settlement hubs). */
export const adminRegistry = new AdminRegistry();
