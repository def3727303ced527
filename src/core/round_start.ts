/**
 * The start of an agent's round, in one script: the agent moves to `working` (with its event),
 * its round fields are set, and the round's assigned tasks start (assigned → running, indexes,
 * current_task, an event each), exactly what setAgentState, an HSET and startTask per task did
 * one round trip at a time, now atomic: a crash leaves either none of it or all of it.
 */
import { type Message, ROUND_TASK_FIELDS, RoundTask } from "./schemas.ts";
import { ConflictError, NotFoundError } from "./errors.ts";
import { type Ctx, SET_AGENT_STATE_LUA } from "./agents.ts";
import { defineScript } from "../redis/script.ts";
import { callScript, TASK_PRELUDE } from "./task_script.ts";
import { START_TASK_LUA } from "./task_end.ts";

/** States a round may start from (AgentLoop#runRound explains `working`). */
export const ROUND_FROM = ["idle", "starting", "working"] as const;

const BEGIN = defineScript(
  "beginRound",
  2,
  TASK_PRELUDE + SET_AGENT_STATE_LUA + START_TASK_LUA,
  `
-- KEYS: events, agent. ARGV: now, round number, event message, states it may start from (csv),
--   task key prefix, agent id, then the ids of the round's assigned tasks.
-- Refuses (nothing written) when the agent is not in one of the states; else returns the hashes
-- of the tasks that exist, after the ones assigned to the agent were started.
local _, err = set_agent_state(KEYS[2], 'working', 'agent_state_changed', ARGV[3], '', ARGV[4],
  '', '', {set={'round', ARGV[2], 'round_started_at', ARGV[1], 'last_active_at', ARGV[1]}})
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
-- What the prompt shows of each existing task (ROUND_TASK_FIELDS, id first: false when gone).
local tasks = {}
for i = 7, #ARGV do
  local v = redis.call('HMGET', ARGV[5] .. ARGV[i], ${
    ROUND_TASK_FIELDS.map((f) => `'${f}'`).join(", ")
  })
  if v[1] then tasks[#tasks + 1] = v end
end
if current then redis.call('HSET', KEYS[2], 'current_task', current) end
return cjson.encode({ok=true, tasks=tasks})
`,
);

/**
 * Starts round `round` of the agent with these messages: state working, round fields, and the
 * tasks of its task_assign messages started. Returns what the prompt shows of every task they
 * reference (as started). ConflictError when the agent is in none of the `from` states (paused,
 * closed meanwhile).
 */
export async function beginRound(
  t: Ctx,
  agentId: string,
  round: number,
  messages: Message[],
  from: readonly string[] = ROUND_FROM,
): Promise<Map<string, RoundTask>> {
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
  const tasks = new Map<string, RoundTask>();
  // An empty Lua table is encoded as {}, not []. A missing field is false.
  for (const values of Array.isArray(res.tasks) ? res.tasks : []) {
    const fields: Record<string, string> = {};
    ROUND_TASK_FIELDS.forEach((f, i) => {
      if (typeof values[i] === "string") fields[f] = values[i];
    });
    const task = RoundTask.safeParse(fields);
    if (task.success) tasks.set(task.data.id, task.data);
  }
  return tasks;
}
