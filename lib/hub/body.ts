/**
 * A JSON request body read by the hub's own routes on Node-RED's httpNode (which parses no body for
 * routes it did not make): bounded in size, refused whole when it is not JSON. No Node-RED here.
 */
import type { IncomingMessage } from "node:http";

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The parsed JSON body. A body a middleware already read (body-parser marks it with `_body`) is taken as it
 * is; body-parser also sets `req.body = {}` for a content type it does not parse (`application/fhir+json`)
 * without reading anything, so an object alone says nothing.
 */
export async function readJson(req: IncomingMessage & { body?: unknown; _body?: boolean }, limit = 256 * 1024): Promise<unknown> {
  if (req._body === true && req.body !== undefined && typeof req.body === "object" && !Buffer.isBuffer(req.body)) return req.body;
  const type = String(req.headers["content-type"] ?? "");
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) throw new BodyError(415, "expected application/json");
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw new BodyError(413, `body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyError(413, `body over ${limit} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new BodyError(400, "body is not JSON");
  }
}
