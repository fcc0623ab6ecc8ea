/**
 * "Something changed" for the Sync sidebar: samples every channel's live figures a few times a second
 * and names the channels whose figures moved (and the stores that opened or failed) since the last look.
 * The editor is told only that (ids, no content: the comms channel has no permission check) and fetches
 * the figures over the permission-checked API. Sampling, not a hook in every counter, so a catch-up of
 * thousands of entries a second costs one comparison per channel per tick, and an idle runtime sends
 * nothing. No Node-RED here.
 */
import type { AdminRegistry } from "./registry";

export interface Changed {
  /** Channels whose figures moved, appeared or went away. */
  channels: string[];
  /** Stores that opened, closed or changed their error. */
  stores: string[];
}

/** What is compared: every figure that a channel row shows, and the store's state. */
function channelKey(stats: object): string {
  return JSON.stringify(stats);
}

export class ChangeWatch {
  private last = new Map<string, string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly reg: AdminRegistry,
    private readonly publish: (c: Changed) => void,
    private readonly everyMs = 250,
  ) {}

  /** Compares now; publishes when anything moved. Returns what it published (tests). */
  check(): Changed | undefined {
    const now = new Map<string, string>();
    for (const c of this.reg.channels.values()) now.set(`c:${c.id}`, channelKey(c.stats()));
    for (const s of this.reg.stores.values()) now.set(`s:${s.id}`, `${s.current() ? "open" : "closed"}|${s.lastError?.() ?? ""}`);
    const moved = new Set<string>();
    for (const [k, v] of now) if (this.last.get(k) !== v) moved.add(k);
    for (const k of this.last.keys()) if (!now.has(k)) moved.add(k);
    this.last = now;
    if (!moved.size) return undefined;
    const pick = (p: string) => [...moved].filter((k) => k.startsWith(p)).map((k) => k.slice(2));
    const changed = { channels: pick("c:"), stores: pick("s:") };
    this.publish(changed);
    return changed;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
