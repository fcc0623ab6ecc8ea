/**
 * audit-push: sends the store's audit rows to the parent's Sync 2.0 audit API on an interval, so the
 * parent's admin sees what every child did (central visibility). Logic: lib/audit/push.ts.
 */
import * as os from "node:os";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { AuditPusher } from "../../lib/audit/push";
import { StatusReporter } from "../../lib/audit/status-push";
import { adminRegistry } from "../../lib/admin/registry";
import { clip, countsText, errorText, serverStatus } from "../shared/status";
import type { OpenmrsServerConfigNode, SyncStoreConfigNode } from "../shared/types";

interface AuditPushDef extends NodeDef {
  store: string;
  server: string;
  instanceId?: string;
  interval?: string | number;
}

export = function (RED: NodeAPI): void {
  function AuditPushNode(this: Node, config: AuditPushDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = RED.nodes.getNode(config.store) as SyncStoreConfigNode | null;
    const serverNode = RED.nodes.getNode(config.server) as OpenmrsServerConfigNode | null;
    if (!storeNode || !serverNode) {
      node.status({ fill: "red", shape: "ring", text: RED._("audit-push.status.not-configured") });
      node.error(RED._("audit-push.errors.missing-config"));
      return;
    }
    storeNode.register(node);
    serverNode.register(node);
    const instanceId = (config.instanceId ?? "").trim() || os.hostname();
    const intervalMs = Math.max(0.1, Number(config.interval) || 60) * 1000;
    let pusher: AuditPusher | undefined;
    // The status report to a hub (central status); a plain parent answers 404 once and is not asked again.
    const reporter = new StatusReporter(adminRegistry, serverNode.server(), instanceId);
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | undefined;
    let sent = 0;
    let pending = 0;
    let problem: string | undefined;
    let reported = "";
    let reportedStatus = "";

    const status = serverStatus(node, serverNode, () =>
      problem
        ? {
            fill: "yellow",
            shape: "ring",
            text: clip(RED._("audit-push.status.waiting", { counts: countsText(RED, "audit-push", [["pending", pending]]), error: problem })),
          }
        : {
            fill: pending ? "blue" : "green",
            shape: "dot",
            text: RED._("audit-push.status.counts", {
              counts: countsText(RED, "audit-push", [
                ["sent", sent],
                ["pending", pending],
              ]),
            }),
          },
    );

    const round = () => {
      running ??= (async () => {
        pusher ??= new AuditPusher(await storeNode.open(), serverNode.server(), instanceId, node.id);
        for (;;) {
          const r = await pusher.pushOnce();
          sent += r.sent;
          if (r.failure) {
            problem = r.failure.message ?? r.failure.reason;
            // Once per distinct problem; the rows stay and go with a later round.
            if (problem !== reported) {
              reported = problem;
              node.warn(RED._("audit-push.warn.failed", { error: problem }));
            }
            break;
          }
          problem = undefined;
          reported = "";
          if (r.sent === 0) break;
        }
        pending = await pusher.pending();
        const adminStore = adminRegistry.stores.get(storeNode.id);
        const r = adminStore && (await reporter.push(adminStore));
        if (r && !r.sent && "failure" in r) {
          const text = r.failure.message ?? r.failure.reason;
          if (text !== reportedStatus) node.warn(RED._("audit-push.warn.status-failed", { error: text }));
          reportedStatus = text;
        } else if (r?.sent) reportedStatus = "";
      })()
        .catch((err: unknown) => {
          problem = errorText(err);
          node.error(RED._("audit-push.errors.round", { error: problem }), { topic: "audit-push", payload: { error: problem } });
        })
        .finally(() => {
          running = undefined;
          status.update();
        });
      return running;
    };

    timer = setInterval(() => void round(), intervalMs);
    void round();

    node.on("input", (_msg, _send, done) => {
      round().then(() => done(), done);
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      if (timer) clearInterval(timer);
      timer = undefined;
      status.cancel();
      // A round still waiting for the store to open is not waited for: it ends when the store node closes.
      void Promise.resolve(pusher ? running : undefined).finally(() => {
        storeNode.deregister(node);
        serverNode.deregister(node);
        done();
      });
    });
  }

  RED.nodes.registerType("audit-push", AuditPushNode);
};
