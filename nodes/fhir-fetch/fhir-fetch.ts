/**
 * fhir-fetch: turns a feed entry into the FHIR R4 record it points at (fhir2, or REST converted to
 * FHIR), or into a delete for voided/deleted records, and validates it against the R4 schema. A
 * failure settles the message's ticket with its classified outcome; all logic is in lib/.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { fetchRecord } from "../../lib/openmrs/fetch-record";
import { isFeedEntry, toRecordMessage, type SyncMessage } from "../../lib/message";
import { validateResource, warmUpValidator } from "../../lib/fhir/validate";
import { outcomeOfError, PermanentError } from "../../lib/outcome";
import { settleTicket, shouldReport, workOn } from "../../lib/settlement";
import { clip, countsText, errorText, serverStatus } from "../shared/status";
import type { OpenmrsServerConfigNode } from "../shared/types";

interface FhirFetchDef extends NodeDef {
  server: string;
  validate?: boolean;
}

export = function (RED: NodeAPI): void {
  function FhirFetchNode(this: Node, config: FhirFetchDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const serverNode = RED.nodes.getNode(config.server) as OpenmrsServerConfigNode | null;
    if (!serverNode) {
      node.status({ fill: "red", shape: "ring", text: RED._("fhir-fetch.status.not-configured") });
      node.error(RED._("fhir-fetch.errors.missing-config"));
      return;
    }
    serverNode.register(node);
    const validate = config.validate !== false;
    const counts = { ok: 0, deletes: 0, failed: 0, inFlight: 0 };
    let lastError = "";
    const status = serverStatus(node, serverNode, () => {
      const text = RED._("fhir-fetch.status.counts", {
        counts: countsText(RED, "fhir-fetch", [
          ["fetched", counts.ok],
          ["inFlight", counts.inFlight],
          ["deletes", counts.deletes],
          ["failed", counts.failed],
        ]),
      });
      if (lastError) return { fill: "red", shape: counts.inFlight ? "ring" : "dot", text: clip(`${text} · ${lastError}`) };
      return { fill: counts.inFlight ? "blue" : "green", shape: counts.inFlight ? "ring" : "dot", text };
    });
    const sourceUrl = () => {
      try {
        return serverNode.server().baseUrl;
      } catch {
        return undefined;
      }
    };
    // The schema takes a second or two to compile: do it now, not on the first record.
    if (validate) setImmediate(() => warmUpValidator());

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const m = msg as SyncMessage & NodeMessageInFlow;
      const entry = m.payload;
      if (!isFeedEntry(entry)) {
        const err = new Error(RED._("fhir-fetch.errors.not-an-entry"));
        settleTicket(m.ticket, { kind: "permanent", reason: "not-an-entry", message: err.message });
        done(err);
        return;
      }
      counts.inFlight++;
      status.update();
      workOn(m.ticket, async () => {
        const server = serverNode.server();
        const rec = await fetchRecord(server, await server.profile(), entry);
        if (rec.filtered) {
          settleTicket(m.ticket, { kind: "filtered", ...rec.filtered });
          return;
        }
        if (rec.notFound) {
          // Nowhere at the source any more (purged): nothing to copy.
          settleTicket(m.ticket, { kind: "filtered", reason: "not-found", message: `${rec.resourceType}/${rec.id} not found at the source` });
          return;
        }
        if (rec.action === "upsert" && validate) {
          const result = validateResource(rec.resource);
          if (!result.valid) {
            throw new PermanentError(
              RED._("fhir-fetch.errors.invalid", { key: `${rec.resourceType}/${rec.id}`, errors: result.errors.join("; ") }),
              "invalid-fhir",
              {
                resourceType: "OperationOutcome",
                issue: result.errors.map((diagnostics) => ({ severity: "error", code: "structure", diagnostics })),
              },
            );
          }
        }
        if (rec.action === "delete") counts.deletes++;
        else counts.ok++;
        toRecordMessage(m, entry, rec);
        lastError = "";
        send(m);
      })
        .then(
          () => done(),
          (err: unknown) => {
            counts.failed++;
            const outcome = outcomeOfError(err);
            lastError = outcome.message ?? errorText(err);
            settleTicket(m.ticket, outcome, { action: "fetch", target: sourceUrl() });
            if (shouldReport(outcome, m.ticket)) {
              const e = err instanceof Error ? err : new Error(String(err));
              (e as Error & { outcome?: unknown }).outcome = outcome;
              done(e);
            } else done();
          },
        )
        .finally(() => {
          counts.inFlight--;
          status.update();
        });
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      status.cancel();
      serverNode.deregister(node);
      done();
    });
  }

  RED.nodes.registerType("fhir-fetch", FhirFetchNode);
};
