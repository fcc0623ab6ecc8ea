// Generates flows/*.json (run by hand when the flow layout changes; the JSON files are committed).
"use strict";
const fs = require("fs");
const path = require("path");

const configs = {
  parent: { id: "omrs_parent", type: "openmrs-server", name: "parent", url: "http://localhost:8081/openmrs", envPrefix: "OPENMRS_PARENT", timeout: 30, fhirMode: "auto", maxSockets: 16 },
  child: { id: "omrs_child", type: "openmrs-server", name: "child", url: "http://localhost:8080/openmrs", envPrefix: "OPENMRS_CHILD", timeout: 30, fhirMode: "auto", maxSockets: 16 },
  store: { id: "sync_store", type: "sync-store", name: "sync store", path: "", synchronous: "FULL" },
};

function pullFlow() {
  const z = "tab_pull";
  const categories = ["patient", "visit", "encounter", "observation"];
  const nodes = [
    { id: z, type: "tab", label: "Pull from parent", disabled: false, info: "Reads the parent's feeds (patients, then visits, encounters, observations), fetches each changed record as FHIR R4 and writes it into the child.\n\nEndpoints come from OPENMRS_PARENT_URL/_USER/_PASSWORD and OPENMRS_CHILD_URL/_USER/_PASSWORD; the store from SYNC_DB_PATH; the poll interval from SYNC_POLL_SECONDS." },
    { id: "pull_comment", type: "comment", z, name: "Parent feeds → fetch FHIR → write into the child", info: "Each feed polls after the previous one has caught up (output 2), so patients arrive before their encounters. A record whose reference is not on the child yet is retried, never dead-lettered.", x: 250, y: 40, wires: [] },
    { id: "pull_now", type: "inject", z, name: "sync now", props: [], repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", x: 110, y: 100, wires: [["pull_feed_patient"]] },
  ];
  categories.forEach((category, i) => {
    const next = categories[i + 1];
    nodes.push({
      id: `pull_feed_${category}`, type: "atom-feed-in", z, name: `parent ${category} feed`, server: configs.parent.id, store: configs.store.id, category,
      interval: i === 0 ? "" : "0", startFrom: "beginning", maxInFlight: 8, ticketTimeout: 120, maxAttempts: 50, maxRetryHours: 24,
      x: 310, y: 100 + i * 80, wires: [["pull_fetch"], next ? [`pull_feed_${next}`] : ["pull_cycle_debug"]],
    });
  });
  nodes.push(
    { id: "pull_fetch", type: "fhir-fetch", z, name: "fetch from parent", server: configs.parent.id, validate: true, x: 590, y: 180, wires: [["pull_push"]] },
    { id: "pull_push", type: "fhir-push", z, name: "write into child", targetType: "openmrs", server: configs.child.id, fhirServer: "", x: 800, y: 180, wires: [["pull_written_debug"]] },
    { id: "pull_written_debug", type: "debug", z, name: "written", active: false, tosidebar: true, console: false, tostatus: false, complete: "topic", targetType: "msg", statusVal: "", statusType: "auto", x: 980, y: 180, wires: [] },
    { id: "pull_cycle_debug", type: "debug", z, name: "sync cycle done", active: true, tosidebar: true, console: false, tostatus: true, complete: "payload", targetType: "msg", statusVal: "payload.settled", statusType: "msg", x: 590, y: 400, wires: [] },
  );
  return nodes.concat([configs.parent, configs.child, configs.store]);
}

const out = path.resolve(__dirname, "..", "flows");
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, "pull-from-parent.json"), JSON.stringify(pullFlow(), null, 2) + "\n");
