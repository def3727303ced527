/**
 * Reclaiming the work of dead (stopped/error) agents: their messages move to another agent or
 * to the backlog in one script per agent; nothing is ever dropped (messages that are not work go
 * to the conductor's inbox). Orphan tasks (assigned to a missing or dead agent, with no message
 * left anywhere) are listed, requeued, cancelled or deleted.
 */
import { type Agent, isTerminalAgent, isTerminalTask, type Message, type Task } from "./schemas.ts";
import { agentLabel, type Ctx, listAgents } from "./agents.ts";
import { parseMessage } from "./messages.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { defineScript, LUA_EMIT, runScript } from "../redis/script.ts";
import { cancelTask, requeueTaskToBacklog } from "./tasks.ts";
import { listTasksIn } from "./counters.ts";
import { ConflictError, UsageError } from "./errors.ts";
import { deleteTask, TASK_INDEX_LUA } from "./task_index.ts";

export interface ReclaimOptions {
  /** Move messages to this (live) agent. */
  to?: Agent;
  /** Task messages become backlog tasks. */
  toBacklog?: boolean;
  /** Only this dead agent. */
  from?: Agent;
}

export interface ReclaimedAgent {
  agent: Agent;
  messages: Message[];
}

export interface ReclaimResult {
  destination: "listed" | "backlog" | string;
  agents: ReclaimedAgent[];
  moved: number;
}

const MOVE = defineScript(
  "reclaimMessages",
  4,
  LUA_EMIT + TASK_INDEX_LUA,
  `
-- KEYS: events, backlog, tasks index, conductor inbox.
-- ARGV: now, key prefix, dead agent id, mode (agent|backlog), target agent id ('' for backlog),
--       json list of fresh task ids for plain task messages, now in ms, event message
local prefix, dead, mode, target = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local fresh = cjson.decode(ARGV[6])
local used = 0
local target_inbox = prefix .. 'inbox:' .. target
if mode == 'agent' and redis.call('EXISTS', prefix .. 'agent:' .. target) == 0 then
  return cjson.encode({error='no_target'})
end
local moved = 0
for _, kind in ipairs({'processing:', 'urgent:', 'inbox:'}) do
  local list = prefix .. kind .. dead
  while true do
    local raw = redis.call('LPOP', list)
    if not raw then break end
    local ok, m = pcall(cjson.decode, raw)
    if not ok or type(m) ~= 'table' then
      redis.call('RPUSH', KEYS[4], raw)
    elseif mode == 'agent' then
      m.to = target
      redis.call('RPUSH', target_inbox, cjson.encode(m))
      if m.type == 'task_assign' and m.task_id then
        local tk = prefix .. 'task:' .. m.task_id
        local st = redis.call('HGET', tk, 'state')
        if st == 'assigned' or st == 'running' then
          local before = task_marks(tk)
          redis.call('HSET', tk, 'state', 'assigned', 'assigned_to', target, 'updated_at', ARGV[1])
          redis.call('HDEL', tk, 'started_at')
          task_reindex(tk, m.task_id, before)
        end
      end
    elseif m.type == 'task_assign' and m.task_id then
      local tk = prefix .. 'task:' .. m.task_id
      local st = redis.call('HGET', tk, 'state')
      if st == 'assigned' or st == 'running' or st == 'pending' then
        local before = task_marks(tk)
        redis.call('HSET', tk, 'state', 'pending', 'updated_at', ARGV[1])
        redis.call('HDEL', tk, 'assigned_to', 'started_at')
        task_reindex(tk, m.task_id, before)
        redis.call('LREM', KEYS[2], 0, m.task_id)
        redis.call('RPUSH', KEYS[2], m.task_id)
      end
    elseif m.type == 'task' and used < #fresh then
      used = used + 1
      local id = fresh[used]
      redis.call('HSET', prefix .. 'task:' .. id, 'id', id, 'description', m.body or '', 'state', 'pending',
        'created_at', ARGV[1], 'updated_at', ARGV[1], 'tags', '[]', 'created_by', m.from or '')
      redis.call('ZADD', KEYS[3], tonumber(ARGV[7]), id)
      task_reindex(prefix .. 'task:' .. id, id, {state=false, agent=''})
      redis.call('RPUSH', KEYS[2], id)
    else
      redis.call('RPUSH', KEYS[4], raw)
    end
    moved = moved + 1
  end
end
if mode == 'agent' and moved > 0 then
  redis.call('LPUSH', prefix .. 'wake:' .. target, '1')
  redis.call('LTRIM', prefix .. 'wake:' .. target, 0, 0)
end
emit({type='work_reclaimed', agent_id=dead, message=ARGV[8] .. ' (' .. moved .. ' message(s))'})
return cjson.encode({ok=true, moved=moved})
`,
);

