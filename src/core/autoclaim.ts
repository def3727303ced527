/**
 * Which backlog work suits an agent, and idle agents claiming it. The role (or, without one,
 * the name) picks a lane; a task matches a lane by tag or description keyword. Agents without a
 * recognised lane are generalists and match everything.
 */
import type { Agent, Task } from "./schemas.ts";
import type { Ctx } from "./agents.ts";
import { claimTask, listBacklog } from "./backlog.ts";
import { NotFoundError } from "./errors.ts";

const LANES: { match: RegExp; keywords: string[] }[] = [
  { match: /front|\bui\b|web|client/, keywords: ["frontend", "ui", "web", "client", "ux", "css"] },
  { match: /back|api|server/, keywords: ["backend", "api", "server", "database", "data"] },
  { match: /test|qa/, keywords: ["test", "tests", "qa", "validation", "regression"] },
  { match: /review|audit/, keywords: ["review", "reviewer", "security", "audit", "validation"] },
  { match: /doc|writer/, keywords: ["docs", "doc", "documentation", "spec", "readme"] },
  {
    match: /devops|\bops\b|infra|deploy/,
    keywords: ["devops", "ops", "infra", "deploy", "ci", "reliability"],
  },
  { match: /security|^sec$/, keywords: ["security", "sec", "vulnerability", "hardening", "audit"] },
];

/** Keywords of the agent's lane, or undefined for a generalist. */
export function laneKeywords(agent: Pick<Agent, "name" | "role">): string[] | undefined {
  const who = (agent.role && !["default", "worker"].includes(agent.role) ? agent.role : agent.name)
    .toLowerCase();
  return LANES.find((l) => l.match.test(who))?.keywords;
}

export function matchesLane(task: Task, keywords: string[] | undefined): boolean {
  if (!keywords) return true;
  const tags = task.tags.map((t) => t.toLowerCase());
  const words = new Set(task.description.toLowerCase().split(/[^\p{L}\p{N}]+/u));
  return keywords.some((k) => tags.includes(k) || words.has(k));
}

export async function backlogSnapshot(
  t: Ctx,
  agent: Agent,
): Promise<{ total: number; matching: Task[] }> {
  const all = await listBacklog(t);
  const kw = laneKeywords(agent);
  return { total: all.length, matching: all.filter((task) => matchesLane(task, kw)) };
}

/** Claims the oldest backlog task matching the agent's lane; undefined if there is none. */
export async function claimForAgent(t: Ctx, agent: Agent): Promise<Task | undefined> {
  const { matching } = await backlogSnapshot(t, agent);
  for (const task of matching) {
    try {
      return await claimTask(t, task.id, agent);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e; // taken by someone else meanwhile: next one
    }
  }
  return undefined;
}
