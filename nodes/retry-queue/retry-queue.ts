/**
 * retry-queue: takes durable custody of each message in the sync-store (settling the ticket it came
 * with, so the feed moves on), then delivers it downstream with a ticket of its own and acts on the
 * outcome: retry with backoff, dead letter, pause on auth, coalescing. In outbox mode it only writes
 * messages to the documented outbox table for a third-party tool. Logic: lib/queue/.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { DurableQueue } from "../../lib/queue/durable-queue";
import { Outbox } from "../../lib/queue/outbox";
import { hubFor, settleTicket } from "../../lib/settlement";
import { clip, debouncedStatus, errorText } from "../shared/status";
import type { SyncStoreConfigNode } from "../shared/types";

interface RetryQueueDef extends NodeDef {
  store: string;
  mode?: "deliver" | "outbox";
  concurrency?: string | number;
  maxAttempts?: string | number;
  maxAgeHours?: string | number;
  ticketTimeout?: string | number;
  direction?: "push" | "pull";
}

interface QueueMessage extends NodeMessageInFlow {
  ticket?: unknown;
  action?: unknown;
  entry?: { id?: unknown; action?: unknown };
}

const CONTROL = new Set(["retry", "discard", "resume"]);
/** Never stored: the old ticket, and what cannot be serialised (http in's req/res). */
const NOT_STORED = new Set(["ticket", "_msgid", "req", "res", "error"]);

function keyOf(m: QueueMessage): string {
  if (typeof m.topic === "string" && m.topic) return m.topic;
  const p = m.payload as { resourceType?: unknown; id?: unknown } | undefined;
  if (p && typeof p.resourceType === "string" && typeof p.id === "string") return `${p.resourceType}/${p.id}`;
  return `msg/${m._msgid}`;
}

