/**
 * The MCP prompts townhall offers (mcp.ts): a conductor's startup briefing from the town's status,
 * and a role hint from an agent's name.
 */
import { townStatus } from "../core/status.ts";
import type { TownContext } from "../core/town.ts";

/** Markdown briefing for a conductor (MCP prompt `conductor.startup_context`). */
export async function conductorContext(
  t: TownContext,
  tools: readonly { name: string; description: string }[],
): Promise<string> {
  const s = await townStatus(t);
  const agents = s.agents.length
    ? s.agents.map((a) =>
      `- ${a.label} (${
        a.id.slice(0, 4)
      }): ${a.agent.state}, inbox ${a.mailbox.inbox}, urgent ${a.mailbox.urgent}${
        a.current_task ? `, working on "${a.current_task.description.slice(0, 60)}"` : ""
      }`
    )
    : ["- none yet: spawn agents, then assign tasks or fill the backlog"];
  return [
    `# Tinytown conductor: town ${s.town}`,
    "",
    "You coordinate AI coding agents through this town. Hand out work (task.assign, or",
    "backlog.add for any free agent to claim), answer agents' questions (agent.inbox on",
    "`supervisor`), and check progress (town.get_status, event.history).",
    "",
    `## Agents (${s.agents.length})`,
    ...agents,
    "",
    "## Tasks",
    `${s.tasks.total} total; ${
      Object.entries(s.tasks.by_state).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(
        ", ",
      ) || "none yet"
    }; ${s.tasks.backlog} in the backlog; ${
      s.conductor.inbox + s.conductor.urgent
    } message(s) for you.`,
    "",
    "## Tools",
    ...tools.map((x) => `- \`${x.name}\`: ${x.description}`),
  ].join("\n");
}

const HINTS: [RegExp, string][] = [
  [/backend|api|server/i, "Backend: APIs, data models and server logic; keep endpoints tested."],
  [/frontend|ui|web/i, "Frontend: UI components and client state; check accessibility."],
  [/test|qa/i, "Tester: write and run tests, report failures with reproduction steps."],
  [/review/i, "Reviewer: read changes critically, ask for fixes, approve only what you checked."],
  [/supervisor|conductor/i, "Conductor: plan, split and assign work; unblock agents."],
  [/doc/i, "Docs: keep README and reference documentation accurate and short."],
];

/** A short role hint chosen from the agent's name (MCP prompt `agent.role_hint`). */
export function roleHint(name: string, tags?: string): string {
  const hint = HINTS.find(([re]) => re.test(name))?.[1] ??
    "General worker: take tasks from your inbox or the backlog, finish them, report results.";
  const tagLine = tags?.trim()
    ? `\nFocus areas: ${tags.split(",").map((x) => x.trim()).join(", ")}.`
    : "";
  return `You are agent '${name}'. ${hint}${tagLine}\nReport a finished task with ` +
    '`tt task complete <id> --result "…"`.';
}
