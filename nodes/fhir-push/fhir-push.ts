/**
 * fhir-push: writes a FHIR resource (msg.action "upsert") or a delete to an OpenMRS server or a plain
 * FHIR server, keeping the id, classifies the outcome and settles the message's ticket. With a
 * sync-store configured it also skips records unchanged since the last sync (echo suppression) and
 * detects conflicts (lib/sync/reconcile.ts). On success the message goes on with msg.statusCode and
 * msg.outcome; failures go to Catch (once per entry).
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { FhirServerTarget, OpenmrsTarget, type RecordTarget, type WriteRequest } from "../../lib/push/targets";
import { outcomeOfError, type Outcome } from "../../lib/outcome";
import { settleTicket, shouldReport, workOn } from "../../lib/settlement";
import { ticketOf, writeRequestOf, type SyncMessage } from "../../lib/message";
import {
  chosenVersion,
  contentHash,
  decide,
  deleteNeeded,
  DELETED,
  recordIntent,
  recordSynced,
  resolveConflict,
  type ConflictPolicy,
  type Role,
} from "../../lib/sync/reconcile";
import type { FhirResource } from "../../lib/fhir/convert";
import type { SyncStore } from "../../lib/store/store";
import { clip, countsText, errorText, serverStatus } from "../shared/status";
import { adminRegistry, type ConflictWriter } from "../../lib/admin/registry";
import { ALERT_TOPIC } from "../../lib/engine/alerts";
import { MissingMetadataAlerts } from "../../lib/push/missing-metadata";
import { WriteVerifier } from "../../lib/sync/verify";
import { metadataText } from "../../lib/openmrs/metadata-check";
import type { FhirServerConfigNode, OpenmrsServerConfigNode, SyncStoreConfigNode, UsersConfigNode } from "../shared/types";

interface FhirPushDef extends NodeDef {
  targetType?: "openmrs" | "fhir";
  server?: string;
  fhirServer?: string;
  targetRole?: Role;
  conflict?: ConflictPolicy;
  /** sync-store for echo suppression and conflicts (none: every record is written). */
  store?: string;
}

interface PushMessage extends SyncMessage {
  statusCode?: number;
  outcome?: Outcome;
  conflict?: number;
}

