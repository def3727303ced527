/**
 * Redis passwords stay out of committed files. tinytown.toml holds a Redis URL without its
 * secrets (the password, and a Sentinel URL's `sentinel_password`); when a town connects, they
 * come from (first match wins):
 *
 * 1. `REDIS_URL`, when it carries one (it replaces the file's URL entirely);
 * 2. the secrets in the file's URL itself (works, but every command warns: move them);
 * 3. `~/.tt/config.toml` `redis_url`, when it names the same server and user: same scheme, host
 *    and port (or unix socket path) and the same user name; the database number may differ. For
 *    `redis+cluster://` / `redis+sentinel://`: the same scheme, host list, master name and user.
 */
import { topologyParts } from "../redis/url.ts";

/** `sentinel_password=…` in a query, with its separator. */
const SENTINEL_SECRET = /([?&])sentinel_password=[^&#]*(&?)/i;

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** A Sentinel URL's `sentinel_password`, if it has one (as written). */
function sentinelSecret(url: string): string | undefined {
  const m = /[?&]sentinel_password=([^&#]*)/i.exec(url);
  return m?.[1] || undefined;
}

/**
 * The password in a Redis URL, if it has one; else its `sentinel_password` (either is a secret
 * that must not be committed).
 */
export function urlPassword(url: string): string | undefined {
  const u = parse(url);
  const own = u
    ? (u.password ? decodeURIComponent(u.password) : undefined)
    // Not a URL `new URL` accepts (connecting will say so): look for user:password@ by hand.
    : /\/\/[^:@/]*:([^@/]+)@/.exec(url)?.[1];
  return own ?? sentinelSecret(url);
}

/**
 * The URL without its password and `sentinel_password` (user names are kept: they say which ACL
 * users to be).
 */
export function withoutPassword(url: string): string {
  const bare = url.replace(SENTINEL_SECRET, (_, sep, more) => more ? sep : "");
  const u = parse(bare);
  if (!u) return bare.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1@");
  if (!u.password) return bare;
  u.password = "";
  return u.toString();
}

/** The server and user a URL names, for matching a password to it. */
function serverOf(u: URL): string {
  const unix = u.protocol === "unix:" || u.protocol === "redis+unix:";
  const where = unix
    ? `unix:${decodeURIComponent(u.pathname)}`
    : `${u.protocol}//${u.hostname.toLowerCase()}:${u.port || "6379"}`;
  return `${where} as ${decodeURIComponent(u.username)}`;
}

/**
 * `url` with the password of the first candidate URL that names the same server and user, or
 * `url` unchanged (it has a password already, or nothing matches).
 */
export function withPasswordFrom(url: string, candidates: (string | undefined)[]): string {
  const t = topologyParts(url);
  if (t) {
    if (t.password !== undefined || sentinelSecret(url)) return url;
    for (const c of candidates) {
      const ct = c === undefined ? undefined : topologyParts(c);
      if (!ct || (ct.password === undefined && !sentinelSecret(c!))) continue;
      if (ct.server !== t.server || ct.user !== t.user) continue;
      const secret = sentinelSecret(c!);
      const query = secret
        ? `${t.query ? `${t.query}&` : "?"}sentinel_password=${secret}`
        : t.query;
      const auth = ct.password === undefined ? t.user : `${t.user}:${ct.password}`;
      return `${t.scheme}://${auth ? `${auth}@` : ""}${t.hosts}${t.path}${query}`;
    }
    return url;
  }
  const u = parse(url);
  if (!u || u.password) return url;
  for (const c of candidates) {
    const cu = c === undefined ? undefined : parse(c);
    if (!cu?.password || serverOf(cu) !== serverOf(u)) continue;
    u.password = cu.password; // already percent-encoded
    return u.toString();
  }
  return url;
}
