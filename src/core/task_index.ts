/**
 * Task indexes and counters, kept by the same Lua scripts that change tasks (so they are always
 * exactly as right as the tasks themselves), so that status and task lists cost O(page) instead
 * of O(tasks):
 *
 * - `tasks:state:<state>`: one sorted set per state, in creation order: scored by the creation
 *   score × 1000, a whole number (task_set_score). Its ZCARD is the number of tasks in that state.
 * - `tasks:agent`: one sorted set of `<assignee>|<state>|<score>|<task id>` members (all scored
 *   0, read with ZRANGEBYLEX; `<assignee>` is '' for unassigned tasks, `<score>` the creation
 *   score zero-padded to 17 characters so lexical order is creation order): an agent's tasks in a
 *   state, page by page.
 * - `task-counts`: hash `<assignee>|<state>` → number of tasks (fields at 0 are deleted).
 * - each task hash's `score` field: its padded creation score, the part of its index entries a
 *   transition cannot derive from the state and assignee (see task_reindex).
 *
 * Every script that creates, deletes, or changes a task's `state` or `assigned_to` takes the
 * task's marks before its first write (`task_marks`) and calls `task_reindex` after its last.
 * `recountTasks` rebuilds all three from the task hashes (after `tt restore`, in `tt doctor`).
 */
import { defineScript, LUA_EMIT, runScript } from "../redis/script.ts";
import { TASK_STATES, type TaskState } from "./schemas.ts";
import type { Ctx } from "./agents.ts";
import { cmp } from "./order.ts";

/**
 * Version of the index layout, in the `task-index` key once `recountTasks` has built it. A town
 * whose tasks predate the indexes has tasks but no marker: `ensureIndexed` builds them once.
 */
export const INDEX_VERSION = "2"; // 2: whole-number scores in the state sets

/**
 * Lua fragment (no keys of its own: the index keys are derived from the task key's prefix, which
 * shares the town's hash tag).
 *
 * - `task_marks(task_key)` → {state, agent, s} as indexed (state false when the task is missing
 *   or its state unknown, agent '' when unassigned, s the task's `score` field or nil).
 * - `task_reindex(task_key, id, before[, after[, s[, first]]])` moves the task's index entries
 *   from `before` to `after` (default: what the hash holds now; a script that just wrote the
 *   state and assignee passes them, saving a read). `first`: whether a new task is the town's
 *   first, when the caller knows (else the tasks index is counted). `s` is the task's creation score zero-padded to 17
 *   characters (task_lex_score), which every index entry carries: the caller's, else `before`'s
 *   or `after`'s, else read from the tasks index and kept in the hash's `score` field, so a
 *   transition does not read it again (a ZSCORE and a string.format less: ~5% of a task's Redis
 *   time in the throughput bench). Removal takes out the entries `before` names; when one is not
 *   there (the hash was edited by hand behind the scripts' back), it also clears the task's
 *   entries under every other state, so the state sets heal on the next transition.
 * - `task_reindex_all(task_key_prefix, items, before, after)`: the same move for many tasks
 *   that share `before` and `after` (a round's tasks starting), `items` = {{id, s or nil}, …},
 *   in six commands whatever their number, not six per task.
 *
 * Numbers go to redis.call as strings: Redis formats a Lua number with snprintf("%.17g").
 */
