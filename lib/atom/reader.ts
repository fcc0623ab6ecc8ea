/** Fetches feed pages over our HttpClient and parses them; maps archive links onto the configured base URL. */
import type { HttpClient } from "../http";
import { classifyStatus, type Outcome } from "../outcome";
import { parseFeedPage, type FeedPage } from "./parse";

/** A feed page request that got an HTTP error status. */
export class FeedHttpError extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly url: string,
  ) {
    super(`HTTP ${outcome.status} from feed page ${url}`);
    this.name = "FeedHttpError";
  }
}

/** `{base}/ws/atomfeed/{category}/recent`, the URL every consumer starts from. */
export function recentFeedUrl(baseUrl: string, category: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/ws/atomfeed/${encodeURIComponent(category)}/recent`;
}

/**
 * Maps a page link from the server ("http://host/openmrs/ws/atomfeed/patient/31") onto our configured
 * base URL. OpenMRS builds absolute links from the request (proxies, X-Forwarded-Proto, a renamed
 * host), so following them verbatim can leave the server we were configured for. Links we cannot map
 * are used as they are.
 */
export function rebasePageUrl(baseUrl: string, category: string, link: string): string {
  const m = /\/ws\/atomfeed\/[^/]+\/(\d+|recent)\/?$/.exec(link);
  if (!m) return link;
  return `${baseUrl.replace(/\/+$/, "")}/ws/atomfeed/${encodeURIComponent(category)}/${m[1]}`;
}

/** Page number at the end of a numbered page URL, if any. */
export function pageNumber(url: string): number | undefined {
  const m = /\/(\d+)\/?$/.exec(url);
  return m ? Number(m[1]) : undefined;
}

export class FeedReader {
  /** Number of page GETs done (for status and benchmarks). */
  pagesFetched = 0;

  constructor(private readonly http: HttpClient) {}

  async fetchPage(url: string): Promise<FeedPage> {
    const res = await this.http.request("GET", url, { headers: { accept: "application/atom+xml" } });
    this.pagesFetched++;
    if (res.status !== 200) throw new FeedHttpError(classifyStatus(res.status, res.headers["retry-after"]), url);
    return parseFeedPage(res.body, url);
  }
}
