/**
 * fhir-server (config): a plain FHIR R4 server (HAPI, Medplum, a registry...). Base URL such as
 * http://host/fhir, Basic credentials or a bearer token, kept in the encrypted credentials file.
 */
import type { NodeAPI, NodeDef } from "node-red";
import { FhirClient } from "../../lib/fhir/client";
import { trackUsers } from "../shared/users";
import type { FhirServerConfigNode } from "../shared/types";

interface FhirServerDef extends NodeDef {
  url: string;
  timeout?: string | number;
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
    let client: FhirClient | undefined;

    node.client = () => {
      if (!client) {
        const url = (config.url ?? "").trim();
        if (!/^https?:\/\//.test(url)) throw new Error(RED._("fhir-server.errors.invalid-url"));
        let authorization: string | undefined;
        if (creds.token) authorization = `Bearer ${creds.token}`;
        else if (creds.username) authorization = "Basic " + Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64");
        client = new FhirClient({ baseUrl: url, authorization, timeoutMs: (Number(config.timeout) || 30) * 1000 });
      }
      return client;
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      client = undefined;
      done();
    });
  }

  RED.nodes.registerType<FhirServerConfigNode, FhirServerDef, object, FhirServerCredentials>("fhir-server", FhirServerNode, {
    credentials: { username: { type: "text" }, password: { type: "password" }, token: { type: "password" } },
  });
};
