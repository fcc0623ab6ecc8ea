/**
 * OpenmrsSim: one simulated OpenMRS server (atom feeds, REST v1, fhir2 R4) on node:http, with fault
 * switches, request log, stats and JSON persistence.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import { compareSnapshots, snapshotOf, type Comparable } from "./compare";
import { clearFaults, defaultFaults, mergeFaults, REQUEST_KINDS, takeStatusFault, type Faults, type RequestKind } from "./faults";
import { entityBombXml, padXml, renderFeedPage, truncateXml } from "./feed";
import { handleFhir, outcome } from "./fhir2";
import { Generator, type GenerateOptions } from "./generator";
import { Store, type Dialect, type StoreData } from "./model";
import { ATOM_TYPE, isObject, json, text, type Reply } from "./reply";
import { handleRest, restError } from "./rest";
import { Rng } from "./rng";
import { SIM_TYPES } from "./types/registry";

export interface OpenmrsSimOptions {
  /** "parent" | "child" (or anything), for logs and generated identifier prefixes. */
  name?: string;
  /** Default "/openmrs". */
  contextPath?: string;
  /** Basic auth, default admin / Admin123. */
  username?: string;
  password?: string;
  /** Feed content dialect, default "sync2"; "mixed" alternates per event. */
  dialect?: Dialect;
  /** Feed page size, default 5. */
  pageSize?: number;
  /** Default true; false => every /ws/fhir2 path answers 404. */
  fhir2?: boolean;
  /** Default false (real omod-atomfeed feeds have no auth). */
  feedAuth?: boolean;
  /** JSON snapshot: loaded at construction if it exists, saved on stop() and every 5 s when dirty. */
  dataFile?: string;
  /** Seed for the generator (values and generated uuids). */
  seed?: number;
  /** Server time zone as minutes east of UTC (REST dates are written in it). Default 0 (+0000). */
  utcOffsetMinutes?: number;
}

export interface RequestLog {
  /** Epoch ms when the request arrived. */
  at: number;
  method: string;
  /** Path including the query string. */
  path: string;
  /** 0 when the connection was reset without an answer. */
  status: number;
  kind: RequestKind;
  uuid?: string;
  /** Value of the request header x-sync-entry. */
  entry?: string;
  durationMs: number;
  /** Which fault shaped this answer, if any. */
  fault?: "down" | "status" | "reset" | "malformedFeed" | "entityBomb" | "hugeFeed" | "invalidFhir" | "rejectWrites";
}

export interface SimStats {
  total: number;
  byKind: Record<RequestKind, number>;
  byStatus: Record<string, number>;
  faultsInjected: number;
  /** GETs (REST or fhir2) per record uuid. */
  recordGets: Map<string, number>;
}

const MAX_LOG = 200_000;
const MAX_BODY = 32 * 1024 * 1024;
const SAVE_EVERY_MS = 5000;
const UUIDISH = /^[0-9A-Za-z-]{8,40}$/;
/** The query of every request without one (handlers only read queries). */
const NO_QUERY = new URLSearchParams();

/** Path segments, percent-decoded (a segment that is not valid percent-encoding stays as written). */
function splitSegments(path: string): string[] {
  const parts = path.split("/").filter((s) => s !== "");
  if (!path.includes("%")) return parts;
  return parts.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
}

