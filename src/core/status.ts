/**
 * The town at a glance (`tt status`): agents, their mailboxes, tasks by state. Built from a few
 * pipelined round trips whatever the number of agents and tasks, and from the task counters
 * (counters.ts) rather than the tasks themselves: the counts, then agent hashes and mailboxes,
 * then each agent's current task (and, with --tasks, a few tasks per assignee), events (--deep).
 */
import type { AgentBudget } from "./usage/budget.ts";
import { parseSupervisorInfo, type SupervisorInfo, thisHost } from "./control.ts";
import type { MissionBrief } from "./missions/json.ts";
import type { WorktreeStatus } from "../supervisor/worktree.ts";
import {
  type Agent,
  AGENT_STATES,
  type AgentState,
  isAgentState,
  isTerminalAgent,
  type TaskState,
  type TownEvent,
} from "./schemas.ts";
import { agentLabel, parseAgent } from "./agents.ts";
import { type MailboxCounts, mailboxCounts } from "./mailbox_counts.ts";
import { parseEntry } from "./events.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { hostsFromRead, type HostStatus, queueHostsRead } from "./hosts.ts";
import { readFields, readHashes } from "../redis/bulk.ts";
import { assigneeCounts, taskCounts } from "./counters.ts";
import { currentTasks, groupTasks, type TaskBrief, type TaskGroup } from "./status_tasks.ts";
import { execValues } from "./pipeline.ts";
import type { TownContext } from "./town.ts";
import { cmp } from "./order.ts";

/** Messages looked at per list for the category breakdown. */
const PEEK = 200;
/** Events shown per agent by --deep. */
const DEEP_EVENTS = 5;

/** A mailbox's totals, and its categories over the first PEEK messages of each list. */
export type MailboxStatus = MailboxCounts;

export type { TaskBrief, TaskGroup } from "./status_tasks.ts";

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
  /** The agents read in full: all of them, or the oldest `agentLimit` (see StatusOptions). */
  agents: AgentStatus[];
  /** Every agent of the town (with a readable record), and how many are in each state. */
  agents_total: number;
  agents_by_state: Record<AgentState, number>;
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
  /**
   * Read at most this many agents in full (the oldest first: mailboxes, current task, --deep,
   * --tasks groups); the others are only counted by state. Default: every agent.
   */
  agentLimit?: number;
}

/**
 * The town at a glance. Tasks come from the counters and indexes (task_index.ts), never from
 * reading every task: the cost grows with the agents shown, not with the tasks.
 */
export async function townStatus(t: TownContext, opts: StatusOptions = {}): Promise<TownStatus> {
  const now = opts.now ?? Date.now();
  const [[ids, supervisorRaw, missionIds, hostsRaw], counts, byAssignee] = await Promise.all([
    queueHostsRead(
      t,
      t.redis.pipeline().smembers(t.keys.agents).get(t.keys.supervisor(thisHost()))
        .smembers(t.keys.missionsActive),
    ).exec().then(execValues<unknown>) as Promise<[string[], string | null, string[], string[]]>,
    taskCounts(t),
    assigneeCounts(t),
  ]);

  const limited = opts.agentLimit !== undefined && ids.length > opts.agentLimit
    ? await oldestAgents(t, ids, opts.agentLimit)
    : undefined;
  const shownIds = limited?.shown ?? ids;
  const [agentHashes, mailboxes] = await Promise.all([
    readHashes(t.redis, shownIds.map((id) => t.keys.agent(id))),
    mailboxCounts(t, [...shownIds, SUPERVISOR_ID], PEEK),
  ]);

  // A hash whose id is not the one it is filed under (edited by hand) is skipped like junk.
  const agents = agentHashes.map((h, i) => h.id === shownIds[i] ? parseAgent(h) : undefined)
    .filter((a): a is Agent => !!a)
    .sort((a, b) => cmp(a.created_at, b.created_at) || cmp(a.id, b.id));
  const summary = limited?.summary ?? summarize(agents);
  const labels = new Map(agents.map((a) => [a.id, agentLabel(a)]));
  const [current, task_groups, events] = await Promise.all([
    currentTasks(t, agents, byAssignee),
    opts.tasks ? groupTasks(t, agents, labels, byAssignee, new Set(ids)) : undefined,
    opts.deep ? lastEventsPerAgent(t, agents.map((a) => a.id)) : undefined,
  ]);

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
      mailbox: mailboxes.get(a.id)!,
      current_task: current.get(a.id),
      deep: events && {
        uptime_secs: secondsSince(a.created_at, now),
        heartbeat_age_secs: secondsSince(a.last_heartbeat, now),
        parent_label: a.parent && (labels.get(a.parent) ?? a.parent),
        events: events.get(a.id) ?? [],
      },
    })),
    agents_total: summary.total,
    agents_by_state: summary.byState,
    conductor: mailboxes.get(SUPERVISOR_ID)!,
    tasks: { total: counts.total, by_state: counts.by_state, backlog: counts.backlog },
    task_groups,
    supervisor: supervisorStatus(parseSupervisorInfo(supervisorRaw), summary.activeHere),
    worktrees: await worktreesOf(t, agents),
    service: await (await import("../supervisor/service_paths.ts")).serviceStatus(t),
    // Missions load their schemas (zod): only for a town that has some.
    missions: missionIds.length
      ? await (await import("./missions/json.ts")).missionBriefs(t, missionIds)
      : [],
    hosts: hostsFromRead(hostsRaw, agents),
  };
}

interface AgentSummary {
  total: number;
  byState: Record<AgentState, number>;
  /** Agents placed on this host that are not stopped. */
  activeHere: number;
}

function summarize(agents: Pick<Agent, "state" | "host">[]): AgentSummary {
  const host = thisHost();
  const byState = Object.fromEntries(AGENT_STATES.map((s) => [s, 0])) as Record<AgentState, number>;
  for (const a of agents) byState[a.state]++;
  const activeHere =
    agents.filter((a) => (a.host ?? host) === host && !isTerminalAgent(a.state)).length;
  return { total: agents.length, byState, activeHere };
}

/** The oldest `limit` agents' ids, and every agent counted: a few fields of each, one script. */
async function oldestAgents(t: TownContext, ids: string[], limit: number) {
  const rows = await readFields(t.redis, ids.map((id) => t.keys.agent(id)), [
    "id",
    "state",
    "created_at",
    "host",
  ]);
  const light = rows.flatMap(([id, state, created_at, host], i) => {
    return id === ids[i] && isAgentState(state) && created_at
      ? [{ id, state, created_at, host: host ?? undefined }]
      : [];
  }).sort((a, b) => cmp(a.created_at, b.created_at) || cmp(a.id, b.id));
  return { shown: light.slice(0, limit).map((a) => a.id), summary: summarize(light) };
}

function supervisorStatus(info: SupervisorInfo | undefined, expected: number): SupervisorStatus {
  const host = thisHost();
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

function secondsSince(iso: string, now: number): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? 0 : Math.max(0, Math.round((now - ms) / 1000));
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
