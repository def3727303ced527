/**
 * The backlog: a FIFO list of pending task ids that any agent may claim. Every task in it is
 * `pending`; claiming removes the id and assigns the task in one script, so exactly one of
 * several racing claimers wins.
 */
import { type Agent, Task } from "./schemas.ts";
import { NotFoundError } from "./errors.ts";
import { agentLabel, type Ctx } from "./agents.ts";
import { buildMessage } from "./messages.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { defineScript } from "../redis/script.ts";
import {
  callScript,
  createTask,
  getTask,
  getTasks,
  type NewTask,
  oneLine,
  shortTaskId,
} from "./tasks.ts";
import { TASK_PRELUDE as PRELUDE } from "./task_script.ts";

/** A new pending task at the tail of the backlog. */
export async function addToBacklog(
  t: Ctx,
  input: Omit<NewTask, "state" | "result">,
): Promise<Task> {
  return await createTask(t, input, { kind: "backlog" });
}

/** Backlog tasks in claim order: LRANGE then one pipelined HGETALL. */
export async function listBacklog(t: Ctx): Promise<Task[]> {
  return await getTasks(t, await t.redis.lrange(t.keys.backlog, 0, -1));
}

function assignArgs(task: Task, agent: Agent, from: string) {
  const m = buildMessage({
    from,
    to: agent.id,
    type: "task_assign",
    task_id: task.id,
    body: task.description,
  });
  return {
    json: JSON.stringify(m),
    event: `task ${shortTaskId(task.id)} assigned to ${agentLabel(agent)} from the backlog: ${
      oneLine(task.description)
    }`,
  };
}

const notInBacklog = (id: string) =>
  new NotFoundError(`task ${shortTaskId(id)} is not in the backlog: 'tt backlog list' shows it`);
const noAgent = (agent: Agent) => new NotFoundError(`agent ${agent.name} no longer exists`);

const CLAIM = defineScript(
  "claimTask",
  3,
  PRELUDE,
  `
-- KEYS: events, backlog, task. ARGV: now, id, agent id, agent key, inbox, message json, event msg
-- Every check comes before the first write, so a refused claim changes nothing.
if redis.call('EXISTS', ARGV[4]) == 0 then return cjson.encode({error='no_agent'}) end
if not redis.call('LPOS', KEYS[2], ARGV[2]) then return cjson.encode({error='not_in_backlog'}) end
local state = redis.call('HGET', KEYS[3], 'state')
if state ~= 'pending' then return cjson.encode({error='state', state=state}) end
redis.call('LREM', KEYS[2], 0, ARGV[2])
assign_task(KEYS[3], ARGV[2], ARGV[3], ARGV[4], ARGV[5], '1', ARGV[6], ARGV[7], ARGV[1])
return cjson.encode({ok=true, task=hash_table(KEYS[3])})
`,
);

/** Takes a task out of the backlog and assigns it to `agent` (task_assign message included). */
export async function claimTask(
  t: Ctx,
  taskId: string,
  agent: Agent,
  from = SUPERVISOR_ID,
): Promise<Task> {
  const task = await getTask(t, taskId);
  if (!task) throw notInBacklog(taskId);
  const a = assignArgs(task, agent, from);
  const res = await callScript(t, CLAIM, [t.keys.events, t.keys.backlog, t.keys.task(taskId)], [
    new Date().toISOString(),
    taskId,
    agent.id,
    t.keys.agent(agent.id),
    t.keys.inbox(agent.id),
    a.json,
    a.event,
  ]);
  if (res.error === "no_agent") throw noAgent(agent);
  if (res.error === "not_in_backlog") throw notInBacklog(taskId);
  if (res.error) {
    throw new NotFoundError(
      `task ${shortTaskId(taskId)} is ${res.state ?? "gone"}, not pending: it cannot be claimed`,
    );
  }
  return Task.parse(res.task);
}

const ASSIGN_ALL = defineScript(
  "assignBacklog",
  2,
  PRELUDE,
  `
-- KEYS: events, backlog. ARGV: now, agent id, agent key, inbox, then per task:
-- id, task key, message json, event message. Tasks claimed meanwhile are skipped.
if redis.call('EXISTS', ARGV[3]) == 0 then return cjson.encode({error='no_agent'}) end
local assigned = {}
for i = 5, #ARGV, 4 do
  local id, key = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', key, 'state') == 'pending' and redis.call('LREM', KEYS[2], 0, id) > 0 then
    assign_task(key, id, ARGV[2], ARGV[3], ARGV[4], '1', ARGV[i + 2], ARGV[i + 3], ARGV[1])
    assigned[#assigned + 1] = id
  end
end
return cjson.encode({ok=true, assigned=assigned})
`,
);

/** Assigns every backlog task, in order, to `agent`; returns the tasks it got. */
export async function assignAll(t: Ctx, agent: Agent, from = SUPERVISOR_ID): Promise<Task[]> {
  const tasks = await listBacklog(t);
  const args = tasks.flatMap((task) => {
    const a = assignArgs(task, agent, from);
    return [task.id, t.keys.task(task.id), a.json, a.event];
  });
  const res = await callScript(t, ASSIGN_ALL, [t.keys.events, t.keys.backlog], [
    new Date().toISOString(),
    agent.id,
    t.keys.agent(agent.id),
    t.keys.inbox(agent.id),
    ...args,
  ]);
  if (res.error === "no_agent") throw noAgent(agent);
  // cjson encodes an empty table as {}.
  const ids: string[] = Array.isArray(res.assigned) ? res.assigned : [];
  return await getTasks(t, ids);
}

const REMOVE = defineScript(
  "removeFromBacklog",
  5,
  PRELUDE,
  `
-- KEYS: events, backlog, task, tasks index, plan. ARGV: now, id, event message
if redis.call('EXISTS', KEYS[3]) == 0 or not redis.call('LPOS', KEYS[2], ARGV[2]) then
  return cjson.encode({error='not_in_backlog'})
end
redis.call('LREM', KEYS[2], 0, ARGV[2])
local task = hash_table(KEYS[3])
if task.plan_id and redis.call('HGET', KEYS[5], task.plan_id) == ARGV[2] then
  redis.call('HDEL', KEYS[5], task.plan_id)
end
local before = task_marks(KEYS[3])
redis.call('DEL', KEYS[3])
task_reindex(KEYS[3], ARGV[2], before)
redis.call('ZREM', KEYS[4], ARGV[2])
emit({type='task_removed', task_id=ARGV[2], old_state=task.state, message=ARGV[3]})
return cjson.encode({ok=true, task=task})
`,
);

/** Deletes a backlog task entirely (list entry, hash, index, plan mapping). */
export async function removeFromBacklog(t: Ctx, taskId: string): Promise<Task> {
  const res = await callScript(
    t,
    REMOVE,
    [t.keys.events, t.keys.backlog, t.keys.task(taskId), t.keys.tasks, t.keys.plan],
    [new Date().toISOString(), taskId, `task ${shortTaskId(taskId)} removed from the backlog`],
  );
  if (res.error) throw notInBacklog(taskId);
  return Task.parse(res.task);
}
