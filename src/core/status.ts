/**
 * The town at a glance (`tt status`): agents, their mailboxes, tasks by state. Built from a few
 * pipelined round trips whatever the number of agents and tasks: one for the indexes, then one
 * each for agent hashes, task fields and mailboxes (sent together), and one for events (--deep).
 */
import type { AgentBudget } from "./usage/budget.ts";
import { parseSupervisorInfo, type SupervisorInfo, thisHost } from "./control.ts";
import { type MissionBrief, missionBriefs } from "./missions/store.ts";
import type { WorktreeStatus } from "../supervisor/worktree.ts";
import {
  type Agent,
  isTerminalAgent,
  isTerminalTask,
  TASK_STATES,
  TaskState,
  type TownEvent,
} from "./schemas.ts";
import { agentLabel, parseAgent } from "./agents.ts";
import { type Category, countCategories, peekInboxes } from "./messages.ts";
import { parseEntry } from "./events.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { hostsFromRead, type HostStatus, queueHostsRead } from "./hosts.ts";
import type { TownContext } from "./town.ts";

/** Messages peeked per list to compute the category breakdown. */
const PEEK = 200;
/** Events shown per agent by --deep. */
const DEEP_EVENTS = 5;

export interface MailboxStatus {
  urgent: number;
  inbox: number;
  /** Taken by a running round, not finished yet. */
  processing: number;
  /** Over the first 200 messages of each list. */
  categories: Record<Category, number>;
}

export interface TaskBrief {
  id: string;
  state: TaskState;
  assigned_to?: string;
  description: string;
}

export interface AgentStatus {
  id: string;
  label: string;
  /** The host whose supervisor runs it. */
  host: string;
  agent: Agent;
  mailbox: MailboxStatus;
  current_task?: TaskBrief;
  /** Spent vs `[budget]` (filled in by `tt status` from src/core/usage/budget.ts). */
  budget?: AgentBudget & { line?: string };
  /** Only with `deep`. */
  deep?: {
    uptime_secs: number;
    heartbeat_age_secs: number;
    parent_label?: string;
    /** The agent's last events, oldest first. */
    events: TownEvent[];
  };
}

export interface TaskGroup {
  /** Undefined for the "(unassigned)" group. */
  agent_id?: string;
  label: string;
  active: number;
  done: number;
  /** Active tasks first, each part in creation order. */
  tasks: TaskBrief[];
}

/** Health of the town's supervisor daemon; the supervisor feature fills it in. */
export interface SupervisorStatus {
  /** One line for `tt status`. */
  summary: string;
  [detail: string]: unknown;
}

export interface TownStatus {
  town: string;
  root: string;
  redis: string;
  managed: boolean;
  agents: AgentStatus[];
  /** The conductor's mailbox (`supervisor`/`conductor`). */
  conductor: MailboxStatus;
  tasks: { total: number; by_state: Record<TaskState, number>; backlog: number };
  /** Only with `tasks`: by assignee, then "(unassigned)". */
  task_groups?: TaskGroup[];
  /** Shown by `tt status` when present (see SupervisorStatus). */
  supervisor?: SupervisorStatus;
  /** The systemd user unit of `tt service install`, if any. */
  service?: { installed: boolean; unit: string; path: string };
  /** By agent id, for agents working in a git worktree. */
  worktrees?: Record<string, WorktreeStatus>;
  /** Missions not yet completed or stopped. */
  missions?: MissionBrief[];
  /** Hosts with agents, a supervisor, or lost (this host first): `tt status` groups by them. */
  hosts?: HostStatus[];
}

export interface StatusOptions {
  deep?: boolean;
  tasks?: boolean;
  /** Clock for ages (ms), for tests. */
  now?: number;
}

const values = <T>(res: [Error | null, unknown][] | null): T[] =>
  (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v as T;
  });

export async function townStatus(t: TownContext, opts: StatusOptions = {}): Promise<TownStatus> {
  const now = opts.now ?? Date.now();
  const [ids, taskIds, backlog, supervisorRaw, missionIds, hostsRaw] = values<unknown>(
    await queueHostsRead(
      t,
      t.redis.pipeline().smembers(t.keys.agents).zrange(t.keys.tasks, "0", "-1")
        .llen(t.keys.backlog).get(t.keys.supervisor(thisHost())).smembers(t.keys.missionsActive),
    ).exec(),
  ) as [string[], string[], number, string | null, string[], string[]];

  const agentPipe = t.redis.pipeline();
  for (const id of ids) agentPipe.hgetall(t.keys.agent(id));
  const taskPipe = t.redis.pipeline();
  for (const id of taskIds) taskPipe.hmget(t.keys.task(id), "state", "assigned_to", "description");
  const [agentHashes, taskFields, mailboxes] = await Promise.all([
    ids.length ? agentPipe.exec().then(values<Record<string, string>>) : [],
    taskIds.length ? taskPipe.exec().then(values<(string | null)[]>) : [],
    peekInboxes(t, [...ids, SUPERVISOR_ID], PEEK),
  ]);

  // A hash whose id is not the one it is filed under (edited by hand) is skipped like junk.
  const agents = agentHashes.map((h, i) => h.id === ids[i] ? parseAgent(h) : undefined)
    .filter((a): a is Agent => !!a)
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  const tasks = taskIds.flatMap((id, i): TaskBrief[] => {
    const [state, assignedTo, description] = taskFields[i];
    if (state === null && description === null) return []; // deleted since ZRANGE
    return [{
      id,
      state: TaskState.catch("pending").parse(state),
      assigned_to: assignedTo || undefined,
      description: description ?? "",
    }];
  });

  const mailbox = (id: string): MailboxStatus => {
    const v = mailboxes.get(id)!;
    return { ...v.counts, categories: countCategories([...v.processing, ...v.urgent, ...v.inbox]) };
  };
  const byId = new Map(tasks.map((x) => [x.id, x]));
  const labels = new Map(agents.map((a) => [a.id, agentLabel(a)]));
  const events = opts.deep ? await lastEventsPerAgent(t, agents.map((a) => a.id)) : undefined;

  const by_state = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  for (const x of tasks) by_state[x.state]++;

  return {
    town: t.name,
    root: t.root,
    redis: t.redisUrl,
    managed: t.managed,
    agents: agents.map((a): AgentStatus => ({
      id: a.id,
      label: labels.get(a.id)!,
      host: a.host ?? thisHost(),
      agent: a,
      mailbox: mailbox(a.id),
      current_task: currentTask(a, tasks, byId),
      deep: events && {
        uptime_secs: secondsSince(a.created_at, now),
        heartbeat_age_secs: secondsSince(a.last_heartbeat, now),
        parent_label: a.parent && (labels.get(a.parent) ?? a.parent),
        events: events.get(a.id) ?? [],
      },
    })),
    conductor: mailbox(SUPERVISOR_ID),
    tasks: { total: tasks.length, by_state, backlog },
    task_groups: opts.tasks ? groupTasks(tasks, agents, labels) : undefined,
    supervisor: supervisorStatus(parseSupervisorInfo(supervisorRaw), agents),
    worktrees: await worktreesOf(t, agents),
    service: await (await import("../supervisor/service.ts")).serviceStatus(t),
    missions: missionIds.length ? await missionBriefs(t, missionIds) : [],
    hosts: hostsFromRead(hostsRaw, agents),
  };
}

