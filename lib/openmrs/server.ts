/**
 * One OpenMRS instance: base URL with its context path, Basic auth, a shared keep-alive HTTP agent for
 * feed and REST calls, a fhir-kit-client for fhir2 calls, and whether the fhir2 module is there.
 */
import { HttpClient, parseJsonBody, type HttpResponse } from "../http";
import { FhirClient, type FhirResponse } from "../fhir/client";
import type { TlsOptions } from "../tls";
import { checkBaseUrl, OriginPolicy, type ForeignLinks } from "../origin";

export type FhirMode = "auto" | "fhir2" | "rest";

/** What a server offers, worked out once and handed to every fetch and write. */
export interface ServerProfile {
  /** The fhir2 module answers: FHIR calls for the types it serves. */
  fhir2: boolean;
  /** The FHIR version its CapabilityStatement gives ("4.0.1"). */
  fhirVersion?: string;
  /** The software and version its CapabilityStatement gives. */
  software?: string;
}

/** Whether records of this FHIR type go through fhir2 on a server with this profile. */
export function viaFhir2(profile: ServerProfile, resourceType: string): boolean {
  return profile.fhir2 && FHIR2_TYPES.has(resourceType);
}

export interface OpenmrsServerOptions {
  /** Base URL including the context path, e.g. http://host:8080/openmrs */
  url: string;
  username?: string;
  password?: string;
  timeoutMs?: number;
  /** auto: use fhir2 when the server has it (probed once); fhir2: always; rest: never. */
  fhirMode?: FhirMode;
  maxSockets?: number;
  /** false: accept any certificate (prefer tls.rejectUnauthorized; tls wins when both are given). */
  rejectUnauthorized?: boolean;
  /** CA, client certificate and key, minimum version, verification: for feed, REST and fhir2 calls alike. */
  tls?: TlsOptions;
  /** Links to another origin: refused (default), or followed without credentials. */
  foreignLinks?: ForeignLinks;
}

/**
 * FHIR types the fhir2 module serves that we read and write. Not Person (no death, no attribute uuids: read
 * and written through REST, lib/fhir/types/person.ts) nor RelatedPerson (read only, no type).
 */
export const FHIR2_TYPES = new Set([
  "Patient",
  "Encounter",
  "Observation",
  "Location",
  "AllergyIntolerance",
  "Condition",
  "Practitioner",
  "Medication",
  "MedicationRequest",
  "ServiceRequest",
  "Group",
  "Immunization",
  "DiagnosticReport",
]);

export class OpenmrsServer {
  readonly baseUrl: string;
  readonly http: HttpClient;
  readonly fhir: FhirClient;
  readonly fhirMode: FhirMode;
  /** Credentials go only to this server's origin. */
  readonly originPolicy: OriginPolicy;
  private profileProbe?: Promise<ServerProfile>;
  private profiledAt = 0;
  private profileFailed = false;

  constructor(readonly options: OpenmrsServerOptions) {
    checkBaseUrl(options.url, "OpenMRS URL");
    this.baseUrl = options.url.replace(/\/+$/, "");
    this.originPolicy = new OriginPolicy(this.baseUrl, options.foreignLinks);
    this.http = new HttpClient({
      username: options.username,
      password: options.password,
      timeoutMs: options.timeoutMs,
      maxSockets: options.maxSockets,
      rejectUnauthorized: options.rejectUnauthorized,
      tls: options.tls,
      originPolicy: this.originPolicy,
    });
    this.fhir = new FhirClient({
      baseUrl: `${this.baseUrl}/ws/fhir2/R4`,
      authorization: this.http.authorization,
      timeoutMs: options.timeoutMs,
      maxBodyBytes: this.http.maxBodyBytes,
      maxSockets: options.maxSockets,
      tls: { rejectUnauthorized: options.rejectUnauthorized, ...options.tls },
    });
    this.fhirMode = options.fhirMode ?? "auto";
  }

  /** The server's origin plus path-less part: "http://host:8080" for "http://host:8080/openmrs". */
  get origin(): string {
    return new URL(this.baseUrl).origin;
  }

  /** Context path ("/openmrs"), "" when OpenMRS runs at the root. */
  get contextPath(): string {
    return new URL(this.baseUrl).pathname.replace(/\/+$/, "");
  }

  /**
   * Resolves a link from a feed entry. Bahmni links carry the context path ("/openmrs/ws/rest/..."),
   * Sync 2.0 links are relative to the base URL ("/ws/rest/..."); an absolute link to one of the
   * server's API paths elsewhere is rebased onto this server, other absolute links are used as they are
   * (and refused when requested if they leave the server's origin).
   */
  resolveLink(link: string): string {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link)) return this.originPolicy.rebase(this.baseUrl, link);
    const path = link.startsWith("/") ? link : `/${link}`;
    const ctx = this.contextPath;
    if (ctx && (path === ctx || path.startsWith(`${ctx}/`))) return this.origin + path;
    return this.baseUrl + path;
  }

  restUrl(resource: string, uuid?: string): string {
    return `${this.baseUrl}/ws/rest/v1/${resource}${uuid ? `/${encodeURIComponent(uuid)}` : ""}`;
  }

  /**
   * The server's profile: probes GET /ws/fhir2/R4/metadata once. A probe that could not reach the
   * server is tried again after a minute; an answer (fhir2 there or not) is kept.
   */
  profile(): Promise<ServerProfile> {
    if (this.fhirMode === "rest") return Promise.resolve({ fhir2: false });
    if (this.fhirMode === "fhir2") return Promise.resolve({ fhir2: true });
    if (!this.profileProbe || (this.profileFailed && Date.now() - this.profiledAt > 60_000)) {
      this.profiledAt = Date.now();
      this.profileFailed = false;
      this.profileProbe = this.fhir.capabilities().then(
        (r) => {
          const body = r.body as { resourceType?: string; fhirVersion?: string; software?: { name?: string; version?: string } } | undefined;
          if (r.status !== 200 || body?.resourceType !== "CapabilityStatement") return { fhir2: false };
          const software = body.software?.name ? `${body.software.name} ${body.software.version ?? ""}`.trim() : undefined;
          return { fhir2: true, fhirVersion: body.fhirVersion, software };
        },
        () => {
          this.profileFailed = true;
          return { fhir2: false };
        },
      );
    }
    return this.profileProbe;
  }

  async restGet(url: string, headers: Record<string, string> = {}): Promise<HttpResponse & { json: unknown }> {
    const res = await this.http.request("GET", url, { headers: { accept: "application/json", ...headers } });
    return { ...res, json: parseJsonBody(res.body) };
  }

  async restSend(method: "POST" | "DELETE", url: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse & { json: unknown }> {
    const res = await this.http.request(method, url, {
      headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { ...res, json: parseJsonBody(res.body) };
  }

  fhirRead(resourceType: string, id: string, headers?: Record<string, string>): Promise<FhirResponse> {
    return this.fhir.read(resourceType, id, headers);
  }

  close(): void {
    this.http.close();
    this.fhir.close();
  }
}