function emptyStats(): SimStats {
  const byKind = {} as Record<RequestKind, number>;
  for (const k of REQUEST_KINDS) byKind[k] = 0;
  return { total: 0, byKind, byStatus: {}, faultsInjected: 0, recordGets: new Map() };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("request body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

interface Classified {
  kind: RequestKind;
  area: "feed" | "rest" | "fhir" | "sync2" | "other";
  /** Path segments after the area prefix. */
  segments: string[];
  uuid?: string;
}

export class OpenmrsSim {
  readonly name: string;
  readonly contextPath: string;
  readonly store: Store;
  /**
   * Sync 2.0's audit API (`/ws/rest/sync2/messages`): children push their audit rows here so the
   * parent's admin sees every child's attempts. Kept in memory, by uuid.
   */
  readonly auditMessages = new Map<string, Record<string, unknown>>();
  readonly faults: Faults = defaultFaults();
  stats: SimStats = emptyStats();
  readonly requests: RequestLog[] = [];
  url = "";

  private readonly username: string;
  private readonly password: string;
  private readonly authHeader: string;
  private readonly pageSize: number;
  private readonly fhir2: boolean;
  private readonly feedAuth: boolean;
  private readonly dataFile?: string;
  private readonly rng: Rng;
  private readonly faultRng = new Rng();
  private readonly generator: Generator;
  private server?: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private saveTimer?: NodeJS.Timeout;
  private changeTimer?: NodeJS.Timeout;
  private stopping = false;

  constructor(opts: OpenmrsSimOptions = {}) {
    this.name = opts.name ?? "sim";
    let ctx = opts.contextPath ?? "/openmrs";
    if (ctx !== "" && !ctx.startsWith("/")) ctx = "/" + ctx;
    this.contextPath = ctx.replace(/\/+$/, "");
    this.username = opts.username ?? "admin";
    this.password = opts.password ?? "Admin123";
    this.authHeader = "Basic " + Buffer.from(`${this.username}:${this.password}`).toString("base64");
    this.pageSize = opts.pageSize ?? 5;
    this.fhir2 = opts.fhir2 ?? true;
    this.feedAuth = opts.feedAuth ?? false;
    this.dataFile = opts.dataFile;
    this.rng = new Rng(opts.seed);
    this.store = new Store({ contextPath: this.contextPath, dialect: opts.dialect ?? "sync2", utcOffsetMinutes: opts.utcOffsetMinutes ?? 0 });
    const prefix = (this.name.replace(/[^A-Za-z]/g, "").slice(0, 3) || "SIM").toUpperCase();
    this.generator = new Generator(this.store, this.rng, prefix);
    if (this.dataFile && fs.existsSync(this.dataFile)) {
      this.store.load(JSON.parse(fs.readFileSync(this.dataFile, "utf8")) as StoreData);
    }
  }

  // ------------------------------------------------------------------ lifecycle

  /** Starts listening; resolves the base URL including the context path. */
  async start(port = 0, host = "127.0.0.1"): Promise<string> {
    if (this.server) return this.url;
    this.stopping = false;
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(err instanceof Error ? err.message : String(err));
        } else res.destroy();
      });
    });
    server.keepAliveTimeout = 30_000;
    server.on("connection", (s: net.Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as net.AddressInfo;
    const h = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
    this.url = `http://${h}:${addr.port}${this.contextPath}`;
    if (this.dataFile) {
      this.saveTimer = setInterval(() => {
        if (this.store.dirty) this.save();
      }, SAVE_EVERY_MS);
      this.saveTimer.unref();
    }
    return this.url;
  }

  /** Closes the server and every open socket (keep-alive too), stops changes, saves the data file. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopChanges();
    if (this.saveTimer) clearInterval(this.saveTimer);
    this.saveTimer = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      server.closeAllConnections();
      await closed;
    }
    this.save();
  }

  /** Writes the data file now (atomically), if one is configured. */
  save(): void {
    if (!this.dataFile) return;
    this.store.dirty = false;
    const tmp = `${this.dataFile}.${process.pid}.tmp`;
    const slash = Math.max(this.dataFile.lastIndexOf("/"), this.dataFile.lastIndexOf("\\"));
    if (slash > 0) fs.mkdirSync(this.dataFile.slice(0, slash), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(this.store.toData()));
    fs.renameSync(tmp, this.dataFile);
  }

  // ------------------------------------------------------------------ data

  generate(opts: GenerateOptions): void {
    this.generator.generate(opts);
  }

  mutate(n = 1): void {
    this.generator.mutate(n);
  }

  startChanges(intervalMs: number, perTick = 1): void {
    this.stopChanges();
    this.changeTimer = setInterval(() => this.mutate(perTick), Math.max(1, intervalMs));
    this.changeTimer.unref();
  }

  stopChanges(): void {
    if (this.changeTimer) clearInterval(this.changeTimer);
    this.changeTimer = undefined;
  }

  snapshot(): Comparable {
    return snapshotOf(this.store);
  }

  /** Differences from this (parent) to a child sim or snapshot; empty = in sync. */
  diff(child: OpenmrsSim | Comparable): string[] {
    return compareSnapshots(this.snapshot(), child instanceof OpenmrsSim ? child.snapshot() : child);
  }

  resetStats(): void {
    this.stats = emptyStats();
  }

  // ------------------------------------------------------------------ HTTP

  private classify(method: string, pathname: string): Classified {
    const ctx = this.contextPath;
    if (!pathname.startsWith(ctx + "/")) return { kind: "other", area: "other", segments: [] };
    const rest = pathname.slice(ctx.length);
    const read = method === "GET" || method === "HEAD";
    const segs = (prefix: string): string[] => splitSegments(rest.slice(prefix.length));
    if (rest.startsWith("/ws/atomfeed/")) return { kind: "feed", area: "feed", segments: segs("/ws/atomfeed/") };
    if (rest.startsWith("/ws/rest/sync2/")) return { kind: "other", area: "sync2", segments: segs("/ws/rest/sync2/") };
    if (rest.startsWith("/ws/rest/v1/")) {
      const s = segs("/ws/rest/v1/");
      const uuid = s[1] !== undefined && UUIDISH.test(s[1]) ? s[1] : undefined;
      return { kind: read ? "rest-get" : "rest-write", area: "rest", segments: s, uuid };
    }
    if (rest.startsWith("/ws/fhir2/")) {
      const s = segs("/ws/fhir2/");
      const uuid = s[0] === "R4" && s[2] !== undefined && UUIDISH.test(s[2]) ? s[2] : undefined;
      return { kind: read ? "fhir-get" : "fhir-write", area: "fhir", segments: s, uuid };
    }
    return { kind: "other", area: "other", segments: [] };
  }

  private authorized(req: http.IncomingMessage): boolean {
    const h = req.headers.authorization;
    if (!h) return false;
    if (h === this.authHeader) return true;
    const m = /^Basic\s+(.+)$/i.exec(h);
    if (!m) return false;
    return Buffer.from(m[1], "base64").toString("utf8") === `${this.username}:${this.password}`;
  }

  private baseUrl(req: http.IncomingMessage): string {
    const fwd = req.headers["x-forwarded-proto"];
    const proto = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(",")[0]?.trim() || "http";
    const host = req.headers.host ?? new URL(this.url).host;
    return `${proto}://${host}`;
  }

  private log(entry: RequestLog): void {
    this.requests.push(entry);
    if (this.requests.length > MAX_LOG + MAX_LOG / 10) this.requests.splice(0, this.requests.length - MAX_LOG);
    this.stats.byStatus[String(entry.status)] = (this.stats.byStatus[String(entry.status)] ?? 0) + 1;
    if (entry.fault) this.stats.faultsInjected++;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const at = Date.now();
    const t0 = performance.now();
    const method = req.method ?? "GET";
    const rawUrl = req.url ?? "/";
    const qi = rawUrl.indexOf("?");
    const pathname = qi >= 0 ? rawUrl.slice(0, qi) : rawUrl;
    const query = qi >= 0 ? new URLSearchParams(rawUrl.slice(qi + 1)) : NO_QUERY;

    if (pathname.startsWith("/__sim/")) {
      const body = method === "POST" ? await readBody(req) : "";
      this.write(res, this.admin(method, pathname, query, body));
      return;
    }

    const c = this.classify(method, pathname);
    this.stats.total++;
    this.stats.byKind[c.kind]++;
    if (c.uuid && (c.kind === "rest-get" || c.kind === "fhir-get")) {
      this.stats.recordGets.set(c.uuid, (this.stats.recordGets.get(c.uuid) ?? 0) + 1);
    }
    const entryHeader = req.headers["x-sync-entry"];
    const entry: RequestLog = {
      at,
      method,
      path: rawUrl,
      status: 0,
      kind: c.kind,
      ...(c.uuid ? { uuid: c.uuid } : {}),
      ...(entryHeader !== undefined ? { entry: Array.isArray(entryHeader) ? entryHeader.join(",") : entryHeader } : {}),
      durationMs: 0,
    };
    const f = this.faults;

    if (f.down) {
      entry.fault = "down";
      this.log(entry);
      req.socket.resetAndDestroy();
      return;
    }
    if (f.slowMs > 0) {
      await delay(f.slowMs);
      if (this.stopping) {
        req.socket.destroy();
        return;
      }
    }

    let reply: Reply;
    const sf = f.status ? takeStatusFault(f, c.kind, () => this.faultRng.next()) : null;
    if (sf) {
      entry.fault = "status";
      const msg = `Simulated fault: HTTP ${sf.code}`;
      reply =
        c.area === "fhir"
          ? outcome(sf.code, "transient", msg)
          : c.area === "rest"
            ? restError(sf.code, msg)
            : text(sf.code, `<html><body>${msg}</body></html>`);
      if (sf.retryAfter !== undefined) reply.headers["retry-after"] = String(sf.retryAfter);
    } else {
      const body = method === "POST" || method === "PUT" || method === "PATCH" ? await readBody(req) : "";
      const rejected = f.rejectWrites.length > 0 && (c.kind === "rest-write" || c.kind === "fhir-write") ? this.rejectedUuid(c.uuid, body) : undefined;
      if (rejected) {
        entry.fault = "rejectWrites";
        // As OpenMRS validators do, the message quotes what it refuses: names and dates of the record.
        const msg = `Simulated validation failure: record ${rejected} refused${quotedValues(body)}`;
        reply = c.area === "fhir" ? outcome(422, "processing", msg) : restError(422, msg);
      } else reply = this.route(req, c, query, body, rawUrl, entry);
    }

    if (f.resetRate > 0 && reply.body.length > 1 && this.faultRng.next() < f.resetRate) {
      entry.fault = "reset";
      entry.status = reply.status;
      entry.durationMs = performance.now() - t0;
      this.log(entry);
      const buf = Buffer.from(reply.body, "utf8");
      res.writeHead(reply.status, { ...reply.headers, "content-length": String(buf.length) });
      res.write(buf.subarray(0, Math.floor(buf.length / 2)), () => res.socket?.destroy());
      return;
    }
    entry.status = reply.status;
    entry.durationMs = performance.now() - t0;
    this.log(entry);
    this.write(res, reply);
  }

  /** The uuid of a write that the rejectWrites fault refuses: from the path, or from the body of a create. */
  private rejectedUuid(pathUuid: string | undefined, body: string): string | undefined {
    const set = new Set(this.faults.rejectWrites);
    if (pathUuid && set.has(pathUuid)) return pathUuid;
    try {
      const j = JSON.parse(body) as { uuid?: unknown; id?: unknown };
      const u = typeof j.uuid === "string" ? j.uuid : typeof j.id === "string" ? j.id : undefined;
      return u && set.has(u) ? u : undefined;
    } catch {
      return undefined;
    }
  }

  private write(res: http.ServerResponse, reply: Reply): void {
    if (res.destroyed) return;
    // The body goes out as a string, appended to the header block (no Buffer copy of it).
    reply.headers["content-length"] = String(Buffer.byteLength(reply.body, "utf8"));
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body, "utf8");
  }

  private unauthorized(area: "feed" | "rest" | "fhir"): Reply {
    const r =
      area === "fhir"
        ? outcome(401, "security", "User is not authenticated")
        : area === "rest"
          ? restError(401, "User is not logged in")
          : text(401, "<html><body>HTTP Status 401 - Unauthorized</body></html>");
    r.headers["www-authenticate"] = `Basic realm="OpenMRS at ${this.contextPath || "/"}"`;
    return r;
  }

  private route(req: http.IncomingMessage, c: Classified, query: URLSearchParams, body: string, rawUrl: string, log: RequestLog): Reply {
    const origin = this.baseUrl(req);
    const base = origin + this.contextPath;
    switch (c.area) {
      case "feed": {
        if (this.feedAuth && !this.authorized(req)) return this.unauthorized("feed");
        if (req.method !== "GET") return text(405, "<html><body>Method not allowed</body></html>");
        return this.feed(c.segments, origin + rawUrl, base, log);
      }
      case "rest": {
        if (!this.authorized(req)) return this.unauthorized("rest");
        let parsed: unknown;
        if (body !== "") {
          try {
            parsed = JSON.parse(body);
          } catch {
            return restError(400, "[Invalid Submission : request body is not valid JSON]");
          }
        }
        const invalid = this.faults.invalidFhir.length > 0 ? new Set(this.faults.invalidFhir) : null;
        if (invalid && c.uuid && invalid.has(c.uuid) && req.method === "GET") log.fault = "invalidFhir";
        return handleRest(this.store, { method: req.method ?? "GET", segments: c.segments, query, body: parsed, base, invalid, username: this.username });
      }
      case "fhir": {
        if (!this.fhir2) return text(404, "");
        const [version, ...segments] = c.segments;
        if (version !== "R4") return text(404, "");
        const open = (segments[0] === "metadata" || segments[0] === ".well-known") && req.method === "GET";
        if (!open && !this.authorized(req)) return this.unauthorized("fhir");
        if (segments[0] === ".well-known") return json(200, { capabilities: ["client-public"] });
        let parsed: unknown;
        if (body !== "") {
          try {
            parsed = JSON.parse(body);
          } catch {
            return outcome(400, "invalid", "HAPI-0450: Failed to parse request body as JSON resource");
          }
        }
        const invalid = this.faults.invalidFhir.length > 0 ? new Set(this.faults.invalidFhir) : null;
        if (invalid && c.uuid && invalid.has(c.uuid) && req.method === "GET") log.fault = "invalidFhir";
        return handleFhir(this.store, { method: req.method ?? "GET", segments, query, body: parsed, base, invalid });
      }
      case "sync2": {
        if (!this.authorized(req)) return this.unauthorized("rest");
        return this.sync2Messages(req.method ?? "GET", c.segments, query, body);
      }
      default:
        return text(404, `<html><body>HTTP Status 404 - ${req.url ?? ""} not found</body></html>`);
    }
  }

  /** POST creates (an existing uuid: 403 "The entity already exists", as sync2 answers); GET lists. */
  private sync2Messages(method: string, segments: string[], query: URLSearchParams, body: string): Reply {
    if (segments[0] !== "messages") return restError(404, "Unknown sync2 resource");
    if (method === "POST" && segments.length === 1) {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return restError(400, "[Invalid Submission : request body is not valid JSON]");
      }
      if (typeof m.uuid !== "string" || !m.uuid) return restError(400, "[Invalid Submission : uuid is required]");
      if (this.auditMessages.has(m.uuid)) return restError(403, "The entity already exists");
      this.auditMessages.set(m.uuid, { ...m, id: this.auditMessages.size + 1 });
      return json(201, this.auditMessages.get(m.uuid));
    }
    if (method === "GET" && segments.length === 1) {
      const pageSize = Number(query.get("pageSize")) || 100;
      const page = Number(query.get("pageIndex")) || 1;
      const creator = query.get("creatorInstanceId");
      const all = [...this.auditMessages.values()].filter((m) => !creator || m.creatorInstanceId === creator);
      return json(200, { itemsCount: all.length, page, pageSize, data: all.slice((page - 1) * pageSize, page * pageSize) });
    }
    if (method === "GET" && segments[1]) {
      const m = this.auditMessages.get(segments[1]);
      return m ? json(200, m) : restError(404, "Object with given uuid doesn't exist");
    }
    return restError(405, "Method not allowed");
  }

  private feed(segments: string[], selfUrl: string, base: string, log: RequestLog): Reply {
    const [category, pageSpec] = segments;
    if (!category || !pageSpec || segments.length !== 2) return text(404, "<html><body>HTTP Status 404</body></html>");
    let page: "recent" | number;
    if (pageSpec === "recent") page = "recent";
    else if (/^-?\d+$/.test(pageSpec)) page = Number(pageSpec);
    else return text(400, "<html><body>HTTP Status 400 - bad feed page number</body></html>");
    const f = this.faults;
    const xml = renderFeedPage(this.store, {
      category,
      page,
      selfUrl,
      feedBase: `${base}/ws/atomfeed/${category}`,
      pageSize: this.pageSize,
      dialect: this.store.opts.dialect,
      hidden: f.hideFeedEntries.length > 0 ? new Set(f.hideFeedEntries) : null,
    });
    if (xml === undefined) {
      return text(500, `<html><body>HTTP Status 500 - org.ict4h.atomfeed.server.exceptions.AtomFeedRuntimeException: feed does not exist</body></html>`);
    }
    let out = xml;
    if (f.entityBomb) {
      out = entityBombXml();
      log.fault = "entityBomb";
    } else {
      if (f.hugeFeed > 0) {
        out = padXml(out, f.hugeFeed);
        log.fault = "hugeFeed";
      }
      if (f.malformedFeed) {
        out = truncateXml(out);
        log.fault = "malformedFeed";
      }
    }
    return { status: 200, headers: { "content-type": ATOM_TYPE }, body: out };
  }

  // ------------------------------------------------------------------ admin (/__sim/*, no auth, no faults)

  /** Stats as plain JSON (recordGets as an object). */
  statsJson(): Record<string, unknown> {
    return {
      ...this.stats,
      recordGets: Object.fromEntries(this.stats.recordGets),
      events: this.store.events.length,
      records: {
        patients: this.store.patients.size,
        visits: this.store.visits.size,
        encounters: this.store.encounters.size,
        obs: this.store.obs.size,
        ...Object.fromEntries(SIM_TYPES.map((t) => [t.section, this.store.records(t.type).size])),
      },
    };
  }

  private admin(method: string, pathname: string, query: URLSearchParams, body: string): Reply {
    let parsed: unknown = {};
    if (body.trim() !== "") {
      try {
        parsed = JSON.parse(body);
      } catch {
        return json(400, { error: "body is not valid JSON" });
      }
    }
    const route = `${method} ${pathname.replace(/\/+$/, "")}`;
    try {
      switch (route) {
        case "GET /__sim/faults":
          return json(200, this.faults);
        case "POST /__sim/faults":
          mergeFaults(this.faults, parsed);
          return json(200, this.faults);
        case "DELETE /__sim/faults":
          clearFaults(this.faults);
          return json(200, this.faults);
        case "GET /__sim/stats":
          return json(200, this.statsJson());
        case "GET /__sim/count":
          // Cheap progress probe (benchmarks poll it while measuring).
          return json(200, { records: this.store.recordCount(), events: this.store.events.length });
        case "POST /__sim/reset-stats":
          this.resetStats();
          return json(200, { ok: true });
        case "GET /__sim/snapshot":
          return json(200, this.snapshot());
        case "POST /__sim/generate": {
          if (!isObject(parsed) || typeof parsed.patients !== "number") return json(400, { error: "body must be {patients: number, ...}" });
          const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);
          this.generate({
            patients: parsed.patients,
            visitsPerPatient: num(parsed.visitsPerPatient),
            encountersPerVisit: num(parsed.encountersPerVisit),
            obsPerEncounter: num(parsed.obsPerEncounter),
            conditionsPerPatient: num(parsed.conditionsPerPatient),
            perPatient: isObject(parsed.perPatient)
              ? Object.fromEntries(Object.entries(parsed.perPatient).filter((e): e is [string, number] => typeof e[1] === "number"))
              : undefined,
          });
          return json(200, { ok: true, records: this.store.recordCount(), events: this.store.events.length });
        }
        case "POST /__sim/mutate": {
          const n = isObject(parsed) && typeof parsed.n === "number" ? parsed.n : 1;
          this.mutate(n);
          return json(200, { ok: true, records: this.store.recordCount(), events: this.store.events.length });
        }
        case "POST /__sim/changes": {
          const interval = isObject(parsed) && typeof parsed.intervalMs === "number" ? parsed.intervalMs : 0;
          const perTick = isObject(parsed) && typeof parsed.perTick === "number" ? parsed.perTick : 1;
          if (interval > 0) this.startChanges(interval, perTick);
          else this.stopChanges();
          return json(200, { ok: true, running: interval > 0 });
        }
        case "GET /__sim/lacking":
          return json(200, { lacking: [...this.store.lacking] });
        case "POST /__sim/lacking":
        case "DELETE /__sim/lacking": {
          // POST: the server loses these metadata uuids; DELETE: they are installed again.
          const uuids = isObject(parsed) && Array.isArray(parsed.uuids) ? parsed.uuids.filter((u): u is string => typeof u === "string") : [];
          for (const u of uuids) {
            if (method === "POST") this.store.lacking.add(u);
            else this.store.lacking.delete(u);
          }
          return json(200, { lacking: [...this.store.lacking] });
        }
        case "POST /__sim/save":
          this.save();
          return json(200, { ok: true });
        case "GET /__sim/requests": {
          const since = Number(query.get("since") ?? 0) || 0;
          return json(200, since > 0 ? this.requests.filter((r) => r.at >= since) : this.requests);
        }
        default:
          return json(404, { error: `unknown admin route ${route}` });
      }
    } catch (e) {
      return json(400, { error: e instanceof Error ? e.message : String(e) });
    }
  }
}

/** Names and a birth date found in a write's body, quoted the way OpenMRS validation messages quote them. */
function quotedValues(body: string): string {
  const found: string[] = [];
  const walk = (v: unknown, key = ""): void => {
    if (typeof v === "string" && /^(given|family|givenName|familyName|birthDate|birthdate|text|display)$/.test(key)) found.push(v);
    else if (Array.isArray(v)) for (const x of v) walk(x, key);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  try {
    walk(JSON.parse(body));
  } catch {
    return "";
  }
  return found.length ? `: value(s) "${found.slice(0, 6).join('", "')}" failed validation` : "";
}
