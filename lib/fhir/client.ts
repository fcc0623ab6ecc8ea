/**
 * Every FHIR call goes through fhir-kit-client (ESM-only since 2.x, hence the dynamic import that
 * module=node16 keeps as a real import()). This wrapper adds a per-request timeout and turns
 * fhir-kit's thrown errors into plain results: an HTTP status with the server's body, or a
 * NetworkError, so callers classify outcomes in one place.
 *
 * fhir-kit calls the global fetch with the `requestOptions` we give it spread into every request.
 * We give it an undici Agent of our own (the `dispatcher`, honoured by Node's bundled fetch): this
 * server's TLS settings, a cap on the response size, header and body timeouts, keep-alive, a bound
 * on connections. And `redirect: "manual"`: a 3xx answer is never followed (the Authorization header
 * stays with its origin) and becomes a permanent failure that says so.
 */
import type { Client } from "fhir-kit-client" with { "resolution-mode": "import" };
import { Agent } from "undici";
import { NetworkError, networkCodeOf, redactUrl } from "../http";
import { isSafeId } from "../origin";
import { OutcomeError } from "../outcome";
import { connectOptions, describeTlsError, isTlsCode, type TlsOptions } from "../tls";

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
  /** Responses larger than this are refused with a NetworkError "TOO_LARGE" (default 20 MiB, as HttpClient). */
  maxBodyBytes?: number;
  /** Most parallel connections to the server (default 16). */
  maxSockets?: number;
  /** CA, client certificate and key, minimum version, verification (lib/tls.ts). */
  tls?: TlsOptions;
}

/** The default response cap, the same as HttpClient's. */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;

let fhirKit: Promise<typeof import("fhir-kit-client", { with: { "resolution-mode": "import" } })> | undefined;

function loadFhirKit() {
  fhirKit ??= import("fhir-kit-client");
  return fhirKit;
}

interface FhirKitError {
  response?: { status?: number; data?: unknown };
  config?: { headers?: { get?(name: string): string | null } };
  cause?: unknown;
  name?: string;
  message?: string;
}

/**
 * The code that explains an error best along its cause chain (fetch wraps undici's errors, which
 * wrap OpenSSL's): a TLS code wherever it is, else the first code, else the first cause's message.
 */
function causeOf(err: unknown): { code?: string; message?: string } {
  let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  let first: { code?: string; message?: string } | undefined;
  let firstMessage: string | undefined;
  for (let depth = 0; e && typeof e === "object" && depth < 6; depth++) {
    const message = typeof e.message === "string" ? e.message : undefined;
    if (typeof e.code === "string") {
      if (isTlsCode(e.code)) return { code: e.code, message };
      first ??= { code: e.code, message };
    } else if (depth > 0) firstMessage ??= message;
    e = e.cause as typeof e;
  }
  return first ?? { message: firstMessage };
}

export class FhirClient {
  private client?: Client;
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  private readonly agent: Agent;

  constructor(private readonly options: FhirClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.agent = new Agent({
      connect: { ...connectOptions(options.tls), timeout: this.timeoutMs },
      connections: options.maxSockets ?? 16,
      maxResponseSize: this.maxBodyBytes,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 60_000,
    });
  }

  /** Closes this client's connections; calls after it fail. */
  close(): void {
    this.agent.destroy().catch(() => undefined);
  }

  private async kit(): Promise<Client> {
    if (!this.client) {
      const { Client } = await loadFhirKit();
      const customHeaders: Record<string, string> = {};
      if (this.options.authorization) customHeaders.authorization = this.options.authorization;
      this.client = new Client({ baseUrl: this.baseUrl, customHeaders, requestOptions: { dispatcher: this.agent, redirect: "manual" } });
    }
    return this.client;
  }

