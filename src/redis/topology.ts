/**
 * Redis Cluster and Sentinel clients (ioredis `Cluster` and `Redis({sentinels})`), and finding the
 * cluster node that owns a town's hash slot (SCAN only sees the node it is sent to).
 */
import type { Cluster, Redis } from "ioredis";
import { TtError } from "../core/errors.ts";
import type { HostPort, Topology } from "./url.ts";
import { clientCertAlert, loadTls, tlsAlertCause } from "./tls_files.ts";

export interface ClientSettings {
  name?: string;
  persistent?: boolean;
  connectTimeout: number;
}

/**
 * How long a daemon's command keeps being retried while its slot has no live master (the
 * failover of a crashed master takes cluster-node-timeout and an election; the supervisor gives
 * up on Redis after 60 s too). ioredis counts each retry as a redirection, 16 by default: about
 * 3 s, less than a failover takes, so agent loops died in the middle of one.
 */
const RIDE_OUT_MS = 60_000;
const RETRY_MS = 200;

/** Cluster clients made here (so that telling one apart needs no import of ioredis). */
const clusters = new WeakSet<object>();

/**
 * A client for a cluster or a sentinel set, not yet connected (`lazyConnect`). ioredis is loaded
 * here, on first use, so that a command on a single node can run without it (lean.ts).
 */
export async function topologyClient(t: Topology, s: ClientSettings): Promise<Redis> {
  // The files are read (and checked) before ioredis is loaded: a bad key fails fast.
  const tls = t.tls ? await loadTls(t.tlsFiles) : undefined;
  const { Cluster, Redis } = await import("ioredis");
  const node = {
    username: t.username,
    password: t.password,
    tls,
    connectionName: s.name,
    connectTimeout: s.connectTimeout,
    maxRetriesPerRequest: s.persistent ? null : 0,
    reconnectOnError: () => false,
  };
  if (t.kind === "cluster") {
    const cluster = new Cluster(t.nodes, {
      lazyConnect: true,
      enableOfflineQueue: true,
      enableReadyCheck: true,
      slotsRefreshTimeout: s.connectTimeout,
      retryDelayOnFailover: RETRY_MS,
      retryDelayOnClusterDown: RETRY_MS,
      retryDelayOnTryAgain: RETRY_MS,
      // A MOVED to the dead master is followed at once by a retry; every other one waits.
      maxRedirections: s.persistent ? 2 * RIDE_OUT_MS / RETRY_MS : 16,
      clusterRetryStrategy: s.persistent ? (n: number) => Math.min(100 * n, 2000) : () => null,
      redisOptions: node,
    });
    clusters.add(cluster);
    // The rest of tt speaks the single-node command set, which a Cluster shares.
    return cluster as unknown as Redis;
  }
  return new Redis({
    ...node,
    enableOfflineQueue: !!s.persistent,
    sentinels: t.sentinels,
    name: t.masterName,
    role: "master",
    db: t.db,
    lazyConnect: true,
    enableTLSForSentinelMode: t.tls,
    sentinelTLS: tls,
    sentinelUsername: t.sentinelUsername,
    sentinelPassword: t.sentinelPassword,
    // ioredis's detector (+switch-master) closes the connector even while a reconnect is asking
    // the sentinels for the master, which ends the client for good ("Connection is closed." to
    // every command after). Without it a crashed master is found again by reconnecting, and a
    // demoted one is left by reconnecting too: the sentinels disconnect its clients
    // (CLIENT KILL) when they make it a replica.
    failoverDetector: false,
    retryStrategy: s.persistent ? (n: number) => Math.min(50 * 2 ** n, 2000) : () => null,
    sentinelRetryStrategy: s.persistent ? (n: number) => Math.min(100 * n, 2000) : () => null,
  });
}

/**
 * Why a client for `t` could not connect, found by connecting once to every seed as a single
 * node (in parallel, each bounded by the connect timeout): ioredis reports only "None of startup
 * nodes is available" or "All sentinels are unreachable…" and drops the real cause (a refused
 * password, an untrusted certificate, a client certificate missing or refused). Sentinels are
 * tried with their own credentials (a refusal is a SentinelAuthError naming them); a sentinel
 * that answers is asked for the master, which is then tried with the data nodes' credentials.
 * Undefined when every probe works.
 */
