/**
 * The reliable hand-off of messages to an agent's round. A round *takes* its messages by moving
 * them (urgent first, then the inbox) into `processing:<agent>` in one script; they leave that
 * list only when the round ends: acknowledged, parked as notes, or put back at the head of the
 * inbox in their original order. A crash in between leaves them in `processing`, from where
 * recovery puts them back.
 */
import { type Message } from "./schemas.ts";
import { parseMessage, PLAIN_JSON_LUA } from "./messages.ts";
import { defineScript, LUA_EMIT, runScript } from "../redis/script.ts";
import { type Ctx, SET_AGENT_STATE_LUA } from "./agents.ts";

/** Most messages one round takes; the rest wait for the next round. */
export const MAX_ROUND_MESSAGES = 50;

/**
 * Lua (after LUA_EMIT): `drop_stale(processing, task key prefix, agent id[, entries])` removes
 * from the round the task assignments that are no longer the agent's work (see
 * dropStaleAssignments), each with an event; returns the ids of the messages it removed, and the
 * entries it kept (what processing holds after it, in order). `entries`: what processing holds,
 * when the caller knows (else it is read).
 *
 * `assignment_of(raw)` reads a message's id and type and task_id without decoding it when it is
 * in the form tt writes ("id" first, see PLAIN_JSON_LUA), and decodes it otherwise: a cjson.decode
 * per message was 2% of a task's Redis work in the throughput bench. A key found twice, an
 * escape or a nested object sends the message to the decoder, so both read the same.
 */
export const DROP_STALE_LUA = PLAIN_JSON_LUA + `
-- {id, task_id} of a task assignment read by plain search, false for another type, nil when the
-- message is not in tt's own form (the decoder reads it then).
local function plain_assignment(raw)
  if string.sub(raw, 1, 7) ~= '{"id":"' or string.find(raw, '{', 2, true) then return nil end
  local id, q = plain_value(raw, '{"id":"', 1)
  if not id or string.find(raw, ',"id":"', q, true) then return nil end
  local kind = plain_value(raw, ',"type":"', q)
  if not kind then return nil end
  if kind ~= 'task_assign' then return false end
  local task = plain_value(raw, ',"task_id":"', q)
  if not task then return nil end
  return {id=id, task_id=task}
end
local function assignment_of(raw)
  local m = plain_assignment(raw)
  if m ~= nil then return m or nil end
  local ok, d = pcall(cjson.decode, raw)
  if ok and type(d) == 'table' and d.type == 'task_assign' and type(d.task_id) == 'string' then
    return d
  end
  return nil
end
local function drop_stale(processing, prefix, agent_id, entries)
  local dropped, kept = {}, {}
  for _, raw in ipairs(entries or redis.call('LRANGE', processing, '0', '-1')) do
    local m = assignment_of(raw)
    local stale = false
    if m then
      local v = redis.call('HMGET', prefix .. m.task_id, 'state', 'assigned_to')
      local state = v[1]
      if not state or state == 'completed' or state == 'failed' or state == 'cancelled'
          or v[2] ~= agent_id then
        stale = true
        redis.call('LREM', processing, '1', raw)
        dropped[#dropped + 1] = m.id
        local why = state and ('is ' .. state) or 'no longer exists'
        if state and not (state == 'completed' or state == 'failed' or state == 'cancelled') then
          why = 'is no longer assigned to this agent'
        end
        emit({type='assignment_dropped', agent_id=agent_id, task_id=m.task_id,
          reason=state or 'missing',
          message='task ' .. string.sub(m.task_id, 1, 8) .. ' ' .. why .. ': its assignment is not run again'})
      end
    end
    if not stale then kept[#kept + 1] = raw end
  end
  return dropped, kept
end
`;

const TAKE = defineScript(
  "takeRound",
  6,
  LUA_EMIT + DROP_STALE_LUA,
  `
-- KEYS: events, urgent, inbox, processing, agent, backlog. ARGV: now, max messages, task key
-- prefix ('' = keep stale assignments), agent id. Returns {backlog length, processing}.
-- It never touches the wake list: a token there may be a kill's or a close's (pushed after the
-- loop read the agent's state), and dropping it would leave the loop blocked for ever.
local before = redis.call('LLEN', KEYS[4])
local n, max = before, tonumber(ARGV[2])
-- The heads of urgent, then the inbox, move together (a range, a trim, a push: not an LMOVE
-- per message); "moved" is what processing holds when it held nothing before.
local moved = {}
for _, src in ipairs({KEYS[2], KEYS[3]}) do
  if n < max then
    local head = redis.call('LRANGE', src, '0', tostring(max - n - 1))
    if #head > 0 then
      redis.call('LTRIM', src, tostring(#head), '-1')
      redis.call('RPUSH', KEYS[4], unpack(head))
      for _, m in ipairs(head) do moved[#moved + 1] = m end
      n = n + #head
    end
  end
end
-- What processing holds now: drop_stale's list of what it kept (the same entries, read once).
local kept
if ARGV[3] ~= '' then kept = select(2, drop_stale(KEYS[4], ARGV[3], ARGV[4], before == 0 and moved))
elseif before == 0 then kept = moved
else kept = redis.call('LRANGE', KEYS[4], '0', '-1') end
return {redis.call('LLEN', KEYS[6]), kept}
`,
);