  private async call(
    method: string,
    what: string,
    fn: (client: Client, options: { signal: AbortSignal; headers: Record<string, string> }) => Promise<unknown>,
    headers: Record<string, string> = {},
  ): Promise<FhirResponse> {
    const client = await this.kit();
    const started = Date.now();
    // One timer per call, cleared when the call ends: AbortSignal.timeout() keeps its timer and signal
    // for the whole timeout after the answer came (30 s × hundreds of calls a second in a catch-up).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${this.timeoutMs} ms`, "TimeoutError")), this.timeoutMs);
    try {
      const body = await fn(client, { signal: controller.signal, headers });
      return { status: statusOf(body) ?? 200, body: stripEmpty(body), durationMs: Date.now() - started };
    } catch (e) {
      const err = e as FhirKitError;
      const shown = redactUrl(`${this.baseUrl}/${what}`);
      const status = err.response?.status;
      if (status && status >= 300 && status < 400) {
        // Never followed (redirect: "manual"): a redirect would carry the Authorization header elsewhere.
        throw new OutcomeError({
          kind: "permanent",
          reason: "redirect",
          status,
          message: `${method} ${shown}: HTTP ${status}${redirectTarget(err, this.baseUrl)}, not followed: redirects are never followed, so credentials stay with their origin`,
        });
      }
      if (status) {
        return {
          status,
          body: err.response?.data,
          retryAfter: err.config?.headers?.get?.("retry-after") ?? undefined,
          durationMs: Date.now() - started,
        };
      }
      if (e instanceof TypeError && !(e as { cause?: unknown }).cause) {
        // Thrown while building the request (a header fetch refuses, say): nothing was sent, a retry cannot help.
        throw new NetworkError("INVALID", shown, `request not sent: ${e.message.slice(0, 80)} (${method} ${shown})`);
      }
      const cause = causeOf(e);
      if (cause.code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") {
        throw new NetworkError("TOO_LARGE", shown, `response larger than ${this.maxBodyBytes} bytes (${method} ${shown})`);
      }
      const code = err.name === "TimeoutError" || err.name === "AbortError" ? "TIMEOUT" : networkCodeOf(cause.code);
      const socketText = cause.code === "UND_ERR_SOCKET" && cause.message ? `${cause.message} (${cause.code})` : undefined;
      const detail = describeTlsError(cause.code, cause.message) ?? socketText ?? cause.code ?? cause.message ?? err.message ?? String(e);
      throw new NetworkError(code, shown, `${code === "TIMEOUT" ? `timed out after ${this.timeoutMs} ms` : detail} (${method} ${shown})`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A call about one record: its id goes into the URL path, so "..", "/" or "%2e" could walk it elsewhere. */
  private onRecord(
    method: string,
    resourceType: string,
    id: string,
    fn: (client: Client, options: { signal: AbortSignal; headers: Record<string, string> }) => Promise<unknown>,
    headers?: Record<string, string>,
  ): Promise<FhirResponse> {
    if (!isSafeId(id)) {
      return Promise.reject(
        new NetworkError("INVALID", redactUrl(this.baseUrl), `request not sent: the id of ${resourceType} is not a valid FHIR id (${method})`),
      );
    }
    return this.call(method, `${resourceType}/${id}`, fn, headers);
  }

  read(resourceType: string, id: string, headers?: Record<string, string>): Promise<FhirResponse> {
    return this.onRecord("GET", resourceType, id, (c, options) => c.read({ resourceType, id, options }), headers);
  }

  update(resource: { resourceType: string; id?: string }, headers?: Record<string, string>): Promise<FhirResponse> {
    const id = resource.id ?? "";
    return this.onRecord(
      "PUT",
      resource.resourceType,
      id,
      (c, options) => c.update({ resourceType: resource.resourceType, id, body: resource, options }),
      headers,
    );
  }

  delete(resourceType: string, id: string, headers?: Record<string, string>): Promise<FhirResponse> {
    return this.onRecord("DELETE", resourceType, id, (c, options) => c.delete({ resourceType, id, options }), headers);
  }

  /**
   * A type-level search, GET {resourceType}?{params}: a Bundle. Error texts name the parameters, never
   * their values (an identifier searched for is PHI-ish).
   */
  search(resourceType: string, params: Record<string, string>, headers?: Record<string, string>): Promise<FhirResponse> {
    const what = `${resourceType}?${Object.keys(params).join("&")}`;
    return this.call("GET", what, (c, options) => c.resourceSearch({ resourceType, searchParams: params, options }), headers);
  }

  capabilities(): Promise<FhirResponse> {
    return this.call("GET", "metadata", (c, options) => c.capabilityStatement(options));
  }
}

/** " to <origin>" from a 3xx answer's Location header (its origin only: a path or query may carry ids). */
function redirectTarget(err: FhirKitError, base: string): string {
  const location = err.config?.headers?.get?.("location");
  if (!location) return "";
  try {
    return ` to ${new URL(location, base).origin}`;
  } catch {
    return " to an invalid location";
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
