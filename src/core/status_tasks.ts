/**
 * The tasks of `tt status`: each agent's current task and, with --tasks, a few tasks per
 * assignee, from the task counters and indexes (counters.ts, task_index.ts), never from reading
 * every task.
 */
import { type Agent, asTaskState, isTerminalTask, type TaskState } from "./schemas.ts";
import type { StateCounts } from "./counters.ts";
import { assigneeTaskIds, lexRange, memberId } from "./task_index.ts";
import { execValues } from "./pipeline.ts";
import type { TownContext } from "./town.ts";

export interface TaskBrief {
  id: string;
  state: TaskState;
  assigned_to?: string;
  description: string;
}

export interface TaskGroup {
  /** Undefined for the "(unassigned)" group. */
  agent_id?: string;
  label: string;
  /** Pending, assigned and running tasks (all of them, from the counters). */
  active: number;
  /** Completed, failed and cancelled tasks (all of them). */
  done: number;
  /**
   * Active tasks first, each part in creation order: at most GROUP_TASKS of each (the oldest
   * active, the newest done), so `tasks.length` may be less than `active + done`.
   */
  tasks: TaskBrief[];
}

/** Tasks listed per part (active, done) of a `--tasks` group; the counts cover all of them. */
const GROUP_TASKS = 10;
const ACTIVE: TaskState[] = ["pending", "assigned", "running"];
const DONE: TaskState[] = ["completed", "failed", "cancelled"];

/** State, assignee and description of tasks by id, in one pipelined round trip. */
async function briefs(t: TownContext, ids: string[]): Promise<Map<string, TaskBrief>> {
  const wanted = [...new Set(ids)];
  if (!wanted.length) return new Map();
  const pipe = t.redis.pipeline();
  for (const id of wanted) pipe.hmget(t.keys.task(id), "state", "assigned_to", "description");
  const fields = execValues<(string | null)[]>(await pipe.exec());
  const out = new Map<string, TaskBrief>();
  wanted.forEach((id, i) => {
    const [state, assignedTo, description] = fields[i];
    if (state === null && description === null) return; // deleted meanwhile
    out.set(id, {
      id,
      state: asTaskState(state),
      assigned_to: assignedTo || undefined,
      description: description ?? "",
    });
  });
  return out;
}

/**
 * Each agent's task: its explicit current task while open, else its oldest running task, else
 * its only open task. From the counters and at most one index entry per agent (two round trips).
 */
export async function currentTasks(
  t: TownContext,
  agents: Agent[],
  byAssignee: Map<string, StateCounts>,
): Promise<Map<string, TaskBrief>> {
  const pipe = t.redis.pipeline();
  const asked: { agent: string; state: TaskState }[] = [];
  for (const a of agents) {
    const c = byAssignee.get(a.id);
    if (!c) continue;
    const open = c.pending + c.assigned + c.running;
    const state: TaskState | undefined = c.running
      ? "running"
      : open === 1
      ? (c.assigned ? "assigned" : "pending")
      : undefined;
    if (!state) continue;
    const [min, max] = lexRange(a.id, state);
    pipe.zrangebylex(t.keys.tasksByAgent, min, max, "LIMIT", 0, 1);
    asked.push({ agent: a.id, state });
  }
  const found = asked.length ? execValues<string[]>(await pipe.exec()) : [];
  const fallback = new Map(
    asked.flatMap((x, i) => found[i].length ? [[x.agent, memberId(found[i][0])]] : []),
  );
  const tasks = await briefs(t, [
    ...agents.flatMap((a) => a.current_task ? [a.current_task] : []),
    ...fallback.values(),
  ]);
  const out = new Map<string, TaskBrief>();
  for (const a of agents) {
    const explicit = a.current_task ? tasks.get(a.current_task) : undefined;
    const id = fallback.get(a.id);
    const pick = explicit && isActive(explicit) ? explicit : id ? tasks.get(id) : undefined;
    if (pick && isActive(pick)) out.set(a.id, pick);
  }
  return out;
}

const isActive = (x: TaskBrief) => !isTerminalTask(x.state);

/**
 * Tasks by assignee (agents in status order, then assignees that are no longer agents, then
 * "(unassigned)"): counts from the counters, and at most GROUP_TASKS tasks of each part (the
 * oldest active ones, the newest done ones), each part in creation order.
 */
export async function groupTasks(
  t: TownContext,
  agents: Agent[],
  labels: Map<string, string>,
  byAssignee: Map<string, StateCounts>,
  /** Every agent of the town: agents not read in full (agentLimit) get no group of their own. */
  all: Set<string>,
): Promise<TaskGroup[]> {
  const who = [
    ...agents.map((a) => a.id).filter((id) => byAssignee.has(id)),
    ...[...byAssignee.keys()].filter((id) => id !== "" && !all.has(id)).sort(),
    ...(byAssignee.has("") ? [""] : []),
  ];
  const ids = await assigneeTaskIds(
    t,
    who.flatMap((id) => [
      { who: id, states: ACTIVE, limit: GROUP_TASKS },
      { who: id, states: DONE, limit: GROUP_TASKS, from: "newest" as const },
    ]),
  );
  const parts = who.map((id, i) => ({ id, active: ids[2 * i], done: ids[2 * i + 1].reverse() }));
  const tasks = await briefs(t, parts.flatMap((p) => [...p.active, ...p.done]));
  const sum = (c: StateCounts, states: TaskState[]) => states.reduce((n, s) => n + c[s], 0);
  return parts.map(({ id, active, done }): TaskGroup => {
    const c = byAssignee.get(id)!;
    return {
      agent_id: id || undefined,
      // Assignees that are no longer agents (pruned) keep their short id as label.
      label: id === "" ? "(unassigned)" : labels.get(id) ?? id.slice(0, 8),
      active: sum(c, ACTIVE),
      done: sum(c, DONE),
      tasks: [...active, ...done].flatMap((x) => tasks.get(x) ?? []),
    };
  }).filter((g) => g.active + g.done > 0);
}
