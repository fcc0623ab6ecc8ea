/**
 * sync-store (config): the SQLite file that holds feed markers, settlement state, retries, the dead
 * letter and the audit log. One connection per file, shared by every user; closed when the last user
 * has finished closing (users drain their in-flight work first).
 */
import * as path from "node:path";
import type { NodeAPI, NodeDef } from "node-red";
import { SyncStore } from "../../lib/store/store";
import { hubFor } from "../../lib/settlement";
import { trackUsers, usersGone } from "../shared/users";
import type { SyncStoreConfigNode } from "../shared/types";

interface SyncStoreDef extends NodeDef {
  path?: string;
  synchronous?: "FULL" | "NORMAL";
  auditContent?: boolean;
  auditDays?: string | number;
}

export = function (RED: NodeAPI): void {
  function SyncStoreNode(this: SyncStoreConfigNode, config: SyncStoreDef) {
    RED.nodes.createNode(this, config);
    const node = trackUsers(this) as SyncStoreConfigNode;
    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const file = (config.path ?? "").trim() || process.env.SYNC_DB_PATH || path.join(userDir, "openmrs-sync.db");
    (node as { filePath: string }).filePath = path.resolve(userDir, file);
    let opening: Promise<SyncStore> | undefined;

    const hub = hubFor(node.id);
    hub.auditContent = config.auditContent === true;
    const auditDays = Number(config.auditDays) || 30;
    let pruneTimer: NodeJS.Timeout | undefined;

    node.open = () => {
      opening ??= SyncStore.open(node.filePath, { synchronous: config.synchronous === "NORMAL" ? "NORMAL" : "FULL" }).then((store) => {
        hub.store = store;
        // Audit retention: rows older than auditDays go, hourly. Queue items, dead letters and
        // conflicts are other tables and never pruned here.
        const prune = () => void store.pruneAudit(auditDays * 86_400_000).catch((err: Error) => node.warn(RED._("sync-store.errors.prune", { error: err.message })));
        pruneTimer = setInterval(prune, 3_600_000);
        pruneTimer.unref?.();
        prune();
        return store;
      });
      return opening;
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      // Users close in parallel with us and still settle their last entries: wait for them first.
      usersGone(node, 12_000)
        .then(async () => {
          if (pruneTimer) clearInterval(pruneTimer);
          const store = opening ? await opening.catch(() => undefined) : undefined;
          opening = undefined;
          // A redeployed store node (same id) may already have put its own connection in the hub.
          if (store && hub.store === store) hub.store = undefined;
          await store?.close();
        })
        .catch((err: Error) => node.error(RED._("sync-store.errors.close", { error: err.message })))
        .finally(done);
    });
  }

  RED.nodes.registerType("sync-store", SyncStoreNode);
};
