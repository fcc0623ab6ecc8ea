// Generates flows/*.json (run by hand when the flow layout changes; the JSON files are committed).
// Node-RED serves them, copied to examples/ at build time, in Import ▸ Examples.
"use strict";
const fs = require("fs");
const path = require("path");

// In reference order: a condition, a visit, an allergy refer to a patient; an encounter to a visit; an observation and an
// order to an encounter; a relationship to two persons (patients, or persons who are not patients: the person feed); a
// cohort to its patients.
const CATEGORIES = ["patient", "condition", "visit", "encounter", "observation", "person", "relationship", "allergy", "drug_order", "test_order", "cohort"];
const configs = {
  parent: { id: "omrs_parent", type: "openmrs-server", name: "parent", url: "http://localhost:8081/openmrs", envPrefix: "OPENMRS_PARENT", timeout: 30, fhirMode: "auto", maxSockets: 16 },
  child: { id: "omrs_child", type: "openmrs-server", name: "child", url: "http://localhost:8080/openmrs", envPrefix: "OPENMRS_CHILD", timeout: 30, fhirMode: "auto", maxSockets: 16 },
  store: { id: "sync_store", type: "sync-store", name: "sync store", path: "", synchronous: "FULL", auditContent: false, auditDays: 30 },
};

/** Feeds of one server chained in reference order: each polls when the previous one caught up. */
function feeds({ z, prefix, server, label, x, y, startFrom, next, last }) {
  return CATEGORIES.map((category, i) => ({
    id: `${prefix}_feed_${category}`, type: "atom-feed-in", z, name: `${label} ${category} feed`, server, store: configs.store.id, category,
    interval: i === 0 ? "" : "0", startFrom, maxInFlight: 8, ticketTimeout: 120, maxAttempts: 50, maxRetryHours: 24, alertBacklog: 100, alertSeconds: 60, direction: server === configs.child.id ? "push" : "pull",
    x, y: y + i * 70, wires: [[next], i < CATEGORIES.length - 1 ? [`${prefix}_feed_${CATEGORIES[i + 1]}`] : last ? [last] : []],
  }));
}

/**
 * Locations (issue 8) synced as records, when the implementer wants that: their feed nodes are in the
 * flows but disabled (`d: true`); enabling one (and deploying) turns it on. Each polls on its own
 * interval, beside the chain: a record that names a location the target lacks waits (missing-metadata)
 * until the location has come through.
 */
const OPTIONAL_CATEGORIES = ["location"];

function optionalFeeds({ z, prefix, server, label, x, y, startFrom, next }) {
  return OPTIONAL_CATEGORIES.map((category, i) => ({
    id: `${prefix}_feed_${category}`, type: "atom-feed-in", d: true, z, name: `${label} ${category} feed (off: enable to sync ${category}s)`, server, store: configs.store.id, category,
    interval: "", startFrom, maxInFlight: 8, ticketTimeout: 120, maxAttempts: 50, maxRetryHours: 24, alertBacklog: 100, alertSeconds: 60, direction: server === configs.child.id ? "push" : "pull",
    x, y: y + i * 70, wires: [[next], []],
  }));
}

const optionalIds = (prefix) => OPTIONAL_CATEGORIES.map((c) => `${prefix}_feed_${c}`);

