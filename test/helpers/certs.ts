/**
 * Throwaway certificates made with the openssl command line at test time, and https peers on
 * 127.0.0.1 port 0 that count the requests they answer.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import type * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface Certs {
  dir: string;
  /** A private CA (self-signed) and the paths of its PEM files. */
  ca: string;
  caPath: string;
  /** Server certificate for 127.0.0.1 / localhost signed by the CA. */
  serverCert: string;
  serverKey: string;
  /** A self-signed server certificate for 127.0.0.1 / localhost (its own issuer). */
  selfSignedCert: string;
  selfSignedKey: string;
  /** Client certificate (clientAuth) signed by the CA, its key, and the key encrypted with PASSPHRASE. */
  clientCert: string;
  clientKey: string;
  clientKeyEncrypted: string;
  /** A client certificate signed by nobody the server trusts. */
  strangerCert: string;
  strangerKey: string;
  remove(): void;
}

export const PASSPHRASE = "correct horse";

export function makeCerts(): Certs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-certs-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const san = "subjectAltName=IP:127.0.0.1,DNS:localhost";
  ssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=sync test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  const signed = (name: string, cn: string, ext: string, ca = "ca") => {
    ssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    ssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  };
  signed("server", "localhost", `${san}\nextendedKeyUsage=serverAuth`);
  signed("client", "sync client", "extendedKeyUsage=clientAuth");
  ssl("pkey", "-in", "client.key", "-aes256", "-passout", `pass:${PASSPHRASE}`, "-out", "client-enc.key");
  ssl("req", "-x509", ...ec, "-keyout", "self.key", "-out", "self.crt", "-days", "2", "-subj", "/CN=localhost", "-addext", san);
  ssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "other-ca.key",
    "-out",
    "other-ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=other CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
  );
  signed("stranger", "stranger", "extendedKeyUsage=clientAuth", "other-ca");
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  return {
    dir,
    ca: read("ca.crt"),
    caPath: path.join(dir, "ca.crt"),
    serverCert: read("server.crt"),
    serverKey: read("server.key"),
    selfSignedCert: read("self.crt"),
    selfSignedKey: read("self.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    clientKeyEncrypted: read("client-enc.key"),
    strangerCert: read("stranger.crt"),
    strangerKey: read("stranger.key"),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface HttpsPeer {
  url: string;
  /** Requests that reached the handler (a refused handshake never does). */
  requests: { method: string; url: string; authorization?: string; clientCert?: string }[];
  close(): Promise<void>;
}

/** An https server on 127.0.0.1 port 0; `handler` answers, every request is counted first. */
export async function httpsPeer(options: https.ServerOptions, handler: http.RequestListener): Promise<HttpsPeer> {
  const requests: HttpsPeer["requests"] = [];
  const server = https.createServer(options, (req, res) => {
    const socket = req.socket as import("node:tls").TLSSocket;
    const peerCert = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
    requests.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, clientCert: [peerCert?.subject?.CN].flat()[0] });
    handler(req, res);
  });
  // A refused handshake is the point of several tests: keep it off the console.
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
