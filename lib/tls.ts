/**
 * TLS settings of one server, as both HTTP paths use them: the https.Agent of HttpClient (feed and
 * REST) and the undici Agent of FhirClient (fhir2 and plain FHIR servers). Certificate verification
 * is on unless `rejectUnauthorized` is exactly false; the minimum protocol version is TLS 1.2 unless
 * raised to 1.3. Nothing here reads files or knows Node-RED: the config nodes fill these fields from
 * a core tls-config node (its addTLSOptions) and their own minimum-version select.
 */
import type { ConnectionOptions } from "node:tls";

export const TLS_MIN_VERSIONS = ["TLSv1.2", "TLSv1.3"] as const;
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];
export const DEFAULT_TLS_MIN_VERSION: TlsMinVersion = "TLSv1.2";

export type TlsMaterial = string | Buffer | (string | Buffer)[];

export interface TlsOptions {
  /** CA certificates (PEM) trusted for this server, in place of the system roots. */
  ca?: TlsMaterial;
  /** Client certificate chain (PEM), for servers that ask for one (mTLS). */
  cert?: TlsMaterial;
  /** The client certificate's private key (PEM). */
  key?: TlsMaterial;
  /** Passphrase of an encrypted key. */
  passphrase?: string;
  /** Name to send (SNI) and to check the certificate against, when it differs from the URL's host. */
  servername?: string;
  /** Verify the server's certificate. On unless this is exactly false. */
  rejectUnauthorized?: boolean;
  minVersion?: TlsMinVersion;
}

/** The minimum version from a config field; anything unknown or empty is the default (TLS 1.2). */
export function tlsMinVersion(value: unknown): TlsMinVersion {
  return (TLS_MIN_VERSIONS as readonly unknown[]).includes(value) ? (value as TlsMinVersion) : DEFAULT_TLS_MIN_VERSION;
}

/**
 * Shapes what a tls-config node's addTLSOptions() filled in (ca, cert, key, passphrase, servername,
 * rejectUnauthorized, maybe ALPNProtocols) plus our minimum version into TlsOptions. Verification
 * stays on unless the source says false in so many words.
 */
export function tlsOptionsFrom(filled: Record<string, unknown> | undefined, minVersion?: unknown): TlsOptions {
  const f = filled ?? {};
  const material = (v: unknown): TlsMaterial | undefined =>
    typeof v === "string" || Buffer.isBuffer(v) ? (v.length ? v : undefined) : Array.isArray(v) ? (v as (string | Buffer)[]) : undefined;
  const opts: TlsOptions = { rejectUnauthorized: f.rejectUnauthorized !== false, minVersion: tlsMinVersion(minVersion) };
  const ca = material(f.ca);
  const cert = material(f.cert);
  const key = material(f.key);
  if (ca) opts.ca = ca;
  if (cert) opts.cert = cert;
  if (key) opts.key = key;
  if (typeof f.passphrase === "string" && f.passphrase) opts.passphrase = f.passphrase;
  if (typeof f.servername === "string" && f.servername.trim()) opts.servername = f.servername.trim();
  return opts;
}

/** True when these settings accept any certificate. */
export function verificationOff(tls: TlsOptions | undefined): boolean {
  return tls?.rejectUnauthorized === false;
}

/** Options for https.Agent and undici's `connect`: verification on and TLS 1.2 at least unless said otherwise. */
export function connectOptions(tls: TlsOptions | undefined): ConnectionOptions {
  const t = tls ?? {};
  const opts: ConnectionOptions = { rejectUnauthorized: t.rejectUnauthorized !== false, minVersion: t.minVersion ?? DEFAULT_TLS_MIN_VERSION };
  if (t.ca !== undefined) opts.ca = t.ca;
  if (t.cert !== undefined) opts.cert = t.cert;
  if (t.key !== undefined) opts.key = t.key;
  if (t.passphrase !== undefined) opts.passphrase = t.passphrase;
  if (t.servername !== undefined) opts.servername = t.servername;
  return opts;
}

/** Codes that mean the server's certificate was not accepted by us. */
const SERVER_CERT_CODES =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_[A-Z_]+|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)$/;

/** TLS alerts and handshake failures, in words. */
const HANDSHAKE: [RegExp, string][] = [
  [/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION|NO_PROTOCOLS/, "no TLS version both sides accept (check the minimum TLS version)"],
  [/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE/, "the server wants a client certificate we did not give, or offers nothing we accept"],
  [/UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR/, "the server did not accept our client certificate"],
  [/BAD_DECRYPT|ERR_OSSL_BAD_DECRYPT|KEY_VALUES_MISMATCH/, "the client key cannot be used (wrong passphrase, or not the certificate's key)"],
];

/** True when an error code is about TLS (certificates, alerts, handshake). */
export function isTlsCode(code: string | undefined): boolean {
  return !!code && (SERVER_CERT_CODES.test(code) || /^ERR_SSL_|^ERR_TLS_|^ERR_OSSL_|^EPROTO$/.test(code));
}

/**
 * A sentence for a TLS failure, or undefined when the code is not one: names the certificate
 * problem or the refused handshake, with the code, so the person reading it knows what to fix.
 */
export function describeTlsError(code: string | undefined, message?: string): string | undefined {
  if (!code || !isTlsCode(code)) return undefined;
  if (SERVER_CERT_CODES.test(code)) {
    const what = message && message !== code && message.length < 120 ? `${message} (${code})` : code;
    const hint = /SELF_SIGNED|UNABLE_TO/.test(code) ? "; give its CA in the server's TLS settings" : "";
    return `TLS: the server's certificate was not accepted: ${what}${hint}`;
  }
  const words = HANDSHAKE.find(([re]) => re.test(code))?.[1];
  return `TLS handshake failed: ${words ? `${words} ` : ""}(${code})`;
}
