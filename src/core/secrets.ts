/**
 * Redis passwords stay out of committed files. tinytown.toml holds a Redis URL without its
 * password; when a town connects, the password comes from (first match wins):
 *
 * 1. `REDIS_URL`, when it carries one (it replaces the file's URL entirely);
 * 2. the password in the file's URL itself (works, but every command warns: move it);
 * 3. `~/.tt/config.toml` `redis_url`, when it names the same server and user: same scheme, host
 *    and port (or unix socket path) and the same user name; the database number may differ.
 */

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** The password in a Redis URL, if it has one. */
export function urlPassword(url: string): string | undefined {
  const u = parse(url);
  if (u) return u.password ? decodeURIComponent(u.password) : undefined;
  // Not a URL `new URL` accepts (connecting will say so): look for user:password@ by hand.
  return /\/\/[^:@/]*:([^@/]+)@/.exec(url)?.[1];
}

/** The URL without its password (the user name is kept: it says which ACL user to be). */
export function withoutPassword(url: string): string {
  const u = parse(url);
  if (!u) return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1@");
  if (!u.password) return url;
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