/** Lists (no destination) or moves the queued work of dead agents. */
export async function reclaimWork(t: Ctx, opts: ReclaimOptions): Promise<ReclaimResult> {
  if (opts.to && opts.toBacklog) {
    throw new UsageError("choose one destination: --to or --to-backlog");
  }
  if (opts.to && isTerminalAgent(opts.to.state)) {
    throw new ConflictError(`${opts.to.name} is ${opts.to.state}: reclaim to a live agent`);
  }
  if (opts.from && !isTerminalAgent(opts.from.state)) {
    throw new ConflictError(
      `${opts.from.name} is ${opts.from.state}, not dead: 'tt kill' it first`,
    );
  }
  const dead = opts.from
    ? [opts.from]
    : (await listAgents(t)).filter((a) => isTerminalAgent(a.state));
  const agents: ReclaimedAgent[] = [];
  let moved = 0;
  for (const a of dead) {
    const r = await moveAgentWork(t, a, opts.to ? opts.to : opts.toBacklog ? "backlog" : "list");
    if (!r) continue;
    agents.push({ agent: a, messages: r.messages });
    moved += r.moved;
  }
  return {
    destination: opts.to ? opts.to.name : opts.toBacklog ? "backlog" : "listed",
    agents,
    moved,
  };
}

/**
 * Moves one agent's queued and in-flight messages (processing, urgent, inbox) to `to` (a live
 * agent) or the backlog, in one script; "list" only reads them. Undefined when it has none. The
 * caller decides whether the agent may lose its work (reclaimWork: dead agents; hosts.ts: agents
 * of a lost host).
 */
export async function moveAgentWork(
  t: Ctx,
  a: Agent,
  to: Agent | "backlog" | "list",
  why = `work of ${agentLabel(a)} reclaimed to ${
    to === "backlog" || to === "list" ? "the backlog" : agentLabel(to)
  }`,
): Promise<{ messages: Message[]; moved: number } | undefined> {
  const raw = [
    ...await t.redis.lrange(t.keys.processing(a.id), 0, -1),
    ...await t.redis.lrange(t.keys.urgent(a.id), 0, -1),
    ...await t.redis.lrange(t.keys.inbox(a.id), 0, -1),
  ];
  if (!raw.length) return undefined;
  const messages = raw.map(parseMessage).filter((m): m is Message => !!m);
  if (to === "list") return { messages, moved: 0 };
  const target = to === "backlog" ? undefined : to;
  const fresh = messages.filter((m) => m.type === "task").map(() => crypto.randomUUID());
  const res = JSON.parse(String(
    await runScript(t.redis, MOVE, [
      t.keys.events,
      t.keys.backlog,
      t.keys.tasks,
      t.keys.inbox(SUPERVISOR_ID),
    ], [
      new Date().toISOString(),
      t.keys.prefix,
      a.id,
      target ? "agent" : "backlog",
      target?.id ?? "",
      JSON.stringify(fresh),
      Date.now(),
      why,
    ]),
  ));
  if (res.error === "no_target") throw new ConflictError(`${target!.name} no longer exists`);
  return { messages, moved: res.moved };
}

export interface Orphan {
  task: Task;
  reason: "agent_missing" | "agent_terminal";
}

/** Non-terminal tasks assigned to an agent that is gone or dead. */
export async function findOrphanTasks(t: Ctx): Promise<Orphan[]> {
  const agents = new Map((await listAgents(t)).map((a) => [a.id, a]));
  const out: Orphan[] = [];
  for (const task of await listTasksIn(t, ["pending", "assigned", "running"])) {
    if (isTerminalTask(task.state) || !task.assigned_to || task.assigned_to === SUPERVISOR_ID) {
      continue;
    }
    const a = agents.get(task.assigned_to);
    if (!a) out.push({ task, reason: "agent_missing" });
    else if (isTerminalAgent(a.state)) out.push({ task, reason: "agent_terminal" });
  }
  return out;
}

export type OrphanAction = "list" | "backlog" | "cancel" | "delete";

export async function reclaimOrphanTasks(t: Ctx, action: OrphanAction): Promise<Orphan[]> {
  const orphans = await findOrphanTasks(t);
  for (const o of orphans) {
    const why = o.reason === "agent_missing" ? "assignee no longer exists" : "assignee is stopped";
    if (action === "backlog") await requeueTaskToBacklog(t, o.task.id, `orphaned: ${why}`);
    else if (action === "cancel") await cancelTask(t, o.task.id, { result: `Cancelled: ${why}` });
    else if (action === "delete") await deleteTask(t, o.task.id, `orphaned task deleted: ${why}`);
  }
  return orphans;
}
