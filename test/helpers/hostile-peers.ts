/**
 * Peers for the hostile corpus: a proxy in front of a simulated parent that can tamper with any answer
 * (or answer itself), a "foreign" server that records whatever reaches it, and a collector that Node-RED
 * posts its caught errors, status lines and "caught up" messages to.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";

export type RequestArea = "feed" | "rest-get" | "fhir-get" | "write" | "other";

export interface ProxiedRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  area: RequestArea;
  authorization?: string;
}

export interface ProxyReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Changes an upstream answer before it is sent (return it changed, or a new one). */
export type Tamper = (req: ProxiedRequest, reply: ProxyReply) => ProxyReply;
/** Answers a request itself instead of the upstream; true when it did. */
export type Takeover = (req: ProxiedRequest, res: http.ServerResponse) => boolean;

export function areaOf(method: string, path: string): RequestArea {
  if (path.includes("/ws/atomfeed/")) return "feed";
  if (method !== "GET") return path.includes("/ws/") ? "write" : "other";
  if (path.includes("/ws/rest/")) return "rest-get";
  if (path.includes("/ws/fhir2/")) return "fhir-get";
  return "other";
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

export class HostileProxy {
  tamper?: Tamper;
  takeover?: Takeover;
  readonly requests: ProxiedRequest[] = [];
  /** Bytes written by takeovers that stream (a huge page, a slow drip), for checking they were cut off. */
  streamed = 0;
  private server?: http.Server;
  url = "";

  /** `upstreamUrl` is the simulator's base URL (with its context path); `tls` makes the proxy https. */
  async start(upstreamUrl: string, tls?: https.ServerOptions): Promise<string> {
    const upstream = new URL(upstreamUrl);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(upstream, req, res);
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    const port = await listen(this.server);
    this.url = `${tls ? "https" : "http"}://127.0.0.1:${port}${upstream.pathname.replace(/\/+$/, "")}`;
    return this.url;
  }

  clear(): void {
    this.tamper = undefined;
    this.takeover = undefined;
  }

  private async handle(upstream: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const info: ProxiedRequest = { method, path, area: areaOf(method, path), authorization: req.headers.authorization };
    this.requests.push(info);
    res.on("error", () => undefined);
    if (this.takeover?.(info, res)) return;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = { ...req.headers };
    delete headers["content-length"];
    const body = Buffer.concat(chunks);
    try {
      const reply = await new Promise<ProxyReply>((resolve, reject) => {
        const up = http.request(
          { host: upstream.hostname, port: upstream.port, method, path, headers: { ...headers, "content-length": String(body.length) } },
          (r) => {
            const parts: Buffer[] = [];
            r.on("data", (c: Buffer) => parts.push(c));
            r.on("end", () => {
              const h: Record<string, string> = {};
              for (const [k, v] of Object.entries(r.headers)) if (typeof v === "string" && k !== "content-length" && k !== "transfer-encoding") h[k] = v;
              resolve({ status: r.statusCode ?? 502, headers: h, body: Buffer.concat(parts).toString("utf8") });
            });
            r.on("error", reject);
          },
        );
        up.on("error", reject);
        up.end(body);
      });
      const out = this.tamper ? this.tamper(info, reply) : reply;
      const buf = Buffer.from(out.body, "utf8");
      res.writeHead(out.status, { ...out.headers, "content-length": String(buf.length) });
      res.end(buf);
    } catch {
      res.socket?.destroy();
    }
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}

/** A server on another origin: records every request (with its Authorization header) and answers 404. */
export class ForeignServer {
  readonly requests: ProxiedRequest[] = [];
  private server?: http.Server;
  url = "";

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      this.requests.push({ method: req.method ?? "GET", path: req.url ?? "/", area: "other", authorization: req.headers.authorization });
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("nothing here");
    });
    this.url = `http://127.0.0.1:${await listen(this.server)}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}

export interface Collected {
  kind: "error" | "status" | "done";
  at: number;
  body: { source?: string; message?: string; text?: string; fill?: string };
}

/** Receives what Node-RED's Catch, Status and "caught up" wires post (JSON bodies). */
export class Collector {
  readonly got: Collected[] = [];
  private server?: http.Server;
  url = "";

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const kind = (req.url ?? "").slice(1) as Collected["kind"];
        let body: Collected["body"];
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Collected["body"];
        } catch {
          body = { message: Buffer.concat(chunks).toString("utf8") };
        }
        this.got.push({ kind, at: Date.now(), body });
        res.end("ok");
      });
    });
    this.url = `http://127.0.0.1:${await listen(this.server)}`;
    return this.url;
  }

  /** What came after `mark`, of one kind; with `source`, only from nodes whose id starts with it (one case's flow). */
  since(mark: number, kind: Collected["kind"], source?: string): Collected[] {
    return this.got.slice(mark).filter((c) => c.kind === kind && (source === undefined || (c.body.source ?? "").startsWith(source)));
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}

/** Sets (or adds) the feed-level <link rel="..."> of an Atom page. */
export function setFeedLink(xml: string, rel: string, href: string): string {
  const without = xml.replace(new RegExp(`\\s*<link rel="${rel}"[^>]*/>`), "");
  return without.replace("</title>", `</title>\n  <link rel="${rel}" type="application/atom+xml" href="${href}" />`);
}

/** The canonical ("via") URL of an Atom page. */
export function viaOf(xml: string): string {
  return /<link rel="via"[^>]*href="([^"]+)"/.exec(xml)?.[1] ?? "";
}
