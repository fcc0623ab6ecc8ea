/** What a route handler answers; the server applies faults, logging and writes it. */
export interface Reply {
  status: number;
  /** A fresh object per reply: the server adds content-length to it. */
  headers: Record<string, string>;
  body: string;
}

export const JSON_TYPE = "application/json;charset=UTF-8";
export const FHIR_TYPE = "application/fhir+json;charset=UTF-8";
export const ATOM_TYPE = "application/atom+xml;charset=UTF-8";
export const HTML_TYPE = "text/html;charset=UTF-8";

export function json(status: number, value: unknown, contentType = JSON_TYPE): Reply {
  return { status, headers: { "content-type": contentType }, body: JSON.stringify(value) };
}

export function text(status: number, body: string, contentType = HTML_TYPE): Reply {
  return { status, headers: { "content-type": contentType }, body };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
