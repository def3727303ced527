/**
 * The MCP tools: one line each mapping a name, a scope and an argument schema to an operation in
 * ops.ts — the same operations the REST routes call. Names are `<noun>_<verb>` (LLM function
 * names allow no dots); the reference's dotted names (§6.4, `task.assign`) still work in calls.
 */
import { z } from "@hono/zod-openapi";
import type { Scope } from "../core/auth.ts";
import { spawnRunsCode, verifyRunsCode } from "./exec.ts";
import type { TownContext } from "../core/town.ts";
import * as ops from "./ops.ts";
import { MISSION_TOOLS } from "./mission_tools.ts";
import { budgetOf, usageOf, UsageQuery } from "./routes/usage.ts";
import {
  AgentBody,
  AssignBody,
  BacklogAddBody,
  CancelBody,
  CompleteBody,
  EventsQuery,
  FailBody,
  HistoryQuery,
  OrphanBody,
  PruneBody,
  ReasonBody,
  ReclaimBody,
  RestartBody,
  SendBody,
  SpawnBody,
  TaskListQuery,
} from "./schemas.ts";

export interface ToolDef {
  name: string;
  description: string;
  scope: Scope;
  /** Why these (validated) arguments run a command on the host, needing `exec` as well. */
  // deno-lint-ignore no-explicit-any
  exec?: (t: TownContext, args: any) => string | undefined;
  /** Changes state: audited, drawn from the write rate limit. */
  write?: boolean;
  destructive?: boolean;
  // deno-lint-ignore no-explicit-any
  input: z.ZodObject<any>;
  // deno-lint-ignore no-explicit-any
  run: (t: TownContext, args: any) => Promise<unknown>;
}

const none = z.strictObject({});
const agentArg = z.strictObject({ agent: z.string().trim().min(1).max(200) });
const taskArg = { task_id: z.string().trim().min(1).max(100) };

const read = (
  name: string,
  description: string,
  input: ToolDef["input"],
  run: ToolDef["run"],
): ToolDef => ({ name, description, scope: "town.read", input, run });

const write = (
  name: string,
  description: string,
  input: ToolDef["input"],
  run: ToolDef["run"],
  extra: Partial<ToolDef> = {},
): ToolDef => ({ name, description, scope: "town.write", write: true, input, run, ...extra });

const manage = (
  name: string,
  description: string,
  input: ToolDef["input"],
  run: ToolDef["run"],
  extra: Partial<ToolDef> = {},
): ToolDef => write(name, description, input, run, { scope: "agent.manage", ...extra });

