/**
 * What the two channel nodes (atom-feed-in, retry-queue) share: the admin's control messages, the
 * channel's alerts (once per change of state, not per retry, probe or poll), and the status line.
 */
import type { Node, NodeAPI, NodeMessage, NodeStatus } from "node-red";
import type { EngineStats } from "../../lib/engine/engine";
import {
  ALERT_TOPIC,
  ChannelAlerts,
  DEFAULT_HIGH_WATER,
  DEFAULT_WINDOW_MS,
  formatDuration,
  type Alert,
  type ChannelObservation,
} from "../../lib/engine/alerts";
import { clip } from "./status";

export interface ControlledChannel {
  resume(): void;
  retryDead(which: number[] | "all"): Promise<number>;
  discardDead(which: number[] | "all"): Promise<number>;
}

/** Dead-letter ids from msg.payload: one id, a list, or "all". */
export function deadLetterIds(payload: unknown): number[] | "all" {
  if (payload === "all") return "all";
  const list = Array.isArray(payload) ? payload : [payload];
  return list.map(Number).filter((n) => Number.isInteger(n));
}

/**
 * Carries out msg.topic "retry" / "discard" (dead letters, ids in msg.payload or "all") and "resume".
 * Returns false when the message is not a control message.
 */
export async function control(RED: NodeAPI, node: Node, ns: string, channel: ControlledChannel, msg: NodeMessage): Promise<boolean> {
  if (msg.topic === "resume") {
    channel.resume();
    return true;
  }
  if (msg.topic === "retry") {
    node.log(RED._(`${ns}.log.retried`, { n: await channel.retryDead(deadLetterIds(msg.payload)) }));
    return true;
  }
  if (msg.topic === "discard") {
    node.log(RED._(`${ns}.log.discarded`, { n: await channel.discardDead(deadLetterIds(msg.payload)) }));
    return true;
  }
  return false;
}

/** A channel node's alert settings (editor fields; empty means the default). */
export interface AlertConfig {
  alertBacklog?: string | number;
  alertSeconds?: string | number;
}

/**
 * The channel's alerts (lib/engine/alerts.ts), reported by its node. How each reaches people:
 *  - alarm and clear (backing-up, drained, paused, store-fault, resumed after those, dead-letter) go out
 *    as node.error(text, msg). Catch nodes only receive errors that carry a msg, and the issue asks for
 *    the good states there too: an admin who is told "backing up" must be told "drained" in the same
 *    place. So a clear is an "error" too, recognisable by msg.alert.severity. The msg is
 *    { topic: "openmrs-sync/alert", payload: <the text>, alert: <the Alert, plus the node's name> }:
 *    the payload reads well in a debug node and is the body an e-mail node sends; msg.alert is for a
 *    Switch or a function. Node-RED logs an error and shows it in the debug pane only when no Catch
 *    node handles it; the prebuilt flows' debug node does both for the ones it gets.
 *  - warning (target-down) is node.warn: the debug pane and the log, not Catch — a poor link comes and
 *    goes all day; when it holds work up for a window, backing-up reaches Catch.
 *  - info (resumed after only target-down) is a log line.
 * The status line shows the state too (gateStatus, and "backing up" while it stands), for Status nodes.
 * Texts are i18n keys `<ns>.alert.<kind>` with ids, counts and reasons only, never clinical content.
 * `vars` go into every text (a feed's category).
 */
export function channelAlerts(
  RED: NodeAPI,
  node: Node,
  ns: string,
  vars: Record<string, string>,
  config: AlertConfig,
  observe: () => ChannelObservation,
): ChannelAlertsHandle {
  const highWater = Number(config.alertBacklog) > 0 ? Number(config.alertBacklog) : DEFAULT_HIGH_WATER;
  const windowMs = Number(config.alertSeconds) > 0 ? Number(config.alertSeconds) * 1000 : DEFAULT_WINDOW_MS;
  const name = node.name || vars.category || node.id;
  const alerts = new ChannelAlerts({
    channel: node.id,
    highWater,
    windowMs,
    emit(alert) {
      const text = RED._(`${ns}.alert.${textKey(alert)}`, { ...vars, ...textArgs(alert) });
      if (alert.severity === "warning") node.warn(text);
      else if (alert.severity === "info") node.log(text);
      else node.error(text, { topic: ALERT_TOPIC, payload: text, alert: { ...alert, name } });
    },
  });
  // Figures change on every settlement: look at them once per tick.
  let queued = false;
  return {
    alerts,
    changed() {
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        alerts.observe(observe());
      });
    },
  };
}

export interface ChannelAlertsHandle {
  alerts: ChannelAlerts;
  /** The channel's figures may have changed: observe them (coalesced to once per tick). */
  changed(): void;
}

function textKey(a: Alert): string {
  if (a.kind === "backing-up") return `backing-up-${a.rule ?? "high-water"}`;
  if (a.kind === "dead-letter") return a.summary ? "dead-letter-more" : "dead-letter";
  return a.kind;
}

function textArgs(a: Alert): Record<string, string | number> {
  const records = a.records ?? [];
  return {
    backlog: a.backlog,
    reason: a.reason ?? "",
    highWater: a.highWater ?? "",
    window: a.windowMs === undefined ? "" : formatDuration(a.windowMs),
    duration: a.durationMs === undefined ? "" : formatDuration(a.durationMs),
    after: (a.after ?? []).join(", "),
    count: a.count ?? 0,
    record: records[0] ?? "",
    records: records.slice(0, 3).join(", ") + (records.length > 3 || (a.count ?? 0) > 3 ? ", …" : ""),
    attempts: a.attempts ?? "",
    id: a.deadLetter ?? a.entry ?? "",
  };
}

/** The status line of a closed gate, or undefined while it is open. */
export function gateStatus(RED: NodeAPI, ns: string, s: Pick<EngineStats, "gate" | "gateWhy">): NodeStatus | undefined {
  const reason = s.gateWhy ?? "";
  if (s.gate === "paused") return { fill: "red", shape: "ring", text: clip(RED._(`${ns}.status.paused`, { reason })) };
  if (s.gate === "store-fault") return { fill: "red", shape: "ring", text: clip(RED._(`${ns}.status.store-fault`, { reason })) };
  if (s.gate === "target-down") return { fill: "yellow", shape: "ring", text: clip(RED._(`${ns}.status.target-down`, { reason })) };
  return undefined;
}

/** Waits for the store, showing why it is not open yet (a corrupt file, another owner). */
export function waitingForStoreStatus(RED: NodeAPI, ns: string, lastError: string | undefined): NodeStatus {
  return lastError
    ? { fill: "red", shape: "ring", text: clip(RED._(`${ns}.status.waiting-store`, { error: lastError })) }
    : { fill: "grey", shape: "ring", text: RED._(`${ns}.status.starting`) };
}
