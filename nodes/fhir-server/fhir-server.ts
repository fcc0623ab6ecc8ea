/**
 * fhir-server (config): a plain FHIR R4 server (HAPI, Medplum, a registry...). Base URL such as
 * http://host/fhir, Basic credentials or a bearer token, kept in the encrypted credentials file.
 * TLS: a core tls-config node (CA, client certificate and key, verification) and a minimum version.
 */
import type { NodeAPI, NodeDef } from "node-red";
import { FhirClient } from "../../lib/fhir/client";
import { trackUsers, usersGone } from "../shared/users";
import { tlsSettings } from "../shared/tls";
import type { FhirServerConfigNode } from "../shared/types";

interface FhirServerDef extends NodeDef {
  url: string;
  timeout?: string | number;
  /** Id of a core tls-config node. */
  tls?: string;
  tlsMinVersion?: string;
}

interface FhirServerCredentials {
  username?: string;
  password?: string;
  token?: string;
}

export = function (RED: NodeAPI): void {
  function FhirServerNode(this: FhirServerConfigNode, config: FhirServerDef) {
    RED.nodes.createNode(this, config);
    const node = trackUsers(this) as FhirServerConfigNode;
    const creds = (this.credentials ?? {}) as FhirServerCredentials;
    const url = (config.url ?? "").trim();
    const tls = tlsSettings(RED, node, "fhir-server", config, url);
    node.tlsNote = tls.unverified ? RED._("fhir-server.status.tls-unverified") : undefined;
    let client: FhirClient | undefined;

    node.client = () => {
      if (!client) {
        if (!/^https?:\/\//.test(url)) throw new Error(RED._("fhir-server.errors.invalid-url"));
        if (tls.problem) throw new Error(tls.problem);
        let authorization: string | undefined;
        if (creds.token) authorization = `Bearer ${creds.token}`;
        else if (creds.username) authorization = "Basic " + Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64");
        client = new FhirClient({ baseUrl: url, authorization, timeoutMs: (Number(config.timeout) || 30) * 1000, tls: tls.tls });
      }
      return client;
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      // Users (fhir-push draining its last writes) close in parallel: the connections go when they are done.
      void usersGone(node, 12_000).finally(() => {
        client?.close();
        client = undefined;
        done();
      });
    });
  }

  RED.nodes.registerType<FhirServerConfigNode, FhirServerDef, object, FhirServerCredentials>("fhir-server", FhirServerNode, {
    credentials: { username: { type: "text" }, password: { type: "password" }, token: { type: "password" } },
  });
};
