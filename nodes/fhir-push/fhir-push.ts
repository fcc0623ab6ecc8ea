/**
 * fhir-push: writes a FHIR resource (msg.action "upsert") or a delete to an OpenMRS server or a plain
 * FHIR server, keeping the id, classifies the outcome and settles the message's ticket. On success
 * the message goes on with msg.statusCode and msg.outcome; failures go to Catch (once per entry).
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { FhirServerTarget, OpenmrsTarget, type RecordTarget, type WriteRequest } from "../../lib/push/targets";
import { outcomeOfError, OutcomeError, type Outcome } from "../../lib/outcome";
import { settleTicket, shouldReport } from "../../lib/settlement";
import type { FhirResource, RestKind } from "../../lib/fhir/convert";
import { clip, debouncedStatus } from "../shared/status";
import type { FhirServerConfigNode, OpenmrsServerConfigNode, UsersConfigNode } from "../shared/types";

interface FhirPushDef extends NodeDef {
  targetType?: "openmrs" | "fhir";
  server?: string;
  fhirServer?: string;
}

interface PushMessage extends NodeMessageInFlow {
  action?: unknown;
  entry?: unknown;
  ticket?: unknown;
  restKind?: unknown;
  statusCode?: number;
  outcome?: Outcome;
}

function requestOf(m: PushMessage): WriteRequest {
  const action = m.action ?? "upsert";
  if (action !== "upsert" && action !== "delete") throw new OutcomeError({ kind: "permanent", reason: "bad-action", message: `msg.action must be "upsert" or "delete" (got ${JSON.stringify(action)})` });
  const p = m.payload as Partial<FhirResource> | undefined;
  if (!p || typeof p !== "object" || typeof p.resourceType !== "string" || typeof p.id !== "string" || !p.id) {
    throw new OutcomeError({ kind: "permanent", reason: "bad-payload", message: "msg.payload must be a FHIR resource with resourceType and id (or {resourceType, id} for a delete)" });
  }
  const ticketEntry = (m.ticket as { entry?: unknown } | undefined)?.entry;
  const entryAction = (m.entry as { action?: unknown } | undefined)?.action;
  return {
    action,
    resourceType: p.resourceType,
    id: p.id,
    resource: action === "upsert" ? (p as FhirResource) : undefined,
    restKind: typeof m.restKind === "string" ? (m.restKind as RestKind) : undefined,
    entryId: typeof ticketEntry === "string" ? ticketEntry : undefined,
    created: entryAction === "CREATED",
  };
}

export = function (RED: NodeAPI): void {
  function FhirPushNode(this: Node, config: FhirPushDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const useFhir = config.targetType === "fhir";
    const configNode = RED.nodes.getNode((useFhir ? config.fhirServer : config.server) ?? "") as (OpenmrsServerConfigNode | FhirServerConfigNode | null);
    if (!configNode) {
      node.status({ fill: "red", shape: "ring", text: RED._("fhir-push.status.not-configured") });
      node.error(RED._("fhir-push.errors.missing-config"));
      return;
    }
    (configNode as UsersConfigNode).register(node);
    let target: RecordTarget | undefined;
    const getTarget = (): RecordTarget => {
      target ??= useFhir ? new FhirServerTarget((configNode as FhirServerConfigNode).client()) : new OpenmrsTarget((configNode as OpenmrsServerConfigNode).server());
      return target;
    };
    const counts = { ok: 0, retrying: 0, failed: 0, inFlight: 0 };
    const pending = new Set<Promise<void>>();
    let lastError = "";
    const status = debouncedStatus(node, () => {
      const text = RED._("fhir-push.status.counts", counts);
      if (lastError) return { fill: counts.failed ? "red" : "yellow", shape: counts.inFlight ? "ring" : "dot", text: clip(`${text} · ${lastError}`) };
      return { fill: counts.inFlight ? "blue" : "green", shape: counts.inFlight ? "ring" : "dot", text };
    });

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const m = msg as PushMessage;
      counts.inFlight++;
      status.update();
      let req: WriteRequest | undefined;
      const work = (async () => {
        req = requestOf(m);
        const t = getTarget();
        const result = await t.write(req);
        settleTicket(m.ticket, result.outcome, { action: req.action, target: result.url, durationMs: result.durationMs });
        return result.outcome;
      })()
        .catch((err: unknown): Outcome => {
          const outcome = outcomeOfError(err);
          settleTicket(m.ticket, outcome, { action: req?.action, target: target?.url });
          return outcome;
        })
        .then((outcome) => {
          if (outcome.kind === "ok" || outcome.kind === "filtered") {
            counts.ok++;
            lastError = "";
            m.statusCode = outcome.status;
            m.outcome = outcome;
            send(m);
            done();
            return;
          }
          if (outcome.kind === "permanent") counts.failed++;
          else counts.retrying++;
          lastError = outcome.message ?? outcome.reason;
          if (shouldReport(outcome, m.ticket)) {
            const err = new Error(outcome.message ?? outcome.reason) as Error & { outcome?: Outcome };
            err.outcome = outcome;
            m.outcome = outcome;
            done(err);
          } else done();
        })
        .finally(() => {
          counts.inFlight--;
          status.update();
          pending.delete(work);
        });
      pending.add(work);
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      // Writes already sent finish and settle their tickets (bounded by the request timeout).
      const wait = Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 8_000))]);
      void wait.finally(() => {
        status.cancel();
        (configNode as UsersConfigNode).deregister(node);
        done();
      });
    });
  }

  RED.nodes.registerType("fhir-push", FhirPushNode);
};
