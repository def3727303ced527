/**
 * What the dashboard shows, read with a bounded number of round trips whatever the town's size:
 * agents (one pipeline), their current tasks (one pipeline), recent events (one XREVRANGE), and
 * tasks one page at a time (ZREVRANGE + one pipeline per scanned batch, at most SCAN_LIMIT task ids
 * per request). Never every task.
 */
import { agentLabel, type Ctx, parseAgent } from "../../core/agents.ts";
import { recentEvents } from "../../core/events.ts";
import { listMissions } from "../../core/missions/store.ts";
import { type MissionJson, missionJson } from "../../core/missions/json.ts";
import {
  type Agent,
  asTaskState,
  isTerminalTask,
  type TaskState,
  type TownEvent,
} from "../../core/schemas.ts";
import { roundLogPath } from "../../supervisor/logs.ts";
import type { WorktreeStatus } from "../../supervisor/worktree.ts";
import { branchStatuses } from "./branches.ts";
import { type TaskCounts, taskCounts } from "../../core/counters.ts";
import { type AgentBudget, withBudgets } from "../../core/usage/budget.ts";
import { loadTownConfig } from "../../core/config.ts";
import type { BudgetConfig } from "../../core/usage/schema.ts";
import { execValues } from "../../core/pipeline.ts";
import { cmp } from "../../core/order.ts";

/**
 * `[budget]` as tinytown.toml says now (a raised budget shows at once), or none while the file
 * does not parse (mid-edit): the budget column is then absent, the rest of the page unaffected.
 */
async function currentBudget(root: string): Promise<BudgetConfig | undefined> {
  try {
    return (await loadTownConfig(root)).budget;
  } catch {
    return undefined;
  }
}

/** States that need the operator, in the order the attention list shows them. */
const ATTENTION_STATES = ["needs_input", "error", "rate_limited", "over_budget"];

export interface AgentRow {
  agent: Agent;
  /** Spent vs `[budget]` ("$1.20 of $1.00 over 1d"), when a budget applies to the agent. */
  budget?: AgentBudget & { line?: string };
  label: string;
  task?: { id: string; description: string; state: string };
  /** Its branch ahead/behind the town's branch (cached: branches.ts), when it has a worktree. */
  worktree?: WorktreeStatus;
  /** The last line of its running round's log (raw, shown escaped). */
  lastLine?: string;
}

export interface Attention {
  kind: string;
  agent?: AgentRow;
  title: string;
  detail?: string;
  /** When it resumes by itself (rate_limited). */
  until?: string;
  mission?: string;
}

export interface Overview {
  agents: AgentRow[];
  attention: Attention[];
  /** From the task counters (never by reading the tasks). */
  tasks: TaskCounts;
  missions: MissionJson[];
}

/** The last non-empty line of a file's final 4 KiB (undefined when it has none). */
async function lastLine(path: string): Promise<string | undefined> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(path);
    const size = (await f.stat()).size;
    const n = Math.min(size, 4096);
    await f.seek(size - n, Deno.SeekMode.Start);
    const buf = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const r = await f.read(buf.subarray(off));
      if (r === null) break;
      off += r;
    }
    const lines = new TextDecoder().decode(buf.subarray(0, off)).split("\n")
      .map((l) => l.trim()).filter(Boolean);
    return lines.at(-1)?.slice(0, 200);
  } catch {
    return undefined;
  } finally {
    f?.close();
  }
}

/** Agents, what needs attention, task totals and active missions: a few pipelined round trips. */
export async function overview(t: Ctx & { root: string }): Promise<Overview> {
  const [[ids], tasks, budget] = await Promise.all([
    t.redis.pipeline().smembers(t.keys.agents).exec().then(execValues<unknown>) as Promise<
      [string[]]
    >,
    taskCounts(t),
    currentBudget(t.root),
  ]);
  const agentPipe = t.redis.pipeline();
  for (const id of ids) agentPipe.hgetall(t.keys.agent(id));
  const agents = (ids.length ? execValues<Record<string, string>>(await agentPipe.exec()) : [])
    .map((h, i) => h.id === ids[i] ? parseAgent(h) : undefined)
    .filter((a): a is Agent => !!a)
    .sort((a, b) => cmp(a.created_at, b.created_at) || cmp(a.id, b.id));

  const withTask = agents.filter((a) => a.current_task);
  const taskPipe = t.redis.pipeline();
  for (const a of withTask) taskPipe.hmget(t.keys.task(a.current_task!), "description", "state");
  const taskFields = withTask.length ? execValues<(string | null)[]>(await taskPipe.exec()) : [];
  const current = new Map(withTask.map((a, i) => [a.id, taskFields[i]]));

  const branches = branchStatuses(t.root, agents);
  const rows = await Promise.all(agents.map(async (a): Promise<AgentRow> => {
    const f = current.get(a.id);
    const running = a.round > 0 && !!a.round_started_at;
    return {
      agent: a,
      label: agentLabel(a),
      task: f && f[1] !== null
        ? { id: a.current_task!, description: f[0] ?? "", state: f[1] }
        : undefined,
      lastLine: running ? await lastLine(roundLogPath(t.root, a.name, a.round)) : undefined,
      worktree: branches.get(a.id),
    };
  }));

  if (budget) await withBudgets(t, rows, budget);
  const [missions, checks] = await Promise.all([
    listMissions(t).then((l) => l.map(missionJson)),
    failedChecks(t),
  ]);
  const attention: Attention[] = [];
  for (const state of ATTENTION_STATES) {
    for (const r of rows.filter((x) => (x.agent.state as string) === state)) {
      attention.push({
        kind: state,
        agent: r,
        title: `${r.label}: ${state.replace("_", " ")}`,
        detail: r.agent.reason,
        until: state === "rate_limited" ? r.agent.resume_at : undefined,
      });
    }
  }
  attention.push(...checks);
  for (const m of missions.filter((x) => x.help_reason)) {
    attention.push({
      kind: "mission_help",
      title: `mission ${m.title} asks for help`,
      detail: m.help_reason,
      mission: m.id,
    });
  }
  return { agents: rows, attention, tasks, missions };
}

