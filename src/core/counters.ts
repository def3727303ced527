/**
 * Reading the task counters and indexes of task_index.ts: counts per state and per assignee, the
 * few tasks status shows per group, and task lists page by page with a cursor. Each costs a
 * handful of Redis commands whatever the number of tasks (O(page), never O(tasks)).
 */
import { isTaskState, type Task, TASK_STATES, type TaskState } from "./schemas.ts";
import { UsageError } from "./errors.ts";
import type { Ctx } from "./agents.ts";
import { cmp, ensureIndexed, lexRange, lexScore, memberId } from "./task_index.ts";
import { execValues } from "./pipeline.ts";

export type StateCounts = Record<TaskState, number>;

export interface TaskCounts {
  /** Tasks in a known state (sum of by_state). */
  total: number;
  by_state: StateCounts;
  /** Tasks waiting in the backlog list. */
  backlog: number;
}

const zeroCounts = (): StateCounts =>
  Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as StateCounts;

/** Tasks by state and the backlog length: one round trip (two the first time, see ensureIndexed). */
export async function taskCounts(t: Ctx): Promise<TaskCounts> {
  for (let pass = 0;; pass++) {
    const pipe = t.redis.pipeline().get(t.keys.taskIndex).zcard(t.keys.tasks)
      .llen(t.keys.backlog);
    for (const s of TASK_STATES) pipe.zcard(t.keys.tasksIn(s));
    const [marker, tasks, backlog, ...n] = execValues<unknown>(await pipe.exec()) as [
      string | null,
      number,
      number,
      ...number[],
    ];
    if (pass === 0 && await ensureIndexed(t, marker, tasks)) continue;
    const by_state = zeroCounts();
    TASK_STATES.forEach((s, i) => by_state[s] = n[i]);
    return { total: n.reduce((a, b) => a + b, 0), by_state, backlog };
  }
}

/**
 * Tasks by assignee (agent id, the conductor's id, or '' for unassigned) and state: one HGETALL
 * of the `task-counts` hash. Assignees with no task are absent.
 */
export async function assigneeCounts(t: Ctx): Promise<Map<string, StateCounts>> {
  const raw = await t.redis.hgetall(t.keys.taskCounts);
  const out = new Map<string, StateCounts>();
  for (const [field, v] of Object.entries(raw)) {
    const cut = field.lastIndexOf("|");
    const state = field.slice(cut + 1);
    if (cut < 0 || !isTaskState(state)) continue;
    const who = field.slice(0, cut);
    const c = out.get(who) ?? zeroCounts();
    c[state] += Number(v) || 0;
    out.set(who, c);
  }
  return out;
}

/** Every task in the given states, oldest first: O(tasks in those states), not O(tasks). */
export async function listTasksIn(t: Ctx, states: readonly TaskState[]): Promise<Task[]> {
  await taskCounts(t); // builds the indexes of a town made by an older tt (once)
  const pipe = t.redis.pipeline();
  for (const s of states) pipe.zrange(t.keys.tasksIn(s), "0", "-1", "WITHSCORES");
  const entries: { id: string; score: number }[] = [];
  for (const flat of execValues<string[]>(await pipe.exec())) {
    for (let i = 0; i < flat.length; i += 2) entries.push({ id: flat[i], score: +flat[i + 1] });
  }
  entries.sort((a, b) => a.score - b.score || cmp(a.id, b.id));
  const tasks = await (await import("./tasks.ts")).getTasks(t, entries.map((e) => e.id));
  return tasks.filter((x) => states.includes(x.state));
}

// ---- pages ----

export interface TaskPageQuery {
  state?: TaskState;
  /** Assignee id. */
  agentId?: string;
  /** Tasks per page (1…1000). */
  limit: number;
  /** `next_cursor` of the previous page; undefined for the first. */
  after?: string;
}

export interface TaskPage {
  /** Oldest first. */
  tasks: Task[];
  /** Pass as `after` for the next page; undefined on the last page. */
  next_cursor?: string;
}

export const MAX_PAGE = 1000;