export const TASK_INDEX_LUA = `
local TASK_STATE_LIST = {${TASK_STATES.map((s) => `'${s}'`).join(", ")}}
local TASK_STATE_OK = {${TASK_STATES.map((s) => `['${s}']=true`).join(", ")}}
local function task_marks(key)
  local v = redis.call('HMGET', key, 'state', 'assigned_to', 'score')
  local state = v[1]
  if not (state and TASK_STATE_OK[state]) then state = false end
  return {state=state, agent=v[2] or '', s=v[3] or nil}
end
local function task_index_prefix(key, id) return string.sub(key, 1, #key - #id - 5) end
local function task_lex_score(score) return string.format('%017.3f', tonumber(score)) end
-- A state set's score: the padded creation score's digits without the point (creation ms ×
-- 1000). A small sorted set keeps a whole number as an integer; a fractional score is text that
-- every insert parsed again, entry by entry (strtod: a fifth of a task's creation in Redis).
local function task_set_score(s) return (string.gsub(s, '%.', '', 1)) end
-- The task's padded score from the tasks index, kept in its hash (when it still exists).
local function task_stored_score(p, key, id, exists)
  local s = task_lex_score(redis.call('ZSCORE', p .. 'tasks', id) or '0')
  if exists then redis.call('HSET', key, 'score', s) end
  return s
end
-- Adds n (text) to a count; a count at 0 or below is deleted (as task-counts keeps them).
local function task_count(p, field, n)
  local counts = p .. 'task-counts'
  if redis.call('HINCRBY', counts, field, n) <= 0 then redis.call('HDEL', counts, field) end
end
local function task_lex_member(m, st, s, id) return m.agent .. '|' .. st .. '|' .. s .. '|' .. id end
local function task_unindex_lex(p, id, m, s, st)
  if redis.call('ZREM', p .. 'tasks:agent', task_lex_member(m, st, s, id)) == 1 then
    task_count(p, m.agent .. '|' .. st, '-1')
    return true
  end
  return false
end
-- Not where the marks say (the hash was edited by hand): clear every other state too.
local function task_unindex_others(p, id, m, s)
  for _, st in ipairs(TASK_STATE_LIST) do
    if st ~= m.state then
      redis.call('ZREM', p .. 'tasks:state:' .. st, id)
      task_unindex_lex(p, id, m, s, st)
    end
  end
end
local function task_unindex(p, id, m, s)
  local in_set = redis.call('ZREM', p .. 'tasks:state:' .. m.state, id) == 1
  local in_lex = task_unindex_lex(p, id, m, s, m.state)
  if not (in_set and in_lex) then task_unindex_others(p, id, m, s) end
end
local function task_index_add(p, id, m, s)
  redis.call('ZADD', p .. 'tasks:state:' .. m.state, task_set_score(s), id)
  if redis.call('ZADD', p .. 'tasks:agent', '0', task_lex_member(m, m.state, s, id)) == 1 then
    task_count(p, m.agent .. '|' .. m.state, '1')
  end
end
local function task_reindex(key, id, before, after, s, first)
  after = after or task_marks(key)
  if before.state == after.state and before.agent == after.agent then return end
  local p = task_index_prefix(key, id)
  s = s or before.s or after.s or task_stored_score(p, key, id, after.state)
  if before.state then task_unindex(p, id, before, s) end
  if after.state then task_index_add(p, id, after, s) end
  -- The first task of a town: its indexes are complete from the start (see ensureIndexed).
  if first == nil and not before.state then first = redis.call('ZCARD', p .. 'tasks') == 1 end
  if first then redis.call('SET', p .. 'task-index', '${INDEX_VERSION}') end
end
local function task_reindex_all(kp, items, before, after)
  if #items == 0 then return end
  local p = string.sub(kp, 1, #kp - 5)
  local ids, old_lex, new_set, new_lex = {}, {}, {}, {}
  for i, it in ipairs(items) do
    local id = it[1]
    local s = it[2] or task_stored_score(p, kp .. id, id, true)
    ids[i] = id
    old_lex[i] = task_lex_member(before, before.state, s, id)
    new_set[2 * i - 1], new_set[2 * i] = task_set_score(s), id
    new_lex[2 * i - 1], new_lex[2 * i] = '0', task_lex_member(after, after.state, s, id)
    it[2] = s
  end
  local in_set = redis.call('ZREM', p .. 'tasks:state:' .. before.state, unpack(ids))
  local in_lex = redis.call('ZREM', p .. 'tasks:agent', unpack(old_lex))
  if in_lex > 0 then task_count(p, before.agent .. '|' .. before.state, '-' .. in_lex) end
  if in_set < #ids or in_lex < #ids then
    for _, it in ipairs(items) do task_unindex_others(p, it[1], before, it[2]) end
  end
  redis.call('ZADD', p .. 'tasks:state:' .. after.state, unpack(new_set))
  local added = redis.call('ZADD', p .. 'tasks:agent', unpack(new_lex))
  if added > 0 then task_count(p, after.agent .. '|' .. after.state, tostring(added)) end
end
`;

/** Builds the indexes of a town that has tasks but no index marker (made by an older tt). */
export async function ensureIndexed(
  t: Ctx,
  marker: string | null,
  tasks: number,
): Promise<boolean> {
  if (marker === INDEX_VERSION || tasks === 0) return false;
  await recountTasks(t);
  return true;
}