/** Events scanned for failed `verify` checks. */
const CHECK_EVENTS = 300;

/** Open tasks whose `verify` check failed lately (from the last events, bounded). */
async function failedChecks(t: Ctx): Promise<Attention[]> {
  const evs = await recentEvents(t, { count: CHECK_EVENTS });
  const ids = [
    ...new Set(
      evs.filter((e) => e.task_id && /check failed/.test(`${e.reason ?? ""} ${e.message}`))
        .map((e) => e.task_id!),
    ),
  ];
  if (!ids.length) return [];
  const pipe = t.redis.pipeline();
  for (const id of ids) pipe.hmget(t.keys.task(id), "state", "description", "verify_failures");
  const fields = execValues<(string | null)[]>(await pipe.exec());
  return ids.flatMap((id, i): Attention[] => {
    const [state, description, failures] = fields[i];
    if (!state || isTerminalTask(asTaskState(state))) return [];
    return [{
      kind: "verify_failed",
      title: `task ${id.slice(0, 8)}: check failed ${failures ?? "?"} time(s)`,
      detail: description ?? "",
    }];
  });
}

export interface TaskRow {
  id: string;
  state: string;
  description: string;
  assigned_to?: string;
  updated_at?: string;
}

export interface TaskQuery {
  state?: TaskState;
  /** Case-insensitive substring of the description or id. */
  q?: string;
  /** Position in the newest-first task index to resume from. */
  cursor?: number;
  limit?: number;
}

export interface TaskPage {
  tasks: TaskRow[];
  /** Where the next page starts, when there may be more. */
  next?: number;
  /** Task ids looked at for this page. */
  scanned: number;
  total: number;
}

const SCAN_BATCH = 250;
/** Task ids one request looks at, at most (a filter that matches little pages on). */
export const SCAN_LIMIT = 2000;

/** One page of tasks, newest first, filtered by state and search text; bounded work. */
export async function taskPage(t: Ctx, query: TaskQuery): Promise<TaskPage> {
  const limit = Math.min(Math.max(query.limit ?? 25, 1), 100);
  const needle = query.q?.trim().toLowerCase() || undefined;
  let pos = Math.max(query.cursor ?? 0, 0);
  const out: TaskRow[] = [];
  let scanned = 0;
  const total = await t.redis.zcard(t.keys.tasks);
  while (out.length < limit && scanned < SCAN_LIMIT && pos < total) {
    // Unfiltered, a page is exactly the next `limit` ids; a filter reads ahead in batches.
    const batch = query.state || needle ? SCAN_BATCH : limit - out.length;
    const ids = await t.redis.zrevrange(t.keys.tasks, pos, pos + batch - 1);
    if (!ids.length) break;
    const pipe = t.redis.pipeline();
    for (const id of ids) {
      pipe.hmget(t.keys.task(id), "state", "description", "assigned_to", "updated_at");
    }
    const fields = execValues<(string | null)[]>(await pipe.exec());
    let used = 0;
    for (let i = 0; i < ids.length && out.length < limit; i++) {
      used++;
      const [state, description, assigned, updated] = fields[i];
      if (state === null && description === null) continue; // deleted since ZREVRANGE
      const row: TaskRow = {
        id: ids[i],
        state: asTaskState(state),
        description: description ?? "",
        assigned_to: assigned || undefined,
        updated_at: updated || undefined,
      };
      if (query.state && row.state !== query.state) continue;
      if (needle && !`${row.id} ${row.description}`.toLowerCase().includes(needle)) continue;
      out.push(row);
    }
    pos += used;
    scanned += used;
  }
  return { tasks: out, next: pos < total ? pos : undefined, scanned, total };
}

/** The latest events for the feed, newest first. */
export async function feed(t: Ctx, count = 30): Promise<TownEvent[]> {
  return (await recentEvents(t, { count })).reverse();
}
