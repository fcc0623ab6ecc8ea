/**
 * hub-relay: replays each child write a retry-queue delivers (from hub-in) to the parent, verbatim, and
 * settles the queue's ticket: when the child is still waiting it gets the parent's answer and owns the
 * outcome (the item is settled "answered"); otherwise the hub owns it (retry, dead letter, pause on auth).
 * Logic: lib/hub/relay.ts.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { relayWaiters, replay, type RelayRequest } from "../../lib/hub/relay";
import { settleTicket, workOn } from "../../lib/settlement";
import type { Outcome } from "../../lib/outcome";
import { countsText, errorText, serverStatus } from "../shared/status";
import type { OpenmrsServerConfigNode } from "../shared/types";

interface HubRelayDef extends NodeDef {
  server: string;
}

function isRelay(v: unknown): v is RelayRequest {
  const r = v as RelayRequest | undefined;
  return !!r && typeof r.id === "string" && typeof r.path === "string" && (r.method === "PUT" || r.method === "POST" || r.method === "DELETE");
}

export = function (RED: NodeAPI): void {
  function HubRelayNode(this: Node, config: HubRelayDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const serverNode = RED.nodes.getNode(config.server) as OpenmrsServerConfigNode | null;
    if (!serverNode) {
      node.status({ fill: "red", shape: "ring", text: RED._("hub-relay.status.not-configured") });
      node.error(RED._("hub-relay.errors.missing-config"));
      return;
    }
    serverNode.register(node);
    const counts = { written: 0, answered: 0, failed: 0 };
    const status = serverStatus(node, serverNode, () => ({
      fill: counts.failed ? "yellow" : "green",
      shape: "dot",
      text: countsText(RED, "hub-relay", Object.entries(counts)),
    }));

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const m = msg as NodeMessageInFlow & { relay?: unknown; ticket?: unknown };
      if (!isRelay(m.relay)) {
        const outcome: Outcome = { kind: "permanent", reason: "bad-relay", message: RED._("hub-relay.errors.not-a-write") };
        settleTicket(m.ticket, outcome);
        done(new Error(outcome.message));
        return;
      }
      const relay = m.relay;
      workOn(m.ticket, () => replay(serverNode.server(), relay, m.payload))
        .then(({ answer, outcome }) => {
          // The child took the parent's answer: it owns the outcome, the hub's item is done.
          const taken = answer !== undefined && relayWaiters.answered(relay.id, answer);
          const settled: Outcome = taken ? { kind: "ok", reason: "answered", status: answer.status } : outcome;
          settleTicket(m.ticket, settled, { direction: "push", action: relay.method, target: `${serverNode.server().baseUrl}${relay.path}` });
          if (taken) counts.answered++;
          else if (outcome.kind === "ok") counts.written++;
          else counts.failed++;
          status.update();
          send({ ...m, statusCode: answer?.status, outcome: settled });
          if (settled.kind === "permanent") done(new Error(settled.message ?? settled.reason));
          else done();
        })
        .catch((err: unknown) => {
          settleTicket(m.ticket, { kind: "retry", reason: "relay", message: errorText(err) });
          done(err instanceof Error ? err : new Error(errorText(err)));
        });
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      status.cancel();
      serverNode.deregister(node);
      done();
    });
  }

  RED.nodes.registerType("hub-relay", HubRelayNode);
};
