/**
 * What every task script shares: the Lua prelude (events, mailbox pushes, the task indexes and
 * assign_task), calling a script that answers `{ok=…}`/`{error=…}`, and reading a task hash.
 * Below tasks.ts and task_end.ts, which both build on it.
 */
import { Task } from "./schemas.ts";
import { type Ctx } from "./agents.ts";
import { PUSH_MESSAGE_LUA } from "./messages.ts";
import { LUA_EMIT, type LuaScript, runScript } from "../redis/script.ts";
import { TASK_INDEX_LUA } from "./task_index.ts";

export const shortTaskId = (id: string) => id.slice(0, 8);

/** One line of at most `n` characters, for event messages. */
export function oneLine(s: string, n = 60): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length <= n ? one : one.slice(0, n - 1) + "…";
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
-- The assignment's message at the agent's inbox tail and its event (the hash already says
-- assigned: assign_task, or createTask writing it assigned).
local function announce_assignment(id, agent_id, agent_key, inbox, require_agent, json, ev_msg)
  push_message(inbox, agent_key, require_agent, json, 'tail')
  emit({type='task_assigned', task_id=id, agent_id=agent_id, new_state='assigned', message=ev_msg})
end
local function assign_task(task_key, id, agent_id, agent_key, inbox, require_agent, json, ev_msg, now)
  local before = task_marks(task_key)
  redis.call('HSET', task_key, 'state', 'assigned', 'assigned_to', agent_id, 'updated_at', now)
  redis.call('HDEL', task_key, 'started_at')
  task_reindex(task_key, id, before, {state='assigned', agent=agent_id})
  announce_assignment(id, agent_id, agent_key, inbox, require_agent, json, ev_msg)
end
`;

/** Everything a task script starts with. */
export const TASK_PRELUDE = LUA_EMIT + PUSH_MESSAGE_LUA + TASK_LUA;

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
