/**
 * atom-feed-in: reads one category feed of an OpenMRS server from its stored marker and emits one
 * message per entry, with a ticket (msg.ticket) that the end of the flow settles. Output 2 says
 * "caught up" after each poll, when everything read has been settled or is waiting for a retry:
 * wire it to the next feed's input to process categories in order (patients before encounters).
 * A first run starts at the beginning, now, after an entry or at a time (a database copied from the
 * feed's server). Control messages: msg.reset ("beginning" | "now" | {entry} | {time}), msg.topic
 * "resume", "retry" / "discard" (dead letters, ids or "all" in msg.payload). All protocol logic is in lib/feed/.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { recentFeedUrl, FeedReader, rebasePageUrl, FeedHttpError } from "../../lib/atom/reader";
import { FeedConsumer, MarkerNotFoundError, StartEntryNotFoundError, type PollSummary } from "../../lib/feed/consumer";
import { checkStart, describeStart, type StartAt, type StartFrom } from "../../lib/feed/start-position";
import { FeedFormatError } from "../../lib/atom/parse";
import { hubFor } from "../../lib/settlement";
import { adminRegistry, type AdminChannel } from "../../lib/admin/registry";
import { entryMessage } from "../../lib/message";
import { clip, countsText, errorText, serverStatus } from "../shared/status";
import { recordKey } from "../../lib/atom/entry";
import { feedBacklog, settledCount } from "../../lib/engine/alerts";
import { channelAlerts, control, gateStatus, waitingForStoreStatus, type AlertConfig, type ChannelAlertsHandle } from "../shared/channel";
import type { OpenmrsServerConfigNode, SyncStoreConfigNode } from "../shared/types";

interface AtomFeedInDef extends NodeDef, AlertConfig {
  server: string;
  store: string;
  category: string;
  interval?: string | number;
  startFrom?: "beginning" | "now" | "entry" | "time";
  /** The entry id or the time, for startFrom "entry" / "time" (Node-RED substitutes a whole "${VAR}"). */
  startAt?: string;
  maxInFlight?: string | number;
  ticketTimeout?: string | number;
  maxAttempts?: string | number;
  maxRetryHours?: string | number;
  direction?: "push" | "pull";
}

/** Reports an error to the log, the debug pane and Catch nodes (which need a msg). */
function reportError(node: Node, text: string, payload: unknown): void {
  node.error(text, { topic: "error", payload });
}

/** The i18n key and values of what is wrong with a start entry or time; undefined when it is usable. */
function startProblem(at: StartAt): { key: string; values: Record<string, string> } | undefined {
  const kind = checkStart(at);
  if (!kind) return undefined;
  const value = "entry" in at ? at.entry : at.time;
  const unset = /^\$\{(\S+)\}$/.exec(value.trim());
  if (unset) return { key: "start-env-unset", values: { name: unset[1] } };
  return { key: `invalid-${kind}`, values: { value } };
}

/** A start given in msg.reset: true, "beginning", "now", {entry: "…"} or {time: "…"}; undefined when there is none. */
function resetStart(v: unknown): StartFrom | "invalid" | undefined {
  if (v === undefined || v === null || v === false || v === "") return undefined;
  if (v === true || v === "beginning") return "beginning";
  if (v === "now") return "now";
  if (typeof v === "object") {
    const o = v as { entry?: unknown; time?: unknown };
    if (typeof o.entry === "string" && o.time === undefined) return { entry: o.entry };
    if (typeof o.time === "string" && o.entry === undefined) return { time: o.time };
  }
  return "invalid";
}

