/**
 * `tt townhall`: opens the town, makes sure it has an API key (auto), refuses unsafe settings,
 * serves the app with Deno.serve until SIGTERM/SIGINT, then shuts down gracefully (event streams
 * end, in-flight requests finish, the Redis connection closes).
 */
import { countKeys, ensureFirstKey, revokeKey } from "../core/auth.ts";
import { TtError, UsageError } from "../core/errors.ts";
import { openTown, type TownContext } from "../core/town.ts";
import { buildApp } from "./app.ts";
import type { AuthMode, TownhallDeps } from "./env.ts";
import { RequestGuard } from "./guard.ts";
import { TokenBuckets } from "./ratelimit.ts";
import { RedisHealth } from "./redis_gate.ts";

export interface ServeOptions {
  town?: string;
  bind?: string;
  port?: number;
  /** Called once listening (the CLI prints the URL). */
  onListen?: (info: ListenInfo) => void;
}

export interface ListenInfo {
  url: string;
  hostname: string;
  port: number;
  town: string;
  /** As served: `api_key` (every request needs a key) or `none`. */
  auth: AuthMode;
  keys: number;
  /** Id of the key this start created (its text went to stderr, once). */
  created_key_id?: string;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The auth mode to serve with: `api_key`, or `none` when explicitly configured on a loopback
 * bind. `none` on any other address is refused (there is no override).
 */
export function decideAuth(
  configured: AuthMode,
  bind: string,
  keys: number,
): { mode: AuthMode; warning?: string } {
  if (configured === "none") {
    if (!isLoopback(bind)) {
      throw new UsageError(
        `refusing to serve ${bind} with [townhall] auth = "none": remove that line (a key is ` +
          `then required and created for you) or bind 127.0.0.1`,
      );
    }
    return {
      mode: "none",
      warning: 'auth = "none": NO API KEY IS CHECKED. Any local user, process or web page ' +
        "that gets past the Host/Origin checks controls this town. Remove [townhall] auth " +
        '"none" to require a key.',
    };
  }
  if (keys === 0) {
    return {
      mode: "api_key",
      warning: 'auth = "api_key" but the town has no API key: every request will get 401 ' +
        "until 'tt auth gen-key' makes one",
    };
  }
  return { mode: "api_key" };
}

/** The stderr text shown once for a key this start created. */
export function keyBanner(key: string, id: string, url: string): string {
  return [
    `townhall: this town had no API key, so one was created (id ${id}, scope admin).`,
    "It is shown only this once; store it now (tt auth revoke " + id + " deletes it):",
    "",
    `    ${key}`,
    "",
    "Use it as a header on every request:",
    `    curl -H 'Authorization: Bearer ${key}' ${url}/v1/status`,
    "    (calls that change state also need -H 'Content-Type: application/json')",
    `    MCP client: URL ${url}/mcp, header 'Authorization: Bearer ${key}'`,
    "'tt auth gen-key --scope town.read' makes narrower keys.",
    "",
  ].join("\n");
}

export function depsFor(
  town: TownContext,
  auth: AuthMode,
  shutdown: AbortSignal,
  guard = new RequestGuard(town.config.townhall.bind, town.config.townhall),
): TownhallDeps {
  const cfg = town.config.townhall;
  const rl = cfg.rate_limit;
  return {
    town,
    auth,
    guard,
    health: new RedisHealth(town.redis),
    limits: {
      read: new TokenBuckets({ perMinute: rl.read_per_min, burst: rl.burst }),
      write: new TokenBuckets({ perMinute: rl.write_per_min, burst: rl.burst }),
    },
    maxBodyBytes: cfg.max_body_bytes,
    shutdown,
    startedAt: performance.now(),
  };
}

/** Serves until a signal arrives; resolves when shut down. */
export async function runTownhall(opts: ServeOptions = {}): Promise<void> {
  const town = await openTown({ town: opts.town, clientName: "tt-townhall", persistent: true });
  const stop = new AbortController();
  try {
    const cfg = town.config.townhall;
    const hostname = opts.bind ?? cfg.bind;
    const port = opts.port ?? cfg.port;
    if (cfg.auth === "none") decideAuth(cfg.auth, hostname, 0); // refuse before any write
    const created = cfg.auth === "auto" ? await ensureFirstKey(town) : undefined;
    const keys = await countKeys(town);
    const { mode, warning } = decideAuth(cfg.auth, hostname, keys);
    if (warning) console.error(`townhall: warning: ${warning}`);
    const guard = new RequestGuard(hostname, cfg);
    const app = buildApp(depsFor(town, mode, stop.signal, guard));

    const onSignal = () => stop.abort();
    const signals = ["SIGTERM", "SIGINT"] as const;
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname,
        port,
        signal: stop.signal,
        onListen: (addr) => {
          // A wildcard bind is reached (and allowed by the Host check) as loopback here.
          const name = addr.hostname === "0.0.0.0"
            ? "127.0.0.1"
            : addr.hostname === "::"
            ? "::1"
            : addr.hostname;
          const host = name.includes(":") ? `[${name}]` : name;
          const url = `http://${host}:${addr.port}`;
          guard.listening(addr.port);
          if (created) console.error(keyBanner(created.key, created.record.id, url));
          opts.onListen?.({
            url,
            hostname: addr.hostname,
            port: addr.port,
            town: town.name,
            auth: mode,
            keys,
            ...(created ? { created_key_id: created.record.id } : {}),
          });
        },
        onError: (e) => {
          console.error(`townhall: internal error: ${(e as Error)?.stack ?? e}`);
          return new Response('{"error":"internal error","code":"internal","status":500}', {
            status: 500,
            headers: { "content-type": "application/json" },
          });
        },
      }, (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr }));
    } catch (e) {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      // A key nobody was shown must not stay behind: the next start creates (and shows) one.
      if (created) await revokeKey(town, created.record.id).catch(() => {});
      if (e instanceof Deno.errors.AddrInUse) {
        throw new TtError(
          `port ${port} on ${hostname} is already in use: pick another with --port`,
        );
      }
      if (e instanceof Deno.errors.AddrNotAvailable || e instanceof Deno.errors.PermissionDenied) {
        throw new TtError(`cannot listen on ${hostname}:${port}: ${(e as Error).message}`);
      }
      throw e;
    }
    await server.finished;
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  } finally {
    stop.abort();
    await town.close();
  }
}
