/**
 * sync-store (config): the SQLite file that holds feed markers, settlement state, retries, the queue,
 * the dead letter and the audit log. One connection per file, owned by this Node-RED process alone
 * (a second process on the same file is refused with an error naming the first). A store that cannot
 * be opened (a corrupt file, a full disk, another owner) is tried again with backoff until it opens, so
 * work resumes by itself once the fault is cleared. Closed when the last user has finished closing.
 *
 * Clinical content is encrypted at rest (lib/store/encryption.ts) unless switched off; the key is the
 * credential `key`, else SYNC_STORE_KEY, else the key file next to the store, created when none exists
 * (lib/store/key-source.ts). A wrong key is an open error like any other: the users show it, nothing is
 * read or written. Finished rows are pruned by the retention settings (lib/store/retention.ts).
 */
import * as path from "node:path";
import type { NodeAPI, NodeDef } from "node-red";
import { SyncStore, type EncryptionOptions } from "../../lib/store/store";
import { resolveKeys } from "../../lib/store/key-source";
import { trackUsers, usersGone } from "../shared/users";
import { errorText } from "../shared/status";
import type { SyncStoreConfigNode } from "../shared/types";
import { adminRegistry, type AdminStore } from "../../lib/admin/registry";
import { addAdminRoutes } from "../shared/admin-routes";
import { addHubRoutes } from "../shared/hub-routes";

interface SyncStoreDef extends NodeDef {
  path?: string;
  synchronous?: "FULL" | "NORMAL";
  auditContent?: boolean;
  auditDays?: string | number;
  deadLetterDays?: string | number;
  conflictDays?: string | number;
  /** Encrypt clinical content at rest (default on; absent in flows made before it existed: on). */
  encrypt?: boolean;
}

interface SyncStoreCredentials {
  key?: string;
  previousKey?: string;
}

/** Days from the editor: empty or invalid is the default; 0 keeps for ever. */
function days(value: string | number | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

const RETRY_FIRST_MS = 1_000;
const RETRY_CAP_MS = 30_000;

export = function (RED: NodeAPI): void {
  // The admin API (channels, items, audit, conflicts, hub keys of every store), once per runtime.
  addAdminRoutes(RED);
  // The hub's routes for children, behind their keys (whoami in this slice), once per runtime.
  addHubRoutes(RED);

  function SyncStoreNode(this: SyncStoreConfigNode, config: SyncStoreDef) {
    RED.nodes.createNode(this, config);
    const node = trackUsers(this) as SyncStoreConfigNode;
    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const file = (config.path ?? "").trim() || process.env.SYNC_DB_PATH || path.join(userDir, "openmrs-sync.db");
    const settings = node as { filePath: string; auditContent: boolean; lastError?: string };
    settings.filePath = path.resolve(userDir, file);
    settings.auditContent = config.auditContent === true;
    const retention = { audit: days(config.auditDays, 90), deadLetters: days(config.deadLetterDays, 30), conflicts: days(config.conflictDays, 90) };
    const encrypt = config.encrypt !== false;
    const credentials = (this.credentials ?? {}) as SyncStoreCredentials;
    let opening: Promise<SyncStore> | undefined;
    let store: SyncStore | undefined;
    let closed = false;
    let closing = false;
    let wakeRetry: (() => void) | undefined;
    let reported = "";

    const openOnce = async (): Promise<SyncStore> => {
      let delay = RETRY_FIRST_MS;
      for (;;) {
        if (closed) throw new Error(RED._("sync-store.errors.closed"));
        try {
          // Off: written plain, and what an earlier run encrypted is decrypted with any key still found.
          const keys = resolveKeys(settings.filePath, { key: credentials.key, previousKey: credentials.previousKey, generate: encrypt });
          const encryption: EncryptionOptions = { mode: encrypt ? "on" : "off", key: keys.key, older: keys.older };
          if (keys.source === "generated") node.log(RED._("sync-store.log.key-generated", { path: `${settings.filePath}.key` }));
          const s = await SyncStore.open(settings.filePath, {
            synchronous: config.synchronous === "NORMAL" ? "NORMAL" : "FULL",
            exclusive: true,
            encryption,
            onSealed: (err, r) => {
              if (err) node.warn(RED._("sync-store.errors.seal", { error: err.message }));
              else if (r?.damaged) node.warn(RED._("sync-store.errors.damaged", { count: r.damaged }));
              else if (r?.rewritten) node.log(RED._("sync-store.log.sealed", { count: r.rewritten }));
            },
            retention,
            onPruned: (err) => {
              if (err) node.warn(RED._("sync-store.errors.prune", { error: err.message }));
            },
          });
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

    const admin: AdminStore = {
      id: node.id,
      name: node.name || settings.filePath,
      auditContent: settings.auditContent,
      // Not while closing: the admin's reads would race the close (the API says "not open" instead).
      current: () => (closing ? undefined : store),
      lastError: () => settings.lastError,
      // The key routes and the hub's routes open a store no flow node uses (a hub with keys only).
      open: () => (closing ? Promise.reject(new Error(RED._("sync-store.errors.closed"))) : node.open()),
    };
    adminRegistry.addStore(admin);

    node.open = () => {
      // Retention (pruning at open and hourly) runs inside the store and stops when it closes.
      opening ??= openOnce().then((s) => (store = s));
      return opening;
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      // Users close in parallel with us and still settle their last entries: wait for them first.
      usersGone(node, 12_000)
        .then(async () => {
          closed = true;
          wakeRetry?.();
          await opening?.catch(() => undefined);
          await store?.close();
        })
        .catch((err: Error) => node.error(RED._("sync-store.errors.close", { error: err.message })))
        .finally(() => {
          adminRegistry.removeStore(admin);
          done();
        });
    });
  }

  RED.nodes.registerType<SyncStoreConfigNode, SyncStoreDef, object, SyncStoreCredentials>("sync-store", SyncStoreNode, {
    credentials: { key: { type: "password" }, previousKey: { type: "password" } },
  });
};
