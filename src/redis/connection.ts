/**
 * Opening Redis connections: `redis://`, `rediss://` (TLS), `unix://`, `redis+cluster://` and
 * `redis+sentinel://` URLs (topology.ts), user/password, client certificates (tls_files.ts),
 * fail-fast for one-shot commands. With
 * topology.ts, the only modules that load ioredis (on first use: a one-shot command that asked
 * for the lean client, lean.ts, never loads it).
 */
import type { Redis } from "ioredis";
import { TtError } from "../core/errors.ts";
import { startTimer, type Timer } from "../core/timer.ts";
import { leanClient } from "./lean.ts";

import { isTopologyUrl, parseTopologyUrl, queryParams, redactUrl } from "./url.ts";
import {
  clusterCause,
  copyTopology,
  isCluster,
  SentinelAuthError,
  topologyCause,
  topologyClient,
} from "./topology.ts";
import { clientCertAlert, loadTls, tlsAlertCause, type TlsPaths, tlsPaths } from "./tls_files.ts";
import { copyScriptSettings, requireReplicas } from "./script.ts";
import { avoidFunctions } from "./functions.ts";
import { noteRedisProbe, noteRedisUrl, type PersistenceInfo } from "./diagnose.ts";

export type { Redis };
export { redactUrl };
export { nodeFor } from "./topology.ts";

export interface ConnectOptions {
  /** Connection name shown in CLIENT LIST. */
  name?: string;
  /** Keep reconnecting after a drop (daemons) instead of failing the next command (CLI). */
  persistent?: boolean;
  connectTimeoutMs?: number;
  /** `[redis] wait_replicas`: every script waits (WAIT) for this many replicas (0: none). */
  waitReplicas?: number;
  /** `[redis] wait_timeout_ms`: how long that WAIT may take. */
  waitTimeoutMs?: number;
}

