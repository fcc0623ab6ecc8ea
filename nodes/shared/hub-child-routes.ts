/**
 * What children send the hub, each behind the key check (lib/hub/auth.ts), kept in the store the key
 * belongs to:
 *  - `POST /openmrs/ws/rest/sync2/messages`: an audit message, as a child's audit-push sends it to a
 *    parent with openmrs-module-sync2 (201; 403 "already exists" for a uuid the hub has: the child counts
 *    that as delivered). lib/hub/child-audit.ts.
 *  - `POST /openmrs/ws/hub/status`: the child's status report (204). lib/hub/status.ts.
 * The admin sees both in `GET /openmrs-sync/keys` (per key: health, last contact, channels, audit counts).
 */
import type { Request, RequestHandler, Response } from "express";
import { keyAuth, type KeyAuthOptions, type KeyedRequest } from "../../lib/hub/auth";
import { BodyError, readJson } from "../../lib/hub/body";
import { ChildAuditError, saveAuditMessage } from "../../lib/hub/child-audit";
import { parseStatusReport, StatusBoard, StatusError } from "../../lib/hub/status";
import { adminRegistry } from "../../lib/admin/registry";
import type { SqliteDb } from "../../lib/store/sqlite";

export interface RouteApp {
  post(path: string, ...h: RequestHandler[]): void;
}

export const SYNC2_MESSAGES = "/openmrs/ws/rest/sync2/messages";
export const HUB_STATUS = "/openmrs/ws/hub/status";

/** The open store a request's key belongs to (keyAuth only admits keys of open stores). */
function storeOf(req: Request): SqliteDb | undefined {
  const key = (req as KeyedRequest).syncKey;
  return key ? adminRegistry.stores.get(key.store)?.current()?.db : undefined;
}

/** Runs a handler; a bad body is its status with a message, anything else 500 (and onError). */
function answer(onError: ((err: unknown) => void) | undefined, fn: (req: Request, res: Response, db: SqliteDb) => Promise<void>): RequestHandler {
  return (req, res) => {
    res.set("Cache-Control", "no-store");
    const db = storeOf(req);
    if (!db) {
      res.status(503).json({ error: { message: "store not open" } });
      return;
    }
    fn(req, res, db).catch((err: unknown) => {
      if (err instanceof BodyError) res.status(err.status).json({ error: { message: err.message } });
      else if (err instanceof ChildAuditError || err instanceof StatusError) res.status(400).json({ error: { message: err.message } });
      else {
        onError?.(err);
        if (!res.headersSent) res.status(500).json({ error: { message: "failed" } });
      }
    });
  };
}

export function addChildReportRoutes(app: RouteApp, auth: Omit<KeyAuthOptions, "action">): void {
  app.post(
    SYNC2_MESSAGES,
    keyAuth({ ...auth, action: "child-audit" }),
    answer(auth.onError, async (req, res, db) => {
      const saved = await saveAuditMessage(db, (req as KeyedRequest).syncKey!.id, await readJson(req));
      // sync2 answers a uuid it has with 403 and "already exists" (SyncAuditRestController).
      if (saved === "exists") res.status(403).json({ error: { message: "Audit message already exists" } });
      else res.status(201).json({ ok: true });
    }),
  );
  app.post(
    HUB_STATUS,
    keyAuth({ ...auth, action: "child-status" }),
    answer(auth.onError, async (req, res, db) => {
      const report = parseStatusReport(await readJson(req));
      await new StatusBoard(db).save((req as KeyedRequest).syncKey!.id, report);
      res.status(204).end();
    }),
  );
}