export = function (RED: NodeAPI): void {
  function FhirPushNode(this: Node, config: FhirPushDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const useFhir = config.targetType === "fhir";
    const configNode = RED.nodes.getNode((useFhir ? config.fhirServer : config.server) ?? "") as OpenmrsServerConfigNode | FhirServerConfigNode | null;
    if (!configNode) {
      node.status({ fill: "red", shape: "ring", text: RED._("fhir-push.status.not-configured") });
      node.error(RED._("fhir-push.errors.missing-config"));
      return;
    }
    (configNode as UsersConfigNode).register(node);
    const storeNode = config.store ? (RED.nodes.getNode(config.store) as SyncStoreConfigNode | null) : null;
    storeNode?.register(node);
    const targetRole: Role = config.targetRole === "parent" ? "parent" : "child";
    const policy: ConflictPolicy = config.conflict === "newest-wins" || config.conflict === "hold" ? config.conflict : "parent-wins";
    const direction = targetRole === "parent" ? "push" : "pull";
    let target: RecordTarget | undefined;
    const getTarget = (): RecordTarget => {
      target ??= useFhir
        ? new FhirServerTarget((configNode as FhirServerConfigNode).client())
        : new OpenmrsTarget((configNode as OpenmrsServerConfigNode).server());
      return target;
    };
    // What the target speaks is asked now, on deploy, not when the first record is ready to be written.
    try {
      if (!useFhir) (configNode as OpenmrsServerConfigNode).server().prefetchProfile();
    } catch {
      // not usable yet: said when a record comes
    }
    const counts = { ok: 0, skipped: 0, retrying: 0, failed: 0, inFlight: 0, conflicts: 0 };
    const pending = new Set<Promise<void>>();
    let lastError = "";
    const status = serverStatus(node, configNode, () => {
      const text = RED._("fhir-push.status.counts", {
        counts: countsText(RED, "fhir-push", [
          ["written", counts.ok],
          ["inFlight", counts.inFlight],
          ["skipped", counts.skipped],
          ["retrying", counts.retrying],
          ["failed", counts.failed],
          ["conflicts", counts.conflicts],
        ]),
      });
      if (lastError) return { fill: counts.failed ? "red" : "yellow", shape: counts.inFlight ? "ring" : "dot", text: clip(`${text} · ${lastError}`) };
      return { fill: counts.inFlight ? "blue" : "green", shape: counts.inFlight ? "ring" : "dot", text };
    });

    // A baseline that could not be stored only makes the next comparison read the target: said once.
    let baselineError = "";
    const baselineStored = () => (baselineError = "");
    const baselineFailed = (err: unknown) => {
      const text = errorText(err);
      if (text !== baselineError) node.warn(RED._("fhir-push.warn.baseline", { error: text }));
      baselineError = text;
    };

    // Metadata the target lacks: said once per piece (and summarised), not once per waiting record.
    const metadataAlerts = new MissingMetadataAlerts({
      emit(alert) {
        const key = alert.kind === "metadata-installed" ? "metadata-installed" : alert.summary ? "missing-metadata-summary" : "missing-metadata";
        const text = RED._(`fhir-push.alert.${key}`, { metadata: metadataText(alert.metadata), records: alert.records, first: alert.named[0] ?? "" });
        node.error(text, { topic: ALERT_TOPIC, payload: text, alert: { ...alert, channel: node.id, name: config.name || undefined } });
      },
    });
    const verifier = new WriteVerifier();
    const noteMetadata = (key: string, outcome: Outcome): void => {
      if (outcome.reason === "missing-metadata" && outcome.missing) metadataAlerts.waits(key, outcome.missing);
      else if (outcome.kind === "ok") metadataAlerts.written(key);
    };

    /** Writes one message; returns its outcome (never throws). */
    const push = async (m: PushMessage): Promise<Outcome> => {
      let req: WriteRequest | undefined;
      try {
        req = writeRequestOf(m);
        const t = getTarget();
        const profile = await t.profile();
        const key = `${req.resourceType}/${req.id}`;
        const store: SyncStore | undefined = storeNode ? await storeNode.open() : undefined;
        let hash: string | undefined;
        if (store && req.action === "delete") {
          const filtered = (reason: string, message: string): Outcome => {
            const outcome: Outcome = { kind: "filtered", reason, message };
            settleTicket(m.ticket, outcome);
            return outcome;
          };
          if (!(await deleteNeeded(store, key))) return filtered("unchanged", `${key}: deleted when last synchronised`);
          // Already gone at the target: voided there by a cascade (an encounter voided with its observations,
          // on both sides) or by our own write of the other direction. Writing it again would be an echo.
          if ((await t.read(req.resourceType, req.id, req.restKind, profile, req.parent)) === undefined) {
            void recordSynced(store, key, undefined, direction).then(baselineStored, baselineFailed);
            return filtered("already-equal", `${key}: already deleted at the target`);
          }
        }
        if (store && req.resource) {
          const r = req;
          const decision = await decide({
            store,
            key,
            source: r.resource!,
            targetRole,
            policy,
            readTarget: () => t.read(r.resourceType, r.id, r.restKind, profile, r.parent),
            // The channel the change came through (the admin lists a channel's held conflicts), else this node.
            detectedBy: ticketOf(m)?.source ?? node.id,
            assumeNew: r.created && targetRole === "child",
          });
          hash = decision.hash;
          if (decision.conflictId !== undefined) {
            counts.conflicts++;
            m.conflict = decision.conflictId;
            const held = !decision.write && decision.reason === "conflict-held";
            const text = RED._(held ? "fhir-push.errors.conflict-held" : "fhir-push.warn.conflict-resolved", { key, id: decision.conflictId, policy });
            // A held conflict needs an admin: Catch nodes and the debug pane get it. A resolved one is noted.
            if (held) node.error(text, { topic: key, payload: { conflict: decision.conflictId, record: key }, conflict: decision.conflictId });
            else node.warn(text);
          }
          if (!decision.write) {
            if (decision.reason === "already-equal") void recordSynced(store, key, hash, direction, r.resource).then(baselineStored, baselineFailed);
            const held = decision.reason === "conflict-held";
            const outcome: Outcome = {
              kind: held ? "held" : "filtered",
              reason: decision.reason,
              message: `${key}: ${decision.reason}`,
              conflictId: decision.conflictId,
            };
            settleTicket(m.ticket, outcome);
            return outcome;
          }
          // Over a synchronised record: say what is being written before writing it (a crash between the
          // write and its baseline must not make our own write look like someone else's change).
          if (decision.intent) await recordIntent(store, key, decision.hash);
        }
        // A delete says so too: the other side's feed may report it before its baseline is stored.
        if (store && req.action === "delete") await recordIntent(store, key, DELETED);
        const result = await t.write(req, profile);
        noteMetadata(key, result.outcome);
        let baseline = req.resource;
        let sentHash: string | undefined;
        // Read back where the target may have dropped something (lib/sync/verify.ts); not a write a hub
        // only queued (202: the parent does not have it yet).
        if (result.outcome.kind === "ok" && result.outcome.status !== 202 && req.resource && verifier.needed(req.resource)) {
          const sent = req.resource;
          const kept = await t.read(req.resourceType, req.id, req.restKind, profile, req.parent).then(
            (r) => ({ r }),
            () => undefined,
          );
          const v = kept?.r ? verifier.check(sent, kept.r) : undefined;
          if (v && v.lost.length > 0) {
            baseline = v.kept;
            sentHash = hash ?? contentHash(sent);
            hash = v.hash;
            const fields = v.lost.join(", ");
            result.outcome = { ...result.outcome, message: [result.outcome.message, `the target did not keep: ${fields}`].filter(Boolean).join("; ") };
            if (v.firstOfKind) node.warn(RED._("fhir-push.warn.not-kept", { key, fields }));
          }
        }
        if (store && result.outcome.kind === "ok")
          void recordSynced(store, key, req.action === "delete" ? undefined : (hash ?? contentHash(baseline!)), direction, baseline, sentHash).then(
            baselineStored,
            baselineFailed,
          );
        settleTicket(m.ticket, result.outcome, { direction, action: req.action, target: result.url, durationMs: result.durationMs });
        return result.outcome;
      } catch (err) {
        const outcome = outcomeOfError(err);
        settleTicket(m.ticket, outcome, { direction, action: req?.action, target: target?.url });
        return outcome;
      }
    };

    /** Admin resolution of a held conflict: write the chosen version here unless this side has it. */
    const resolve = async (payload: unknown): Promise<void> => {
      const p = payload as { id?: unknown; use?: unknown; resource?: unknown } | undefined;
      const id = Number(p?.id);
      const use = p?.use === "parent" || p?.use === "child" ? p.use : (p?.resource as FhirResource | undefined);
      if (!storeNode) throw new Error(RED._("fhir-push.errors.no-store"));
      const store = await storeNode.open();
      if (!Number.isInteger(id) || !use) throw new Error(RED._("fhir-push.errors.bad-resolve"));
      // The chosen version is written before the conflict is marked resolved: a failed write leaves it held.
      const chosen = await chosenVersion(store, id, use);
      if (!chosen) throw new Error(RED._("fhir-push.errors.no-conflict", { id }));
      if (use !== targetRole) {
        const { resourceType, id: rid } = chosen.resource;
        const result = await getTarget().write({ action: "upsert", resourceType, id: rid ?? "", resource: chosen.resource });
        if (result.outcome.kind !== "ok") throw new Error(result.outcome.message ?? result.outcome.reason);
      }
      await resolveConflict(store, id, use);
      await recordSynced(store, chosen.key, contentHash(chosen.resource), direction, chosen.resource);
    };

    // The admin API resolves held conflicts of this store through the fhir-push that writes the other side.
    const writer: ConflictWriter | undefined = storeNode
      ? { id: node.id, storeId: storeNode.id, targetRole, resolve: (id, use) => resolve({ id, use }) }
      : undefined;
    if (writer) adminRegistry.addWriter(writer);

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const m = msg as PushMessage;
      if (m.topic === "resolve-conflict") {
        resolve(m.payload).then(
          () => done(),
          (err: unknown) => done(err instanceof Error ? err : new Error(errorText(err))),
        );
        return;
      }
      counts.inFlight++;
      status.update();
      const work = workOn(m.ticket, () => push(m))
        .then((outcome) => {
          if (outcome.kind === "ok" || outcome.kind === "filtered" || outcome.kind === "held") {
            if (outcome.kind === "ok") counts.ok++;
            else counts.skipped++;
            lastError = "";
            m.statusCode = outcome.status;
            m.outcome = outcome;
            send(msg);
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
      if (writer) adminRegistry.removeWriter(writer);
      metadataAlerts.stop();
      // Writes already sent finish and settle their tickets (bounded by the request timeout).
      const wait = Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 8_000))]);
      void wait.finally(() => {
        status.cancel();
        (configNode as UsersConfigNode).deregister(node);
        storeNode?.deregister(node);
        done();
      });
    });
  }

  RED.nodes.registerType("fhir-push", FhirPushNode);
};