function idsOf(payload: unknown): number[] | "all" {
  if (payload === "all") return "all";
  const list = Array.isArray(payload) ? payload : [payload];
  return list.map(Number).filter((n) => Number.isInteger(n));
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
    let held: string | undefined;

    const status = debouncedStatus(node, () => {
      if (fatal) return { fill: "red", shape: "ring", text: clip(fatal) };
      if (outboxMode) return { fill: "blue", shape: "dot", text: RED._("retry-queue.status.outbox", { pending: outboxCounts.pending ?? 0, done: outboxCounts.done ?? 0 }) };
      if (!queue) return { fill: "grey", shape: "ring", text: RED._("retry-queue.status.starting") };
      const s = queue.stats();
      const text = RED._("retry-queue.status.counts", { queued: s.queued, inFlight: s.inFlight, sent: s.sent, retrying: s.retrying, dead: s.dead, filtered: s.filtered });
      if (s.paused) return { fill: "red", shape: "ring", text: clip(RED._("retry-queue.status.paused", { reason: held ?? "auth" })) };
      if (s.circuitOpen) return { fill: "yellow", shape: "ring", text: clip(RED._("retry-queue.status.holding", { queued: s.queued, reason: held ?? "" })) };
      if (s.dead > 0 || s.retrying > 0) return { fill: "yellow", shape: "dot", text };
      return { fill: s.queued > 0 || s.inFlight > 0 ? "blue" : "green", shape: s.inFlight > 0 ? "ring" : "dot", text };
    });

    const ready = (async () => {
      const store = await storeNode.open();
      if (outboxMode) {
        outbox = new Outbox(store, node.name || node.id);
        const refresh = () => void outbox!.counts().then((c) => {
          outboxCounts = c;
          status.update();
        });
        outboxTimer = setInterval(refresh, 5_000);
        refresh();
        return;
      }
      queue = new DurableQueue({
        id: node.id,
        store,
        storeId: storeNode.id,
        concurrency: Number(config.concurrency) || 4,
        maxAttempts: Number(config.maxAttempts) || 50,
        maxAgeMs: (Number(config.maxAgeHours) || 24) * 3600_000,
        ticketTimeoutMs: (Number(config.ticketTimeout) || 120) * 1000,
        direction: config.direction === "pull" ? "pull" : "push",
        auditContent: hubFor(storeNode.id).auditContent,
        events: {
          deliver(body, ticket) {
            node.send({ ...body, ticket } as NodeMessage);
          },
          deadLettered(key, outcome, attempts, id) {
            // fhir-push reported permanent failures already; report what was given up after retries.
            if (attempts > 1) node.error(RED._("retry-queue.errors.dead-letter", { key, attempts, id, error: outcome.message ?? outcome.reason }), { topic: key, payload: { deadLetter: id } } as NodeMessage);
            status.update();
          },
          circuitOpened(outcome) {
            held = outcome.message ?? outcome.reason;
            node.warn(RED._("retry-queue.warn.holding", { reason: held }));
            status.now();
          },
          circuitClosed() {
            held = undefined;
            node.log(RED._("retry-queue.log.reachable"));
            status.now();
          },
          paused(outcome) {
            held = outcome.message ?? outcome.reason;
            node.error(RED._("retry-queue.errors.paused", { reason: held }), { topic: "paused", payload: { reason: held } } as NodeMessage);
            status.now();
          },
          resumed() {
            held = undefined;
            node.warn(RED._("retry-queue.log.resumed"));
            status.now();
          },
          changed() {
            status.update();
          },
          storeError(err) {
            node.error(RED._("retry-queue.errors.store", { error: err.message }));
          },
        },
      });
      hubFor(storeNode.id).register(node.id, queue);
      await queue.start();
      status.now();
    })().catch((err: unknown) => {
      fatal = errorText(err);
      node.error(RED._("retry-queue.errors.start", { error: fatal }));
      status.now();
    });

    node.on("input", (msg: NodeMessageInFlow, _send, done) => {
      const m = msg as QueueMessage;
      (async () => {
        await ready;
        if (fatal) throw new Error(fatal);
        if (typeof m.topic === "string" && CONTROL.has(m.topic) && !outboxMode) {
          const q = queue!;
          if (m.topic === "resume") q.resume();
          else if (m.topic === "retry") node.log(RED._("retry-queue.log.retried", { n: await q.retryDead(idsOf(m.payload)) }));
          else node.log(RED._("retry-queue.log.discarded", { n: await q.discardDead(idsOf(m.payload)) }));
          status.update();
          return;
        }
        const key = keyOf(m);
        const entryId = typeof m.entry?.id === "string" ? m.entry.id : undefined;
        const action = typeof m.action === "string" ? m.action : undefined;
        if (outbox) {
          const p = m.payload as { resourceType?: string; id?: string } | undefined;
          await outbox.put({ key, action: action ?? "upsert", resourceType: p?.resourceType, resourceId: p?.id, payload: action === "delete" ? undefined : m.payload, entryId });
          outboxCounts.pending = (outboxCounts.pending ?? 0) + 1;
        } else {
          const body: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(m)) if (!NOT_STORED.has(k)) body[k] = v;
          await queue!.enqueue({ key, body, entryId, action: typeof m.entry?.action === "string" ? m.entry.action : action });
        }
        // Custody taken (committed): the feed this came from may move on.
        settleTicket(m.ticket, { kind: "ok", reason: outbox ? "outbox" : "queued" });
        status.update();
      })().then(
        () => done(),
        (err: unknown) => {
          // Not stored (disk full, I/O error): the source keeps the entry and delivers it again.
          settleTicket(m.ticket, { kind: "retry", reason: "enqueue-failed", message: errorText(err) });
          done(err instanceof Error ? err : new Error(errorText(err)));
        },
      );
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      if (outboxTimer) clearInterval(outboxTimer);
      status.cancel();
      (async () => {
        await ready;
        if (queue) {
          await queue.drain(5_000);
          await queue.stop();
          hubFor(storeNode.id).unregister(node.id, queue);
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
