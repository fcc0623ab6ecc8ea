/**
 * sync-store (config): the SQLite file that holds feed markers, settlement state, retries, the queue,
 * the dead letter and the audit log. One connection per file, owned by this Node-RED process alone
 * (a second process on the same file is refused with an error naming the first). A store that cannot
 * be opened (a corrupt file, a full disk, another owner) is tried again with backoff until it opens, so
 * work resumes by itself once the fault is cleared. Closed when the last user has finished closing.
 */
import * as path from "node:path";
import type { NodeAPI, NodeDef } from "node-red";
import { SyncStore } from "../../lib/store/store";
import { trackUsers, usersGone } from "../shared/users";
import { errorText } from "../shared/status";
import type { SyncStoreConfigNode } from "../shared/types";

interface SyncStoreDef extends NodeDef {
  path?: string;
  synchronous?: "FULL" | "NORMAL";
  auditContent?: boolean;
  auditDays?: string | number;
}

const RETRY_FIRST_MS = 1_000;
const RETRY_CAP_MS = 30_000;

export = function (RED: NodeAPI): void {
  function SyncStoreNode(this: SyncStoreConfigNode, config: SyncStoreDef) {
    RED.nodes.createNode(this, config);
    const node = trackUsers(this) as SyncStoreConfigNode;
    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const file = (config.path ?? "").trim() || process.env.SYNC_DB_PATH || path.join(userDir, "openmrs-sync.db");
    const settings = node as { filePath: string; auditContent: boolean; lastError?: string };
    settings.filePath = path.resolve(userDir, file);
    settings.auditContent = config.auditContent === true;
    const auditDays = Number(config.auditDays) || 30;
    let opening: Promise<SyncStore> | undefined;
    let store: SyncStore | undefined;
    let closed = false;
    let wakeRetry: (() => void) | undefined;
    let pruneTimer: NodeJS.Timeout | undefined;
    let reported = "";

    const openOnce = async (): Promise<SyncStore> => {
      let delay = RETRY_FIRST_MS;
      for (;;) {
        if (closed) throw new Error(RED._("sync-store.errors.closed"));
        try {
          const s = await SyncStore.open(settings.filePath, { synchronous: config.synchronous === "NORMAL" ? "NORMAL" : "FULL", exclusive: true });
          if (closed) {
            await s.close();
            throw new Error(RED._("sync-store.errors.closed"));
          }
          if (reported) node.log(RED._("sync-store.log.opened", { path: settings.filePath }));
          settings.lastError = undefined;
          reported = "";
          return s;
        } catch (err) {
          if (closed) throw err;
          const text = errorText(err);
          settings.lastError = text;
          // One error per distinct problem; the users' Catch nodes see it (the users map).
          if (text !== reported) node.error(RED._("sync-store.errors.open", { error: text, seconds: Math.round(delay / 1000) }));
          reported = text;
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, delay);
            wakeRetry = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wakeRetry = undefined;
          delay = Math.min(delay * 2, RETRY_CAP_MS);
        }
      }
    };

    node.open = () => {
      opening ??= openOnce().then((s) => {
        store = s;
        // Audit retention: rows older than auditDays go, hourly. Queue items, dead letters and
        // conflicts are other tables and never pruned here.
        const prune = () =>
          void s.pruneAudit(auditDays * 86_400_000).catch((err: Error) => node.warn(RED._("sync-store.errors.prune", { error: err.message })));
        pruneTimer = setInterval(prune, 3_600_000);
        pruneTimer.unref?.();
        prune();
        return s;
      });
      return opening;
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      // Users close in parallel with us and still settle their last entries: wait for them first.
      usersGone(node, 12_000)
        .then(async () => {
          closed = true;
          wakeRetry?.();
          if (pruneTimer) clearInterval(pruneTimer);
          await opening?.catch(() => undefined);
          await store?.close();
        })
        .catch((err: Error) => node.error(RED._("sync-store.errors.close", { error: err.message })))
        .finally(done);
    });
  }

  RED.nodes.registerType("sync-store", SyncStoreNode);
};
