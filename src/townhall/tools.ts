/**
 * The MCP tools: one line each mapping a name (reference §6.4), a scope and an argument schema
 * to an operation in ops.ts — the same operations the REST routes call.
 */
import { z } from "@hono/zod-openapi";
import type { Scope } from "../core/auth.ts";
import type { TownContext } from "../core/town.ts";
import * as ops from "./ops.ts";
import { MISSION_TOOLS } from "./mission_tools.ts";
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
  read("town.get_status", "Town status: agents, mailboxes, tasks by state", none, ops.status),
  read("agent.list", "All agents, oldest first", none, ops.agentList),
  read("agent.list_open", "Agents that are not stopped", none, ops.agentListOpen),
  read(
    "agent.get_result",
    "An agent's most recently completed task and its result",
    agentArg,
    (t, a) => ops.agentResult(t, a.agent),
  ),
  read(
    "agent.get",
    "One agent by name, nickname, label or id",
    agentArg,
    (t, a) => ops.agentDetail(t, a.agent),
  ),
  read(
    "agent.inbox",
    "An agent's (or `supervisor`'s) urgent, inbox and in-progress messages",
    agentArg.extend({ limit: z.number().int().min(1).max(1000).default(100) }),
    (t, a) => ops.inbox(t, a.agent, a.limit),
  ),
  read("event.list", "The most recent events, oldest first", EventsQuery.strict(), ops.events),
  read("event.history", "What happened lately, newest first", HistoryQuery.strict(), ops.history),
  read(
    "task.list",
    "Tasks, optionally by state and assignee",
    TaskListQuery.strict(),
    ops.taskList,
  ),
  read("task.list_pending", "Tasks not finished yet", none, ops.taskListPending),
  read(
    "task.get",
    "Any task by id or id prefix, whatever its state",
    z.strictObject(taskArg),
    (t, a) => ops.taskShow(t, a.task_id),
  ),
  read("backlog.list", "Backlog tasks in claim order", none, ops.backlogList),

  write("message.send", "Send a message (task, query, info or ack)", SendBody, ops.send),
  write("task.assign", "Create a task and assign it to an agent", AssignBody, ops.taskAssign),
  write(
    "task.complete",
    "Complete a task with an optional result",
    CompleteBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.taskComplete(t, task_id, b),
  ),
  write(
    "task.fail",
    "Mark a task failed with an optional reason",
    FailBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.taskFail(t, task_id, b),
  ),
  write(
    "task.cancel",
    "Cancel a task, whoever holds it",
    CancelBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.taskCancel(t, task_id, b),
  ),
  write("backlog.add", "Add a task to the backlog", BacklogAddBody, ops.backlogAdd),
  write(
    "backlog.claim",
    "Assign a backlog task to an agent",
    AgentBody.extend(taskArg),
    (t, { task_id, ...b }) => ops.backlogClaim(t, task_id, b),
  ),
  write(
    "backlog.assign_all",
    "Assign every backlog task to an agent",
    AgentBody,
    ops.backlogAssignAll,
  ),
  write(
    "backlog.remove",
    "Delete a task from the backlog",
    z.strictObject(taskArg),
    (t, a) => ops.backlogRemove(t, a.task_id),
    { destructive: true },
  ),

  manage("agent.spawn", "Spawn an agent and start it", SpawnBody, ops.spawn),
  manage(
    "agent.kill",
    "Stop an agent now (its running CLI is killed, its work goes back)",
    agentArg.extend(ReasonBody.shape),
    (t, a) => ops.agentAction(t, a.agent, "kill", a.reason),
    { destructive: true },
  ),
  manage(
    "agent.interrupt",
    "Pause an agent after its current round",
    agentArg,
    (t, a) => ops.agentAction(t, a.agent, "interrupt"),
  ),
  manage(
    "agent.resume",
    "Resume a paused agent",
    agentArg,
    (t, a) => ops.agentAction(t, a.agent, "resume"),
  ),
  manage(
    "agent.close",
    "Let the current round finish, then stop the agent",
    agentArg.extend(ReasonBody.shape),
    (t, a) => ops.agentAction(t, a.agent, "close", a.reason),
  ),
  manage(
    "agent.restart",
    "Bring a stopped agent back",
    agentArg.extend(RestartBody.shape),
    (t, a) => ops.restart(t, a.agent, { rounds: a.rounds }),
  ),
  read(
    "agent.wait",
    "Block until an agent is idle with nothing queued (or stopped), at most timeout_secs",
    agentArg.extend({
      until: z.enum(["idle", "stopped"]).default("idle"),
      timeout_secs: z.number().int().min(0).max(60).default(30),
    }),
    (t, a) => ops.wait(t, a.agent, { until: a.until, timeout: a.timeout_secs }),
  ),
  manage("agent.prune", "Remove stopped agents (all: every agent)", PruneBody, ops.prune, {
    destructive: true,
  }),
  manage("recovery.recover_agents", "Stop dead agents and requeue their work", none, ops.recover),
  manage(
    "recovery.reclaim_tasks",
    "Move stopped agents' queued work to an agent or the backlog (else list it)",
    ReclaimBody,
    ops.reclaim,
  ),
  manage(
    "recovery.orphan_tasks",
    "Tasks assigned to missing or stopped agents: list, backlog, cancel or delete",
    OrphanBody,
    ops.orphans,
    { destructive: true },
  ),
  ...MISSION_TOOLS,
];
