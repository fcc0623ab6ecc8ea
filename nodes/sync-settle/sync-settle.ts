/**
 * sync-settle: settles the ticket of a message with a chosen outcome, then passes the message on.
 * It ends a custom chain of nodes, and it is how a flow filters on purpose: wire a Switch node's
 * "otherwise" output here with outcome "filtered", and the feed moves past what was dropped instead of
 * taking it for a lost message (which would be retried and finally dead-lettered).
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { settleTicket } from "../../lib/settlement";
import type { Outcome, OutcomeKind } from "../../lib/outcome";
import { ticketOf, type SyncMessage } from "../../lib/message";
import { countsText, debouncedStatus } from "../shared/status";

interface SyncSettleDef extends NodeDef {
  outcome?: OutcomeKind;
  reason?: string;
}

const KINDS: readonly OutcomeKind[] = ["filtered", "ok", "retry", "permanent"];

export = function (RED: NodeAPI): void {
  function SyncSettleNode(this: Node, config: SyncSettleDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const kind: OutcomeKind = config.outcome && KINDS.includes(config.outcome) ? config.outcome : "filtered";
    const reason = (config.reason ?? "").trim() || (kind === "filtered" ? "dropped-by-flow" : kind);
    let settled = 0;
    let untracked = 0;
    const status = debouncedStatus(node, () => ({
      fill: "grey",
      shape: "dot",
      text: RED._("sync-settle.status.counts", {
        kind,
        counts: countsText(RED, "sync-settle", [
          ["settled", settled],
          ["untracked", untracked],
        ]),
      }),
    }));

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const m = msg as SyncMessage;
      // msg.outcome set by an earlier node (a function node's verdict) wins over the configured one.
      const given = m.outcome as Partial<Outcome> | undefined;
      const outcome: Outcome =
        given && typeof given.kind === "string" && KINDS.includes(given.kind)
          ? { kind: given.kind, reason: given.reason ?? reason, message: given.message }
          : { kind, reason, message: RED._("sync-settle.message", { reason }) };
      if (ticketOf(m) && settleTicket(m.ticket, outcome)) settled++;
      else untracked++;
      status.update();
      send(msg);
      done();
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      status.cancel();
      done();
    });
  }

  RED.nodes.registerType("sync-settle", SyncSettleNode);
};