export interface TakenRound {
  messages: Message[];
  /** Raw entries that are not valid messages; they are dropped from processing with an event. */
  unreadable: string[];
  /**
   * Tasks in the backlog when the round was taken. 0 means an idle agent has nothing to claim:
   * backlog work added later wakes the idle agents (supervisor/daemon.ts), so they look then.
   */
  backlog: number;
}

/**
 * Moves up to MAX_ROUND_MESSAGES (urgent first) into processing and returns all of processing;
 * with `dropStale`, in the same script, without the assignments dropStaleAssignments drops.
 */
export async function takeRound(
  t: Ctx,
  agentId: string,
  opts: { dropStale?: boolean } = {},
): Promise<TakenRound> {
  const [backlog, raw] = (await runScript(t.redis, TAKE, [
    t.keys.events,
    t.keys.urgent(agentId),
    t.keys.inbox(agentId),
    t.keys.processing(agentId),
    t.keys.agent(agentId),
    t.keys.backlog,
  ], [
    new Date().toISOString(),
    MAX_ROUND_MESSAGES,
    opts.dropStale ? t.keys.task("") : "",
    agentId,
  ])) as [number, string[]];
  const messages: Message[] = [];
  const unreadable: string[] = [];
  for (const r of raw) {
    const m = parseMessage(r);
    if (m) messages.push(m);
    else unreadable.push(r);
  }
  return { messages, unreadable, backlog };
}

const DROP_STALE = defineScript(
  "dropStaleAssignments",
  2,
  LUA_EMIT + DROP_STALE_LUA,
  `
-- KEYS: events, processing. ARGV: now, task key prefix, agent id
local dropped = drop_stale(KEYS[2], ARGV[2], ARGV[3])
if #dropped == 0 then return '[]' end
return cjson.encode(dropped)
`,
);

/**
 * Removes from the round just taken the task assignments that are no longer this agent's work:
 * the task has ended, vanished, or been handed to someone else. That happens when a round
 * completes its task and is then cut off before it ends (supervisor killed, Redis restarted,
 * CLI killed after `tt task complete`): its messages go back to the inbox, but running them
 * again could only fail (`tt task complete` refuses an ended task), and a failed round puts them
 * back again, forever, holding up the agent's other work. Returns the messages that remain.
 */
export async function dropStaleAssignments(
  t: Ctx,
  agentId: string,
  messages: Message[],
): Promise<Message[]> {
  if (!messages.some((m) => m.type === "task_assign" && m.task_id)) return messages;
  const dropped = new Set(
    JSON.parse(
      String(
        await runScript(t.redis, DROP_STALE, [t.keys.events, t.keys.processing(agentId)], [
          new Date().toISOString(),
          t.keys.task(""),
          agentId,
        ]),
      ),
    ) as string[],
  );
  return dropped.size ? messages.filter((m) => !dropped.has(m.id)) : messages;
}

const END = defineScript(
  "endRound",
  8,
  LUA_EMIT + SET_AGENT_STATE_LUA,
  `
-- KEYS: events, processing, inbox, agent, notes, wake, urgent, backlog. Returns {messages put
-- back (-1: not ended, see ARGV[9]), messages then waiting in inbox and urgent, backlog length}
-- ARGV: now, outcome (ok|failed|parked|cutoff), event type, message, reason, ids to requeue (json list; ignored
--       for failed/cutoff, which requeue everything), count the round (1|0), message of the
--       agent's move from working to idle after the round ('' = it stays as it is), task key
--       prefix ('' = no condition), agent id, then task ids: the round ends only if none of
--       these tasks is still open and the agent's, or waits for its check (else -1, no write)
if ARGV[9] ~= '' then
  for i = 11, #ARGV do
    local v = redis.call('HMGET', ARGV[9] .. ARGV[i], 'state', 'assigned_to', 'verify',
      'claimed_result')
    if v[1] and v[1] ~= 'completed' and v[1] ~= 'failed' and v[1] ~= 'cancelled'
        and (v[2] == ARGV[10] or (v[3] and v[3] ~= '' and v[4])) then
      return {-1, 0, 0}
    end
  end
end
local outcome = ARGV[2]
local keep, keeps = {}, false
for _, id in ipairs(cjson.decode(ARGV[6])) do keep[id] = true; keeps = true end
-- A clean round that keeps nothing acknowledges everything: no entry needs reading.
local items = {}
if outcome ~= 'ok' or keeps then items = redis.call('LRANGE', KEYS[2], '0', '-1') end
local back = {}
for _, raw in ipairs(items) do
  local requeue = outcome == 'failed' or outcome == 'cutoff'
  if not requeue and outcome == 'ok' and keeps then
    local ok, m = pcall(cjson.decode, raw)
    requeue = ok and type(m) == 'table' and keep[m.id] == true
  end
  if requeue then back[#back + 1] = raw
  elseif outcome == 'parked' then redis.call('RPUSH', KEYS[5], raw) end
end
for i = #back, 1, -1 do redis.call('LPUSH', KEYS[3], back[i]) end
redis.call('DEL', KEYS[2])
if outcome == 'parked' then redis.call('LTRIM', KEYS[5], '-50', '-1') end
if outcome == 'ok' then redis.call('DEL', KEYS[5]) end
if #back > 0 then redis.call('LPUSH', KEYS[6], '1'); redis.call('LTRIM', KEYS[6], '0', '0') end
-- The agent (gone, or a hash without an id, is no agent): the round's fields, then back to idle
-- when asked, in the state change's own HSET and HDEL; or alone when it is no longer working.
local agent_id = redis.call('HGET', KEYS[4], 'id')
if agent_id and ARGV[7] == '1' then redis.call('HINCRBY', KEYS[4], 'rounds_completed', '1') end
local ev = {type=ARGV[3], agent_id=agent_id, message=ARGV[4]}
if ARGV[5] ~= '' then ev.reason = ARGV[5] end
emit(ev)
if agent_id then
  local more, moved = {set={}, del={'round_started_at', 'round_pgid'}}, false
  if ARGV[8] ~= '' then
    more.set = {'last_active_at', ARGV[1]}
    local _, err = set_agent_state(KEYS[4], 'idle', 'agent_state_changed', ARGV[8], '',
      'working', '', '', more)
    moved = not err
  end
  if not moved then
    redis.call('HSET', KEYS[4], 'last_heartbeat', ARGV[1], unpack(more.set))
    redis.call('HDEL', KEYS[4], unpack(more.del))
  end
end
return {#back, redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[7]), redis.call('LLEN', KEYS[8])}
`,
);