/** Builds the indexes first if the town predates them (one round trip when they exist). */
export async function indexReady(t: Ctx): Promise<void> {
  const [[e1, marker], [e2, tasks]] = (await t.redis.pipeline().get(t.keys.taskIndex)
    .zcard(t.keys.tasks).exec())!;
  if (e1 || e2) throw e1 ?? e2;
  await ensureIndexed(t, marker as string | null, tasks as number);
}

/** Width of the zero-padded creation score in `tasks:agent` members (see TASK_INDEX_LUA). */
export const lexScore = (score: string | number) => Number(score).toFixed(3).padStart(17, "0");

/** A task's score in the state sets (task_set_score): its creation score × 1000, as Redis prints it. */
export const setScore = (score: string | number) =>
  String(Number(lexScore(score).replace(".", "")));

/** Every index key of a town, in the order RECOUNT takes them. */
export function indexKeys(t: Ctx): string[] {
  return [t.keys.tasksByAgent, t.keys.taskCounts, ...TASK_STATES.map((s) => t.keys.tasksIn(s))];
}

const RECOUNT = defineScript(
  "recountTasks",
  2 + 2 + TASK_STATES.length,
  TASK_INDEX_LUA,
  `
-- Rebuilds every task index from the task hashes listed in the tasks index (and each hash's
-- copy of its padded score).
-- KEYS[1] tasks index, KEYS[2] task-index marker (ARGV[2] once built), KEYS[3]
-- tasks:agent, KEYS[4] task-counts, KEYS[5…] tasks:state:<state> (every state).
-- ARGV[1] task key prefix (…:task:), ARGV[2] index version. Returns the number of tasks indexed.
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local n = 0
for i = 1, #all, 2 do
  local id, score = all[i], all[i + 1]
  local key = ARGV[1] .. id
  local m = task_marks(key)
  if m.state then
    local s = task_lex_score(score)
    task_index_add(task_index_prefix(key, id), id, m, s)
    if m.s ~= s then redis.call('HSET', key, 'score', s) end
    n = n + 1
  end
end
-- A town without tasks needs no marker (and a restored empty town stays exactly as saved).
if n > 0 then redis.call('SET', KEYS[2], ARGV[2]) else redis.call('DEL', KEYS[2]) end
return n
`,
);

/**
 * Rebuilds the task indexes and counters from the task hashes, in one script (Redis is busy for
 * it: ~2 µs per task). For `tt restore` and `tt doctor --fix`; normal work keeps them right.
 */
export async function recountTasks(t: Ctx): Promise<number> {
  return Number(
    await runScript(t.redis, RECOUNT, [t.keys.tasks, t.keys.taskIndex, ...indexKeys(t)], [
      t.keys.task(""),
      INDEX_VERSION,
    ]),
  );
}

const VERIFY = defineScript(
  "verifyTaskIndexes",
  2 + 2 + TASK_STATES.length,
  `#!lua flags=no-writes
` + TASK_INDEX_LUA,
  `
-- Compares the indexes with the task hashes, writing nothing (for tt doctor).
-- KEYS[1] tasks index, KEYS[2] task-index marker, KEYS[3] tasks:agent, KEYS[4] task-counts,
-- KEYS[5…] tasks:state:<state>. ARGV[1] task key prefix (…:task:).
-- Returns {tasks with a known state, entries that disagree (missing, extra or miscounted)}.
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local want_counts, want_lex, n = {}, {}, 0
local bad = 0
for i = 1, #all, 2 do
  local id, score = all[i], all[i + 1]
  local m = task_marks(ARGV[1] .. id)
  if m.state then
    n = n + 1
    local s = task_lex_score(score)
    local z = redis.call('ZSCORE', KEYS[1] .. ':state:' .. m.state, id)
    if not (z and tonumber(z) == tonumber(task_set_score(s))) then bad = bad + 1 end
    if not redis.call('ZSCORE', KEYS[3], task_lex_member(m, m.state, s, id)) then bad = bad + 1 end
    -- A wrong copy of the score would make the next transition miss the task's entries.
    if m.s and m.s ~= s then bad = bad + 1 end
    local f = m.agent .. '|' .. m.state
    want_counts[f] = (want_counts[f] or 0) + 1
  end
end
local sets = 0
for i = 5, #KEYS do sets = sets + redis.call('ZCARD', KEYS[i]) end
bad = bad + math.abs(sets - n) + math.abs(redis.call('ZCARD', KEYS[3]) - n)
local have = redis.call('HGETALL', KEYS[4])
local seen = {}
for i = 1, #have, 2 do
  seen[have[i]] = true
  if tonumber(have[i + 1]) ~= want_counts[have[i]] then bad = bad + 1 end
end
for f, _ in pairs(want_counts) do if not seen[f] then bad = bad + 1 end end
return {n, bad}
`,
);

