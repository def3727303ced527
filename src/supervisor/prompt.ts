/**
 * The markdown prompt of one round: what the agent must do now, what it should know, and the
 * exact commands to report back. Structure follows the original (reference §1.3.3).
 */
import type { Agent, Message, RoundTask, Task } from "../core/schemas.ts";
import { agentLabel } from "../core/agents.ts";
import { categoryOf, summarize } from "../core/messages.ts";

export interface PromptInput {
  town: string;
  agent: Agent;
  round: number;
  maxRounds: number;
  messages: Message[];
  /** Tasks referenced by task_assign messages, by id. */
  tasks: Map<string, RoundTask>;
  /** Informational messages parked since the last round. */
  notes: Message[];
  /** Labels of senders by id (agents and the conductor). */
  senders: Map<string, string>;
  /**
   * The backlog: its length, and the first tasks matching the agent's role; `matched` (default
   * matching.length) counts all matches among the first `scanned` entries (default total).
   */
  backlog: { total: number; matching: Task[]; matched?: number; scanned?: number };
}

const clip = (s: string, n: number) => {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length <= n ? one : one.slice(0, n - 1) + "…";
};

/** What a task's check means for the agent, and why its last report was sent back. */
function checkLines(task: RoundTask): string[] {
  if (!task.verify) return [];
  const lines = [
    `   - Done means this check passes in your working directory: \`${task.verify}\` ` +
    "(the supervisor runs it after you report; run it yourself first).",
  ];
  if (task.verify_output !== undefined) {
    lines.push(
      `   - Your last report was sent back: the check failed (${task.verify_failures} time(s) so far). ` +
        "Its output ended with:",
      "",
      "```",
      task.verify_output,
      "```",
      "",
    );
  }
  return lines;
}

export function buildPrompt(p: PromptInput): string {
  const { agent } = p;
  const actionable = p.messages.filter((m) => ["task", "query"].includes(categoryOf(m)));
  const info = [...p.notes, ...p.messages.filter((m) => categoryOf(m) === "info")];
  const acks = p.messages.filter((m) => categoryOf(m) === "confirmation");
  const from = (m: Message) => p.senders.get(m.from) ?? m.from;
  const urgent = (m: Message) => m.priority === "urgent" || m.priority === "high";
  const out: string[] = [];

  out.push(`# Agent: ${agent.name}`, "");
  out.push(
    `You are agent "${agent.name}" (${agentLabel(agent)}) in Tinytown "${p.town}". ` +
      `Your identity is already set in the environment (TINYTOWN_AGENT_ID), so \`tt\` commands act as you.`,
    "",
  );

  out.push("## Actionable Messages (already popped)", "");
  if (!actionable.length) out.push("None: see the backlog below.", "");
  actionable.forEach((m, i) => {
    const prio = urgent(m) ? "[URGENT]" : "[normal]";
    if (m.type === "task_assign" && m.task_id) {
      const task = p.tasks.get(m.task_id);
      out.push(
        `${i + 1}. ${prio} task assignment from ${from(m)}`,
        `   - Task ID: ${m.task_id}`,
        `   - Task: ${task ? task.description : m.body || "Task details unavailable"}`,
        `   - When done, run exactly: \`tt task complete ${m.task_id} --result "what was done"\``,
        `   - If you cannot do it: \`tt task fail ${m.task_id} --reason "why"\``,
        `   - Use this Task ID only; ignore other ids that appear inside the description.`,
        ...(task ? checkLines(task) : []),
      );
    } else {
      out.push(`${i + 1}. ${prio} from ${from(m)}: ${summarize(m, 2000)}`);
    }
  });
  if (actionable.length) out.push("");

  if (info.length) {
    out.push("## Informational (batched summary)", "");
    for (const m of info.slice(0, 8)) out.push(`- from ${from(m)}: ${summarize(m, 200)}`);
    if (info.length > 8) out.push(`- ...and ${info.length - 8} more`);
    out.push("");
  }
  if (acks.length) {
    out.push("## Confirmations (auto-dismissed)", "");
    const kinds = new Map<string, number>();
    for (const m of acks) kinds.set(m.kind ?? "ack", (kinds.get(m.kind ?? "ack") ?? 0) + 1);
    for (const [k, n] of kinds) out.push(`- ${k} x${n}`);
    out.push("");
  }

  out.push(
    "## Available Commands",
    "",
    "```bash",
    "tt status                                   # the town: agents, tasks",
    "tt task current                             # your current task and how to complete it",
    'tt task complete <task_id> --result "..."   # report a finished task',
    'tt task fail <task_id> --reason "..."       # report a task you cannot finish',
    'tt assign <agent> "task"                    # hand work to another agent',
    "tt backlog list                             # unassigned work",
    `tt backlog claim <task_id> ${agent.name}   # take one backlog task`,
    'tt send <agent> "message"                   # a task for another agent',
    'tt send <agent> --query "question"          # ask (use "conductor" for the human)',
    'tt send <agent> --info "fyi"                # tell, no reply needed',
    'tt send <agent> --ack "thanks"              # acknowledge',
    "```",
    "",
  );

  out.push("## Backlog Snapshot", "");
  const matched = p.backlog.matched ?? p.backlog.matching.length;
  const scanned = p.backlog.scanned ?? p.backlog.total;
  out.push(
    `Backlog: ${p.backlog.total} task(s), ${matched} matching your role${
      scanned < p.backlog.total ? ` among the first ${scanned}` : ""
    }.`,
  );
  for (const t of p.backlog.matching.slice(0, 8)) {
    out.push(
      `- ${t.id} - ${clip(t.description, 90)}${t.tags.length ? ` [${t.tags.join(", ")}]` : ""}`,
    );
  }
  const shown = Math.min(8, p.backlog.matching.length);
  if (matched > shown) out.push(`- ...and ${matched - shown} more`);
  if (!matched && p.backlog.total) {
    out.push("None of it matches your role: do not claim unrelated work.");
  }
  out.push("");

  out.push(
    "## Current State",
    "",
    `- Round ${p.round}/${p.maxRounds}`,
    `- Actionable: ${actionable.length} (urgent: ${actionable.filter(urgent).length})`,
    `- Informational: ${info.length}; confirmations dismissed: ${acks.length}`,
    "",
  );

  out.push(
    "## Your Workflow",
    "",
    "1. Handle every actionable message above, urgent ones first.",
    "2. If you have no direct work, claim at most one backlog task that matches your role.",
    "3. Never claim work unrelated to your role.",
    "4. Prefer direct hand-offs to the agent who needs your output (`tt send`, `tt assign`).",
    "5. Ask the conductor (`tt send conductor --query ...`) for guidance, priorities or decisions.",
    "6. When blocked, send a query saying exactly what you need, then stop.",
    "7. Use `tt task current` to confirm the real task id before completing.",
    '8. Finish each task with `tt task complete <task_id> --result "..."` (or `tt task fail`).',
    "9. Send short FYIs (`--info`) to agents that depend on what you changed.",
    "",
    "Run only the commands you need; this round's inbox messages are already included above.",
  );
  return out.join("\n") + "\n";
}