function clientOptions(url: string) {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TtError(
      `invalid Redis URL '${
        redactUrl(url)
      }': expected redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://`,
    );
  }
  const auth = {
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
  const unix = u.protocol === "unix:" || u.protocol === "redis+unix:";
  const params = queryParams(u.search, url);
  const sentinelParam = [...params.keys()].find((k) => /^sentinel_/.test(k));
  if (sentinelParam) {
    throw new TtError(
      `${sentinelParam} in the Redis URL ${redactUrl(url)} is for redis+sentinel:// URLs only`,
    );
  }
  const tlsFiles: TlsPaths = tlsPaths(params, u.protocol === "rediss:", redactUrl(url));
  const db = Number(u.searchParams.get("db") ?? (unix ? 0 : u.pathname.replace(/^\//, "") || 0));
  if (!Number.isInteger(db) || db < 0) {
    throw new TtError(`invalid database number in Redis URL ${redactUrl(url)}`);
  }
  switch (u.protocol) {
    case "unix:":
    case "redis+unix:":
      return { path: decodeURIComponent(u.pathname), db, ...auth };
    case "redis:":
      return { host: u.hostname || "127.0.0.1", port: Number(u.port || 6379), db, ...auth };
    case "rediss:":
      return {
        host: u.hostname || "127.0.0.1",
        port: Number(u.port || 6379),
        db,
        // SNI takes a host name only (Deno refuses an IP address there); the certificate is
        // still checked against the address.
        tls: /^[\d.]+$|^\[/.test(u.hostname) ? {} : { servername: u.hostname },
        tlsFiles,
        ...auth,
      };
    default:
      throw new TtError(
        `unsupported Redis URL scheme '${u.protocol}' in ${
          redactUrl(url)
        }: use redis://, rediss://, unix://, redis+cluster:// or redis+sentinel:// (rediss+… for TLS)`,
      );
  }
}

let leanPreferred = false;

/**
 * This process is a one-shot command (main.ts's lean path): its non-persistent connections to a
 * single node over a unix socket or plain TCP use the lean client instead of ioredis.
 */
export function preferLeanClient(on = true) {
  leanPreferred = on;
}

/** The lean client's settings for `url`, when it can serve it (single node, no TLS). */
function leanSettings(url: string, opts: ConnectOptions) {
  if (!leanPreferred || opts.persistent || isTopologyUrl(url)) return undefined;
  const o = clientOptions(url) as ReturnType<typeof clientOptions> & { tls?: unknown };
  if (o.tls) return undefined;
  return { ...o, connectionName: opts.name };
}

/** Is this error "nothing is listening there" (so a managed server may need starting)? */
export function isNotListening(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "ENOENT" || code === "ECONNREFUSED";
}

/** Connects and verifies with PING; rejects with the real cause (not "Connection is closed"). */
export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<Redis> {
  let lastError: Error | undefined;
  const connectTimeout = opts.connectTimeoutMs ?? 2000;
  const topology = isTopologyUrl(url);
  const lean = leanSettings(url, opts);
  const single = lean || topology ? undefined : await singleOptions(url);
  const client = lean
    ? leanClient(lean) as unknown as Redis
    : topology
    ? await topologyClient(parseTopologyUrl(url), { ...opts, connectTimeout })
    : new (await import("ioredis")).Redis({
      ...single,
      lazyConnect: true,
      connectionName: opts.name,
      connectTimeout,
      maxRetriesPerRequest: opts.persistent ? null : 0,
      enableOfflineQueue: !!opts.persistent,
      retryStrategy: opts.persistent ? (n: number) => Math.min(50 * 2 ** n, 2000) : () => null,
      reconnectOnError: () => false,
    });
  requireReplicas(client, opts.waitReplicas ?? 0, opts.waitTimeoutMs ?? 1000, !!opts.persistent);
  if (namedUser(url)) avoidFunctions(client); // a shared Redis: see functions.ts
  noteRedisUrl(url);
  client.on("error", (e: Error) => {
    lastError = e;
  });
  let timer: Timer | undefined;
  try {
    // A server that accepts the connection but never answers (stopped, a wrong port, a proxy
    // whose backend is gone) must not hang the command: the first PING is bounded too. The lean
    // client serves one-shot commands only, which need no Node timers (timer.ts).
    const silent = new Promise<never>((_, reject) => {
      timer = startTimer(
        connectTimeout * 2,
        () => reject(new Error(`no answer to PING within ${connectTimeout / 1000} s`)),
        { oneShot: lean !== undefined },
      );
    });
    await Promise.race([
      (async () => {
        await client.connect();
        // A server that cannot persist refuses PING (MISCONF) but still answers reads.
        await client.ping().catch((e: Error) => {
          if (!/^MISCONF/.test(e.message)) throw e;
        });
      })(),
      silent,
    ]);
    if (!opts.persistent && !topology) noteRedisProbe(() => probePersistence(url));
    return client;
  } catch (e) {
    client.disconnect();
    const said = isCluster(client)
      ? clusterCause(lastError ?? e as Error)
      : lastError ?? e as Error;
    const found = topology
      ? await topologyCause(parseTopologyUrl(url), { connectTimeout }).catch(() => undefined)
      : single?.tls && !clientCertAlert(said) && afterHandshake(said)
      ? await tlsAlertCause(single.host!, single.port!, single.tls, connectTimeout)
      : undefined;
    throw new ConnectError(url, found ?? said);
  } finally {
    timer?.cancel();
  }
}

/** ioredis's options for a single node, with the TLS files read and checked. */
async function singleOptions(url: string) {
  const { tlsFiles, ...o } = clientOptions(url) as ReturnType<typeof clientOptions> & {
    tls?: Record<string, unknown>;
    tlsFiles: TlsPaths;
    host?: string;
    port?: number;
  };
  return o.tls ? { ...o, tls: await loadTls(tlsFiles, o.tls) } : o;
}

/**
 * Did a TLS connection end after its handshake (the server's alert lost behind a write)? Then
 * connecting once more without writing reads the alert (tls_files.ts tlsAlertCause).
 */
export function afterHandshake(e: Error): boolean {
  const code = (e as { code?: string }).code ?? "";
  return /EPIPE|ECONNRESET/.test(code) || /Connection is closed|no answer to PING/.test(e.message);
}

/** The client certificate a URL names (tls_cert), for messages. */
function certOf(url: string): string | undefined {
  const m = /[?&]tls_cert=([^&#]*)/.exec(url);
  try {
    return m ? decodeURIComponent(m[1]) : undefined;
  } catch {
    return m?.[1];
  }
}

/** The one line for a client certificate the server wanted and did not get, or refused. */
function clientCertLine(url: string, cause: Error): string | undefined {
  const alert = clientCertAlert(cause);
  if (!alert) return undefined;
  const cert = certOf(url);
  const said = cause.message.replace(/^received fatal alert: /, "");
  return alert === "missing" || !cert
    ? `Redis at ${redactUrl(url)} requires a client certificate (TLS alert ${said}): add ` +
      `tls_cert=/path/client.crt&tls_key=/path/client.key to the URL`
    : `Redis at ${redactUrl(url)} refused tt's client certificate ${cert} (TLS alert ${said}): ` +
      `it must be signed by a CA the server trusts (its tls-ca-cert-file) and not expired`;
}

export class ConnectError extends TtError {
  override name = "ConnectError";
  readonly code?: string;
  constructor(readonly url: string, override readonly cause: Error) {
    const msg = cause.message || String(cause);
    const code = (cause as { code?: string }).code;
    const auth = /WRONGPASS|NOAUTH|NOPERM/.test(msg);
    const cert = /certificate|altnames/i.test(msg) || /CERT/.test(code ?? "");
    const path = (cause as { address?: string }).address ?? /connect \w+ (\/\S+)/.exec(msg)?.[1];
    const clientCert = clientCertLine(url, cause);
    super(
      cause instanceof SentinelAuthError
        ? `${cause.message} (${redactUrl(url)})`
        : clientCert
        ? clientCert
        : auth
        ? `Redis authentication failed at ${redactUrl(url)}: ${msg}`
        : cert
        ? `Redis at ${redactUrl(url)} presented a TLS certificate tt does not trust: ${msg} ` +
          (/[?&]tls_ca=/.test(url)
            ? `(tls_ca replaces the trusted CAs: it must be the CA that signed the servers' ` +
              `certificates)`
            : `(a private CA: point DENO_CERT at its PEM file, or add tls_ca=/path/ca.pem)`)
        : code === "ENOENT" && path
        ? `Failed to connect to configured Redis at ${
          redactUrl(url)
        }: socket ${path} does not exist (is Redis running there?)`
        : `Failed to connect to configured Redis at ${redactUrl(url)}: ${msg}${
          code === "ECONNREFUSED"
            ? " (is Redis running there?)"
            : (code === "EPIPE" || code === "ECONNRESET") && !/^rediss/i.test(url)
            ? " (if that server speaks TLS only, use rediss:// or rediss+…)"
            : ""
        }`,
    );
    this.code = code;
  }
}

/** Where and whether the server at `url` persists (for naming a MISCONF), bounded to ~2 s. */
async function probePersistence(url: string): Promise<PersistenceInfo> {
  const c = await connectRedis(url, { name: "tt-diagnose", connectTimeoutMs: 1000 });
  try {
    const info = await c.info("persistence");
    const dir = await c.config("GET", "dir").then((r) => (r as string[])[1], () => undefined);
    return {
      dir,
      aofFailing: /aof_last_write_status:err/.test(info),
      rdbFailing: /rdb_last_bgsave_status:err/.test(info),
    };
  } finally {
    c.disconnect();
  }
}

/** Whether the URL logs in to its data nodes as an ACL user other than `default`. */
export function namedUser(url: string): boolean {
  let user: string | undefined;
  try {
    user = isTopologyUrl(url)
      ? parseTopologyUrl(url).username
      : decodeURIComponent(new URL(url).username);
  } catch {
    return false; // connecting refuses such a URL with its own error
  }
  return !!user && user !== "default";
}

/** A second connection with the same settings, connected (for blocking commands, which hold it). */
export async function duplicateConnection(redis: Redis): Promise<Redis> {
  const conn = redis.duplicate();
  copyScriptSettings(redis, conn);
  copyTopology(redis, conn);
  if (conn.status === "wait") await conn.connect();
  return conn;
}
