/**
 * What the two channel nodes (atom-feed-in, retry-queue) share: the admin's control messages, the
 * alerts when a channel's gate closes and opens (once per episode, not per probe), and the status line.
 */
import type { Node, NodeAPI, NodeMessage, NodeStatus } from "node-red";
import type { GateState } from "../../lib/engine/gate";
import type { EngineStats } from "../../lib/engine/engine";
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

/**
 * Reports gate changes: paused on auth and a store fault are errors (Catch nodes see them), waiting for
 * the target is a warning, opening again is logged. Each once per episode.
 */
export function gateAlerts(RED: NodeAPI, node: Node, ns: string, vars: Record<string, string>): (state: GateState, why?: string) => void {
  let previous: GateState = "open";
  return (state, why) => {
    const args = { ...vars, reason: why ?? "" };
    if (state === "paused") node.error(RED._(`${ns}.gate.paused`, args), { topic: "paused", payload: args });
    else if (state === "store-fault") node.error(RED._(`${ns}.gate.store-fault`, args), { topic: "store-fault", payload: args });
    else if (state === "target-down") node.warn(RED._(`${ns}.gate.target-down`, args));
    else if (previous === "paused") node.warn(RED._(`${ns}.gate.resumed`, args));
    else node.log(RED._(`${ns}.gate.open`, args));
    previous = state;
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
