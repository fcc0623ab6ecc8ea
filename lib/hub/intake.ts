/**
 * The hub's write intake (hub-in's logic): one child write in, one message out into the hub's flow (to a
 * retry-queue) with a ticket of the intake's own; the child is answered once the queue has custody, with
 * the parent's own answer when it comes soon enough (relay.ts says who then owns a failure), else 202
 * `x-openmrs-sync: queued`. A write the queue could not take (store fault, no queue wired) is 503, so
 * the child keeps it and tries again. No Node-RED here.
 */
import { randomUUID } from "node:crypto";
import type { Response } from "express";
import type { Ticket } from "../engine/ticket";
import type { Outcome } from "../outcome";
import type { TicketOwner } from "../settlement";
import type { KeyedRequest } from "./auth";
import { BodyError, readJson } from "./body";
import { relayWaiters, RelayRefused, writeKey, type RelayMethod, type RelayRequest } from "./relay";

export interface IntakeOptions {
  /** The sync-store id (tickets are settled through its settlement hub). */
  storeId: string;
  /** The hub-in node id: the tickets' source. */
  ownerId: string;
  /** Sends one message into the flow. */
  emit(msg: Record<string, unknown>): void;
  /** How long the child waits for the parent's answer before it is told "queued" (ms). */
  answerWithinMs: number;
  /** How long custody may take before the write is refused 503 (a flow with no queue wired, a stuck store). */
  custodyWithinMs?: number;
}

export interface IntakeCounts {
  received: number;
  answered: number;
  queued: number;
  refused: number;
}

/** The path under the hub's `/openmrs` (the route is mounted at httpNodeRoot). */
export const HUB_PREFIX = "/openmrs";

export class WriteIntake implements TicketOwner {
  private readonly custody = new Map<string, (o: Outcome) => void>();
  private serial = 0;
  readonly counts: IntakeCounts = { received: 0, answered: 0, queued: 0, refused: 0 };

  constructor(private readonly opts: IntakeOptions) {}

  settle(ticket: Ticket, outcome: Outcome): boolean {
    const done = this.custody.get(ticket.entry);
    if (!done) return false;
    done(outcome);
    return true;
  }

  working(): void {
    // Custody is one store write: nothing to keep alive.
  }

  /** Answers one write request of a child (already let in by the key check). */
  async handle(req: KeyedRequest, res: Response): Promise<void> {
    res.set("Cache-Control", "no-store");
    this.counts.received++;
    let body: unknown;
    let key: string;
    const path = req.url.startsWith(HUB_PREFIX) ? req.url.slice(HUB_PREFIX.length) : req.url;
    try {
      if (req.method !== "DELETE") body = await readJson(req, 4 * 1024 * 1024);
      key = writeKey(req.method, path, body);
    } catch (err) {
      this.counts.refused++;
      if (err instanceof BodyError || err instanceof RelayRefused) {
        res.status(err.status).json({ error: { message: err.message } });
        return;
      }
      throw err;
    }
    const id = randomUUID();
    const type = req.headers["content-type"];
    const relay: RelayRequest = {
      id,
      method: req.method as RelayMethod,
      path,
      child: req.syncKey?.name ?? "",
      ...(body !== undefined && typeof type === "string" && /^application\/(?:fhir\+)?json\b/i.test(type) ? { contentType: type.slice(0, 100) } : {}),
    };
    const answer = relayWaiters.wait(id, this.opts.answerWithinMs);
    const ticket: Ticket = { store: this.opts.storeId, source: this.opts.ownerId, entry: id, key, serial: ++this.serial, attempt: 1 };
    const custody = new Promise<Outcome>((resolve) => {
      const timer = setTimeout(
        () => resolve({ kind: "retry", reason: "no-custody", message: "the hub's flow did not take the write" }),
        this.opts.custodyWithinMs ?? 30_000,
      );
      this.custody.set(id, (o) => {
        clearTimeout(timer);
        resolve(o);
      });
    });
    try {
      this.opts.emit({ topic: key, payload: body, relay, ticket });
      const taken = await custody;
      if (taken.kind !== "ok") {
        relayWaiters.cancel(id);
        this.counts.refused++;
        res
          .status(503)
          .set("Retry-After", "5")
          .json({ error: { message: taken.message ?? taken.reason } });
        return;
      }
    } finally {
      this.custody.delete(id);
    }
    const a = await answer;
    if (a) {
      this.counts.answered++;
      res.status(a.status);
      if (a.contentType) res.set("Content-Type", a.contentType);
      res.send(a.body);
      return;
    }
    this.counts.queued++;
    res.status(202).set("x-openmrs-sync", "queued").json({ queued: true, record: key });
  }
}
