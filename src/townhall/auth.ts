/**
 * Authentication and authorization middleware. Keys come in `Authorization: Bearer <key>` or
 * `X-API-Key: <key>` and are checked by src/core/auth.ts (SHA-256, constant-time). Scopes:
 * town.read, town.write, agent.manage, exec, admin (admin implies all). Unless the town is served
 * with `auth = "none"`, every request needs a key: a town with no key at all answers 401 (revoking
 * the last key, or `tt reset`, never opens the API).
 */
import type { MiddlewareHandler } from "hono";
import { hasScope, listKeys, matchKey, type Scope } from "../core/auth.ts";
import type { Ctx } from "../core/agents.ts";
import { HttpError } from "./errors.ts";
import type { AppEnv, AuthMode, Principal, TownhallDeps } from "./env.ts";

/** The caller when no key is needed (`auth = "none"`, `tt mcp`): every scope. */
export const OPEN: Principal = { id: "local", name: "local", scopes: ["admin"], via: "open" };

const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="townhall"' };

function unauthorized(message: string): HttpError {
  return new HttpError(401, "unauthorized", message, undefined, CHALLENGE);
}

/** The key in the request headers, or an error for a malformed Authorization header. */
export function credential(
  authorization: string | undefined,
  apiKey: string | undefined,
): { key?: string; error?: HttpError } {
  if (authorization !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!m) {
      return { error: unauthorized("malformed Authorization header: expected 'Bearer <key>'") };
    }
    return { key: m[1] };
  }
  if (apiKey !== undefined) return { key: apiKey.trim() };
  return {};
}

/** Decides who is calling; never throws for bad credentials (returns the error instead). */
export async function authenticate(
  t: Ctx,
  mode: AuthMode,
  authorization: string | undefined,
  apiKey: string | undefined,
): Promise<{ principal: Principal } | { error: HttpError }> {
  if (mode === "none") return { principal: OPEN };
  const keys = await listKeys(t);
  const cred = credential(authorization, apiKey);
  if (cred.error) return { error: cred.error };
  if (!cred.key) {
    return {
      error: unauthorized(
        "authentication required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' ('tt auth gen-key' makes one)",
      ),
    };
  }
  if (keys.length === 0) {
    return {
      error: unauthorized(
        "this town has no API key any more: create one with 'tt auth gen-key' (the server " +
          "picks it up at once)",
      ),
    };
  }
  const k = matchKey(keys, cred.key);
  if (!k) return { error: unauthorized("invalid API key") };
  return { principal: { id: k.id, name: k.name, scopes: k.scopes, via: "key" } };
}

/** Sets `principal` (or `authError`, raised later by authGate, after rate limiting). */
export function identify(deps: TownhallDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const r = await authenticate(
      deps.town,
      deps.auth,
      c.req.header("authorization"),
      c.req.header("x-api-key"),
    );
    if ("principal" in r) c.set("principal", r.principal);
    else c.set("authError", r.error);
    await next();
  };
}

export const authGate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const e = c.get("authError");
  if (e) throw e;
  await next();
};

export function scopeError(p: Principal | undefined, scope: Scope): HttpError | undefined {
  if (p && hasScope(p.scopes, scope)) return undefined;
  return new HttpError(
    403,
    "forbidden",
    `this API key lacks the '${scope}' scope (it has: ${p?.scopes.join(", ") || "none"})`,
  );
}

export function requireScope(scope: Scope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const e = scopeError(c.get("principal"), scope);
    if (e) throw e;
    await next();
  };
}
