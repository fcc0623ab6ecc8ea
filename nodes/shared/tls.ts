/**
 * The TLS settings of a server config node (openmrs-server, fhir-server), Node-RED's way: a `tls`
 * property that picks a core tls-config node, whose addTLSOptions() fills in CA, client certificate
 * and key, passphrase, server name and verification, plus our own minimum-version select.
 */
import type { Node, NodeAPI } from "node-red";
import { tlsOptionsFrom, verificationOff, type TlsOptions } from "../../lib/tls";

/** What this pack needs of a core tls-config node (node-red/nodes/core/network/05-tls.js). */
interface TlsConfigNode extends Node {
  valid?: boolean;
  addTLSOptions(opts: Record<string, unknown>): Record<string, unknown>;
}

export interface TlsSettings {
  tls: TlsOptions;
  /** Verification is off for an https server: users show a warning in their status. */
  unverified: boolean;
  /** Why the settings cannot be used (the tls-config node is missing or could not read its files); fail closed. */
  problem?: string;
}

/**
 * Reads the settings once, when the config node starts; `type` is the config node's type, whose
 * message catalog holds the texts. A warning is logged once when verification is off.
 */
export function tlsSettings(RED: NodeAPI, node: Node, type: string, config: { tls?: string; tlsMinVersion?: string }, url: string): TlsSettings {
  const id = (config.tls ?? "").trim();
  const tlsNode = id ? (RED.nodes.getNode(id) as TlsConfigNode | null) : null;
  let problem: string | undefined;
  if (id && (!tlsNode || typeof tlsNode.addTLSOptions !== "function")) problem = RED._(`${type}.errors.tls-missing`);
  else if (tlsNode && tlsNode.valid === false) problem = RED._(`${type}.errors.tls-invalid`);
  const tls = tlsOptionsFrom(tlsNode && !problem ? tlsNode.addTLSOptions({}) : undefined, config.tlsMinVersion);
  const unverified = verificationOff(tls) && /^https:/i.test(url);
  if (unverified) node.warn(RED._(`${type}.warn.tls-unverified`));
  return { tls, unverified, problem };
}
