/**
 * A trivial `node:http` server for bench/ceiling.ts: answers each path from a table of pre-rendered
 * bodies (or one fixed answer for any other path), with no simulator work at all. Run as its own process:
 *   node -r tsx/cjs bench/fixed-server.ts ROUTES.json
 * ROUTES.json: { "routes": { "/openmrs/ws/...": { "status", "type", "body" } }, "fallback": {...} }
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";

interface Answer {
  status: number;
  type: string;
  body: string;
}
interface Prepared {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8")) as { routes: Record<string, Answer>; fallback: Answer };
const prepare = (a: Answer): Prepared => {
  const body = Buffer.from(a.body, "utf8");
  return { status: a.status, headers: { "content-type": a.type, "content-length": String(body.length) }, body };
};
const routes = new Map(Object.entries(spec.routes).map(([k, a]) => [k, prepare(a)]));
const fallback = prepare(spec.fallback);

const server = http.createServer((req, res) => {
  // read (and drop) the request body before answering, as any server does
  req.on("data", () => undefined);
  req.on("end", () => {
    const a = routes.get(req.url ?? "") ?? fallback;
    res.writeHead(a.status, a.headers);
    res.end(a.body);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as net.AddressInfo;
  process.stdout.write(`fixed-server listening on http://127.0.0.1:${port}/openmrs\n`);
});
process.on("SIGTERM", () => process.exit(0));
