/**
 * The townhall app: a list of routes over src/core. Cross-cutting concerns are applied here, in
 * this order, for everything under /v1 and /mcp:
 *
 *   audit (mutating calls) → identify (API key) → rate limit → auth gate → body limit → route
 *   (scope check → validation → handler)
 *
 * Public: /health, /ready, /metrics, /api/scaling, /openapi.json (rate limited by address).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
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
import { handleMcp } from "./mcp_http.ts";

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
  app.use("/v1/*", audit(deps), identify(deps));
  app.use("/mcp", identify(deps));
  app.use("*", rateLimit(deps));
  for (const path of ["/v1/*", "/mcp"]) {
    app.use(path, authGate, bodyLimit({ maxSize: deps.maxBodyBytes, onError: tooLarge }));
  }

  health.register(app, deps);
  agents.register(app, deps);
  tasks.register(app, deps);
  lifecycle.register(app, deps);
  events.register(app, deps);
  missions.register(app, deps);
  app.all("/mcp", (c) => handleMcp(c, deps));

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
      description: "Control plane of a tt town. Scopes: town.read, town.write, agent.manage, " +
        "admin (implies all). Errors: `{error, code, status, field?}`.",
    },
    tags: ["Health", "Town", "Agents", "Messages", "Tasks", "Backlog", "Events", "Lifecycle"].map(
      (name) => ({ name }),
    ),
  });
  return app;
}

const targetName = (t: string) => (t === "json" ? "body" : t === "param" ? "path" : t);

function logError(e: unknown) {
  console.error(`townhall: internal error: ${e instanceof Error ? e.stack : String(e)}`);
}
