/**
 * Redis URLs: redaction, the query parameters tt reads, and the multi-host forms
 * `redis+cluster://` / `redis+sentinel://` (and their TLS twins `rediss+cluster://` /
 * `rediss+sentinel://`), which WHATWG URL cannot parse.
 */
import { TtError } from "../core/errors.ts";
import { isTlsParam, type TlsPaths, tlsPaths } from "./tls_files.ts";

/** Query parameters that hold a secret (redacted like the password). */
export const SECRET_PARAMS = ["sentinel_password"] as const;
const SECRET_QUERY = /([?&]sentinel_password=)[^&#]*/gi;

/**
 * Replaces the password in a Redis URL, and the value of `sentinel_password`, with `****` (user
 * names and file paths are kept).
 */
export function redactUrl(url: string): string {
  const masked = (s: string) =>
    s.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:****@").replace(SECRET_QUERY, "$1****");
  if (TOPOLOGY.test(url)) return masked(url);
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    return u.toString().replace(SECRET_QUERY, "$1****");
  } catch {
    return masked(url);
  }
}

/**
 * A URL's query as written, percent-decoded (`+` stays a plus: a password is not form data);
 * a parameter given twice is refused.
 */
export function queryParams(query: string, url: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of query.replace(/^\?/, "").split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const key = decode(eq < 0 ? part : part.slice(0, eq), url) ?? "";
    const value = eq < 0 ? "" : decode(part.slice(eq + 1), url) ?? "";
    if (out.has(key)) {
      throw new TtError(`the parameter '${key}' appears twice in the Redis URL ${redactUrl(url)}`);
    }
    out.set(key, value);
  }
  return out;
}

export interface HostPort {
  host: string;
  port: number;
}

/**
 * A Redis Cluster (seed nodes) or a Sentinel set (sentinels and the master's name). `username`
 * and `password` are the data nodes'; `sentinelUsername`/`sentinelPassword` the sentinels' own
 * (none: the sentinels are reached without AUTH). `tlsFiles`: a client certificate and key, a CA.
 */
export type Topology =
  & { tls: boolean; username?: string; password?: string; tlsFiles: TlsPaths }
  & (
    | { kind: "cluster"; nodes: HostPort[] }
    | {
      kind: "sentinel";
      sentinels: HostPort[];
      masterName: string;
      db: number;
      sentinelUsername?: string;
      sentinelPassword?: string;
    }
  );

const TOPOLOGY = /^rediss?\+(cluster|sentinel):\/\//i;
const SHAPE =
  /^(rediss?)\+(cluster|sentinel):\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?([^/?#@]+)(\/[^?#]*)?(?:\?([^#]*))?$/i;

/**
 * A cluster or sentinel URL's parts as written (not decoded), for matching secrets to it:
 * `server` is the scheme, hosts and master name, lower-cased except the master name.
 */
export function topologyParts(url: string) {
  const m = SHAPE.exec(url);
  if (!m) return undefined;
  const [, scheme, kind, user = "", password, hosts, path = "", query] = m;
  const s = `${scheme}+${kind}`;
  return {
    scheme: s,
    user,
    password,
    hosts,
    path,
    query: query === undefined ? "" : `?${query}`,
    server: `${s.toLowerCase()}://${hosts.toLowerCase()}${path}`,
  };
}

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
 * Parses `redis+cluster://[user:pass@]host:port[,host:port…][?tls_…]` and
 * `redis+sentinel://[user:pass@]host:port[,host:port…]/<master-name>[?db=N&sentinel_user=…&
 * sentinel_password=…&tls_…]`; the user and password are those of the data nodes, the
 * sentinels' own come from `sentinel_user`/`sentinel_password` (else no AUTH to them).
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
  const tls = scheme.toLowerCase() === "rediss";
  const params = queryParams(query ?? "", url);
  const sentinel = kind.toLowerCase() === "sentinel";
  const known = (k: string) => isTlsParam(k) || (sentinel && SENTINEL_PARAMS.includes(k));
  const unknown = [...params.keys()].filter((k) => !known(k));
  if (unknown.length) {
    throw new TtError(
      `unknown parameter '${unknown[0]}' in the Redis URL ${redactUrl(url)}${
        /^sentinel_/.test(unknown[0])
          ? " (sentinel_user and sentinel_password are for " +
            "redis+sentinel:// URLs)"
          : ""
      }`,
    );
  }
  const base = {
    tls,
    username: decode(user, url),
    password: decode(pass, url),
    tlsFiles: tlsPaths(params, tls, redactUrl(url)),
  };
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
  const sentinelUsername = params.get("sentinel_user") || undefined;
  const sentinelPassword = params.get("sentinel_password") || undefined;
  if (sentinelUsername && !sentinelPassword) {
    throw new TtError(
      `the Redis URL ${redactUrl(url)} has sentinel_user without sentinel_password: ` +
        `add &sentinel_password=… (the sentinels' own password for that user)`,
    );
  }
  return {
    ...base,
    kind: "sentinel",
    sentinels: list,
    masterName,
    db,
    sentinelUsername,
    sentinelPassword,
  };
}

const SENTINEL_PARAMS = ["db", "sentinel_user", "sentinel_password"];
