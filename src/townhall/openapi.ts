/**
 * The OpenAPI document lists what the server really answers. The middleware in app.ts gives
 * every route the same few statuses (403 for a foreign Host/Origin, 429, 500, 503 while Redis is
 * away; 401 for keyed routes; 413 and 415 for state-changing ones), so they are added here, in
 * one place, instead of on each route; each operation also gets an `operationId`.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./env.ts";
import { ErrorBody } from "./schemas.ts";
import { STATE_CHANGING } from "./guard.ts";

const err = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorBody } },
});

const ALWAYS = {
  403: err("Host or Origin not allowed, or the API key lacks the required scope"),
  429: err("Rate limit exceeded; see Retry-After"),
  500: err("Internal error (a bug: the server logs it)"),
};
const REDIS = { 503: err("Redis is unavailable; see Retry-After") };
const KEYED = { 401: err("Missing or invalid API key") };
const WRITE = {
  413: err("Request body too large"),
  415: err("Content-Type is not application/json (required on every state-changing request)"),
};
const INPUT = { 400: err("Invalid input; `field` names the offending field") };

/** `post /v1/agents/{agent}/kill` → `postAgentsByAgentKill`. */
export function operationId(method: string, path: string): string {
  const words = path.split("/").filter((p) => p && p !== "v1").map((p) => {
    const param = /^\{(\w+)\}$/.exec(p);
    const w = (param ? `by_${param[1]}` : p).split(/[-_.]/).filter(Boolean);
    return w.map((x) => x[0].toUpperCase() + x.slice(1)).join("");
  });
  return method.toLowerCase() + words.join("");
}

interface RouteDef {
  method: string;
  path: string;
  operationId?: string;
  security?: unknown[];
  request?: Record<string, unknown>;
  responses: Record<string, unknown>;
}

export function documentResponses(app: OpenAPIHono<AppEnv>): void {
  for (const d of app.openAPIRegistry.definitions) {
    if (d.type !== "route") continue;
    const r = d.route as unknown as RouteDef;
    r.operationId ??= operationId(r.method, r.path);
    const open = r.path === "/health" || r.path === "/ready";
    const extra = {
      ...ALWAYS,
      ...(r.path === "/health" ? {} : REDIS),
      ...(open ? {} : KEYED),
      ...(STATE_CHANGING.has(r.method.toUpperCase()) ? { ...WRITE, ...INPUT } : {}),
      ...(r.request && Object.keys(r.request).length ? INPUT : {}),
    };
    for (const [status, resp] of Object.entries(extra)) r.responses[status] ??= resp;
  }
}
