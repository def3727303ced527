/** Usage (tokens and cost by agent, task, mission, model, CLI or day) and budgets. */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv, TownhallDeps } from "../env.ts";
import { errors, json, secured } from "./common.ts";
import { USAGE_DIMENSIONS, usageReport } from "../../core/usage/report.ts";
import { listAgents } from "../../core/agents.ts";
import { loadTownConfig } from "../../core/config.ts";
import { agentBudgets } from "../../core/usage/budget.ts";
import { isTerminalAgent } from "../../core/schemas.ts";
import type { TownContext } from "../../core/town.ts";

export const UsageQuery = z.strictObject({
  by: z.enum(USAGE_DIMENSIONS).optional(),
  since: z.string().trim().min(1).max(40).optional()
    .openapi({ description: 'A duration back from now ("7d") or a date ("2026-11-30")' }),
});

const Row = z.object({
  key: z.string(),
  input: z.number(),
  output: z.number(),
  cached: z.number(),
  usd: z.number(),
  rounds: z.number(),
  ms: z.number(),
});
const UsageView = z.object({
  by: z.enum(USAGE_DIMENSIONS),
  since: z.string(),
  until: z.string(),
  rows: z.array(Row),
  total: Row,
}).openapi("Usage");

const BudgetView = z.object({
  agents: z.array(z.object({
    agent_id: z.string(),
    agent: z.string(),
    spent: z.record(z.string(), z.number()),
    left: z.record(z.string(), z.number()),
    over: z.object({ budget: z.string(), spent: z.number(), limit: z.number(), text: z.string() })
      .optional(),
  })),
}).openapi("Budget");

export const usageOf = (t: TownContext, q: z.infer<typeof UsageQuery>) => usageReport(t, q);

export async function budgetOf(t: TownContext) {
  const cfg = await loadTownConfig(t.root);
  const agents = (await listAgents(t)).filter((a) => !isTerminalAgent(a.state));
  const b = await agentBudgets(t, agents, cfg.budget);
  return {
    agents: agents.map((a) => {
      const x = b.get(a.id)!;
      return {
        agent_id: a.id,
        agent: a.name,
        spent: { ...x.spent },
        left: { ...x.left } as Record<string, number>,
        over: x.over &&
          { budget: x.over.budget, spent: x.over.spent, limit: x.over.limit, text: x.over.text },
      };
    }),
  };
}

export function register(app: OpenAPIHono<AppEnv>, { town }: TownhallDeps) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/usage",
      tags: ["Town"],
      summary: "Tokens and cost the agents' CLIs reported, grouped by agent, task, model or day",
      ...secured("town.read"),
      request: { query: UsageQuery },
      responses: { 200: json(UsageView, "Usage"), ...errors },
    }),
    async (c) => c.json(await usageOf(town, c.req.valid("query")), 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/budget",
      tags: ["Town"],
      summary: "Each running agent's [budget]: spent, left, and which budget is exhausted",
      ...secured("town.read"),
      responses: { 200: json(BudgetView, "Budget"), ...errors },
    }),
    async (c) => c.json(await budgetOf(town), 200),
  );
}
