/**
 * The Sync sidebar (an editor plugin): the runtime side only makes sure the admin API and its "changed"
 * pings exist (the sync-store module adds them too; whichever loads first does, once per runtime). The
 * tab itself is sync-sidebar.html, which loads resources/sync-sidebar.js.
 */
import type { NodeAPI } from "node-red";
import { addAdminRoutes } from "../shared/admin-routes";

const PLUGIN_ID = "openmrs-sync-sidebar";

export = function (RED: NodeAPI): void {
  addAdminRoutes(RED);
  RED.plugins.registerPlugin(PLUGIN_ID, { type: "openmrs-sync-sidebar" });
};
