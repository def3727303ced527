/**
 * Tasks: creation, assignment and every state transition, each one Lua script so racing `tt`
 * processes cannot both win. Index: `tasks` zset (score = creation ms) + one hash per task.
 *
 * pending ──assign/claim──► assigned ──startTask──► running ──complete/fail/cancel──► terminal
 *    ▲                         ▲ └──────────────────────┘ returnTaskToAssigned
 *    └── requeueTaskToBacklog ─┴─ (from assigned or running)
 */
import { isTerminalTask, Task, TASK_STATES, type TaskState } from "./schemas.ts";
import { ConflictError, NotFoundError, UsageError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { type Ctx, getAgent, type Recipient } from "./agents.ts";
import { buildMessage, checkSize, PUSH_MESSAGE_LUA } from "./messages.ts";
import { defineScript, LUA_EMIT, type LuaScript, runScript } from "../redis/script.ts";
import { assigneeTaskIds, indexReady, TASK_INDEX_LUA } from "./task_index.ts";

/** States of a task not ended yet. */
const OPEN_STATES = ["pending", "assigned", "running"] as const;

export const shortTaskId = (id: string) => id.slice(0, 8);

/** One line of at most `n` characters, for event messages. */
export function oneLine(s: string, n = 60): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length <= n ? one : one.slice(0, n - 1) + "…";
}

/** Checks a description the way it will travel (as a task_assign message body). */
export function checkDescription(description: string): string {
  if (!description.trim()) throw new UsageError("task description must not be empty");
  checkSize(description);
  return description;
}

/** A task's check command: undefined when not given; never empty or oversized. */
export function checkVerify(command: string | undefined): string | undefined {
  if (command === undefined) return undefined;
  if (!command.trim()) {
    throw new UsageError("--verify needs a command, e.g. --verify 'deno task test'");
  }
  checkSize(command);
  return command;
}

/** Trimmed, non-empty, de-duplicated tags; each element may itself be `a,b`. */
export function parseTags(raw: string[] = []): string[] {
  return [...new Set(raw.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean))];
}

/**
 * Lua shared by task scripts (after LUA_EMIT and PUSH_MESSAGE_LUA): the task indexes
 * (task_index.ts), read a hash as a table, and assign a task (state, assignee, task_assign
 * message at the inbox tail, event, indexes).
 */
export const TASK_LUA = TASK_INDEX_LUA + `
local function hash_table(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function assign_task(task_key, id, agent_id, agent_key, inbox, require_agent, json, ev_msg, now)
  local before = task_marks(task_key)
  redis.call('HSET', task_key, 'state', 'assigned', 'assigned_to', agent_id, 'updated_at', now)
  redis.call('HDEL', task_key, 'started_at')
  task_reindex(task_key, id, before)
  push_message(inbox, agent_key, require_agent, json, 'tail')
  emit({type='task_assigned', task_id=id, agent_id=agent_id, new_state='assigned', message=ev_msg})
end
`;

const PRELUDE = LUA_EMIT + PUSH_MESSAGE_LUA + TASK_LUA;

/** Result of a script: `{ok=…}` or `{error=…}` (cjson-encoded). */
// deno-lint-ignore no-explicit-any
export type Reply = Record<string, any>;

export async function callScript(
  t: Ctx,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
): Promise<Reply> {
  return JSON.parse(String(await runScript(t.redis, script, keys, args)));
}

export function parseTask(hash: Record<string, string> | undefined): Task | undefined {
  if (!hash || !hash.id) return undefined;
  const r = Task.safeParse(hash);
  return r.success ? r.data : undefined;
}

/** A task's hash fields: strings, tags as a JSON array, unset fields left out. */
export function taskFields(task: Task): string[] {
  return Object.entries(task).filter(([, v]) => v !== undefined).flatMap(([k, v]) => [
    k,
    k === "tags" ? JSON.stringify(v) : String(v),
  ]);
}