function pullNodes(z, y0) {
  return [
    { id: "pull_comment", type: "comment", z, name: "Pull: parent feeds → fetch FHIR → write into the child", info: "Each feed polls after the previous one has caught up (output 2), so patients arrive before their encounters. A record whose reference is not on the child yet is retried, never dead-lettered.", x: 250, y: y0, wires: [] },
    { id: "pull_now", type: "inject", z, name: "sync now", props: [], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", x: 110, y: y0 + 60, wires: [["pull_feed_patient", ...optionalIds("pull")]] },
    ...feeds({ z, prefix: "pull", server: configs.parent.id, label: "parent", x: 310, y: y0 + 60, startFrom: "beginning", next: "pull_fetch", last: "pull_cycle_debug" }),
    ...optionalFeeds({ z, prefix: "pull", server: configs.parent.id, label: "parent", x: 310, y: y0 + 60 + CATEGORIES.length * 70, startFrom: "beginning", next: "pull_fetch" }),
    { id: "pull_fetch", type: "fhir-fetch", z, name: "fetch from parent", server: configs.parent.id, validate: true, x: 590, y: y0 + 140, wires: [["pull_push"]] },
    { id: "pull_push", type: "fhir-push", z, name: "write into child", targetType: "openmrs", server: configs.child.id, fhirServer: "", store: configs.store.id, targetRole: "child", conflict: "parent-wins", x: 800, y: y0 + 140, wires: [["pull_written_debug"]] },
    { id: "pull_written_debug", type: "debug", z, name: "pulled", active: false, tosidebar: true, console: false, tostatus: false, complete: "topic", targetType: "msg", statusVal: "", statusType: "auto", x: 980, y: y0 + 140, wires: [] },
    { id: "pull_retry_dead", type: "inject", z, name: "retry pull dead letters", props: [{ p: "topic", vt: "str" }, { p: "payload" }], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "retry", payload: "all", payloadType: "str", x: 120, y: y0 + 200, wires: [[...CATEGORIES.map((c) => `pull_feed_${c}`), ...optionalIds("pull")]] },
    { id: "pull_resume", type: "inject", z, name: "resume after auth pause", props: [{ p: "topic", vt: "str" }], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "resume", x: 120, y: y0 + 250, wires: [[...CATEGORIES.map((c) => `pull_feed_${c}`), ...optionalIds("pull")]] },
    // Off: a poll with nothing new is not news (the alerts say what changed). Click its button to watch polls.
    { id: "pull_cycle_debug", type: "debug", z, name: "pull cycle done", active: false, tosidebar: true, console: false, tostatus: false, complete: "payload", targetType: "msg", statusVal: "", statusType: "auto", x: 590, y: y0 + 330, wires: [] },
  ];
}

function pushNodes(z, y0, { outbox = false } = {}) {
  const p = outbox ? "outbox" : "push";
  const nodes = [
    outbox
      ? { id: `${p}_comment`, type: "comment", z, name: "Outbox: the child's own feeds → fetch FHIR → outbox table for a third-party tool", info: "Messages land in the store's outbox table (see docs/outbox.md). A tool reads pending rows and marks them done with plain SQL; nothing is sent by Node-RED.", x: 310, y: y0, wires: [] }
      : { id: `${p}_comment`, type: "comment", z, name: "Push: the child's own feeds → fetch FHIR → durable queue → write into the parent", info: "The queue takes custody of every change (the feed moves on once it is committed), retries with backoff while the parent is unreachable, dead-letters what the parent refuses, and keeps order per record. Records the child pulled from the parent are not pushed back (echo suppression, same store).", x: 330, y: y0, wires: [] },
    { id: `${p}_now`, type: "inject", z, name: "sync now", props: [], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", x: 110, y: y0 + 60, wires: [[`${p}_feed_patient`, ...optionalIds(p)]] },
    ...feeds({ z, prefix: p, server: configs.child.id, label: "child", x: 310, y: y0 + 60, startFrom: "beginning", next: `${p}_fetch`, last: null }),
    ...optionalFeeds({ z, prefix: p, server: configs.child.id, label: "child", x: 310, y: y0 + 60 + CATEGORIES.length * 70, startFrom: "beginning", next: `${p}_fetch` }),
    { id: `${p}_fetch`, type: "fhir-fetch", z, name: "fetch from child", server: configs.child.id, validate: true, x: 580, y: y0 + 140, wires: [[`${p}_queue`]] },
  ];
  if (outbox) {
    nodes.push({ id: `${p}_queue`, type: "retry-queue", z, name: "outbox", store: configs.store.id, mode: "outbox", concurrency: 4, maxAttempts: 50, maxAgeHours: 24, ticketTimeout: 120, alertBacklog: 100, alertSeconds: 60, direction: "push", x: 770, y: y0 + 140, wires: [[]] });
    return nodes;
  }
  nodes.push(
    { id: `${p}_queue`, type: "retry-queue", z, name: "queue for parent", store: configs.store.id, mode: "deliver", concurrency: 4, maxAttempts: 50, maxAgeHours: 24, ticketTimeout: 120, alertBacklog: 100, alertSeconds: 60, direction: "push", x: 780, y: y0 + 140, wires: [[`${p}_push`]] },
    { id: `${p}_push`, type: "fhir-push", z, name: "write into parent", targetType: "openmrs", server: configs.parent.id, fhirServer: "", store: configs.store.id, targetRole: "parent", conflict: "parent-wins", x: 990, y: y0 + 140, wires: [[`${p}_written_debug`]] },
    { id: `${p}_written_debug`, type: "debug", z, name: "pushed", active: false, tosidebar: true, console: false, tostatus: false, complete: "topic", targetType: "msg", statusVal: "", statusType: "auto", x: 1170, y: y0 + 140, wires: [] },
    { id: `${p}_retry_dead`, type: "inject", z, name: "retry all dead letters", props: [{ p: "topic", vt: "str" }, { p: "payload" }], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "retry", payload: "all", payloadType: "str", x: 600, y: y0 + 230, wires: [[`${p}_queue`]] },
    { id: `${p}_resume`, type: "inject", z, name: "resume after auth pause", props: [{ p: "topic", vt: "str" }], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "resume", x: 610, y: y0 + 280, wires: [[`${p}_queue`]] },
    { id: `${p}_audit`, type: "audit-push", z, name: "audit to parent", store: configs.store.id, server: configs.parent.id, instanceId: "", interval: 60, x: 990, y: y0 + 230, wires: [] },
  );
  return nodes;
}

/**
 * The hub (issue 10): the parent's feeds read in reference order and re-published by one atom-feed-out with
 * the hub's own record links, which it answers by reading from the parent; children's writes taken by
 * hub-in into a durable queue and replayed at the parent by hub-relay. Children connect with their key.
 */
function hubNodes(z, y0) {
  return [
    { id: "hub_comment", type: "comment", z, name: "Hub: the parent's feeds → re-published to children (per-child keys); children's writes → queue → parent", info: "Children point their openmrs-server at http://<hub>:1880/openmrs with their key name as user and its secret as password (keys: Sync sidebar or POST /openmrs-sync/keys). The hub serves /openmrs/ws/atomfeed/{category}/recent and /{n}, and the records the entries link to, read from the parent.", x: 370, y: y0, wires: [] },
    { id: "hub_now", type: "inject", z, name: "relay now", props: [], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", x: 110, y: y0 + 60, wires: [["hub_feed_patient"]] },
    ...feeds({ z, prefix: "hub", server: configs.parent.id, label: "parent", x: 310, y: y0 + 60, startFrom: "beginning", next: "hub_fetch", last: null }),
    // The record of each entry, so the event keeps whom it concerns: each child's key sees only its catchment.
    { id: "hub_fetch", type: "fhir-fetch", z, name: "fetch from parent (for catchment)", server: configs.parent.id, validate: false, x: 470, y: y0 + 200, wires: [["hub_feed_out"]] },
    { id: "hub_feed_out", type: "atom-feed-out", z, name: "feeds for children", store: configs.store.id, category: "", title: "", dialect: "sync2", restLink: "", fhirLink: "", server: configs.parent.id, x: 600, y: y0 + 140, wires: [[]] },
    { id: "hub_in", type: "hub-in", z, name: "writes from children", store: configs.store.id, answerWithin: 10, x: 140, y: y0 + 600, wires: [["hub_queue"]] },
    { id: "hub_queue", type: "retry-queue", z, name: "queue for parent", store: configs.store.id, mode: "deliver", concurrency: 4, maxAttempts: 50, maxAgeHours: 24, ticketTimeout: 120, alertBacklog: 100, alertSeconds: 60, direction: "push", x: 370, y: y0 + 600, wires: [["hub_relay"]] },
    { id: "hub_relay", type: "hub-relay", z, name: "write into parent", server: configs.parent.id, x: 580, y: y0 + 600, wires: [[]] },
  ];
}

/**
 * One Catch per tab, scoped to the channel nodes (feeds and queues), into one debug node: the channels'
 * alerts (backing up, drained, paused, resumed, store fault, dead letters; each once per change of
 * state) and their feed errors. Per-record errors of fhir-fetch and fhir-push stay out: a dead letter
 * reaches it as the channel's alert. Replace the debug node with an e-mail node (or anything) to be told.
 * The debug node shows each one's text (msg.error.message: the alert's line, or the feed error) in the
 * sidebar, under itself, and in the log: Node-RED does not log an error a Catch node handled.
 */
function alertNodes(z, prefix, nodes, x, y) {
  const scope = nodes.filter((n) => n.type === "atom-feed-in" || n.type === "retry-queue").map((n) => n.id);
  const pushes = nodes.filter((n) => n.type === "fhir-push").map((n) => n.id);
  // fhir-push's own alerts (metadata the target lacks): a second Catch on the fhir-push nodes, and a Switch
  // that lets only alerts through, so a record's own errors stay out.
  const metadata = pushes.length
    ? [
        { id: `${prefix}_metadata_catch`, type: "catch", z, name: "metadata alerts", scope: pushes, uncaught: false, x: x - 220, y: y + 40, wires: [[`${prefix}_metadata_switch`]] },
        { id: `${prefix}_metadata_switch`, type: "switch", z, name: "alerts only", property: "topic", propertyType: "msg", rules: [{ t: "eq", v: "openmrs-sync/alert", vt: "str" }], checkall: "true", repair: false, outputs: 1, x, y: y + 40, wires: [[`${prefix}_alerts_debug`]] },
      ]
    : [];
  return [
    ...nodes,
    ...metadata,
    { id: `${prefix}_alerts_catch`, type: "catch", z, name: "channel alerts", scope, uncaught: false, x, y, wires: [[`${prefix}_alerts_debug`]] },
    { id: `${prefix}_alerts_debug`, type: "debug", z, name: "sync alerts", active: true, tosidebar: true, console: true, tostatus: true, complete: "error.message", targetType: "msg", statusVal: "error.message", statusType: "msg", x: x + 200, y, wires: [] },
  ];
}

function tab(id, label, info) {
  return { id, type: "tab", label, disabled: false, info };
}

const ENV_NOTE = "\n\nEndpoints come from OPENMRS_PARENT_URL/_USER/_PASSWORD and OPENMRS_CHILD_URL/_USER/_PASSWORD; the store from SYNC_DB_PATH; the poll interval from SYNC_POLL_SECONDS.";
const ALERT_NOTE = "\n\nAlerts: the Catch node \"channel alerts\" takes what the feeds and the queue report (backing up, drained, paused, resumed, store fault, dead letters; each once per change, never per retry or poll) to the debug node \"sync alerts\". Wire it to an e-mail node instead to be told by mail.";
const METADATA_NOTE = " The Catch node \"metadata alerts\" adds what fhir-push reports once about metadata (a concept, a type, a location) the target lacks.";
const withConfigs = (nodes) => nodes.concat([configs.parent, configs.child, configs.store]);
const retarget = (nodes, z) => nodes.map((n) => ("z" in n ? { ...n, z } : n));

const flows = {
  hub: [
    tab("tab_hub", "Sync hub", "Stands in front of the parent and speaks the OpenMRS dialect to both sides: children read the parent's feeds and records through it and write through it, each with its own key (issued in the Sync sidebar)." + ALERT_NOTE + "\n\nThe parent comes from OPENMRS_PARENT_URL/_USER/_PASSWORD; the store from SYNC_DB_PATH; the poll interval from SYNC_POLL_SECONDS."),
    ...alertNodes("tab_hub", "hub", hubNodes("tab_hub", 40), 830, 400),
    configs.parent,
    configs.store,
  ],
  "pull-from-parent": withConfigs([tab("tab_pull", "Pull from parent", "Reads the parent's feeds (patients, then conditions, visits, encounters, observations, persons, relationships, cohorts; locations when their feed node is enabled), fetches each changed record as FHIR R4 and writes it into the child." + ALERT_NOTE + METADATA_NOTE + ENV_NOTE), ...alertNodes("tab_pull", "pull", pullNodes("tab_pull", 40), 830, 400)]),
  "push-to-parent": withConfigs([tab("tab_push", "Push to parent", "Reads the child's own feeds, fetches each changed record as FHIR R4, and writes it into the parent through a durable retry queue." + ALERT_NOTE + METADATA_NOTE + ENV_NOTE), ...alertNodes("tab_push", "push", pushNodes("tab_push", 40), 830, 400)]),
  outbox: withConfigs([tab("tab_outbox", "Outbox", "Scenario C: the child's changes land in the store's outbox table, for a third-party tool to read and mark done with SQL (docs/outbox.md)." + ALERT_NOTE + ENV_NOTE), ...alertNodes("tab_outbox", "outbox", pushNodes("tab_outbox", 40, { outbox: true }), 830, 400)]),
  "two-way": withConfigs([
    tab("tab_two_way", "Two-way sync", "Pull from the parent and push to the parent on one store: records pulled from the parent are not pushed back (echo suppression); a record changed on both sides is a conflict, resolved by the policy of the fhir-push nodes (parent wins here)." + ALERT_NOTE + METADATA_NOTE + ENV_NOTE),
    ...alertNodes("tab_two_way", "two_way", [...retarget(pullNodes("tab_two_way", 40), "tab_two_way"), ...retarget(pushNodes("tab_two_way", 420), "tab_two_way")], 830, 780),
  ]),
};

const out = path.resolve(__dirname, "..", "flows");
fs.mkdirSync(out, { recursive: true });
for (const [name, nodes] of Object.entries(flows)) fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(nodes, null, 2) + "\n");
