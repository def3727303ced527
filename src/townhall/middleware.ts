/** Cross-cutting middleware: rate limiting and the audit trail of mutating calls. */
import type { Context, MiddlewareHandler } from "hono";
import { emitEvent } from "../core/events.ts";
import type { Ctx } from "../core/agents.ts";
import { HttpError } from "./errors.ts";
import type { AppEnv, Principal, TownhallDeps } from "./env.ts";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** The client's address (TCP host, or `unix` for a socket). */
export function clientAddr(c: Context<AppEnv>): string {
  const a = c.env?.remoteAddr;
  return a && "hostname" in a ? a.hostname : a?.transport ?? "unknown";
}

/** The bucket a caller draws from: its key, or its address when it has none. */
export function clientId(c: Context<AppEnv>): string {
  const p = c.get("principal");
  return p?.via === "key" ? `key:${p.id}` : `ip:${clientAddr(c)}`;
}

export function rateLimited(retryAfterSecs: number): HttpError {
  return new HttpError(
    429,
    "rate_limited",
    `rate limit exceeded: retry in ${retryAfterSecs}s`,
    undefined,
    { "Retry-After": String(retryAfterSecs) },
  );
}

/**
 * Token bucket per client: reads and writes draw from separate buckets. MCP requests count as
 * reads here; MCP tools that change state also draw from the write bucket (src/townhall/mcp.ts).
 */
export function rateLimit(deps: TownhallDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const write = !SAFE.has(c.req.method) && c.req.path !== "/mcp";
    const r = (write ? deps.limits.write : deps.limits.read).take(clientId(c));
    if (!r.ok) throw rateLimited(r.retryAfterSecs);
    await next();
  };
}

/** Appends an `audit` event to the town stream; failures are reported, never fatal. */
export async function recordAudit(
  t: Ctx,
  who: Principal | undefined,
  method: string,
  path: string,
  status: number,
): Promise<void> {
  try {
    await emitEvent(t, {
      type: "audit",
      message: `${method} ${path} → ${status}`,
      actor: who?.id ?? "anonymous",
      method,
      path,
      status,
    });
  } catch (e) {
    console.error(`townhall: could not record audit event: ${(e as Error).message}`);
  }
}

/**
 * Records every mutating call with key id, method, path and status — denied ones too. Requests
 * refused by the rate limiter are not recorded, so a flood cannot push history out of the stream.
 */
export function audit(deps: TownhallDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (SAFE.has(c.req.method) || c.res.status === 429) return;
    await recordAudit(deps.town, c.get("principal"), c.req.method, c.req.path, c.res.status);
  };
}