const CREATE = defineScript(
  "createTask",
  5,
  PRELUDE + `
-- KEYS: events, tasks index, task hash, backlog, plan.
-- ARGV: now, id, score, placement (assign|backlog|none), plan id or '', task key prefix,
--       agent id, agent key, inbox, require agent, message json, event message, field/value…
if ARGV[4] == 'assign' and ARGV[10] == '1' and redis.call('EXISTS', ARGV[8]) == 0 then
  return cjson.encode({error='no_agent'})
end
if ARGV[5] ~= '' then
  local existing = redis.call('HGET', KEYS[5], ARGV[5])
  if existing and redis.call('EXISTS', ARGV[6] .. existing) == 1 then
    return cjson.encode({error='exists', id=existing})
  end
  redis.call('HSET', KEYS[5], ARGV[5], ARGV[2])
end
local fields = {}
for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[3], unpack(fields))
-- Creation order must be total: a task made in the same millisecond as the newest sorts after it.
local score = tonumber(ARGV[3])
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
if newest and tonumber(newest) >= score then score = tonumber(newest) + 0.001 end
redis.call('ZADD', KEYS[2], string.format('%.3f', score), ARGV[2])
task_reindex(KEYS[3], ARGV[2], {state=false, agent=''})
if ARGV[4] == 'assign' then
  assign_task(KEYS[3], ARGV[2], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[1])
else
  if ARGV[4] == 'backlog' then redis.call('RPUSH', KEYS[4], ARGV[2]) end
  local state = redis.call('HGET', KEYS[3], 'state')
  emit({type='task_created', task_id=ARGV[2], new_state=state, message=ARGV[12]})
end
return cjson.encode({ok=true, task=hash_table(KEYS[3])})
`,
);

export interface NewTask {
  description: string;
  tags?: string[];
  /** Agent id (or SUPERVISOR_ID) the task comes from; default the supervisor. */
  from?: string;
  /** Entry id in tasks.toml, for idempotent `tt sync push`. */
  planId?: string;
  parentId?: string;
  /** Creation in a terminal state (sync push of a finished entry). */
  state?: "completed" | "failed" | "cancelled";
  result?: string;
  /** Shell command that must pass before the task counts as completed. */
  verify?: string;
}

export type Placement =
  | { kind: "assign"; to: Recipient }
  | { kind: "backlog" }
  | { kind: "none" };

/**
 * Creates a task and places it: assigned to an agent (with its task_assign message), queued in
 * the backlog, or neither (terminal tasks). With `planId`, refuses to create a second task for
 * the same plan entry (ConflictError carrying the existing id).
 */
export async function createTask(t: Ctx, input: NewTask, placement: Placement): Promise<Task> {
  const description = checkDescription(input.description);
  const id = crypto.randomUUID();
  const now = new Date();
  const iso = now.toISOString();
  const from = input.from ?? SUPERVISOR_ID;
  const task = Task.parse({
    id,
    description,
    state: input.state ?? "pending",
    created_by: from,
    created_at: iso,
    updated_at: iso,
    completed_at: input.state ? iso : undefined,
    result: input.result,
    plan_id: input.planId,
    parent_id: input.parentId,
    tags: input.tags ?? [],
    verify: checkVerify(input.verify),
  });
  const to = placement.kind === "assign" ? placement.to : undefined;
  const msg = to
    ? JSON.stringify(
      buildMessage({ from, to: to.id, type: "task_assign", task_id: id, body: description }),
    )
    : "";
  const evMsg = to
    ? `task ${shortTaskId(id)} assigned to ${to.label}: ${oneLine(description)}`
    : `task ${shortTaskId(id)} created${placement.kind === "backlog" ? " in the backlog" : ""}: ${
      oneLine(description)
    }`;
  const res = await callScript(
    t,
    CREATE,
    [t.keys.events, t.keys.tasks, t.keys.task(id), t.keys.backlog, t.keys.plan],
    [
      iso,
      id,
      now.getTime(),
      placement.kind,
      input.planId ?? "",
      t.keys.task(""),
      to?.id ?? "",
      to ? t.keys.agent(to.id) : "",
      to ? t.keys.inbox(to.id) : "",
      to && to.kind === "agent" ? "1" : "0",
      msg,
      evMsg,
      ...taskFields(task),
    ],
  );
  if (res.error === "no_agent") throw new NotFoundError(`agent ${to!.label} no longer exists`);
  if (res.error === "exists") {
    throw new ConflictError(`plan entry '${input.planId}' is already task ${res.id}`);
  }
  return Task.parse(res.task);
}

