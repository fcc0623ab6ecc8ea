/**
 * One OpenMRS instance: base URL with its context path, Basic auth, a shared keep-alive HTTP agent for
 * feed and REST calls, a fhir-kit-client for fhir2 calls, and whether the fhir2 module is there.
 */
import { HttpClient, parseJsonBody, type HttpResponse } from "../http";
import { FhirClient, type FhirResponse } from "../fhir/client";

export type FhirMode = "auto" | "fhir2" | "rest";

export interface OpenmrsServerOptions {
  /** Base URL including the context path, e.g. http://host:8080/openmrs */
  url: string;
  username?: string;
  password?: string;
  timeoutMs?: number;
  /** auto: use fhir2 when the server has it (probed once); fhir2: always; rest: never. */
  fhirMode?: FhirMode;
  maxSockets?: number;
  rejectUnauthorized?: boolean;
}

/** FHIR types the fhir2 module serves that we read and write. */
export const FHIR2_TYPES = new Set(["Patient", "Encounter", "Observation", "Person", "Location", "AllergyIntolerance", "Condition", "Practitioner", "Medication", "MedicationRequest", "ServiceRequest", "Group", "Immunization", "DiagnosticReport"]);

export class OpenmrsServer {
  readonly baseUrl: string;
  readonly http: HttpClient;
  readonly fhir: FhirClient;
  readonly fhirMode: FhirMode;
  private fhir2Probe?: Promise<boolean>;
  private fhir2ProbedAt = 0;

  constructor(readonly options: OpenmrsServerOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new Error(`OpenMRS URL must start with http:// or https:// (got "${options.url}")`);
    this.baseUrl = options.url.replace(/\/+$/, "");
    this.http = new HttpClient({
      username: options.username,
      password: options.password,
      timeoutMs: options.timeoutMs,
      maxSockets: options.maxSockets,
      rejectUnauthorized: options.rejectUnauthorized,
    });
    this.fhir = new FhirClient({ baseUrl: `${this.baseUrl}/ws/fhir2/R4`, authorization: this.http.authorization, timeoutMs: options.timeoutMs });
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
   * Sync 2.0 links are relative to the base URL ("/ws/rest/..."); absolute links are used as they are.
   */
  resolveLink(link: string): string {
    if (/^https?:\/\//.test(link)) return link;
    const path = link.startsWith("/") ? link : `/${link}`;
    const ctx = this.contextPath;
    if (ctx && (path === ctx || path.startsWith(`${ctx}/`))) return this.origin + path;
    return this.baseUrl + path;
  }

  restUrl(resource: string, uuid?: string): string {
    return `${this.baseUrl}/ws/rest/v1/${resource}${uuid ? `/${encodeURIComponent(uuid)}` : ""}`;
  }

  /** Whether fhir2 calls should be used (probes GET /ws/fhir2/R4/metadata once; re-probes a failed probe after a minute). */
  async useFhir2(): Promise<boolean> {
    if (this.fhirMode === "rest") return false;
    if (this.fhirMode === "fhir2") return true;
    if (!this.fhir2Probe || (Date.now() - this.fhir2ProbedAt > 60_000 && !(await this.fhir2Probe.catch(() => false)))) {
      this.fhir2ProbedAt = Date.now();
      this.fhir2Probe = this.fhir.capabilities().then(
        (r) => r.status === 200 && (r.body as { resourceType?: string } | undefined)?.resourceType === "CapabilityStatement",
        () => false,
      );
    }
    return this.fhir2Probe;
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
  }
}
