/**
 * Liveness and readiness (no key needed), Prometheus metrics and scaling hints (scope town.read:
 * Prometheus sends it with `authorization: {credentials: <key>}`).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv, TownhallDeps } from "../env.ts";
import { VERSION } from "../../version.ts";
import { metricsText, scaling } from "../metrics.ts";
import { errors, json, secured } from "./common.ts";

const Health = z.object({
  status: z.literal("ok"),
  town: z.string(),
  version: z.string(),
  uptime_secs: z.number(),
}).openapi("Health");

const Ready = z.object({
  status: z.enum(["ready", "not_ready"]),
  redis: z.enum(["connected", "disconnected"]),
  redis_latency_ms: z.number().optional(),
  town: z.string(),
  detail: z.string().optional(),
}).openapi("Ready");

const Scaling = z.object({
  town: z.string(),
  timestamp: z.string(),
  queue_depth: z.number().int(),
  pending_tasks: z.number().int(),
  in_flight_tasks: z.number().int(),
  active_agents: z.number().int(),
  idle_agents: z.number().int(),
  desired_agents: z.number().int(),
  scaling_recommendation: z.enum(["scale_up", "steady", "scale_down", "scale_to_zero"]),
}).openapi("Scaling");

export function register(app: OpenAPIHono<AppEnv>, deps: TownhallDeps) {
  const { town } = deps;
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      tags: ["Health"],
      summary: "Liveness: the server is up",
      responses: { 200: json(Health, "Up") },
    }),
    (c) =>
      c.json({
        status: "ok" as const,
        town: town.name,
        version: VERSION,
        uptime_secs: Math.round((performance.now() - deps.startedAt) / 1000),
      }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/ready",
      tags: ["Health"],
      summary: "Readiness: Redis answers PING",
      responses: { 200: json(Ready, "Ready"), 503: json(Ready, "Redis unreachable") },
    }),
    async (c) => {
      const ms = await deps.health.ping();
      if (ms !== undefined) {
        return c.json({
          status: "ready" as const,
          redis: "connected" as const,
          redis_latency_ms: ms,
          town: town.name,
        }, 200);
      }
      return c.json(
        {
          status: "not_ready" as const,
          redis: "disconnected" as const,
          town: town.name,
          detail: deps.health.lastError,
        },
        503,
        { "Retry-After": "2" },
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags: ["Health"],
      summary: "Prometheus metrics: agents and tasks by state, backlog, queue depths",
      ...secured("town.read"),
      responses: {
        200: {
          description: "Prometheus text format 0.0.4",
          content: { "text/plain": { schema: z.string() } },
        },
        ...errors,
      },
    }),
    async (c) =>
      c.text(await metricsText(town, deps.startedAt), 200, {
        "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
      }),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/scaling",
      tags: ["Health"],
      summary: "Queue depth and a scaling recommendation for autoscalers",
      ...secured("town.read"),
      responses: { 200: json(Scaling, "Scaling signals"), ...errors },
    }),
    async (c) => c.json(await scaling(town), 200),
  );
}