export async function topologyCause(t: Topology, s: ClientSettings): Promise<Error | undefined> {
  const tls = t.tls ? await loadTls(t.tlsFiles) : undefined;
  const { Redis } = await import("ioredis");
  const probe = async <T>(
    opts: Record<string, unknown>,
    then: (c: Redis) => Promise<T>,
  ): Promise<T | Error> => {
    let first: Error | undefined;
    const c = new Redis({
      ...opts,
      lazyConnect: true,
      connectTimeout: s.connectTimeout,
      // A server that takes the connection but never answers must not hold the probe.
      commandTimeout: s.connectTimeout,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      reconnectOnError: () => false,
    });
    c.on("error", (e: Error) => first ??= e);
    let failed: Error;
    try {
      await c.connect();
      return await then(c);
    } catch (e) {
      failed = first ?? (e as Error);
    } finally {
      c.disconnect();
    }
    // The server's alert about the client certificate may be lost behind a write: ask again.
    if (!tls || clientCertAlert(failed) || !/EPIPE|ECONNRESET|closed/i.test(errText(failed))) {
      return failed;
    }
    const at = opts as unknown as HostPort;
    return await tlsAlertCause(at.host, at.port, tls, s.connectTimeout) ?? failed;
  };
  const node = { username: t.username, password: t.password, tls };
  const ping = (c: Redis) => c.ping();
  let results: unknown[];
  if (t.kind === "cluster") {
    results = await Promise.all(t.nodes.map((n) => probe({ ...n, ...node }, ping)));
  } else {
    const auth = { username: t.sentinelUsername, password: t.sentinelPassword };
    results = await Promise.all(t.sentinels.map(async (n) => {
      const addr = await probe(
        { ...n, tls, ...auth },
        (c) => c.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", t.masterName) as Promise<unknown>,
      );
      if (addr instanceof Error && isAuthError(addr)) return new SentinelAuthError(t, addr);
      if (addr instanceof Error) return addr;
      if (!Array.isArray(addr)) {
        return new Error(`the sentinel at ${n.host}:${n.port} knows no master '${t.masterName}'`);
      }
      return await probe({ host: addr[0], port: Number(addr[1]), db: t.db, ...node }, ping);
    }));
  }
  const errors = results.filter((r): r is Error => r instanceof Error);
  // A seed that is down says less than one that refused the password or the certificate.
  const refused = (e: Error) => /ECONNREFUSED|ENOENT/.test((e as { code?: string }).code ?? "");
  return errors.find((e) => !refused(e)) ?? errors[0];
}

const errText = (e: Error) => `${(e as { code?: string }).code ?? ""} ${e.message}`;
const isAuthError = (e: Error) =>
  /NOAUTH|WRONGPASS|NOPERM|invalid password|Authentication required/i.test(e.message);

/** The sentinels refused tt's AUTH, or wanted one (its message names them and what to do). */
export class SentinelAuthError extends Error {
  override name = "SentinelAuthError";
  constructor(t: Extract<Topology, { kind: "sentinel" }>, readonly reply: Error) {
    const where = t.sentinels.map((n) => `${n.host}:${n.port}`).join(",");
    // The reply without its error code (NOAUTH, WRONGPASS name the data nodes' messages).
    const said = reply.message.replace(/^[A-Z]+ /, "");
    super(
      !t.sentinelPassword
        ? `the sentinels at ${where} require a password: add sentinel_password=… (and ` +
          `sentinel_user=… for an ACL user) to REDIS_URL`
        : /NOPERM/.test(reply.message)
        ? `the sentinels at ${where} refused a command to the sentinel user ` +
          `${t.sentinelUsername ?? "default"} (${said}): it needs +sentinel, +auth and +ping`
        : `the sentinels at ${where} refused the sentinel password (${said}): check ` +
          `sentinel_user and sentinel_password in REDIS_URL`,
    );
  }
}

export function isCluster(redis: unknown): boolean {
  return typeof redis === "object" && redis !== null && clusters.has(redis);
}

/** A duplicate of a cluster client is one too (nodeFor, WAIT and loading a library need that). */
export function copyTopology(from: object, to: object): void {
  if (clusters.has(from)) clusters.add(to);
}

/** The cause behind ioredis's "Failed to refresh slots cache" (the last node's error). */
export function clusterCause(e: Error): Error {
  const last = (e as { lastNodeError?: Error }).lastNodeError;
  return last ?? e;
}

// CRC16/XMODEM, as Redis Cluster computes slots (cluster.c keyHashSlot).
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
    t[i] = c & 0xffff;
  }
  return t;
})();

/** The hash slot of `key` (its `{tag}` when there is a non-empty one). */
export function keySlot(key: string): number {
  let bytes = new TextEncoder().encode(key);
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) ^ TABLE[((crc >> 8) ^ b) & 0xff]) & 0xffff;
  return crc & 16383;
}

/**
 * The connection that holds `key` (SCAN/INFO go there): the master owning its slot on a cluster,
 * else `redis` itself.
 */
export function nodeFor(redis: Redis, key: string): Redis {
  if (!isCluster(redis)) return redis;
  const cluster = redis as unknown as Cluster;
  const slot = keySlot(key);
  const owner = cluster.slots[slot]?.[0];
  const node = owner &&
    cluster.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === owner);
  if (!node) {
    throw new TtError(
      `no Redis Cluster master serves slot ${slot} (the town's keys) right now: ` +
        `wait for the cluster to recover (CLUSTER INFO) and try again`,
    );
  }
  return node;
}