/** `tt assign`: a new task, assigned to `to`, with a task_assign message in its inbox. */
export async function assignTask(
  t: Ctx,
  to: Recipient,
  input: Omit<NewTask, "state" | "result">,
): Promise<Task> {
  return await createTask(t, input, { kind: "assign", to });
}

export async function getTask(t: Ctx, id: string): Promise<Task | undefined> {
  return parseTask(await t.redis.hgetall(t.keys.task(id)));
}

/** Tasks by id in one pipelined round trip; missing ones are left out. */
export async function getTasks(t: Ctx, ids: string[]): Promise<Task[]> {
  if (!ids.length) return [];
  const pipe = t.redis.pipeline();
  for (const id of ids) pipe.hgetall(t.keys.task(id));
  const res = (await pipe.exec()) ?? [];
  return res.map(([err, h]) => {
    if (err) throw err;
    return parseTask(h as Record<string, string>);
  }).filter((x): x is Task => !!x);
}

export interface TaskFilter {
  state?: TaskState;
  /** Assignee id. */
  agentId?: string;
}

/**
 * Tasks, oldest first: the ids from an index (of the state, of the assignee, or of every task),
 * then one pipelined HGETALL. A filtered list costs O(matching tasks), not O(tasks).
 */
export async function listTasks(t: Ctx, filter: TaskFilter = {}): Promise<Task[]> {
  const filtered = filter.state !== undefined || filter.agentId !== undefined;
  if (filtered) await indexReady(t);
  const ids = filter.agentId !== undefined
    ? (await assigneeTaskIds(t, [{
      who: filter.agentId,
      states: filter.state ? [filter.state] : TASK_STATES,
      limit: Number.MAX_SAFE_INTEGER,
    }]))[0]
    : filter.state
    ? await t.redis.zrange(t.keys.tasksIn(filter.state), "0", "-1")
    : await t.redis.zrange(t.keys.tasks, "0", "-1");
  const tasks = await getTasks(t, ids);
  return tasks.filter((x) =>
    (!filter.state || x.state === filter.state) &&
    (!filter.agentId || x.assigned_to === filter.agentId)
  );
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A task by full id or unique id prefix (≥ 4 characters). */
export async function resolveTask(t: Ctx, ref: string): Promise<Task> {
  const r = ref.trim().toLowerCase();
  if (!r) throw new UsageError("task id must not be empty");
  const notFound = () =>
    new NotFoundError(`no task '${ref.trim()}': 'tt task list' shows the tasks`);
  if (UUID_RE.test(r)) {
    const task = await getTask(t, r);
    if (!task) throw notFound();
    return task;
  }
  if (r.length < 4) {
    throw new UsageError(`task id '${ref.trim()}' is too short: give at least 4 characters`);
  }
  const ids = (await t.redis.zrange(t.keys.tasks, "0", "-1")).filter((id) => id.startsWith(r));
  if (ids.length > 1) {
    const found = await getTasks(t, ids);
    throw new UsageError(
      `task id '${ref.trim()}' is ambiguous: ${
        found.map((x) => `${shortTaskId(x.id)} (${oneLine(x.description, 30)})`).join(", ")
      }; give more characters`,
    );
  }
  const task = ids.length ? await getTask(t, ids[0]) : undefined;
  if (!task) throw notFound();
  return task;
}

/** The task an agent works on: its explicit current_task, else its only open task. */
export async function currentTask(
  t: Ctx,
  agentId: string,
): Promise<{ task?: Task; open: Task[] }> {
  const agent = await getAgent(t, agentId);
  // The agent's open tasks from the index (its oldest 1,000 at most): O(its open tasks).
  const [ids] = await assigneeTaskIds(t, [{ who: agentId, states: OPEN_STATES, limit: 1000 }]);
  const open = (await getTasks(t, ids)).filter((x) =>
    !isTerminalTask(x.state) && x.assigned_to === agentId
  );
  const explicit = agent?.current_task && open.find((x) => x.id === agent.current_task);
  return { task: explicit || (open.length === 1 ? open[0] : undefined), open };
}

/** Lua: end a task (KEYS: events, task, backlog; ARGV documented on FINISH callers below). */
const FINISH_LUA = `
-- ARGV: now, id, result, caller ('' = a human), force, agent key prefix, event message.
-- The task's state and assignee if the caller may end it, else an error table.
local function check_finish()
  local old = redis.call('HGET', KEYS[2], 'state')
  if not old then return nil, nil, {error='not_found'} end
  if old == 'completed' or old == 'failed' or old == 'cancelled' then
    return nil, nil, {error='terminal', state=old}
  end
  local assignee = redis.call('HGET', KEYS[2], 'assigned_to')
  if ARGV[4] ~= '' and ARGV[5] ~= '1' and assignee and assignee ~= ARGV[4] then
    return nil, nil, {error='not_yours', assignee=assignee}
  end
  return old, assignee, nil
end
local function finish_task(state, event_type)
  local old, assignee, err = check_finish()
  if err then return err end
  local before = task_marks(KEYS[2])
  redis.call('HSET', KEYS[2], 'state', state, 'result', ARGV[3], 'completed_at', ARGV[1],
    'updated_at', ARGV[1])
  task_reindex(KEYS[2], ARGV[2], before)
  redis.call('HDEL', KEYS[2], 'claimed_result')
  redis.call('LREM', KEYS[3], 0, ARGV[2])
  if assignee then
    local agent = ARGV[6] .. assignee
    if redis.call('EXISTS', agent) == 1 then
      if state == 'completed' then redis.call('HINCRBY', agent, 'tasks_completed', 1) end
      if redis.call('HGET', agent, 'current_task') == ARGV[2] then
        redis.call('HDEL', agent, 'current_task')
      end
    end
  end
  local ev = {type=event_type, task_id=ARGV[2], old_state=old, new_state=state,
    message=ARGV[7], reason=ARGV[3]}
  if assignee then ev.agent_id = assignee end
  if ARGV[4] ~= '' then ev.actor = ARGV[4] end
  emit(ev)
  return {ok=true, task=hash_table(KEYS[2])}
end
`;

const COMPLETE = defineScript(
  "completeTask",
  3,
  PRELUDE + FINISH_LUA + `
-- ARGV[8]: the task's check: 'done' (it passed), 'defer' (an agent reports: hold the result for
-- the supervisor), 'required' (nobody ran it: refuse). ARGV[9]: event message of a held result.
local verify = redis.call('HGET', KEYS[2], 'verify')
if verify and verify ~= '' and ARGV[8] ~= 'done' then
  local _, assignee, err = check_finish()
  if err then return cjson.encode(err) end
  if ARGV[8] ~= 'defer' then return cjson.encode({error='needs_verify', verify=verify}) end
  redis.call('HSET', KEYS[2], 'claimed_result', ARGV[3], 'updated_at', ARGV[1])
  local ev = {type='task_reported', task_id=ARGV[2], message=ARGV[9], actor=ARGV[4]}
  if assignee then ev.agent_id = assignee end
  emit(ev)
  return cjson.encode({ok=true, task=hash_table(KEYS[2])})
end
return cjson.encode(finish_task('completed', 'task_completed'))
`,
);
const END = defineScript(
  "endTask",
  3,
  PRELUDE + FINISH_LUA + `
-- ARGV[8]: failed|cancelled
return cjson.encode(finish_task(ARGV[8], 'task_' .. ARGV[8]))
`,
);

export interface FinishOptions {
  /** Result text (complete) or reason (fail/cancel). */
  result?: string;
  /** The calling agent's id (TINYTOWN_AGENT_ID); unset = a human, who may end any task. */
  by?: string;
  /** End a task assigned to another agent than `by`. */
  force?: boolean;
  /** Completing: the task's `verify` command has passed (or the caller chose to skip it). */
  verified?: boolean;
}

async function finish(
  t: Ctx,
  id: string,
  state: "completed" | "failed" | "cancelled",
  opts: FinishOptions,
): Promise<Task> {
  const result = opts.result ??
    { completed: "Completed", failed: "Failed", cancelled: "Cancelled" }[
      state
    ];
  checkSize(result);
  const by = opts.by && opts.by !== SUPERVISOR_ID ? opts.by : "";
  const args = [
    new Date().toISOString(),
    id,
    result,
    by,
    opts.force || state === "cancelled" ? "1" : "0",
    t.keys.agent(""),
    `task ${shortTaskId(id)} ${state}: ${oneLine(result)}`,
  ];
  const check = opts.verified ? "done" : by ? "defer" : "required";
  const res = state === "completed"
    ? await callScript(t, COMPLETE, [t.keys.events, t.keys.task(id), t.keys.backlog], [
      ...args,
      check,
      `task ${shortTaskId(id)} reported done, to be verified: ${oneLine(result)}`,
    ])
    : await callScript(t, END, [t.keys.events, t.keys.task(id), t.keys.backlog], [...args, state]);
  if (res.error === "not_found") {
    throw new NotFoundError(`no task '${id}': 'tt task list' shows the tasks`);
  }
  if (res.error === "terminal") {
    throw new ConflictError(`task ${shortTaskId(id)} is already ${res.state}; nothing changed`);
  }
  if (res.error === "needs_verify") {
    throw new ConflictError(
      `task ${shortTaskId(id)} must pass its check first (${
        oneLine(res.verify, 80)
      }): 'tt task complete' runs it, or pass --no-verify to skip it`,
    );
  }
  if (res.error === "not_yours") {
    const owner = await getAgent(t, res.assignee);
    throw new ConflictError(
      `task ${shortTaskId(id)} is assigned to ${
        owner ? owner.name : shortTaskId(res.assignee)
      }, not to you: pass --force to ${state === "completed" ? "complete" : "fail"} it anyway`,
    );
  }
  return Task.parse(res.task);
}

/**
 * Completes a task: result (default "Completed"), completed_at; the assignee's tasks_completed is
 * counted once and its current_task cleared. A task already ended cannot be completed again.
 * A task with a `verify` command completes only with `verified`; an agent's report without it is
 * held as `claimed_result` (the task stays open) until the supervisor has run the check.
 */
export async function completeTask(t: Ctx, id: string, opts: FinishOptions = {}): Promise<Task> {
  return await finish(t, id, "completed", opts);
}

export async function failTask(t: Ctx, id: string, opts: FinishOptions = {}): Promise<Task> {
  return await finish(t, id, "failed", opts);
}

/** Cancels a task, whoever it is assigned to (a conductor's decision, so no ownership check). */
export async function cancelTask(
  t: Ctx,
  id: string,
  opts: Omit<FinishOptions, "force"> = {},
): Promise<Task> {
  return await finish(t, id, "cancelled", opts);
}

/** Outcome of a supervisor-driven transition: whether it happened, and the task's state now. */
export interface Moved {
  moved: boolean;
  /** Undefined when the task does not exist. */
  state?: TaskState;
}

const START = defineScript(
  "startTask",
  2,
  PRELUDE + `
-- KEYS: events, task. ARGV: now, id, agent id, agent key, event message
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'assigned' or redis.call('HGET', KEYS[2], 'assigned_to') ~= ARGV[3] then
  return cjson.encode({ok=false, state=state})
end
local before = task_marks(KEYS[2])
redis.call('HSET', KEYS[2], 'state', 'running', 'started_at', ARGV[1], 'updated_at', ARGV[1])
task_reindex(KEYS[2], ARGV[2], before)
if redis.call('EXISTS', ARGV[4]) == 1 then redis.call('HSET', ARGV[4], 'current_task', ARGV[2]) end
emit({type='task_started', task_id=ARGV[2], agent_id=ARGV[3], old_state='assigned',
  new_state='running', message=ARGV[5]})
return cjson.encode({ok=true, state='running'})
`,
);

/** assigned → running (and the agent's current_task), only if the task is assigned to `agentId`. */
export async function startTask(t: Ctx, taskId: string, agentId: string): Promise<Moved> {
  return toMoved(
    await callScript(t, START, [t.keys.events, t.keys.task(taskId)], [
      new Date().toISOString(),
      taskId,
      agentId,
      t.keys.agent(agentId),
      `task ${shortTaskId(taskId)} started`,
    ]),
  );
}

const RETURN = defineScript(
  "returnTaskToAssigned",
  2,
  PRELUDE + `
-- KEYS: events, task. ARGV: now, id, reason, event message
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'running' then return cjson.encode({ok=false, state=state}) end
local before = task_marks(KEYS[2])
redis.call('HSET', KEYS[2], 'state', 'assigned', 'updated_at', ARGV[1])
redis.call('HDEL', KEYS[2], 'started_at', 'claimed_result')
task_reindex(KEYS[2], ARGV[2], before)
local ev = {type='task_requeued', task_id=ARGV[2], old_state='running', new_state='assigned',
  reason=ARGV[3], message=ARGV[4]}
local assignee = redis.call('HGET', KEYS[2], 'assigned_to')
if assignee then ev.agent_id = assignee end
emit(ev)
return cjson.encode({ok=true, state='assigned'})
`,
);

/** running → assigned (same assignee), e.g. after a failed round. No-op in any other state. */
export async function returnTaskToAssigned(
  t: Ctx,
  taskId: string,
  reason: string,
): Promise<Moved> {
  return toMoved(
    await callScript(t, RETURN, [t.keys.events, t.keys.task(taskId)], [
      new Date().toISOString(),
      taskId,
      reason,
      `task ${shortTaskId(taskId)} back to assigned: ${oneLine(reason)}`,
    ]),
  );
}

const REQUEUE = defineScript(
  "requeueTaskToBacklog",
  3,
  PRELUDE + `
-- KEYS: events, task, backlog. ARGV: now, id, reason, agent key prefix, event message
local state = redis.call('HGET', KEYS[2], 'state')
if not state or state == 'completed' or state == 'failed' or state == 'cancelled' then
  return cjson.encode({ok=false, state=state})
end
local assignee = redis.call('HGET', KEYS[2], 'assigned_to')
local before = task_marks(KEYS[2])
redis.call('HSET', KEYS[2], 'state', 'pending', 'updated_at', ARGV[1])
redis.call('HDEL', KEYS[2], 'assigned_to', 'started_at', 'claimed_result')
task_reindex(KEYS[2], ARGV[2], before)
if assignee and redis.call('HGET', ARGV[4] .. assignee, 'current_task') == ARGV[2] then
  redis.call('HDEL', ARGV[4] .. assignee, 'current_task')
end
redis.call('LREM', KEYS[3], 0, ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[2])
local ev = {type='task_requeued', task_id=ARGV[2], old_state=state, new_state='pending',
  reason=ARGV[3], message=ARGV[5]}
if assignee then ev.agent_id = assignee end
emit(ev)
return cjson.encode({ok=true, state='pending'})
`,
);

/** assigned|running → pending at the backlog tail, unassigned. No-op for ended tasks. */
export async function requeueTaskToBacklog(
  t: Ctx,
  taskId: string,
  reason: string,
): Promise<Moved> {
  return toMoved(
    await callScript(t, REQUEUE, [t.keys.events, t.keys.task(taskId), t.keys.backlog], [
      new Date().toISOString(),
      taskId,
      reason,
      t.keys.agent(""),
      `task ${shortTaskId(taskId)} back to the backlog: ${oneLine(reason)}`,
    ]),
  );
}

function toMoved(res: Reply): Moved {
  // A missing hash field is `false` in Lua.
  return { moved: res.ok === true, state: res.state || undefined };
}

const UPDATE = defineScript(
  "updateTask",
  2,
  PRELUDE + `
-- KEYS: events, task. ARGV: now, id, event message, verify ('' = none), field/value…
if redis.call('EXISTS', KEYS[2]) == 0 then return cjson.encode({error='not_found'}) end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], 'updated_at', ARGV[1], unpack(fields))
if ARGV[4] == '' then redis.call('HDEL', KEYS[2], 'verify')
else redis.call('HSET', KEYS[2], 'verify', ARGV[4]) end
emit({type='task_updated', task_id=ARGV[2], message=ARGV[3]})
return cjson.encode({ok=true, task=hash_table(KEYS[2])})
`,
);

/** Changes the description, tags and check of an existing task (its state is left alone). */
export async function updateTask(
  t: Ctx,
  id: string,
  change: { description: string; tags: string[]; verify?: string },
): Promise<Task> {
  const description = checkDescription(change.description);
  const res = await callScript(t, UPDATE, [t.keys.events, t.keys.task(id)], [
    new Date().toISOString(),
    id,
    `task ${shortTaskId(id)} updated: ${oneLine(description)}`,
    checkVerify(change.verify) ?? "",
    "description",
    description,
    "tags",
    JSON.stringify(change.tags),
  ]);
  if (res.error) throw new NotFoundError(`no task '${id}': 'tt task list' shows the tasks`);
  return Task.parse(res.task);
}
