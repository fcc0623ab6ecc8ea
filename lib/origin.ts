/**
 * Credentials stay with their origin. A server's credentials go only to its own scheme, host and port;
 * a link that a feed or a record names elsewhere is refused, or (when the user allowed it for that
 * server) followed without credentials. https never downgrades to http, not even without credentials.
 */

/** A request was refused because it would leave the server's origin. Permanent: a retry cannot fix it. */
export class OriginError extends Error {
  constructor(
    readonly url: string,
    message: string,
  ) {
    super(message);
    this.name = "OriginError";
  }
}

/** What to do with a link to another origin: refuse it, or follow it without credentials. */
export type ForeignLinks = "refuse" | "anonymous";

/** Removes user:password@ from a URL before it appears in any message. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, "$1");
}

/** A configured base URL: http(s), no user or password in it (those belong in credentials). */
export function checkBaseUrl(url: string, what = "URL"): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${what} is not a valid URL (${redactUrl(url)})`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error(`${what} must start with http:// or https:// (got "${redactUrl(url)}")`);
  if (parsed.username || parsed.password) {
    throw new Error(`${what} must not carry a user name or password (${redactUrl(url)}): put them in the node's credentials`);
  }
  return parsed;
}

export class OriginPolicy {
  readonly origin: string;
  private readonly https: boolean;

  constructor(
    baseUrl: string,
    readonly foreign: ForeignLinks = "refuse",
  ) {
    const u = new URL(baseUrl);
    this.origin = u.origin;
    this.https = u.protocol === "https:";
  }

  /**
   * Whether a request to `url` may carry the server's credentials: true for the server's own origin,
   * false for another origin the user allowed (sent without credentials). Throws OriginError otherwise.
   */
  credentialsFor(url: URL): boolean {
    if (url.origin === this.origin) return true;
    const shown = redactUrl(url.href);
    if (this.https && url.protocol !== "https:") {
      throw new OriginError(shown, `refused ${shown}: the server is https and this link is not (no downgrade)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new OriginError(shown, `refused ${shown}: not an http(s) link`);
    if (url.username || url.password) throw new OriginError(shown, `refused ${shown}: the link carries a user name or password`);
    if (this.foreign === "anonymous") return false;
    throw new OriginError(
      shown,
      `refused ${shown}: it leaves ${this.origin}, and credentials stay with their origin (allow links to other hosts in the server node to follow them without credentials)`,
    );
  }

  /**
   * Maps an absolute link from a feed or record onto the server's own base URL when it names one of
   * the server's API paths (/ws/...) somewhere else: OpenMRS builds absolute links from the request, so
   * behind a proxy they name an internal host. Other links are returned as they are (and checked when
   * requested).
   */
  rebase(baseUrl: string, link: string): string {
    let u: URL;
    try {
      u = new URL(link);
    } catch {
      return link;
    }
    if (u.origin === this.origin && !u.username && !u.password) return u.href;
    const at = u.pathname.indexOf("/ws/");
    if (at < 0) return link;
    return `${baseUrl.replace(/\/+$/, "")}${u.pathname.slice(at)}${u.search}`;
  }
}

/**
 * The x-sync-entry header that tells a server's logs which feed entry a request is for: printable ASCII
 * only (anything else as %xx of its UTF-16 unit), so an entry id with CR/LF cannot split the request.
 */
export function entryHeader(entryId: string | undefined): Record<string, string> {
  if (!entryId) return {};
  return { "x-sync-entry": entryId.replace(/[^\x21-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`) };
}

/**
 * A record id that may go into a URL path: letters, digits, "-", "_" and "." (FHIR's id alphabet), at
 * most 64, never "." or ".." segments. Anything else ("../../admin", "%2e%2e", a slash) is refused.
 */
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id) && !id.includes("..");
}
