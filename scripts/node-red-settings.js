// Node-RED settings used by `npm start` and the end-to-end tests: the editor and admin API bind
// 127.0.0.1 only, this package is loaded from the repository (nodesDir), no tours, no catalogue calls.
// NODE_RED_EXTRA_SETTINGS names a module whose exports are added (tests: adminAuth and the like).
// OPENMRS_SYNC_NODES_DIR=off sets no nodesDir: Node-RED then finds the package where a user's npm put it
// (Node-RED 5 from scripts/node-red-5.ts: beside node-red in the cache's node_modules); any other value
// is the nodesDir instead of the repository.
"use strict";
const path = require("path");

const NODES_DIR = process.env.OPENMRS_SYNC_NODES_DIR;
const nodesDir = NODES_DIR === "off" ? undefined : path.resolve(NODES_DIR || path.join(__dirname, ".."));

module.exports = {
  uiHost: "127.0.0.1",
  uiPort: Number(process.env.PORT) || 1880,
  flowFile: "flows.json",
  credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET || "openmrs-sync-local-demo",
  ...(nodesDir ? { nodesDir: [nodesDir] } : {}),
  editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  logging: { console: { level: process.env.NODE_RED_LOG_LEVEL || "info", metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};

if (process.env.NODE_RED_EXTRA_SETTINGS) Object.assign(module.exports, require(path.resolve(process.env.NODE_RED_EXTRA_SETTINGS)));