function supervisorStatus(info: SupervisorInfo | undefined, agents: Agent[]): SupervisorStatus {
  const host = thisHost();
  const expected =
    agents.filter((a) => (a.host ?? host) === host && !isTerminalAgent(a.state)).length;
  if (info) {
    return {
      summary: `pid ${info.pid} on ${info.host}, up since ${info.started_at}`,
      ...info,
      running: true,
    };
  }
  return {
    summary: expected
      ? `NOT RUNNING with ${expected} active agent(s): 'tt start' restarts it (or 'tt recover')`
      : "not running (no active agents)",
    running: false,
    host,
  };
}

/** Branch, commits ahead/behind the town's branch and uncommitted changes of agents' worktrees. */
async function worktreesOf(
  t: TownContext,
  agents: Agent[],
): Promise<Record<string, WorktreeStatus>> {
  const withTree = agents.filter((a) => a.workdir && a.branch);
  if (!withTree.length) return {};
  const { worktreeStatus } = await import("../supervisor/worktree.ts");
  const out: Record<string, WorktreeStatus> = {};
  await Promise.all(withTree.map(async (a) => {
    const st = await worktreeStatus(t.root, a.workdir!, a.branch!);
    if (st) out[a.id] = st;
  }));
  return out;
}

/** Its explicit current task while open, else its running task, else its only open task. */
function currentTask(a: Agent, tasks: TaskBrief[], byId: Map<string, TaskBrief>) {
  const explicit = a.current_task ? byId.get(a.current_task) : undefined;
  if (explicit && isActive(explicit)) return explicit;
  const open = tasks.filter((x) => x.assigned_to === a.id && isActive(x));
  return open.find((x) => x.state === "running") ?? (open.length === 1 ? open[0] : undefined);
}

function secondsSince(iso: string, now: number): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? 0 : Math.max(0, Math.round((now - ms) / 1000));
}

const isActive = (x: TaskBrief) => !isTerminalTask(x.state);

function groupTasks(tasks: TaskBrief[], agents: Agent[], labels: Map<string, string>): TaskGroup[] {
  const byAgent = new Map<string | undefined, TaskBrief[]>();
  for (const a of agents) byAgent.set(a.id, []);
  for (const x of tasks) {
    const list = byAgent.get(x.assigned_to) ?? [];
    byAgent.set(x.assigned_to, list);
    list.push(x);
  }
  const unassigned = byAgent.get(undefined) ?? [];
  byAgent.delete(undefined);
  const group = (agent_id: string | undefined, label: string, list: TaskBrief[]): TaskGroup => {
    const active = list.filter(isActive);
    return {
      agent_id,
      label,
      active: active.length,
      done: list.length - active.length,
      tasks: [...active, ...list.filter((x) => !isActive(x))],
    };
  };
  return [
    // Assignees that are no longer agents (pruned) keep their short id as label.
    ...[...byAgent].filter(([, list]) => list.length)
      .map(([id, list]) => group(id, labels.get(id!) ?? id!.slice(0, 8), list)),
    ...(unassigned.length ? [group(undefined, "(unassigned)", unassigned)] : []),
  ];
}

/** Reads the stream backwards in pages until each agent has its last few events (or it ends). */
async function lastEventsPerAgent(
  t: TownContext,
  ids: string[],
): Promise<Map<string, TownEvent[]>> {
  const out = new Map<string, TownEvent[]>(ids.map((id) => [id, []]));
  let missing = ids.length;
  let end = "+";
  const page = 1000;
  while (missing > 0) {
    const batch = (await t.redis.xrevrange(t.keys.events, end, "-", "COUNT", page)) as [
      string,
      string[],
    ][];
    for (const entry of batch) {
      const ev = parseEntry(entry);
      const list = ev.agent_id ? out.get(ev.agent_id) : undefined;
      if (!list || list.length >= DEEP_EVENTS) continue;
      list.unshift(ev);
      if (list.length === DEEP_EVENTS) missing--;
    }
    if (batch.length < page) break;
    end = `(${batch[batch.length - 1][0]}`;
  }
  return out;
}
