/**
 * `tt townhall`: opens the town, decides the auth mode, refuses unsafe binds, serves the app with
 * Deno.serve until SIGTERM/SIGINT, then shuts down gracefully (event streams end, in-flight
 * requests finish, the Redis connection closes).
 */
import { countKeys } from "../core/auth.ts";
import { TtError } from "../core/errors.ts";
import { openTown, type TownContext } from "../core/town.ts";
import { buildApp } from "./app.ts";
import type { AuthMode, TownhallDeps } from "./env.ts";
import { TokenBuckets } from "./ratelimit.ts";

export interface ServeOptions {
  town?: string;
  bind?: string;
  port?: number;
  /** Allow a non-loopback bind without authentication. */
  force?: boolean;
  /** Called once listening (the CLI prints the URL). */
  onListen?: (info: ListenInfo) => void;
}

export interface ListenInfo {
  url: string;
  hostname: string;
  port: number;
  town: string;
  auth: AuthMode;
  keys: number;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The auth mode to serve with. `auto` on a non-loopback address becomes `api_key` (so revoking
 * the last key can never open the town to the network); with no key there, refuse unless forced.
 */
export function decideAuth(
  configured: AuthMode,
  bind: string,
  keys: number,
  force = false,
): { mode: AuthMode; warning?: string } {
  if (isLoopback(bind)) {
    if (configured === "api_key" && keys === 0) {
      return {
        mode: configured,
        warning: 'auth = "api_key" but the town has no API key: every request will get 401 ' +
          "until 'tt auth gen-key' makes one",
      };
    }
    return { mode: configured };
  }
  const open = configured === "none" || (configured === "auto" && keys === 0);
  if (open && !force) {
    throw new TtError(
      `refusing to serve ${bind} without authentication: create a key with 'tt auth gen-key' ` +
        `(and keep [townhall] auth unset or "api_key"), bind 127.0.0.1, or pass --force`,
    );
  }
  if (open) {
    return { mode: "none", warning: `serving ${bind} WITHOUT authentication (--force)` };
  }
  return { mode: configured === "auto" ? "api_key" : configured };
}

export function depsFor(town: TownContext, auth: AuthMode, shutdown: AbortSignal): TownhallDeps {
  const cfg = town.config.townhall;
  const rl = cfg.rate_limit;
  return {
    town,
    auth,
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
    const keys = await countKeys(town);
    const { mode, warning } = decideAuth(cfg.auth, hostname, keys, opts.force);
    if (warning) console.error(`townhall: warning: ${warning}`);
    const app = buildApp(depsFor(town, mode, stop.signal));

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
          const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
          opts.onListen?.({
            url: `http://${host}:${addr.port}`,
            hostname: addr.hostname,
            port: addr.port,
            town: town.name,
            auth: mode,
            keys,
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
