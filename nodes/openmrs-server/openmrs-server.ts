/**
 * openmrs-server (config): one OpenMRS instance. Base URL with context path, Basic-auth credentials
 * (only in Node-RED's encrypted credentials file), timeouts, fhir2 use, and a shared keep-alive agent.
 * With an environment prefix such as OPENMRS_PARENT, the variables OPENMRS_PARENT_URL, _USER and
 * _PASSWORD override the fields, so one flow can be pointed at different servers without editing it.
 * TLS: a core tls-config node (CA, client certificate and key, verification) and a minimum version.
 */
import type { NodeAPI, NodeDef } from "node-red";
import { OpenmrsServer, type FhirMode } from "../../lib/openmrs/server";
import { trackUsers, usersGone } from "../shared/users";
import { tlsSettings } from "../shared/tls";
import type { OpenmrsServerConfigNode } from "../shared/types";

interface OpenmrsServerDef extends NodeDef {
  url: string;
  envPrefix?: string;
  timeout?: string | number;
  fhirMode?: FhirMode;
  maxSockets?: string | number;
  /** Id of a core tls-config node. */
  tls?: string;
  tlsMinVersion?: string;
  /** Links to other hosts: "refuse" (default) or "anonymous" (followed without credentials). */
  foreignLinks?: "refuse" | "anonymous";
}

interface OpenmrsServerCredentials {
  username?: string;
  password?: string;
}

export = function (RED: NodeAPI): void {
  function OpenmrsServerNode(this: OpenmrsServerConfigNode, config: OpenmrsServerDef) {
    RED.nodes.createNode(this, config);
    const node = trackUsers(this) as OpenmrsServerConfigNode;
    const creds = (this.credentials ?? {}) as OpenmrsServerCredentials;
    const prefix = (config.envPrefix ?? "").trim();
    const env = (suffix: string) => (prefix ? process.env[`${prefix}_${suffix}`] : undefined) || undefined;
    const url = (env("URL") ?? config.url ?? "").trim();
    const tls = tlsSettings(RED, node, "openmrs-server", config, url);
    node.tlsNote = tls.unverified ? RED._("openmrs-server.status.tls-unverified") : undefined;
    let connection: OpenmrsServer | undefined;

    node.server = () => {
      if (!connection) {
        if (!url) throw new Error(RED._("openmrs-server.errors.no-url", { env: prefix ? `${prefix}_URL` : "" }));
        if (tls.problem) throw new Error(tls.problem);
        connection = new OpenmrsServer({
          url,
          username: env("USER") ?? creds.username,
          password: env("PASSWORD") ?? creds.password,
          timeoutMs: (Number(config.timeout) || 30) * 1000,
          fhirMode: config.fhirMode ?? "auto",
          maxSockets: Number(config.maxSockets) || 16,
          tls: tls.tls,
          foreignLinks: config.foreignLinks === "anonymous" ? "anonymous" : "refuse",
        });
      }
      return connection;
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      // Users (fhir-push draining its last writes) close in parallel: the agent goes when they are done.
      void usersGone(node, 12_000).finally(() => {
        connection?.close();
        connection = undefined;
        done();
      });
    });
  }

  RED.nodes.registerType<OpenmrsServerConfigNode, OpenmrsServerDef, object, OpenmrsServerCredentials>("openmrs-server", OpenmrsServerNode, {
    credentials: { username: { type: "text" }, password: { type: "password" } },
  });
};
