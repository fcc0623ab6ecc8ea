/**
 * Every FHIR call goes through fhir-kit-client (ESM-only since 2.x, hence the dynamic import that
 * module=node16 keeps as a real import()). This wrapper adds a per-request timeout and turns
 * fhir-kit's thrown errors into plain results: an HTTP status with the server's body, or a
 * NetworkError, so callers classify outcomes in one place.
 */
import type { Client } from "fhir-kit-client" with { "resolution-mode": "import" };
import { NetworkError, networkCodeOf } from "../http";

export interface FhirResponse {
  status: number;
  /** Parsed body: the resource, or an OperationOutcome on errors. */
  body: unknown;
  retryAfter?: string;
  durationMs: number;
}

export interface FhirClientOptions {
  baseUrl: string;
  /** Value of the Authorization header (Basic ... or Bearer ...). */
  authorization?: string;
  timeoutMs?: number;
}

let fhirKit: Promise<typeof import("fhir-kit-client", { with: { "resolution-mode": "import" } })> | undefined;

function loadFhirKit() {
  fhirKit ??= import("fhir-kit-client");
  return fhirKit;
}

interface FhirKitError {
  response?: { status?: number; data?: unknown };
  config?: { headers?: { get?(name: string): string | null } };
  cause?: { code?: string; message?: string };
  name?: string;
  message?: string;
}

export class FhirClient {
  private client?: Client;
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: FhirClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private async kit(): Promise<Client> {
    if (!this.client) {
      const { Client } = await loadFhirKit();
      const customHeaders: Record<string, string> = {};
      if (this.options.authorization) customHeaders.authorization = this.options.authorization;
      this.client = new Client({ baseUrl: this.baseUrl, customHeaders });
    }
    return this.client;
  }

  private async call(
    what: string,
    fn: (client: Client, options: { signal: AbortSignal; headers: Record<string, string> }) => Promise<unknown>,
    headers: Record<string, string> = {},
  ): Promise<FhirResponse> {
    const client = await this.kit();
    const started = Date.now();
    try {
      const body = await fn(client, { signal: AbortSignal.timeout(this.timeoutMs), headers });
      return { status: statusOf(body) ?? 200, body: stripEmpty(body), durationMs: Date.now() - started };
    } catch (e) {
      const err = e as FhirKitError;
      if (err.response?.status) {
        return {
          status: err.response.status,
          body: err.response.data,
          retryAfter: err.config?.headers?.get?.("retry-after") ?? undefined,
          durationMs: Date.now() - started,
        };
      }
      const code = err.name === "TimeoutError" || err.name === "AbortError" ? "TIMEOUT" : networkCodeOf(err.cause?.code);
      const detail = err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
      throw new NetworkError(
        code,
        `${this.baseUrl}/${what}`,
        `${code === "TIMEOUT" ? `timed out after ${this.timeoutMs} ms` : detail} (${this.baseUrl}/${what})`,
      );
    }
  }

  read(resourceType: string, id: string, headers?: Record<string, string>): Promise<FhirResponse> {
    return this.call(`${resourceType}/${id}`, (c, options) => c.read({ resourceType, id, options }), headers);
  }

  update(resource: { resourceType: string; id?: string }, headers?: Record<string, string>): Promise<FhirResponse> {
    const id = resource.id ?? "";
    return this.call(`${resource.resourceType}/${id}`, (c, options) => c.update({ resourceType: resource.resourceType, id, body: resource, options }), headers);
  }

  delete(resourceType: string, id: string, headers?: Record<string, string>): Promise<FhirResponse> {
    return this.call(`${resourceType}/${id}`, (c, options) => c.delete({ resourceType, id, options }), headers);
  }

  capabilities(): Promise<FhirResponse> {
    return this.call("metadata", (c, options) => c.capabilityStatement(options));
  }
}

/** fhir-kit attaches the fetch Response as a non-enumerable "__response" property of the result. */
function statusOf(body: unknown): number | undefined {
  if (!body || typeof body !== "object") return undefined;
  const res = (body as { __response?: { status?: unknown } }).__response;
  return typeof res?.status === "number" ? res.status : undefined;
}

function stripEmpty(body: unknown): unknown {
  if (body && typeof body === "object" && Object.keys(body).length === 0) return undefined;
  return body;
}