export = function (RED: NodeAPI): void {
  function AtomFeedInNode(this: Node, config: AtomFeedInDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const serverNode = RED.nodes.getNode(config.server) as OpenmrsServerConfigNode | null;
    const storeNode = RED.nodes.getNode(config.store) as SyncStoreConfigNode | null;
    const category = (config.category ?? "").trim();
    if (!serverNode || !storeNode || !category) {
      node.status({ fill: "red", shape: "ring", text: RED._("atom-feed-in.status.not-configured") });
      node.error(RED._("atom-feed-in.errors.missing-config"));
      return;
    }
    let startFrom: StartFrom = config.startFrom === "now" ? "now" : "beginning";
    if (config.startFrom === "entry" || config.startFrom === "time") {
      const value = String(config.startAt ?? "").trim();
      const at: StartAt = config.startFrom === "entry" ? { entry: value } : { time: value };
      const problem = startProblem(at);
      if (problem) {
        node.status({ fill: "red", shape: "ring", text: RED._("atom-feed-in.status.bad-start") });
        reportError(node, RED._(`atom-feed-in.errors.${problem.key}`, problem.values), { category });
        return;
      }
      startFrom = at;
    }
    serverNode.register(node);
    storeNode.register(node);

    const envInterval = process.env.SYNC_POLL_SECONDS;
    const intervalRaw = config.interval === undefined || config.interval === "" ? (envInterval ?? "30") : config.interval;
    const intervalMs = Math.max(0, Number(intervalRaw) || 0) * 1000;
    let consumer: FeedConsumer | undefined;
    let timer: NodeJS.Timeout | undefined;
    let closing = false;
    let lastReported = "";
    let lastReportedAt = 0;
    let caughtUpAt = 0;
    let fatal: string | undefined;
    /** The start entry is not in the feed (until a reset): said in the status line with the entry's uuid. */
    let startMissing: string | undefined;
    let admin: AdminChannel | undefined;
    let alerts: ChannelAlertsHandle | undefined;

    const status = serverStatus(node, serverNode, () => {
      if (fatal) return { fill: "red", shape: "ring", text: clip(fatal) };
      if (!consumer) return waitingForStoreStatus(RED, "atom-feed-in", storeNode.lastError);
      const s = consumer.stats();
      const gate = gateStatus(RED, "atom-feed-in", s);
      if (gate) return gate;
      if (s.walkError && startMissing)
        return { fill: "red", shape: "ring", text: RED._("atom-feed-in.status.start-not-found", { category, entry: startMissing }) };
      if (s.walkError) return { fill: "red", shape: "ring", text: clip(`${category}: ${s.walkError}`) };
      if (s.locating !== undefined) return { fill: "blue", shape: "ring", text: RED._("atom-feed-in.status.locating", { category, pages: s.locating }) };
      const out = s.inFlight + s.ready + s.settling;
      const busy = out > 0 || s.polling;
      const counts = (main: [string, number][]) =>
        countsText(RED, "atom-feed-in", [...main, ["retrying", s.waiting], ["dead", s.dead], ["filtered", s.filtered + s.held]]);
      const figures = { category, counts: counts([["sent", s.ok]]) };
      if (alerts?.alerts.backingUp)
        return { fill: "yellow", shape: "ring", text: RED._("atom-feed-in.status.backing-up", { category, counts: counts([["inFlight", out]]) }) };
      const text = RED._("atom-feed-in.status.progress", {
        ...figures,
        counts: counts([
          ["sent", s.ok],
          ["inFlight", out],
        ]),
      });
      if (s.waiting > 0 || s.dead > 0) return { fill: "yellow", shape: busy ? "ring" : "dot", text };
      if (busy) return { fill: "blue", shape: "ring", text };
      if (!caughtUpAt) return { fill: "grey", shape: "dot", text };
      return { fill: "green", shape: "dot", text: RED._("atom-feed-in.status.caught-up", { text }) };
    });

    /** Alert once per distinct problem (and again after ten minutes), not once per poll. */
    /** `key` names the problem (default: its text): a malformed page is one problem whatever the parser says. */
    const alertOnce = (text: string, payload: unknown, key = text) => {
      const now = Date.now();
      if (key === lastReported && now - lastReportedAt < 600_000) return;
      lastReported = key;
      lastReportedAt = now;
      reportError(node, text, payload);
    };

    const poll = () => (consumer && !closing ? consumer.poll() : Promise.resolve());

    const init = async () => {
      status.now();
      const store = await storeNode.open();
      if (closing) return;
      const server = serverNode.server();
      const reader = new FeedReader(server.http);
      const feedUri = recentFeedUrl(server.baseUrl, category);
      const alerting = channelAlerts(RED, node, "atom-feed-in", { category }, config, () => {
        const s = c.stats();
        return { backlog: feedBacklog(s), settled: settledCount(s) };
      });
      alerts = alerting;
      const c: FeedConsumer = new FeedConsumer({
        id: node.id,
        feedUri,
        store,
        storeId: storeNode.id,
        fetchPage: (url) => reader.fetchPage(url),
        rebase: (url) => rebasePageUrl(server.baseUrl, category, url),
        startFrom,
        maxInFlight: Number(config.maxInFlight) || 8,
        ticketTimeoutMs: (Number(config.ticketTimeout) || 120) * 1000,
        maxAttempts: Number(config.maxAttempts) || 50,
        maxRetryAgeMs: (Number(config.maxRetryHours) || 24) * 3600_000,
        direction: config.direction === "push" ? "push" : "pull",
        events: {
          emit(entry, ticket) {
            node.send([entryMessage(entry, ticket), null]);
          },
          walkError(err, url) {
            let text = err.message;
            if (err instanceof FeedHttpError && err.outcome.kind === "auth")
              text = RED._("atom-feed-in.errors.feed-auth", { url: err.url, status: err.outcome.status ?? "" });
            if (err instanceof MarkerNotFoundError) text = RED._("atom-feed-in.errors.marker-not-found", { entry: err.entryId, page: err.pageUrl });
            if (err instanceof StartEntryNotFoundError) {
              text = RED._("atom-feed-in.errors.start-entry-not-found", { category, entry: err.entryId, pages: err.pages });
              startMissing = err.entryId.replace(/^.*:/, "");
            }
            alertOnce(text, { category, url, error: text }, err instanceof FeedFormatError ? `${err.name} ${err.url}` : text);
            status.update();
          },
          started(from, point) {
            const at = point.position;
            const values = { category, from: describeStart(from), pages: point.pages, entry: at?.after ?? "", page: at?.url ?? "" };
            node.log(RED._(at?.after ? "atom-feed-in.log.started-after" : at ? "atom-feed-in.log.started-top" : "atom-feed-in.log.started-oldest", values));
          },
          walkRecovered() {
            lastReported = "";
            startMissing = undefined;
            node.log(RED._("atom-feed-in.log.recovered", { category }));
            status.update();
          },
          deadLettered(entry, outcome, attempts) {
            // Every dead letter counts (the first of an episode is said at once, the rest summarised):
            // the per-record error fhir-fetch or fhir-push raised is not what an admin's alert route listens to.
            alerting.alerts.deadLettered({ record: recordKey(entry), attempts, reason: outcome.message ?? outcome.reason, entry: entry.id });
          },
          gateChanged(state, why) {
            alerting.alerts.gateChanged(state, why);
            status.now();
          },
          caughtUp(summary: PollSummary) {
            caughtUpAt = Date.now();
            node.send([null, { topic: category, payload: { category, ...summary, at: new Date(caughtUpAt).toISOString() } }]);
            status.update();
          },
          changed() {
            alerting.changed();
            status.update();
          },
        },
      });
      hubFor(storeNode.id).register(node.id, c);
      consumer = c;
      admin = {
        id: node.id,
        kind: "feed",
        name: node.name || category,
        category,
        storeId: storeNode.id,
        stats: () => c.stats(),
        retryDead: (w) => c.retryDead(w),
        discardDead: (w) => c.discardDead(w),
      };
      adminRegistry.addChannel(admin);
      await c.start();
      alerting.changed();
      status.now();
      if (closing) return;
      if (intervalMs > 0) {
        timer = setInterval(() => void poll(), intervalMs);
        void poll();
      }
    };

    const ready = init().catch((err: unknown) => {
      if (closing) return;
      fatal = errorText(err);
      reportError(node, RED._("atom-feed-in.errors.start", { error: fatal }), { category });
      status.now();
    });
    // The store may take a while to open (a fault being cleared): show why meanwhile.
    const waiting = setInterval(() => (consumer ? clearInterval(waiting) : status.update()), 1000);
    waiting.unref?.();

    node.on("input", (msg: NodeMessageInFlow, _send, done) => {
      const m = msg as NodeMessageInFlow & { reset?: unknown; resume?: unknown };
      ready
        .then(async () => {
          const c = consumer;
          if (!c) throw new Error(fatal ?? RED._("atom-feed-in.errors.not-started"));
          const reset = resetStart(m.reset);
          const problem = reset === "invalid" ? { key: "invalid-reset", values: {} } : reset && typeof reset === "object" ? startProblem(reset) : undefined;
          if (problem) throw new Error(RED._(`atom-feed-in.errors.${problem.key}`, problem.values));
          if (reset && reset !== "invalid") {
            await c.reset(reset);
            lastReported = "";
            startMissing = undefined;
            node.warn(RED._("atom-feed-in.log.reset", { category, from: describeStart(reset) }));
          }
          if (m.resume) c.resume();
          if (await control(RED, node, "atom-feed-in", c, m)) return status.update();
          await poll();
        })
        .then(
          () => done(),
          (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
        );
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      if (timer) clearInterval(timer);
      clearInterval(waiting);
      status.cancel();
      alerts?.alerts.stop();
      if (admin) adminRegistry.removeChannel(admin);
      // Not awaiting `ready`: a store that cannot open yet must not hold the close up (init sees `closing`).
      const c = consumer;
      (async () => {
        if (c) {
          // Let entries already out settle, within Node-RED's close timeout, so a restart re-delivers less.
          await c.drain(5_000);
          await c.stop();
          hubFor(storeNode.id).unregister(node.id, c);
        }
      })()
        .catch((err: unknown) => node.error(errorText(err)))
        .finally(() => {
          serverNode.deregister(node);
          storeNode.deregister(node);
          done();
        });
    });
  }

  RED.nodes.registerType("atom-feed-in", AtomFeedInNode);
};
