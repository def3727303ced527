/**
 * Redis URLs: redaction, and the multi-host forms `redis+cluster://` / `redis+sentinel://` (and
 * their TLS twins `rediss+cluster://` / `rediss+sentinel://`), which WHATWG URL cannot parse.
 */
import { TtError } from "../core/errors.ts";

/** Replaces the password in a Redis URL with `****` (user names are kept). */
export function redactUrl(url: string): string {
  if (TOPOLOGY.test(url)) return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:****@");
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:****@");
  }
}

export interface HostPort {
  host: string;
  port: number;
}

/** A Redis Cluster (seed nodes) or a Sentinel set (sentinels and the master's name). */
export type Topology =
  & { tls: boolean; username?: string; password?: string }
  & (
    | { kind: "cluster"; nodes: HostPort[] }
    | { kind: "sentinel"; sentinels: HostPort[]; masterName: string; db: number }
  );

const TOPOLOGY = /^rediss?\+(cluster|sentinel):\/\//i;
const SHAPE =
  /^(rediss?)\+(cluster|sentinel):\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?([^/?#@]+)(\/[^?#]*)?(?:\?([^#]*))?$/i;

/** Is this a `redis+cluster://` or `redis+sentinel://` URL (with or without TLS)? */
export function isTopologyUrl(url: string): boolean {
  return TOPOLOGY.test(url);
}

function decode(part: string | undefined, url: string): string | undefined {
  if (!part) return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    throw new TtError(`invalid percent-encoding in the Redis URL ${redactUrl(url)}`);
  }
}

function hostPort(item: string, url: string): HostPort {
  // `[::1]:7000` for IPv6, else `host:port`; the port defaults to 6379 (26379 for sentinels).
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(item.trim());
  const port = Number(m?.[3] ?? 0);
  if (!m || port > 65535) {
    throw new TtError(
      `invalid host '${item}' in the Redis URL ${redactUrl(url)}: expected host:port[,host:port…]`,
    );
  }
  return { host: m[1] ?? m[2], port };
}

/**
 * Parses `redis+cluster://[user:pass@]host:port[,host:port…]` and
 * `redis+sentinel://[user:pass@]host:port[,host:port…]/<master-name>[?db=N]`; the credentials are
 * those of the data nodes (the sentinels themselves are reached without AUTH).
 */
export function parseTopologyUrl(url: string): Topology {
  const m = SHAPE.exec(url);
  if (!m) {
    throw new TtError(
      `invalid Redis URL '${redactUrl(url)}': expected redis+cluster://[user:pass@]host:port[,…] ` +
        `or redis+sentinel://[user:pass@]host:port[,…]/<master-name>[?db=N]`,
    );
  }
  const [, scheme, kind, user, pass, hosts, path, query] = m;
  const base = {
    tls: scheme.toLowerCase() === "rediss",
    username: decode(user, url),
    password: decode(pass, url),
  };
  const params = new URLSearchParams(query ?? "");
  const unknown = [...params.keys()].filter((k) => !(kind === "sentinel" && k === "db"));
  if (unknown.length) {
    throw new TtError(`unknown parameter '${unknown[0]}' in the Redis URL ${redactUrl(url)}`);
  }
  const defaultPort = kind.toLowerCase() === "sentinel" ? 26379 : 6379;
  const list = hosts.split(",").map((h) => hostPort(h, url))
    .map((h) => ({ host: h.host, port: h.port || defaultPort }));
  if (kind.toLowerCase() === "cluster") {
    if (path && path !== "/") {
      throw new TtError(
        `a Redis Cluster has no databases and no path: drop '${path}' from ${redactUrl(url)}`,
      );
    }
    return { ...base, kind: "cluster", nodes: list };
  }
  const masterName = decode(path?.replace(/^\//, ""), url);
  if (!masterName || masterName.includes("/")) {
    throw new TtError(
      `the Redis URL ${
        redactUrl(url)
      } names no Sentinel master: add /<master-name> after the hosts`,
    );
  }
  const db = Number(params.get("db") ?? 0);
  if (!Number.isInteger(db) || db < 0) {
    throw new TtError(`invalid database number in Redis URL ${redactUrl(url)}`);
  }
  return { ...base, kind: "sentinel", sentinels: list, masterName, db };
}