interface Cursor {
  /** The task's creation score exactly as Redis printed it. */
  score: string;
  id: string;
}

const CURSOR = /^([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?):([A-Za-z0-9-]{1,64})$/;

function parseCursor(raw: string): Cursor {
  const m = CURSOR.exec(raw);
  if (!m) {
    throw new UsageError(
      `'${raw.slice(0, 80)}' is not a task list cursor: pass the next_cursor a previous page gave`,
    );
  }
  return { score: m[1], id: m[2] };
}

const formatCursor = (c: Cursor) => `${c.score}:${c.id}`;

/** One page of tasks, oldest first, after `after`: O(limit) Redis work whatever the town's size. */
export async function listTaskPage(t: Ctx, q: TaskPageQuery): Promise<TaskPage> {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE) {
    throw new UsageError(`the page size must be a whole number from 1 to ${MAX_PAGE}`);
  }
  const after = q.after === undefined ? undefined : parseCursor(q.after);
  await taskCounts(t); // builds the indexes of a town made by an older tt (once)
  const want = q.limit + 1;
  const entries = q.agentId !== undefined
    ? await agentEntries(t, q.agentId, q.state ? [q.state] : TASK_STATES, want, after)
    : await scoreEntries(t, q.state ? t.keys.tasksIn(q.state) : t.keys.tasks, want, after);
  const page = entries.slice(0, q.limit);
  const { getTasks } = await import("./tasks.ts"); // not on `tt status`'s path (counts only)
  const tasks = (await getTasks(t, page.map((e) => e.id))).filter((x) =>
    (!q.state || x.state === q.state) && (q.agentId === undefined || x.assigned_to === q.agentId)
  );
  const last = page[page.length - 1];
  return { tasks, next_cursor: entries.length > q.limit && last ? formatCursor(last) : undefined };
}

/** Up to `want` entries of a zset scored by creation after the cursor, in (score, id) order. */
async function scoreEntries(
  t: Ctx,
  key: string,
  want: number,
  after: Cursor | undefined,
): Promise<Cursor[]> {
  const pairs = (flat: string[]) => {
    const out: Cursor[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i], score: flat[i + 1] });
    return out;
  };
  if (!after) {
    return pairs(await t.redis.zrange(key, "0", String(want - 1), "WITHSCORES"));
  }
  // Equal scores (tasks made in one script) are ordered by id, as Redis orders them.
  const [ties, later] = execValues<string[]>(
    await t.redis.pipeline()
      .zrangebyscore(key, after.score, after.score, "WITHSCORES")
      .zrangebyscore(key, `(${after.score}`, "+inf", "WITHSCORES", "LIMIT", 0, want)
      .exec(),
  );
  return [...pairs(ties).filter((e) => e.id > after.id), ...pairs(later)].slice(0, want);
}

/** Up to `want` of an assignee's tasks in `states` after the cursor, in creation order. */
async function agentEntries(
  t: Ctx,
  who: string,
  states: readonly TaskState[],
  want: number,
  after: Cursor | undefined,
): Promise<Cursor[]> {
  const pipe = t.redis.pipeline();
  for (const s of states) {
    const [min, max] = lexRange(who, s);
    const from = after ? `(${who}|${s}|${lexScore(after.score)}|${after.id}` : min;
    pipe.zrangebylex(t.keys.tasksByAgent, from, max, "LIMIT", 0, want);
  }
  const members = execValues<string[]>(await pipe.exec()).flat();
  const rest = (m: string) => m.slice(m.indexOf("|", who.length + 1) + 1); // `<score>|<id>`
  members.sort((a, b) => cmp(rest(a), rest(b)));
  const picked = members.slice(0, want);
  if (!picked.length) return [];
  // The cursor carries the exact score (the lex member has it rounded to 3 decimals).
  const scores = execValues<string | null>(
    await picked.reduce((p, m) => p.zscore(t.keys.tasks, memberId(m)), t.redis.pipeline()).exec(),
  );
  return picked.map((m, i) => ({
    id: memberId(m),
    score: scores[i] ?? rest(m).split("|")[0],
  }));
}
