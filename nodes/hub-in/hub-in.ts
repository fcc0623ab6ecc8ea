/**
 * hub-in: the hub's write side for children. It serves the writes a child's push flow sends to its parent
 * (fhir2 PUT/POST/DELETE under /openmrs/ws/fhir2/R4/, REST v1 POST/DELETE under /openmrs/ws/rest/v1/), on
 * Node-RED's httpNode behind the per-child key check, and sends each as one message (msg.relay, the body in
 * msg.payload, the record key in msg.topic, a ticket) to a retry-queue, which takes custody and delivers it
 * to hub-relay. Logic: lib/hub/intake.ts, lib/hub/relay.ts. One hub-in per runtime serves the routes.
 */
import type { Node, NodeAPI, NodeDef } from "node-red";
import type { Request, RequestHandler, Response } from "express";
import { keyAuth, type KeyedRequest } from "../../lib/hub/auth";
import { KeyStore } from "../../lib/hub/keys";
import { WriteIntake } from "../../lib/hub/intake";
import { hubFor } from "../../lib/settlement";
import { countsText, debouncedStatus, errorText } from "../shared/status";
import { hubLimiter } from "../shared/hub-routes";
import { hubSessions } from "../../lib/hub/sessions";
import type { SyncStoreConfigNode } from "../shared/types";

interface HubInDef extends NodeDef {
  store: string;
  answerWithin?: string | number;
}

interface Active {
  intake: WriteIntake;
  keys(): Promise<KeyStore | undefined>;
  storeId: string;
}

/** The hub-in node that serves the routes now (the first deployed; undefined: 503). */
let active: Active | undefined;
const routed = new WeakSet<object>();
const WRITE_ROUTE = /^\/openmrs\/ws\/(?:fhir2\/R4|rest\/v1)\/.+/;

export = function (RED: NodeAPI): void {
  function addRoutes(): void {
    const app = RED.httpNode as unknown as Record<"put" | "post" | "delete", (path: RegExp, ...h: RequestHandler[]) => void> | undefined;
    if (!app || routed.has(app)) return;
    routed.add(app);
    const auth = keyAuth({
      stores: async () => {
        const keys = await active?.keys();
        return keys && active ? { open: [{ id: active.storeId, keys }], unavailable: 0 } : { open: [], unavailable: 1 };
      },
      limiter: hubLimiter,
      sessions: hubSessions,
      action: "relay-write",
      onError: (err) => RED.log.warn(RED._("hub-in.log.failed", { error: errorText(err) })),
    });
    const handle: RequestHandler = (req: Request, res: Response) => {
      const a = active;
      if (!a) {
        res.status(503).json({ error: { message: "no hub-in deployed" } });
        return;
      }
      a.intake.handle(req as KeyedRequest, res).catch((err: unknown) => {
        RED.log.warn(RED._("hub-in.log.failed", { error: errorText(err) }));
        if (!res.headersSent) res.status(500).json({ error: { message: "failed" } });
      });
    };
    for (const m of ["put", "post", "delete"] as const) app[m](WRITE_ROUTE, auth, handle);
  }

  function HubInNode(this: Node, config: HubInDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = RED.nodes.getNode(config.store) as SyncStoreConfigNode | null;
    if (!storeNode) {
      node.status({ fill: "red", shape: "ring", text: RED._("hub-in.status.not-configured") });
      node.error(RED._("hub-in.errors.missing-config"));
      return;
    }
    storeNode.register(node);
    const intake = new WriteIntake({
      storeId: storeNode.id,
      ownerId: node.id,
      emit: (msg) => node.send(msg),
      answerWithinMs: Math.max(0, Number(config.answerWithin ?? 10)) * 1000,
    });
    const status = debouncedStatus(node, () => ({
      fill: "green",
      shape: "dot",
      text: countsText(RED, "hub-in", Object.entries(intake.counts)),
    }));
    const mine: Active = {
      intake,
      storeId: storeNode.id,
      keys: () => storeNode.open().then((s) => KeyStore.of(s.db)),
    };
    if (active) {
      node.status({ fill: "red", shape: "ring", text: RED._("hub-in.status.second") });
      node.warn(RED._("hub-in.errors.second"));
    } else {
      active = mine;
      hubFor(storeNode.id).register(node.id, intake);
      addRoutes();
      status.now();
    }
    const timer = setInterval(() => status.update(), 2000);

    node.on("close", (_removed: boolean, done: () => void) => {
      clearInterval(timer);
      status.cancel();
      if (active === mine) {
        active = undefined;
        hubFor(storeNode.id).unregister(node.id, intake);
      }
      storeNode.deregister(node);
      done();
    });
  }

  RED.nodes.registerType("hub-in", HubInNode);
};
