/**
 * sync-store (config): the SQLite file that holds feed markers, settlement state, retries, the dead
 * letter and the audit log. One connection per file, shared by every user; closed when the last user
 * has finished closing (users drain their in-flight work first).
 */
import * as path from "node:path";
import type { NodeAPI, NodeDef } from "node-red";
import { SyncStore } from "../../lib/store/store";
import { trackUsers, usersGone } from "../shared/users";
import type { SyncStoreConfigNode } from "../shared/types";

interface SyncStoreDef extends NodeDef {
  path?: string;
  synchronous?: "FULL" | "NORMAL";
}

export = function (RED: NodeAPI): void {
  function SyncStoreNode(this: SyncStoreConfigNode, config: SyncStoreDef) {
    RED.nodes.createNode(this, config);
    const node = trackUsers(this) as SyncStoreConfigNode;
    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const file = (config.path ?? "").trim() || process.env.SYNC_DB_PATH || path.join(userDir, "openmrs-sync.db");
    (node as { filePath: string }).filePath = path.resolve(userDir, file);
    let opening: Promise<SyncStore> | undefined;

    node.open = () => {
      opening ??= SyncStore.open(node.filePath, { synchronous: config.synchronous === "NORMAL" ? "NORMAL" : "FULL" });
      return opening;
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      // Users close in parallel with us and still settle their last entries: wait for them first.
      usersGone(node, 12_000)
        .then(async () => {
          if (opening) await (await opening.catch(() => undefined))?.close();
          opening = undefined;
        })
        .catch((err: Error) => node.error(RED._("sync-store.errors.close", { error: err.message })))
        .finally(done);
    });
  }

  RED.nodes.registerType("sync-store", SyncStoreNode);
};
