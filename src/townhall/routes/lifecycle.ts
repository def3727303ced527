/** Agent lifecycle (scope agent.manage): spawn, kill, interrupt, resume, close, restart, wait,
 * prune, recover, reclaim. Spawn and restart really start the agent (through its supervisor). */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv, TownhallDeps } from "../env.ts";
import * as ops from "../ops.ts";
import {
  AgentAction,
  AgentParam,
  AgentView,
  OrphanBody,
  OrphanResult,
  PruneBody,
  PruneResult,
  ReasonBody,
  ReclaimBody,
  ReclaimResult,
  RecoverResult,
  RestartBody,
  SpawnBody,
  WaitQuery,
  WaitResult,
} from "../schemas.ts";
import { z } from "@hono/zod-openapi";
import { conflict, errors, json, jsonBody, notFound, secured, tooLarge } from "./common.ts";
import { requireExec, spawnRunsCode } from "../exec.ts";

const optionalBody = <T>(schema: T) => ({
  body: { required: false, content: { "application/json": { schema } } },
});

const VERBS = [
  ["kill", "Stop an agent now: its running CLI gets SIGTERM (then SIGKILL), its work goes back"],
  ["interrupt", "Pause an agent: the running round finishes, no new round starts"],
  ["resume", "Resume a paused agent"],
  ["close", "Let the running round finish, then stop the agent"],
] as const;

export function register(app: OpenAPIHono<AppEnv>, { town }: TownhallDeps) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agents",
      tags: ["Lifecycle"],
      summary: "Spawn an agent: create it and have its host's supervisor run it",
      ...secured("agent.manage"),
      description: "Requires scope `agent.manage` (or `admin`); a `cli` that is not a preset " +
        "nor an `[agent_clis]` name also needs `exec`.",
      request: jsonBody(SpawnBody),
      responses: {
        201: json(z.object({ agent: AgentView, host_up: z.boolean() }), "Spawned"),
        ...errors,
        ...notFound,
        ...conflict,
        ...tooLarge,
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      requireExec(c.get("principal"), spawnRunsCode(town.config, b.cli));
      return c.json(await ops.spawn(town, b), 201);
    },
  );

  for (const [verb, summary] of VERBS) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/v1/agents/{agent}/${verb}`,
        tags: ["Lifecycle"],
        summary,
        ...secured("agent.manage"),
        request: { params: AgentParam, ...optionalBody(ReasonBody) },
        responses: { 200: json(AgentAction, "Done"), ...errors, ...notFound, ...conflict },
      }),
      async (c) =>
        c.json(
          await ops.agentAction(
            town,
            c.req.valid("param").agent,
            verb,
            c.req.valid("json").reason,
          ),
          200,
        ),
    );
  }

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agents/{agent}/restart",
      tags: ["Lifecycle"],
      summary: "Bring a stopped agent back (same id, inbox and worktree)",
      ...secured("agent.manage"),
      request: { params: AgentParam, ...optionalBody(RestartBody) },
      responses: { 200: json(AgentAction, "Restarted"), ...errors, ...notFound, ...conflict },
    }),
    async (c) =>
      c.json(await ops.restart(town, c.req.valid("param").agent, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/agents/{agent}/wait",
      tags: ["Lifecycle"],
      summary:
        "Block until the agent is idle with nothing queued (or stopped), at most `timeout` s",
      ...secured("town.read"),
      request: { params: AgentParam, query: WaitQuery },
      responses: { 200: json(WaitResult, "Condition met, or not (`met`)"), ...errors, ...notFound },
    }),
    async (c) =>
      c.json(await ops.wait(town, c.req.valid("param").agent, c.req.valid("query")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/agents/prune",
      tags: ["Lifecycle"],
      summary: "Remove stopped agents (with `all`, every agent, stopping active ones first)",
      ...secured("agent.manage"),
      request: optionalBody(PruneBody),
      responses: { 200: json(PruneResult, "Pruned"), ...errors },
    }),
    async (c) => c.json(await ops.prune(town, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/recover",
      tags: ["Lifecycle"],
      summary: "Stop agents whose supervisor is gone or whose round overran; requeue their work",
      ...secured("agent.manage"),
      request: optionalBody(z.strictObject({})),
      responses: { 200: json(RecoverResult, "Recovered"), ...errors },
    }),
    async (c) => c.json(await ops.recover(town), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/reclaim",
      tags: ["Lifecycle"],
      summary: "Move stopped agents' queued work to an agent or the backlog (else list it)",
      ...secured("agent.manage"),
      request: optionalBody(ReclaimBody),
      responses: { 200: json(ReclaimResult, "Reclaimed"), ...errors, ...notFound, ...conflict },
    }),
    async (c) => c.json(await ops.reclaim(town, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/reclaim/orphan-tasks",
      tags: ["Lifecycle"],
      summary: "Tasks still assigned to missing or stopped agents: list, backlog, cancel or delete",
      ...secured("agent.manage"),
      request: optionalBody(OrphanBody),
      responses: { 200: json(OrphanResult, "Orphans"), ...errors },
    }),
    async (c) => c.json(await ops.orphans(town, c.req.valid("json")), 200),
  );
}