export const TOOLS: readonly ToolDef[] = [
  read("town_get_status", "Town status: agents, mailboxes, tasks by state", none, ops.status),
  read("agent_list", "All agents, oldest first", none, ops.agentList),
  read("agent_list_open", "Agents that are not stopped", none, ops.agentListOpen),
  read(
    "agent_get_result",
    "An agent's most recently completed task and its result",
    agentArg,
    (t, a) => ops.agentResult(t, a.agent),
  ),
  read(
    "agent_get",
    "One agent by name, nickname, label or id",
    agentArg,
    (t, a) => ops.agentDetail(t, a.agent),
  ),
  read(
    "agent_inbox",
    "An agent's (or `supervisor`'s) urgent, inbox and in-progress messages",
    agentArg.extend({ limit: z.number().int().min(1).max(1000).default(100) }),
    (t, a) => ops.inbox(t, a.agent, a.limit),
  ),
  read("event_list", "The most recent events, oldest first", EventsQuery.strict(), ops.events),
  read("event_history", "What happened lately, newest first", HistoryQuery.strict(), ops.history),
  read(
    "task_list",
    "Tasks, oldest first, optionally by state and assignee: `limit` per page (default 100), " +
      "then pass the answer's `next_cursor` as `cursor` for the next page",
    TaskListQuery.strict(),
    ops.taskList,
  ),
  read("task_list_pending", "Tasks not finished yet", none, ops.taskListPending),
  read(
    "task_get",
    "Any task by id or id prefix, whatever its state",
    z.strictObject(taskArg),
    (t, a) => ops.taskShow(t, a.task_id),
  ),
  read("backlog_list", "Backlog tasks in claim order", none, ops.backlogList),

  write("message_send", "Send a message (task, query, info or ack)", SendBody, ops.send),
  write("task_assign", "Create a task and assign it to an agent", AssignBody, ops.taskAssign, {
    exec: (_t, a) => verifyRunsCode(a),
  }),
  write(
    "task_complete",
    "Complete a task with an optional result",
    CompleteBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.taskComplete(t, task_id, b),
  ),
  write(
    "task_fail",
    "Mark a task failed with an optional reason",
    FailBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.taskFail(t, task_id, b),
  ),
  write(
    "task_cancel",
    "Cancel a task, whoever holds it",
    CancelBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.taskCancel(t, task_id, b),
  ),
  write("backlog_add", "Add a task to the backlog", BacklogAddBody, ops.backlogAdd, {
    exec: (_t, a) => verifyRunsCode(a),
  }),
  write(
    "backlog_claim",
    "Assign a backlog task to an agent",
    AgentBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.backlogClaim(t, task_id, b),
  ),
  write(
    "backlog_assign_all",
    "Assign every backlog task to an agent",
    AgentBody,
    ops.backlogAssignAll,
  ),
  write(
    "backlog_remove",
    "Delete a task from the backlog",
    z.strictObject(taskArg),
    (t, a) => ops.backlogRemove(t, a.task_id),
    { destructive: true },
  ),

  manage("agent_spawn", "Spawn an agent and start it", SpawnBody, ops.spawn, {
    exec: (t, a) => spawnRunsCode(t.config, a.cli),
  }),
  manage(
    "agent_kill",
    "Stop an agent now (its running CLI is killed, its work goes back)",
    agentArg.extend(ReasonBody.shape),
    (t, a) => ops.agentAction(t, a.agent, "kill", a.reason),
    { destructive: true },
  ),
  manage(
    "agent_interrupt",
    "Pause an agent after its current round",
    agentArg,
    (t, a) => ops.agentAction(t, a.agent, "interrupt"),
  ),
  manage(
    "agent_resume",
    "Resume a paused agent",
    agentArg,
    (t, a) => ops.agentAction(t, a.agent, "resume"),
  ),
  manage(
    "agent_close",
    "Let the current round finish, then stop the agent",
    agentArg.extend(ReasonBody.shape),
    (t, a) => ops.agentAction(t, a.agent, "close", a.reason),
  ),
  manage(
    "agent_restart",
    "Bring a stopped agent back",
    agentArg.extend(RestartBody.shape),
    (t, a) => ops.restart(t, a.agent, { rounds: a.rounds }),
  ),
  read(
    "agent_wait",
    "Block until an agent is idle with nothing queued (or stopped), at most timeout_secs",
    agentArg.extend({
      until: z.enum(["idle", "stopped"]).default("idle"),
      timeout_secs: z.number().int().min(0).max(60).default(30),
    }),
    (t, a) => ops.wait(t, a.agent, { until: a.until, timeout: a.timeout_secs }),
  ),
  manage("agent_prune", "Remove stopped agents (all: every agent)", PruneBody, ops.prune, {
    destructive: true,
  }),
  manage("recovery_recover_agents", "Stop dead agents and requeue their work", none, ops.recover),
  manage(
    "recovery_reclaim_tasks",
    "Move stopped agents' queued work to an agent or the backlog (else list it)",
    ReclaimBody,
    ops.reclaim,
  ),
  manage(
    "recovery_orphan_tasks",
    "Tasks assigned to missing or stopped agents: list, backlog, cancel or delete",
    OrphanBody,
    ops.orphans,
    { destructive: true },
  ),
  read(
    "usage_get",
    "Tokens and cost by agent, task, mission, model, cli or day",
    UsageQuery,
    usageOf,
  ),
  read("budget_get", "Each running agent's budget: spent, left, exhausted", none, budgetOf),
  ...MISSION_TOOLS,
];

/** The tool a call names: its current name, or the reference's dotted one (`task.assign`). */
export function findTool(name: string): ToolDef | undefined {
  return BY_NAME.get(name);
}

const BY_NAME = new Map<string, ToolDef>(
  TOOLS.flatMap((d) => [[d.name, d], [d.name.replace("_", "."), d]] as [string, ToolDef][]),
);
