/**
 * Client certificates (mutual TLS) and a private CA file for `rediss://`, `rediss+cluster://`
 * and `rediss+sentinel://`: the URL parameters `tls_cert`, `tls_key` and `tls_ca` (paths), the
 * files' checks (a key readable by group or others is refused, as ssh does; a key that does not
 * belong to its certificate is refused before any connection), and the node:tls options built
 * from them. Also a guard for Deno's node:tls sockets, which can emit a second `error` (EPIPE
 * after the server's fatal alert) that ioredis, listening with `once`, would leave uncaught.
 * node:tls and node:crypto are loaded on first use only (the lean path imports this module).
 */
import type tls from "node:tls";
import { TtError } from "../core/errors.ts";

/** The files a URL names (paths as given). */
export interface TlsPaths {
  cert?: string;
  key?: string;
  ca?: string;
}

/** The URL parameters for TLS files, and what each one is. */
export const TLS_PARAMS = { tls_cert: "cert", tls_key: "key", tls_ca: "ca" } as const;
export type TlsParam = keyof typeof TLS_PARAMS;

export function isTlsParam(k: string): k is TlsParam {
  return Object.hasOwn(TLS_PARAMS, k);
}

/**
 * The TLS files of a URL's query (`tls_cert`, `tls_key`, `tls_ca`): only for TLS URLs, a
 * certificate and its key together, absolute paths (a relative one would depend on the
 * directory each process runs in).
 */
export function tlsPaths(params: Map<string, string>, tlsOn: boolean, shown: string): TlsPaths {
  const out: TlsPaths = {};
  for (const [param, what] of Object.entries(TLS_PARAMS)) {
    const v = params.get(param);
    if (v === undefined) continue;
    if (!tlsOn) {
      throw new TtError(
        `${param} in the Redis URL ${shown} needs TLS: use rediss://, rediss+cluster:// or ` +
          `rediss+sentinel://`,
      );
    }
    if (!v.startsWith("/")) {
      throw new TtError(`${param} in the Redis URL ${shown} must be an absolute path (got '${v}')`);
    }
    out[what] = v;
  }
  if (!out.cert !== !out.key) {
    const alone = out.cert ? "tls_cert without tls_key" : "tls_key without tls_cert";
    throw new TtError(`the Redis URL ${shown} has ${alone}: a client certificate needs both files`);
  }
  return out;
}

/** The paths of the files (for permissions). */
export function tlsFileList(p: TlsPaths): string[] {
  return [p.cert, p.key, p.ca].filter((x): x is string => !!x);
}

function readPem(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
      ? "permission denied"
      : (e as Error).message;
    throw new TtError(`cannot read the TLS ${what} file ${path} (${why})`);
  }
}

/** The text of a PEM file of certificates (the CA file, the client certificate), checked. */
function certificates(pem: string, path: string, what: string): string {
  if (!/-----BEGIN CERTIFICATE-----/.test(pem)) {
    throw new TtError(
      `the TLS ${what} file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE)`,
    );
  }
  return pem;
}

function checkKeyMode(path: string) {
  let mode: number | null = null;
  try {
    mode = Deno.statSync(path).mode;
  } catch { /* readPem says why */ }
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new TtError(
      `the TLS key file ${path} is readable by others (mode ${
        (mode & 0o777).toString(8).padStart(3, "0")
      }): run chmod 600 ${path} (tt refuses it, as ssh does)`,
    );
  }
}

/** The PEM texts, node:tls style, checked. */
export interface TlsPem {
  cert?: string;
  key?: string;
  ca?: string[];
}

/** Reads and checks the files (synchronously: once per client, when it is made). */
export function readTlsFiles(p: TlsPaths): TlsPem {
  const out: TlsPem = {};
  if (p.ca) out.ca = [certificates(readPem(p.ca, "CA"), p.ca, "CA")];
  if (p.cert && p.key) {
    checkKeyMode(p.key);
    const pemCert = readPem(p.cert, "certificate");
    const key = readPem(p.key, "key");
    const cert = certificates(pemCert, p.cert, "certificate");
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key)) {
      throw new TtError(
        `the TLS key file ${p.key} is encrypted, which tt cannot use: decrypt it ` +
          `(openssl pkey -in ${p.key} -out plain.key) and keep that file mode 600`,
      );
    }
    if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(key)) {
      throw new TtError(
        `the TLS key file ${p.key} holds no PEM private key (-----BEGIN PRIVATE KEY)`,
      );
    }
    out.cert = cert;
    out.key = key;
  }
  return out;
}

