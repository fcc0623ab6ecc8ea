/**
 * A small HTTP client for the feed and REST calls: one keep-alive agent per server, Basic auth,
 * a whole-request timeout, a cap on response size, and errors that say what went wrong without
 * echoing credentials or bodies. HTTP status codes never throw: callers classify them.
 */
import * as http from "node:http";
import * as https from "node:https";
import { connectOptions, describeTlsError, type TlsOptions } from "./tls";
import { OriginError, redactUrl, type OriginPolicy } from "./origin";

export interface HttpClientOptions {
  username?: string;
  password?: string;
  /** Whole request timeout (connect + response), milliseconds. */
  timeoutMs?: number;
  /** Responses larger than this are refused (protects against huge or endless pages). */
  maxBodyBytes?: number;
  /** Upper bound of parallel sockets per origin. */
  maxSockets?: number;
  /** false: accept any certificate (prefer tls.rejectUnauthorized; tls wins when both are given). */
  rejectUnauthorized?: boolean;
  /** CA, client certificate and key, minimum version, verification (lib/tls.ts). */
  tls?: TlsOptions;
  userAgent?: string;
  /** Where the credentials may go (the server's own origin); without it they go wherever asked. */
  originPolicy?: OriginPolicy;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  url: string;
  /** Milliseconds from request start to the last byte. */
  durationMs: number;
}

export type NetworkErrorCode = "TIMEOUT" | "TOO_LARGE" | "RESET" | "REFUSED" | "DNS" | "NETWORK" | "INVALID";

/** A request that got no complete HTTP response. Transient unless the body was too large or the request could not be made (INVALID). */
export class NetworkError extends Error {
  constructor(
    readonly code: NetworkErrorCode,
    readonly url: string,
    message: string,
  ) {
    super(message);
    this.name = "NetworkError";
  }
}

/** Maps a socket or undici error code (ECONNRESET, UND_ERR_SOCKET...) to what it means for us. */
export function networkCodeOf(code: string | undefined): NetworkErrorCode {
  switch (code) {
    case "ECONNRESET":
    case "EPIPE":
    case "ECONNABORTED":
    case "UND_ERR_SOCKET":
      return "RESET";
    case "ECONNREFUSED":
      return "REFUSED";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "DNS";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return "TIMEOUT";
    default:
      return "NETWORK";
  }
}

export { redactUrl };

export class HttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly authHeader?: string;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;

  constructor(private readonly options: HttpClientOptions = {}) {
    const maxSockets = options.maxSockets ?? 32;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets,
      maxFreeSockets: maxSockets,
      ...connectOptions({ rejectUnauthorized: options.rejectUnauthorized, ...options.tls }),
    });
    if (options.username) {
      this.authHeader = "Basic " + Buffer.from(`${options.username}:${options.password ?? ""}`).toString("base64");
    }
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxBodyBytes = options.maxBodyBytes ?? 20 * 1024 * 1024;
  }

  /** The Authorization header value, for clients that do their own requests (fhir-kit-client). */
  get authorization(): string | undefined {
    return this.authHeader;
  }

  request(method: string, url: string, opts: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<HttpResponse> {
    const started = Date.now();
    const shownUrl = redactUrl(url);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return Promise.reject(new OriginError(shownUrl, `refused ${shownUrl}: not a valid URL`));
    }
    const isHttps = target.protocol === "https:";
    const headers: Record<string, string> = {
      "user-agent": this.options.userAgent ?? "node-red-contrib-openmrs-sync",
      ...opts.headers,
    };
    let own: boolean;
    try {
      own = this.options.originPolicy ? this.options.originPolicy.credentialsFor(target) : true;
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (!own) delete headers.authorization;
    else if (this.authHeader && !headers.authorization) headers.authorization = this.authHeader;
    if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;

    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: NetworkError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(err);
      };
      const onResponse = (res: http.IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxBodyBytes) {
            fail(new NetworkError("TOO_LARGE", shownUrl, `response larger than ${this.maxBodyBytes} bytes (${method} ${shownUrl})`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("aborted", () => fail(new NetworkError("RESET", shownUrl, `connection reset while reading the response (${method} ${shownUrl})`)));
        res.on("error", (err: NodeJS.ErrnoException) => fail(new NetworkError(networkCodeOf(err.code), shownUrl, `${err.message} (${method} ${shownUrl})`)));
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            url,
            durationMs: Date.now() - started,
          });
        });
      };
      let req: http.ClientRequest;
      try {
        req = (isHttps ? https : http).request(target, { method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent }, onResponse);
      } catch (err) {
        // Node refuses a request it cannot write (a header with CR/LF, say): nothing was sent.
        settled = true;
        reject(new NetworkError("INVALID", shownUrl, `request not sent: ${(err as NodeJS.ErrnoException).code ?? "invalid request"} (${method} ${shownUrl})`));
        return;
      }
      const timer = setTimeout(() => fail(new NetworkError("TIMEOUT", shownUrl, `timed out after ${timeoutMs} ms (${method} ${shownUrl})`)), timeoutMs);
      req.on("error", (err: NodeJS.ErrnoException) =>
        fail(
          new NetworkError(networkCodeOf(err.code), shownUrl, `${describeTlsError(err.code, err.message) ?? err.code ?? err.message} (${method} ${shownUrl})`),
        ),
      );
      if (opts.body !== undefined) req.write(opts.body);
      req.end();
    });
  }

  get(url: string, headers?: Record<string, string>): Promise<HttpResponse> {
    return this.request("GET", url, { headers });
  }

  /** Closes idle keep-alive sockets; in-flight requests finish. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** Parses a JSON body; returns undefined for an empty or non-JSON body. */
export function parseJsonBody(body: string): unknown {
  if (!body) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
