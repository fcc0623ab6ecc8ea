/**
 * retry-queue: takes durable custody of each message in the sync-store (settling the ticket it came
 * with, so the feed moves on), then delivers it downstream with a ticket of its own and acts on the
 * outcome: retry with backoff, dead letter, pause on auth, wait for the target, coalescing. In outbox
 * mode it only writes messages to the documented outbox table for a third-party tool.
 * Control messages: msg.topic "resume", "retry" / "discard" (dead letters, ids or "all" in msg.payload).
 * Logic: lib/queue/.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { DurableQueue } from "../../lib/queue/durable-queue";
import { Outbox } from "../../lib/queue/outbox";
import { hubFor, settleTicket } from "../../lib/settlement";
import { adminRegistry, type AdminChannel } from "../../lib/admin/registry";
import { entryIdOf, recordKeyOf, storedBody, type SyncMessage } from "../../lib/message";
import { clip, countsText, debouncedStatus, errorText } from "../shared/status";
import { queueBacklog, settledCount } from "../../lib/engine/alerts";
import { channelAlerts, control, gateStatus, waitingForStoreStatus, type AlertConfig, type ChannelAlertsHandle } from "../shared/channel";
import type { SyncStoreConfigNode } from "../shared/types";

interface RetryQueueDef extends NodeDef, AlertConfig {
  store: string;
  mode?: "deliver" | "outbox";
  concurrency?: string | number;
  maxAttempts?: string | number;
  maxAgeHours?: string | number;
  ticketTimeout?: string | number;
  direction?: "push" | "pull";
}

export = function (RED: NodeAPI): void {
  function RetryQueueNode(this: Node, config: RetryQueueDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = RED.nodes.getNode(config.store) as SyncStoreConfigNode | null;
    if (!storeNode) {
      node.status({ fill: "red", shape: "ring", text: RED._("retry-queue.status.not-configured") });
      node.error(RED._("retry-queue.errors.missing-config"));
      return;
    }
    storeNode.register(node);
    const outboxMode = config.mode === "outbox";
    let queue: DurableQueue | undefined;
    let outbox: Outbox | undefined;
    let outboxCounts: Record<string, number> = {};
    let outboxTimer: NodeJS.Timeout | undefined;
    let fatal: string | undefined;
    let closing = false;
    let admin: AdminChannel | undefined;
    let alerts: ChannelAlertsHandle | undefined;

    const status = debouncedStatus(node, () => {
      if (fatal) return { fill: "red", shape: "ring", text: clip(fatal) };
      if (outboxMode) {
        if (!outbox) return waitingForStoreStatus(RED, "retry-queue", storeNode.lastError);
        return { fill: "blue", shape: "dot", text: RED._("retry-queue.status.outbox", { pending: outboxCounts.pending ?? 0, done: outboxCounts.done ?? 0 }) };
      }
      if (!queue) return waitingForStoreStatus(RED, "retry-queue", storeNode.lastError);
      const s = queue.stats();
      const gate = gateStatus(RED, "retry-queue", s);
      if (gate) return gate;
      const rest: [string, number][] = [
        ["inFlight", s.inFlight],
        ["retrying", s.retrying],
        ["dead", s.dead],
        ["filtered", s.filtered + s.coalesced],
      ];
      if (alerts?.alerts.backingUp)
        return {
          fill: "yellow",
          shape: "ring",
          text: RED._("retry-queue.status.backing-up", { counts: countsText(RED, "retry-queue", [["queued", s.queued], ...rest]) }),
        };
      const text = RED._("retry-queue.status.counts", { counts: countsText(RED, "retry-queue", [["sent", s.sent], ["queued", s.queued], ...rest]) });
      if (s.dead > 0 || s.retrying > 0) return { fill: "yellow", shape: "dot", text };
      return { fill: s.queued > 0 || s.inFlight > 0 ? "blue" : "green", shape: s.inFlight > 0 ? "ring" : "dot", text };
    });

    const ready = (async () => {
      status.now();
      const store = await storeNode.open();
      if (closing) return;
      if (outboxMode) {
        const o = new Outbox(store, node.name || node.id);
        outbox = o;
        const refresh = () =>
          void o.counts().then(
            (c) => {
              outboxCounts = c;
              status.update();
            },
            (err: unknown) => node.warn(errorText(err)),
          );
        outboxTimer = setInterval(refresh, 5_000);
        refresh();
        return;
      }
      const alerting = channelAlerts(RED, node, "retry-queue", {}, config, () => {
        const s = q.stats();
        return { backlog: queueBacklog(s), settled: settledCount(s) };
      });
      alerts = alerting;
      const q: DurableQueue = new DurableQueue({
        id: node.id,
        store,
        storeId: storeNode.id,
        concurrency: Number(config.concurrency) || 4,
        maxAttempts: Number(config.maxAttempts) || 50,
        maxAgeMs: (Number(config.maxAgeHours) || 24) * 3600_000,
        ticketTimeoutMs: (Number(config.ticketTimeout) || 120) * 1000,
        direction: config.direction === "pull" ? "pull" : "push",
        auditContent: storeNode.auditContent,
        events: {
          deliver(body, ticket) {
            node.send({ ...body, ticket });
          },
          deadLettered(key, outcome, attempts, id) {
            // Every dead letter counts (the first of an episode is said at once, the rest summarised):
            // the per-record error fhir-push raised is not what an admin's alert route listens to.
            alerting.alerts.deadLettered({ record: key, attempts, reason: outcome.message ?? outcome.reason, deadLetter: id });
            status.update();
          },
          gateChanged(state, why) {
            alerting.alerts.gateChanged(state, why);
            status.now();
          },
          changed() {
            alerting.changed();
            status.update();
          },
        },
      });
      hubFor(storeNode.id).register(node.id, q);
      queue = q;
      admin = {
        id: node.id,
        kind: "queue",
        name: node.name || node.id,
        storeId: storeNode.id,
        stats: () => q.stats(),
        retryDead: async (w) => {
          const n = await q.retryDead(w);
          status.update();
          return n;
        },
        discardDead: async (w) => {
          const n = await q.discardDead(w);
          status.update();
          return n;
        },
      };
      adminRegistry.addChannel(admin);
      await q.start();
      alerting.changed();
      status.now();
    })().catch((err: unknown) => {
      if (closing) return;
      fatal = errorText(err);
      node.error(RED._("retry-queue.errors.start", { error: fatal }));
      status.now();
    });
    const waiting = setInterval(() => (queue || outbox ? clearInterval(waiting) : status.update()), 1000);
    waiting.unref?.();

    node.on("input", (msg: NodeMessageInFlow, _send, done) => {
      const m = msg as SyncMessage;
      (async () => {
        await ready;
        if (fatal) throw new Error(fatal);
        if (queue && (await control(RED, node, "retry-queue", queue, msg))) return status.update();
        const key = recordKeyOf(m);
        const body = storedBody(m);
        if (outbox) {
          const p = m.payload as { resourceType?: string; id?: string } | undefined;
          const action = typeof m.action === "string" ? m.action : "upsert";
          await outbox.put({
            key,
            action,
            resourceType: p?.resourceType,
            resourceId: p?.id,
            payload: action === "delete" ? undefined : m.payload,
            entryId: entryIdOf(m),
          });
          outboxCounts.pending = (outboxCounts.pending ?? 0) + 1;
        } else if (queue) {
          await queue.enqueue({ key, body });
        } else throw new Error(RED._("retry-queue.errors.not-started"));
        // Custody taken (committed): the feed this came from may move on.
        settleTicket(m.ticket, { kind: "ok", reason: outbox ? "outbox" : "queued" });
        status.update();
      })().then(
        () => done(),
        (err: unknown) => {
          // Not stored (disk full, I/O error): the source keeps the entry and, as for a target that is
          // down, probes with one entry at a time until custody works again (no attempts used up).
          settleTicket(m.ticket, { kind: "retry", reason: "store", message: RED._("retry-queue.errors.enqueue", { error: errorText(err) }) });
          done(err instanceof Error ? err : new Error(errorText(err)));
        },
      );
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      if (outboxTimer) clearInterval(outboxTimer);
      clearInterval(waiting);
      status.cancel();
      alerts?.alerts.stop();
      if (admin) adminRegistry.removeChannel(admin);
      const q = queue;
      (async () => {
        if (q) {
          await q.drain(5_000);
          await q.stop();
          hubFor(storeNode.id).unregister(node.id, q);
        }
      })()
        .catch((err: unknown) => node.error(errorText(err)))
        .finally(() => {
          storeNode.deregister(node);
          done();
        });
    });
  }

  RED.nodes.registerType("retry-queue", RetryQueueNode);
};
