/**
 * Task transitions after assignment, each one Lua script: the end of a task (complete, fail,
 * cancel; verify and ownership checked in the script) and the supervisor's moves (start, return
 * to assigned, requeue to the backlog). tasks.ts re-exports all of it.
 */
import { Task, type TaskState } from "./schemas.ts";
import { ConflictError, NotFoundError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { type Ctx, getAgent } from "./agents.ts";
import { checkSize } from "./messages.ts";
import { defineScript } from "../redis/script.ts";
import { hgetallObject } from "../redis/lean_resp.ts";
import {
  callScript,
  oneLine,
  type Reply,
  shortTaskId,
  TASK_PRELUDE as PRELUDE,
} from "./task_script.ts";

/** Lua: end a task (KEYS: events, task, backlog; ARGV documented on FINISH callers below). */
const FINISH_LUA = `
-- ARGV: now, id, result, caller ('' = a human), force, agent key prefix, event message, reply
--   ('task': the task as HGETALL's list; 'state': only its state and check, for a caller that
--   prints one line: the whole task was a fifth of a completion's Redis work).
-- What end_task needs of the task ({old state, assignee, verify, held claimed_result or false,
-- padded score or false}) if the caller may end it, else nil and an error table.
local function check_finish()
  local v = redis.call('HMGET', KEYS[2], 'state', 'assigned_to', 'verify', 'claimed_result',
    'score')
  local old, assignee = v[1], v[2]
  if not old then return nil, {error='not_found'} end
  if old == 'completed' or old == 'failed' or old == 'cancelled' then
    return nil, {error='terminal', state=old}
  end
  if ARGV[4] ~= '' and ARGV[5] ~= '1' and assignee and assignee ~= ARGV[4] then
    return nil, {error='not_yours', assignee=assignee}
  end
  return {old=old, assignee=assignee, verify=v[3], held=v[4], s=v[5]}, nil
end
-- The answer (ARGV[8]) once the task is in its new state.
local function finish_reply(state, verify)
  if ARGV[8] == 'task' then return {ok=true, task=redis.call('HGETALL', KEYS[2])} end
  return {ok=true, state=state, verify=verify}
end
-- Ends the task check_finish read (f).
local function end_task(state, event_type, f)
  local old, assignee = f.old, f.assignee
  local agent_id = assignee or ''
  local before = {state=TASK_STATE_OK[old] and old or false, agent=agent_id}
  redis.call('HSET', KEYS[2], 'state', state, 'result', ARGV[3], 'completed_at', ARGV[1],
    'updated_at', ARGV[1])
  task_reindex(KEYS[2], ARGV[2], before, {state=state, agent=agent_id}, f.s or nil)
  if f.held then redis.call('HDEL', KEYS[2], 'claimed_result') end
  -- Only a pending task is in the backlog (every script that queues one makes it pending).
  if old == 'pending' then redis.call('LREM', KEYS[3], '0', ARGV[2]) end
  if assignee then
    local agent = ARGV[6] .. assignee
    local a = redis.call('HMGET', agent, 'id', 'current_task')
    if a[1] then
      if state == 'completed' then redis.call('HINCRBY', agent, 'tasks_completed', '1') end
      if a[2] == ARGV[2] then redis.call('HDEL', agent, 'current_task') end
    end
  end
  local ev = {type=event_type, task_id=ARGV[2], old_state=old, new_state=state,
    message=ARGV[7], reason=ARGV[3]}
  if assignee then ev.agent_id = assignee end
  if ARGV[4] ~= '' then ev.actor = ARGV[4] end
  emit(ev)
  return finish_reply(state, f.verify)
end
local function finish_task(state, event_type)
  local f, err = check_finish()
  if err then return err end
  return end_task(state, event_type, f)
end
`;

const COMPLETE = defineScript(
  "completeTask",
  3,
  PRELUDE + FINISH_LUA,
  `
-- ARGV[9]: the task's check: 'done' (it passed), 'defer' (an agent reports: hold the result for
-- the supervisor), 'required' (nobody ran it: refuse). ARGV[10]: event message of a held result.
local f, err = check_finish()
if err then return cjson.encode(err) end
if f.verify and f.verify ~= '' and ARGV[9] ~= 'done' then
  if ARGV[9] ~= 'defer' then return cjson.encode({error='needs_verify', verify=f.verify}) end
  redis.call('HSET', KEYS[2], 'claimed_result', ARGV[3], 'updated_at', ARGV[1])
  local ev = {type='task_reported', task_id=ARGV[2], message=ARGV[10], actor=ARGV[4]}
  if f.assignee then ev.agent_id = f.assignee end
  emit(ev)
  return cjson.encode(finish_reply(f.old, f.verify))
end
return cjson.encode(end_task('completed', 'task_completed', f))
`,
);
const END = defineScript(
  "endTask",
  3,
  PRELUDE + FINISH_LUA,
  `
-- ARGV[9]: failed|cancelled
return cjson.encode(finish_task(ARGV[9], 'task_' .. ARGV[9]))
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

/** How a task ends: completed, failed or cancelled. */
export type EndState = "completed" | "failed" | "cancelled";

/** What ending a task answers a caller that prints one line (endTaskBriefly). */
export interface Ended {
  id: string;
  /** Its state now: the end state, or the one it stays in while its check is to run. */
  state: TaskState;
  verify?: string;
}

/** Ends the task; the script's answer (`reply`: see FINISH_LUA), errors thrown. */
async function finish(
  t: Ctx,
  id: string,
  state: EndState,
  opts: FinishOptions,
  reply: "task" | "state",
): Promise<Reply> {
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
    reply,
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
  return res;
}

const ended = async (t: Ctx, id: string, state: EndState, opts: FinishOptions) =>
  Task.parse(hgetallObject((await finish(t, id, state, opts, "task")).task));

/**
 * Ends a task as completeTask, failTask and cancelTask do, answering only its state and check:
 * for a caller that prints one line (an agent's `tt task complete`), without the cost of the
 * whole task's reply.
 */
export async function endTaskBriefly(
  t: Ctx,
  id: string,
  state: EndState,
  opts: FinishOptions = {},
): Promise<Ended> {
  const res = await finish(t, id, state, opts, "state");
  return { id, state: res.state, ...(res.verify ? { verify: res.verify } : {}) };
}

/**
 * Completes a task: result (default "Completed"), completed_at; the assignee's tasks_completed is
 * counted once and its current_task cleared. A task already ended cannot be completed again.
 * A task with a `verify` command completes only with `verified`; an agent's report without it is
 * held as `claimed_result` (the task stays open) until the supervisor has run the check.
 */
export async function completeTask(t: Ctx, id: string, opts: FinishOptions = {}): Promise<Task> {
  return await ended(t, id, "completed", opts);
}

export async function failTask(t: Ctx, id: string, opts: FinishOptions = {}): Promise<Task> {
  return await ended(t, id, "failed", opts);
}

/** Cancels a task, whoever it is assigned to (a conductor's decision, so no ownership check). */
export async function cancelTask(
  t: Ctx,
  id: string,
  opts: Omit<FinishOptions, "force"> = {},
): Promise<Task> {
  return await ended(t, id, "cancelled", opts);
}

/** Outcome of a supervisor-driven transition: whether it happened, and the task's state now. */
export interface Moved {
  moved: boolean;
  /** Undefined when the task does not exist. */
  state?: TaskState;
}

/**
 * Lua (after TASK_PRELUDE): `start_task(task key, id, agent id, agent key, event message[, batch])`
 * moves a task assigned to that agent to running (the agent's current_task unless the agent key
 * is false, an event, and its indexes: at once, or, with `batch`, by the caller's
 * task_reindex_all of the batch's entries); returns true, or false and the state it found.
 * Shared by startTask and beginRound.
 */
export const START_TASK_LUA = `
local function start_task(key, id, agent_id, agent_key, message, batch)
  local v = redis.call('HMGET', key, 'state', 'assigned_to', 'score')
  if v[1] ~= 'assigned' or v[2] ~= agent_id then return false, v[1] end
  redis.call('HSET', key, 'state', 'running', 'started_at', ARGV[1], 'updated_at', ARGV[1])
  if batch then
    batch[#batch + 1] = {id, v[3] or nil}
  else
    task_reindex(key, id, {state='assigned', agent=agent_id}, {state='running', agent=agent_id},
      v[3] or nil)
  end
  if agent_key and redis.call('EXISTS', agent_key) == 1 then
    redis.call('HSET', agent_key, 'current_task', id)
  end
  emit({type='task_started', task_id=id, agent_id=agent_id, old_state='assigned',
    new_state='running', message=message})
  return true, 'running'
end
`;

const START = defineScript(
  "startTask",
  2,
  PRELUDE + START_TASK_LUA,
  `
-- KEYS: events, task. ARGV: now, id, agent id, agent key, event message
local ok, state = start_task(KEYS[2], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return cjson.encode({ok=ok, state=state})
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
  PRELUDE,
  `
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
  PRELUDE,
  `
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