/**
 * How far the indexes are from the task hashes (0 when right), reading every task inside one
 * read-only script: for `tt doctor`, which suggests `tt task recount` when they differ.
 */
export async function verifyTaskIndexes(t: Ctx): Promise<{ tasks: number; wrong: number }> {
  const [tasks, wrong] = (await runScript(
    t.redis,
    VERIFY,
    [t.keys.tasks, t.keys.taskIndex, ...indexKeys(t)],
    [t.keys.task("")],
  )) as [number, number];
  return { tasks, wrong };
}

const DELETE = defineScript(
  "deleteTask",
  4,
  LUA_EMIT + TASK_INDEX_LUA,
  `
-- Deletes a task everywhere: hash, indexes and counters, tasks index, backlog entry.
-- KEYS[1] events, KEYS[2] task hash, KEYS[3] tasks index, KEYS[4] backlog.
-- ARGV[1] now, ARGV[2] id, ARGV[3] event message ('' = no event). Returns 1 if it existed.
local before = task_marks(KEYS[2])
local existed = redis.call('DEL', KEYS[2])
task_reindex(KEYS[2], ARGV[2], before)
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('LREM', KEYS[4], 0, ARGV[2])
if existed == 1 and ARGV[3] ~= '' then
  emit({type='task_deleted', task_id=ARGV[2], message=ARGV[3]})
end
return existed
`,
);

/** Deletes a task (hash, indexes, backlog entry) with a `task_deleted` event when `message`. */
export async function deleteTask(t: Ctx, id: string, message = ""): Promise<boolean> {
  return Number(
    await runScript(
      t.redis,
      DELETE,
      [t.keys.events, t.keys.task(id), t.keys.tasks, t.keys.backlog],
      [
        new Date().toISOString(),
        id,
        message,
      ],
    ),
  ) === 1;
}

/** Range of `tasks:agent` members of one assignee and state (see task_index.ts). */
export const lexRange = (
  who: string,
  state: TaskState,
) => [`[${who}|${state}|`, `(${who}|${state}}`];

/** Task id of a `tasks:agent` member. */
export const memberId = (m: string) => m.slice(m.lastIndexOf("|") + 1);

/** Which of an assignee's tasks to read (see assigneeTaskIds). */
export interface AssigneeQuery {
  /** Agent id, the conductor's id, or '' for unassigned tasks. */
  who: string;
  states: readonly TaskState[];
  /** At most this many ids (per query). */
  limit: number;
  /** Oldest first (default), or newest first. */
  from?: "oldest" | "newest";
}

/**
 * Ids of assignees' tasks in the given states, per query (oldest first, or newest first), all
 * queries in one pipelined round trip: O(limit) each, whatever the number of tasks.
 */
export async function assigneeTaskIds(t: Ctx, queries: AssigneeQuery[]): Promise<string[][]> {
  const pipe = t.redis.pipeline();
  for (const q of queries) {
    for (const s of q.states) {
      const [min, max] = lexRange(q.who, s);
      if (q.from === "newest") {
        pipe.zrevrangebylex(t.keys.tasksByAgent, max, min, "LIMIT", 0, q.limit);
      } else pipe.zrangebylex(t.keys.tasksByAgent, min, max, "LIMIT", 0, q.limit);
    }
  }
  if (!queries.some((q) => q.states.length)) return queries.map(() => []);
  const lists = ((await pipe.exec()) ?? []).map(([err, v]) => {
    if (err) throw err;
    return v as string[];
  });
  let i = 0;
  return queries.map((q) => {
    const members = lists.slice(i, i += q.states.length).flat();
    // Members of one assignee differ after `<state>|`: sort on `<padded score>|<id>`.
    const key = (m: string) => m.slice(m.indexOf("|", q.who.length + 1) + 1);
    members.sort((a, b) => q.from === "newest" ? cmp(key(b), key(a)) : cmp(key(a), key(b)));
    return members.slice(0, Math.max(0, q.limit)).map(memberId);
  });
}

export { cmp };