export type RoundOutcome =
  /** Clean exit: acknowledge, except `requeue` (tasks the round did not finish). */
  | { kind: "ok"; requeue?: string[] }
  /** Non-zero exit, timeout or crash: everything goes back, in order. */
  | { kind: "failed"; reason: string }
  /** Only informational messages: kept as notes for the next round; no CLI ran. */
  | { kind: "parked" }
  /** The round was cut off (kill, supervisor restart): everything goes back, not counted. */
  | { kind: "cutoff"; reason: string };

/** What endRoundAndLook found. */
export interface RoundEnd {
  /** Messages put back in the inbox; -1 when the round was not ended (`ifReported`). */
  back: number;
  /** Messages waiting in the inbox and urgent list once the round ended. */
  queued: number;
  /** Tasks in the backlog then. */
  backlog: number;
}

/**
 * Ends the agent's round; returns how many messages went back to the inbox. With `idle` (the
 * event's message), the same script then moves the agent from working to idle and records its
 * last activity (AgentLoop#roundOver; nothing happens if it is no longer working).
 */
export async function endRound(
  t: Ctx,
  agentId: string,
  outcome: RoundOutcome,
  message: string,
  opts: EndOptions = {},
): Promise<number> {
  return (await endRoundAndLook(t, agentId, outcome, message, opts)).back;
}

export interface EndOptions {
  idle?: string;
  /**
   * End the round only if none of these tasks is open and the agent's, or has a report
   * waiting for its check (endCleanRound's common case, without reading the tasks first);
   * else nothing is written and endRound returns -1.
   */
  ifReported?: string[];
}

/**
 * endRound, also saying what waits for the agent once the round ended (its mailbox, the
 * backlog): an agent back to idle with nothing waiting may block on its wake list at once
 * (anything sent later pushes a wake token).
 */
export async function endRoundAndLook(
  t: Ctx,
  agentId: string,
  outcome: RoundOutcome,
  message: string,
  opts: EndOptions = {},
): Promise<RoundEnd> {
  const eventType = {
    ok: "round_completed",
    failed: "round_failed",
    parked: "messages_noted",
    cutoff: "round_interrupted",
  }[outcome.kind];
  const reason = outcome.kind === "failed" || outcome.kind === "cutoff" ? outcome.reason : "";
  const requeue = outcome.kind === "ok" ? outcome.requeue ?? [] : [];
  const [back, queued, backlog] = (await runScript(t.redis, END, [
    t.keys.events,
    t.keys.processing(agentId),
    t.keys.inbox(agentId),
    t.keys.agent(agentId),
    t.keys.notes(agentId),
    t.keys.wake(agentId),
    t.keys.urgent(agentId),
    t.keys.backlog,
  ], [
    new Date().toISOString(),
    outcome.kind,
    eventType,
    message,
    reason,
    JSON.stringify(requeue),
    outcome.kind === "ok" || outcome.kind === "failed" ? "1" : "0",
    opts.idle ?? "",
    opts.ifReported ? t.keys.task("") : "",
    agentId,
    ...opts.ifReported ?? [],
  ])) as number[];
  return { back, queued, backlog };
}

/** Informational messages parked since the agent's last round (shown in its next prompt). */
export async function notesOf(t: Ctx, agentId: string): Promise<Message[]> {
  const raw = await t.redis.lrange(t.keys.notes(agentId), 0, -1);
  return raw.map(parseMessage).filter((m): m is Message => !!m);
}
