/** Shapes of this pack's config nodes as the other nodes see them (RED.nodes.getNode results). */
import type { Node } from "node-red";
import type { OpenmrsServer } from "../../lib/openmrs/server";
import type { FhirClient } from "../../lib/fhir/client";
import type { SyncStore } from "../../lib/store/store";

/** The 10-mqtt pattern: a config node knows its users, so the runtime routes its status and errors to their flows. */
export interface UsersConfigNode extends Node {
  users: Record<string, Node>;
  register(user: Node): void;
  deregister(user: Node): void;
}

/** A server config node with TLS settings (openmrs-server, fhir-server). */
export interface TlsConfigured {
  /** Set (translated) when certificate verification is off for an https server: users show it in their status. */
  tlsNote?: string;
}

export interface OpenmrsServerConfigNode extends UsersConfigNode, TlsConfigured {
  /** The connection; throws with a clear message when the URL is missing or invalid. */
  server(): OpenmrsServer;
}

export interface FhirServerConfigNode extends UsersConfigNode, TlsConfigured {
  client(): FhirClient;
}

export interface SyncStoreConfigNode extends UsersConfigNode {
  /**
   * The store, once open; every user shares the connection. A store that cannot be opened is tried
   * again until it opens; the promise rejects only when the node closes first.
   */
  open(): Promise<SyncStore>;
  readonly filePath: string;
  /** Keep clinical content in audit rows (the admin's switch). */
  readonly auditContent: boolean;
  /** Why the store is not open yet, while it is being retried. */
  readonly lastError?: string;
}
