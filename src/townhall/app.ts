/**
 * The townhall app: a list of routes over src/core. Cross-cutting concerns are applied here, in
 * this order:
 *
 *   guard (Host, Origin, JSON content type: every route) → CORS (allowed_origins only)
 *   → Redis gate (503; all but /health and /ready) → audit (mutating /v1 calls)
 *   → identify (API key) → dashboard session cookie (dashboard paths and the SSE endpoint only)
 *   → rate limit → auth gate (all but /health, /ready and the dashboard's login, assets and /)
 *   → body limit → route (scope check [+ exec check] → validation → handler)
 *
 * Without a key only /health and /ready answer; /metrics and /api/scaling need town.read, and
 * /openapi.json any valid key.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { VERSION } from "../version.ts";
import type { AppEnv, TownhallDeps } from "./env.ts";
import { body, HttpError, toHttp, zodIssue } from "./errors.ts";
import { authGate, identify } from "./auth.ts";
import { audit, rateLimit } from "./middleware.ts";
import * as agents from "./routes/agents.ts";
import * as events from "./routes/events.ts";
import * as health from "./routes/health.ts";
import * as lifecycle from "./routes/lifecycle.ts";
import * as missions from "./routes/missions.ts";
import * as tasks from "./routes/tasks.ts";
import * as usage from "./routes/usage.ts";
import { handleMcp } from "./mcp_http.ts";
import { corsFor, emptyJsonBody, guard } from "./guard.ts";
import { redisGate } from "./redis_gate.ts";
import { documentResponses } from "./openapi.ts";
import { dashboardPublic, registerDashboard, sessionAuth } from "./dashboard/mod.ts";

/** Answer without a key (and without the Redis gate: they report on Redis themselves). */
const OPEN_PATHS = new Set(["/health", "/ready"]);

const exceptOpen = (mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> => (c, next) =>
  OPEN_PATHS.has(c.req.path) ? next() : mw(c, next);

/** The auth gate, but not for the dashboard's login page, assets and `/` (which redirects). */
const gate: MiddlewareHandler<AppEnv> = (c, next) =>
  dashboardPublic(c.req.path) ? next() : authGate(c, next);

export function buildApp(deps: TownhallDeps) {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const { field, message } = zodIssue(result.error, targetName(result.target));
        throw new HttpError(400, "bad_request", message, field);
      }
    },
  });

  app.onError((e, c) => {
    const r = toHttp(e);
    if (r.internal) (deps.logError ?? logError)(e);
    return c.json(r.body, r.status, r.headers);
  });
  app.notFound((c) => c.json(body(404, `no route ${c.req.method} ${c.req.path}`), 404));

  const tooLarge = (c: Context) =>
    c.json(body(413, `request body is larger than ${deps.maxBodyBytes} bytes`), 413);
  app.use("*", guard(deps.guard), corsFor(deps.guard), exceptOpen(redisGate(deps.health)));
  app.use("/v1/*", audit(deps));
  app.use("*", exceptOpen(identify(deps)), sessionAuth(deps), rateLimit(deps), exceptOpen(gate));
  for (const path of ["/v1/*", "/mcp"]) {
    app.use(path, bodyLimit({ maxSize: deps.maxBodyBytes, onError: tooLarge }), emptyJsonBody);
  }

  health.register(app, deps);
  agents.register(app, deps);
  tasks.register(app, deps);
  usage.register(app, deps);
  lifecycle.register(app, deps);
  events.register(app, deps);
  missions.register(app, deps);
  app.all("/mcp", (c) => handleMcp(c, deps));
  registerDashboard(app, deps);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API key from `tt auth gen-key`: `Authorization: Bearer tt_…`",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKeyHeader", {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
    description: "The same API key in the `X-API-Key` header",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Townhall API",
      version: VERSION,
      description: "Control plane of a tt town. Every route but /health and /ready needs an " +
        "API key. Scopes: town.read, town.write, agent.manage, exec (run commands on the " +
        "host: a raw agent `cli`, a task `verify`), admin (implies all). State-changing " +
        "requests need `Content-Type: application/json`, also without a body. " +
        "Errors: `{error, code, status, field?}`.",
    },
    tags: [
      "Health",
      "Town",
      "Agents",
      "Messages",
      "Tasks",
      "Backlog",
      "Events",
      "Lifecycle",
      "Dashboard",
    ].map(
      (name) => ({ name }),
    ),
  });
  documentResponses(app);
  return app;
}

const targetName = (t: string) => (t === "json" ? "body" : t === "param" ? "path" : t);

function logError(e: unknown) {
  console.error(`townhall: internal error: ${e instanceof Error ? e.stack : String(e)}`);
}
