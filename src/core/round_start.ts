/**
 * The start of an agent's round, in one script: the agent moves to `working` (with its event),
 * its round fields are set, and the round's assigned tasks start (assigned → running, indexes,
 * current_task, an event each), exactly what setAgentState, an HSET and startTask per task did
 * one round trip at a time, now atomic: a crash leaves either none of it or all of it.
 */
import type { Message, Task } from "./schemas.ts";
import { ConflictError, NotFoundError } from "./errors.ts";
import { type Ctx, SET_AGENT_STATE_LUA } from "./agents.ts";
import { defineScript } from "../redis/script.ts";
import { callScript, parseTask, TASK_PRELUDE } from "./task_script.ts";
import { hgetallObject } from "../redis/lean_resp.ts";
import { START_TASK_LUA } from "./task_end.ts";

/** States a round may start from (AgentLoop#runRound explains `working`). */
export const ROUND_FROM = ["idle", "starting", "working"] as const;

const BEGIN = defineScript(
  "beginRound",
  2,
  TASK_PRELUDE + SET_AGENT_STATE_LUA + START_TASK_LUA + `
-- KEYS: events, agent. ARGV: now, round number, event message, states it may start from (csv),
--   task key prefix, agent id, then the ids of the round's assigned tasks.
-- Refuses (nothing written) when the agent is not in one of the states; else returns the hashes
-- of the tasks that exist, after the ones assigned to the agent were started.
local _, err = set_agent_state(KEYS[2], 'working', 'agent_state_changed', ARGV[3], '', ARGV[4],
  '', '')
if err then return cjson.encode(err) end
-- The agent's current_task is set once, below, to the last task started (as one HSET per task
-- left it), and the started tasks' indexes move together (task_reindex_all).
local current, started = nil, {}
local assigned, running = {state='assigned', agent=ARGV[6]}, {state='running', agent=ARGV[6]}
for i = 7, #ARGV do
  local id = ARGV[i]
  if start_task(ARGV[5] .. id, id, ARGV[6], false, 'task ' .. string.sub(id, 1, 8) .. ' started',
      started) then
    current = id
  end
  -- unpack() takes a few thousand values at most: a long round moves in slices.
  if #started == 500 then
    task_reindex_all(ARGV[5], started, assigned, running)
    started = {}
  end
end
task_reindex_all(ARGV[5], started, assigned, running)
-- Each existing task's hash as HGETALL's flat list (cheaper for Redis than a table to encode).
local tasks = {}
for i = 7, #ARGV do
  local flat = redis.call('HGETALL', ARGV[5] .. ARGV[i])
  if #flat > 0 then tasks[#tasks + 1] = flat end
end
local fields = {'round', ARGV[2], 'round_started_at', ARGV[1], 'last_active_at', ARGV[1]}
if current then fields[7], fields[8] = 'current_task', current end
redis.call('HSET', KEYS[2], unpack(fields))
return cjson.encode({ok=true, tasks=tasks})
`,
);

/**
 * Starts round `round` of the agent with these messages: state working, round fields, and the
 * tasks of its task_assign messages started. Returns every task they reference (as started).
 * ConflictError when the agent is in none of the `from` states (paused, closed meanwhile).
 */
export async function beginRound(
  t: Ctx,
  agentId: string,
  round: number,
  messages: Message[],
  from: readonly string[] = ROUND_FROM,
): Promise<Map<string, Task>> {
  const ids = messages.filter((m) => m.type === "task_assign" && m.task_id).map((m) => m.task_id!);
  const res = await callScript(t, BEGIN, [t.keys.events, t.keys.agent(agentId)], [
    new Date().toISOString(),
    round,
    `round ${round} started with ${messages.length} message(s)`,
    from.join(","),
    t.keys.task(""),
    agentId,
    ...ids,
  ]);
  if (res.error === "not_found") throw new NotFoundError(`no agent with id ${agentId}`);
  if (res.error === "state") {
    throw new ConflictError(`agent is ${res.state}; expected ${from.join(" or ")}`);
  }
  const tasks = new Map<string, Task>();
  // An empty Lua table is encoded as {}, not [].
  for (const flat of Array.isArray(res.tasks) ? res.tasks : []) {
    const task = parseTask(hgetallObject(flat) as Record<string, string>);
    if (task) tasks.set(task.id, task);
  }
  return tasks;
}