/**
 * Does `key` belong to the first certificate of `cert`? (A mismatched pair fails the handshake
 * with "unsupported protocol", which names neither file.) node:crypto is loaded here only.
 */
export async function checkKeyPair(p: TlsPaths, pem: TlsPem): Promise<void> {
  if (!pem.cert || !pem.key) return;
  const { X509Certificate, createPrivateKey } = await import("node:crypto");
  let ok: boolean;
  try {
    ok = new X509Certificate(pem.cert).checkPrivateKey(createPrivateKey(pem.key));
  } catch (e) {
    throw new TtError(
      `cannot use the TLS certificate ${p.cert} with the key ${p.key}: ${(e as Error).message}`,
    );
  }
  if (!ok) {
    throw new TtError(`the TLS key ${p.key} does not belong to the certificate ${p.cert}`);
  }
}

/** Marks the node:tls options tt makes, so that only their sockets are guarded. */
const TT_SOCKET = Symbol.for("tt.tls-socket");

/**
 * node:tls options for these files (ioredis copies them into tls.connect's options), with the
 * guard below installed.
 */
export async function tlsOptions(
  pem: TlsPem,
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  await guardTlsSockets();
  return { ...extra, ...pem, [TT_SOCKET]: true };
}

let guarded = false;

/**
 * After the server's fatal alert (a client certificate required or refused), Deno's TLS socket
 * emits `error` twice (the alert, then EPIPE for a write queued behind it). ioredis listens with
 * `once`, so the second one was uncaught and ended the process with a stack trace. Every socket
 * made from tlsOptions gets a listener of its own (ioredis still sees the first error).
 */
async function guardTlsSockets() {
  if (guarded) return;
  guarded = true;
  const tls = (await import("node:tls")).default;
  const connect = tls.connect;
  const patched = (...args: unknown[]) => {
    const socket = (connect as (...a: unknown[]) => tls.TLSSocket)(...args);
    if (args.some((a) => typeof a === "object" && a !== null && TT_SOCKET in a)) {
      socket.on("error", () => {});
    }
    return socket;
  };
  (tls as { connect: unknown }).connect = patched;
}

/** The fatal TLS alerts that mean "your client certificate": missing, or not trusted. */
export function clientCertAlert(e: Error): "missing" | "refused" | undefined {
  const s = `${(e as { code?: string }).code ?? ""} ${e.message}`;
  if (/CERTIFICATE_REQUIRED|CertificateRequired/i.test(s)) return "missing";
  if (
    /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR|ACCESS_DENIED|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE)|fatal alert: (UnknownCA|BadCertificate|CertificateUnknown|DecryptError|AccessDenied|CertificateExpired|CertificateRevoked|UnsupportedCertificate)/i
      .test(s)
  ) return "refused";
  return undefined;
}

/**
 * Why a TLS connection to host:port failed after its handshake, if the server said so: the
 * connection is made again and nothing is written (a write queued behind the server's alert
 * turns it into EPIPE), so the server's fatal alert about the client certificate is read.
 * Undefined when the server sent no alert within `timeoutMs`.
 */
export async function tlsAlertCause(
  host: string,
  port: number,
  options: Record<string, unknown>,
  timeoutMs: number,
): Promise<Error | undefined> {
  const tls = (await import("node:tls")).default;
  return await new Promise((resolve) => {
    let socket: tls.TLSSocket;
    const done = (e: Error | undefined) => {
      clearTimeout(timer);
      socket?.destroy();
      resolve(e);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    try {
      socket = tls.connect({ ...options, host, port });
    } catch (e) {
      done(e as Error);
      return;
    }
    socket.on("error", (e: Error) => done(clientCertAlert(e) ? e : undefined));
    socket.on("close", () => done(undefined));
    socket.on("data", () => done(undefined));
  });
}

/** The node:tls options for `p`'s files: read, checked (key mode, key pair), guarded. */
export async function loadTls(
  p: TlsPaths,
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const pem = readTlsFiles(p);
  await checkKeyPair(p, pem);
  return await tlsOptions(pem, extra);
}
