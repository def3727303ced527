/**
 * Redis down is an answer, not a hang. The town's connection queues commands while Redis is away
 * (it reconnects by itself), so without this a request would wait for Redis forever. Every route
 * but /health goes through `redisGate`:
 *
 * - before the route: Redis must be connected and have answered a PING lately (else one shared
 *   PING, bounded by PROBE_MS); if not, 503 with `Retry-After` at once;
 * - while the route runs: every CHECK_MS the same probe runs; a route that waits on a Redis that
 *   stopped answering gets 503 (its outcome is then unknown, and the message says so).
 *
 * Long waits that are meant to be long (`/wait`, event streams) keep running while Redis answers.
 */
import type { MiddlewareHandler } from "hono";
import type { Redis } from "ioredis";
import { HttpError } from "./errors.ts";
import type { AppEnv } from "./env.ts";

/** A PING answered this recently counts (no new PING per request). */
const FRESH_MS = 500;
/** A PING not answered within this is "Redis is not answering". */
const PROBE_MS = 700;
/** How often a running request re-checks Redis. */
const CHECK_MS = 800;

export class RedisHealth {
  private lastOk = 0;
  private probing?: Promise<boolean>;
  lastError = "";

  constructor(private redis: Redis) {}

  /** Is Redis reachable now? Never takes longer than PROBE_MS. */
  async ok(): Promise<boolean> {
    if (this.redis.status !== "ready") {
      this.lastError = `connection ${this.redis.status}`;
      return false;
    }
    if (performance.now() - this.lastOk < FRESH_MS) return true;
    return await (this.probing ??= this.probe().finally(() => (this.probing = undefined)));
  }

  /** A fresh PING (bounded by PROBE_MS): its latency in ms, or undefined if Redis did not answer. */
  async ping(): Promise<number | undefined> {
    if (this.redis.status !== "ready") {
      this.lastError = `connection ${this.redis.status}`;
      return undefined;
    }
    const t0 = performance.now();
    return await this.probe() ? Math.round((performance.now() - t0) * 1000) / 1000 : undefined;
  }

  private async probe(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        this.lastError = `no answer to PING within ${PROBE_MS} ms`;
        resolve(false);
      }, PROBE_MS);
    });
    const ping = this.redis.ping().then(() => {
      this.lastOk = performance.now();
      return true;
    }, (e: Error) => {
      this.lastError = e.message;
      return false;
    });
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export function redisUnavailable(detail: string, unknownOutcome = false): HttpError {
  return new HttpError(
    503,
    "unavailable",
    unknownOutcome
      ? `Redis stopped answering while this request ran (${detail}); it may or may not have ` +
        "taken effect: check before retrying"
      : `Redis is unavailable (${detail}); try again shortly`,
    undefined,
    { "Retry-After": "2" },
  );
}

export function redisGate(health: RedisHealth): MiddlewareHandler<AppEnv> {
  return async (_c, next) => {
    if (!(await health.ok())) throw redisUnavailable(health.lastError);
    let watcher: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    const lost = new Promise<never>((_, reject) => {
      const check = async () => {
        const up = await health.ok();
        if (done) return;
        if (up) watcher = setTimeout(check, CHECK_MS);
        else reject(redisUnavailable(health.lastError, true));
      };
      watcher = setTimeout(check, CHECK_MS);
    });
    lost.catch(() => {}); // handled by the race below, or moot once the route is done
    const route = next();
    route.catch(() => {}); // a route abandoned after a 503 must not become an unhandled rejection
    try {
      await Promise.race([route, lost]);
    } finally {
      done = true;
      clearTimeout(watcher);
    }
  };
}
