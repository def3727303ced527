/**
 * The missions' atomic operations, one named Lua script each (header: every KEYS[i]/ARGV[i]).
 * Options travel as one JSON argument. A script given a dispatcher token acts only while that
 * token holds the dispatcher lease (the fencing check), so a paused or partitioned dispatcher
 * whose lease passed to another cannot act twice.
 */
import { defineScript } from "../../redis/script.ts";
import { TASK_PRELUDE } from "../task_script.ts";

/** Shared: the lease check, and removing a mission's help requests from the conductor inbox. */
const MISSION_LUA = `
local function lease_ok(lock_key, token)
  if token == nil or token == '' then return true end
  return redis.call('GET', lock_key) == token
end
local function retire_help(inbox, marker)
  local n = 0
  for _, m in ipairs(redis.call('LRANGE', inbox, 0, -1)) do
    if string.find(m, marker, 1, true) then
      n = n + redis.call('LREM', inbox, 1, m)
    end
  end
  return n
end
local function mission_event(o, ev)
  ev.mission_id = o.mission
  if o.cause and o.cause ~= '' then ev.cause = o.cause end
  emit(ev)
end
-- Status indexes in the items hash ('#' starts no item id): '#n:<status>' counts the items in
-- that status, '#in:<status>' lists them (" a b c "), '#total' counts all. The dispatcher reads
-- every status in a few fields instead of the whole hash, and no step walks the graph to count
-- (max_parallel, all done). A hash written before them ('#counted' missing) gets them on its
-- first change.
local function ensure_counts(mission_key, items_key)
  if redis.call('HEXISTS', items_key, '#counted') == 1 then return end
  local counts, lists, total = {}, {}, 0
  for _, it in ipairs(cjson.decode(redis.call('HGET', mission_key, 'items') or '[]')) do
    total = total + 1
    local st = redis.call('HGET', items_key, it.id)
    if st then
      counts[st] = (counts[st] or 0) + 1
      lists[st] = (lists[st] or ' ') .. it.id .. ' '
    end
  end
  for st, n in pairs(counts) do
    redis.call('HSET', items_key, '#n:' .. st, n, '#in:' .. st, lists[st])
  end
  redis.call('HSET', items_key, '#total', total, '#counted', 1)
end
local function count_of(items_key, status)
  return tonumber(redis.call('HGET', items_key, '#n:' .. status) or '0')
end
-- The one way an item's status changes: the indexes follow. Returns the old status.
local function set_status(items_key, id, new)
  local old = redis.call('HGET', items_key, id)
  if old ~= new then
    if old then
      redis.call('HINCRBY', items_key, '#n:' .. old, -1)
      local list = redis.call('HGET', items_key, '#in:' .. old) or ' '
      local at = string.find(list, ' ' .. id .. ' ', 1, true)
      if at then
        redis.call('HSET', items_key, '#in:' .. old, string.sub(list, 1, at) .. string.sub(list, at + #id + 2))
      end
    end
    redis.call('HINCRBY', items_key, '#n:' .. new, 1)
    local list = redis.call('HGET', items_key, '#in:' .. new) or ' '
    redis.call('HSET', items_key, id, new, '#in:' .. new, list .. id .. ' ')
  end
  return old
end
`;

const PRELUDE = TASK_PRELUDE + MISSION_LUA;

export const CREATE_MISSION = defineScript(
  "createMission",
  5,
  PRELUDE,
  `
-- Creates a mission and all its items (status pending) in one step.
-- KEYS[1] events, KEYS[2] missions zset, KEYS[3] active set, KEYS[4] mission hash,
-- KEYS[5] items hash.
-- ARGV[1] now (ISO), ARGV[2] JSON {mission, score, fields: [k, v, …], items: [id…], message}
local o = cjson.decode(ARGV[2])
if redis.call('EXISTS', KEYS[4]) == 1 then return cjson.encode({error='exists'}) end
redis.call('HSET', KEYS[4], unpack(o.fields))
for _, id in ipairs(o.items) do
  redis.call('HSET', KEYS[5], id, 'pending')
end
redis.call('HSET', KEYS[5], '#n:pending', #o.items, '#in:pending', ' ' .. table.concat(o.items, ' ') .. ' ',
  '#total', #o.items, '#counted', 1)
redis.call('ZADD', KEYS[2], o.score, o.mission)
redis.call('SADD', KEYS[3], o.mission)
mission_event(o, {type='mission_started', new_state='running', message=o.message})
return cjson.encode({ok=true})
`,
);

export const SET_MISSION_STATE = defineScript(
  "setMissionState",
  6,
  PRELUDE,
  `
-- Moves a mission between states (pause, resume, block, stop, complete).
-- KEYS[1] events, KEYS[2] dispatcher lock, KEYS[3] mission hash, KEYS[4] active set,
-- KEYS[5] items hash, KEYS[6] conductor inbox.
-- ARGV[1] now, ARGV[2] JSON {mission, token, from: [states], to, reason ('' clears), active
--   (keep in the active set), event, message, cause, retire_help (marker or ''),
--   all_done (require every item done), reset_failed (failed items become ready), actor}
local o = cjson.decode(ARGV[2])
if not lease_ok(KEYS[2], o.token) then return cjson.encode({error='stale'}) end
local state = redis.call('HGET', KEYS[3], 'state')
if not state then return cjson.encode({error='not_found'}) end
local allowed = false
for _, s in ipairs(o.from) do if s == state then allowed = true end end
if not allowed then return cjson.encode({error='state', state=state}) end
ensure_counts(KEYS[3], KEYS[5])
if o.all_done and count_of(KEYS[5], 'done') < tonumber(redis.call('HGET', KEYS[5], '#total')) then
  return cjson.encode({error='not_done'})
end
if o.reset_failed and count_of(KEYS[5], 'failed') > 0 then
  for _, it in ipairs(cjson.decode(redis.call('HGET', KEYS[3], 'items'))) do
    if redis.call('HGET', KEYS[5], it.id) == 'failed' then
      set_status(KEYS[5], it.id, 'ready')
      redis.call('HDEL', KEYS[5], it.id .. ':agent')
    end
  end
end
redis.call('HSET', KEYS[3], 'state', o.to, 'updated_at', ARGV[1])
if o.reason == '' then redis.call('HDEL', KEYS[3], 'reason')
else redis.call('HSET', KEYS[3], 'reason', o.reason) end
if o.active then redis.call('SADD', KEYS[4], o.mission) else redis.call('SREM', KEYS[4], o.mission) end
local retired = 0
if o.retire_help ~= '' then
  retired = retire_help(KEYS[6], o.retire_help)
  redis.call('HDEL', KEYS[3], 'help_reason', 'help_at')
  redis.call('HSET', KEYS[3], 'help_attempts', 0)
end
local ev = {type=o.event, old_state=state, new_state=o.to, message=o.message}
if o.actor and o.actor ~= '' then ev.actor = o.actor end
if o.reason ~= '' then ev.reason = o.reason end
mission_event(o, ev)
return cjson.encode({ok=true, old=state, retired=retired})
`,
);

export const SET_ITEM = defineScript(
  "setMissionItem",
  5,
  PRELUDE,
  `
-- One work item's transition, only from the expected status (and bound task).
-- KEYS[1] events, KEYS[2] dispatcher lock, KEYS[3] mission hash, KEYS[4] items hash,
-- KEYS[5] the bound task's hash (or any key when no task is checked).
-- ARGV[1] now, ARGV[2] JSON {mission, item, token, from: [statuses], task (required bound task
--   or ''), task_state (required state of that task or ''), to, set: {field: value},
--   del: [fields], event: {type, message, …}, cause, running (mission must be running)}
local o = cjson.decode(ARGV[2])
if not lease_ok(KEYS[2], o.token) then return cjson.encode({error='stale'}) end
if o.running and redis.call('HGET', KEYS[3], 'state') ~= 'running' then
  return cjson.encode({error='mission_state'})
end
local status = redis.call('HGET', KEYS[4], o.item)
if not status or string.sub(o.item, 1, 1) == '#' then return cjson.encode({error='not_found'}) end
local allowed = false
for _, s in ipairs(o.from) do if s == status then allowed = true end end
if not allowed then return cjson.encode({error='status', status=status}) end
if o.task ~= '' then
  local bound = redis.call('HGET', KEYS[4], o.item .. ':task')
  local review = redis.call('HGET', KEYS[4], o.item .. ':review')
  if bound ~= o.task and review ~= o.task then return cjson.encode({error='task'}) end
  if o.task_state ~= '' and redis.call('HGET', KEYS[5], 'state') ~= o.task_state then
    return cjson.encode({error='task_state'})
  end
end
ensure_counts(KEYS[3], KEYS[4])
set_status(KEYS[4], o.item, o.to)
for k, v in pairs(o.set) do redis.call('HSET', KEYS[4], k, v) end
for _, k in ipairs(o.del) do redis.call('HDEL', KEYS[4], k) end
redis.call('HSET', KEYS[3], 'updated_at', ARGV[1])
local ev = o.event
ev.item_id = o.item
ev.old_state = status
ev.new_state = o.to
mission_event(o, ev)
return cjson.encode({ok=true, old=status})
`,
);

export const PROMOTE = defineScript(
  "promoteMissionItems",
  4,
  PRELUDE,
  `
-- pending → ready for each listed item whose dependencies are all done.
-- KEYS[1] events, KEYS[2] dispatcher lock, KEYS[3] mission hash, KEYS[4] items hash.
-- ARGV[1] now, ARGV[2] JSON {mission, token, cause, items: [{id, deps: [ids]}]}
local o = cjson.decode(ARGV[2])
if not lease_ok(KEYS[2], o.token) then return cjson.encode({error='stale'}) end
ensure_counts(KEYS[3], KEYS[4])
local promoted = {}
for _, it in ipairs(o.items) do
  local ok = redis.call('HGET', KEYS[4], it.id) == 'pending'
  for _, d in ipairs(it.deps) do
    if redis.call('HGET', KEYS[4], d) ~= 'done' then ok = false end
  end
  if ok then
    set_status(KEYS[4], it.id, 'ready')
    promoted[#promoted + 1] = it.id
    mission_event(o, {type='mission_item_ready', item_id=it.id, old_state='pending', actor='dispatcher',
      new_state='ready', message='item ' .. it.id .. ' is ready (its dependencies are done)'})
  end
end
if #promoted > 0 then redis.call('HSET', KEYS[3], 'updated_at', ARGV[1]) end
return cjson.encode({ok=true, n=#promoted, ids=table.concat(promoted, ',')})
`,
);

export const ASSIGN_ITEM = defineScript(
  "assignMissionItem",
  9,
  PRELUDE,
  `
-- Creates the task of a work item (role work: the item must be ready and a slot free under
-- max_parallel) or of its review (role review: the item must be in review without a review
-- task), assigns it to the agent with its task_assign message, binds it to the item. One step.
-- KEYS[1] events, KEYS[2] dispatcher lock, KEYS[3] mission hash, KEYS[4] items hash,
-- KEYS[5] tasks index, KEYS[6] new task hash, KEYS[7] task → item index, KEYS[8] agent hash,
-- KEYS[9] agent inbox.
-- ARGV[1] now, ARGV[2] JSON {mission, item, token, role, task_id, agent_id, score, binding,
--   message (task_assign JSON), task_event, message_text, cause}, ARGV[3…] task field/value…
local o = cjson.decode(ARGV[2])
if not lease_ok(KEYS[2], o.token) then return cjson.encode({error='stale'}) end
if redis.call('HGET', KEYS[3], 'state') ~= 'running' then return cjson.encode({error='mission_state'}) end
local status = redis.call('HGET', KEYS[4], o.item)
if o.role == 'work' then
  if status ~= 'ready' then return cjson.encode({error='status', status=status}) end
  local max = tonumber(redis.call('HGET', KEYS[3], 'max_parallel'))
  ensure_counts(KEYS[3], KEYS[4])
  if count_of(KEYS[4], 'active') >= max then return cjson.encode({error='full'}) end
else
  if status ~= 'review' or redis.call('HEXISTS', KEYS[4], o.item .. ':review') == 1 then
    return cjson.encode({error='status', status=status})
  end
end
local astate = redis.call('HGET', KEYS[8], 'state')
if not astate or astate == 'stopped' or astate == 'error' then
  return cjson.encode({error='agent'})
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[6], unpack(fields))
local score = tonumber(o.score)
local newest = redis.call('ZRANGE', KEYS[5], -1, -1, 'WITHSCORES')[2]
if newest and tonumber(newest) >= score then score = tonumber(newest) + 0.001 end
redis.call('ZADD', KEYS[5], string.format('%.3f', score), o.task_id)
task_reindex(KEYS[6], o.task_id, {state=false, agent=''})
assign_task(KEYS[6], o.task_id, o.agent_id, KEYS[8], KEYS[9], '1', o.message, o.task_event, ARGV[1])
redis.call('HSET', KEYS[7], o.task_id, o.binding)
if o.role == 'work' then
  set_status(KEYS[4], o.item, 'active')
  redis.call('HSET', KEYS[4], o.item .. ':task', o.task_id, o.item .. ':agent', o.agent_id)
  redis.call('HINCRBY', KEYS[4], o.item .. ':attempts', 1)
  mission_event(o, {type='mission_item_assigned', item_id=o.item, task_id=o.task_id, actor='dispatcher',
    agent_id=o.agent_id, old_state='ready', new_state='active', message=o.message_text})
else
  redis.call('HSET', KEYS[4], o.item .. ':review', o.task_id)
  mission_event(o, {type='mission_review_assigned', item_id=o.item, task_id=o.task_id, actor='dispatcher',
    agent_id=o.agent_id, message=o.message_text})
end
redis.call('HSET', KEYS[3], 'updated_at', ARGV[1])
return cjson.encode({ok=true})
`,
);

export const HELP_REQUEST = defineScript(
  "missionHelpRequest",
  5,
  PRELUDE,
  `
-- Replaces a mission's help request in the conductor inbox (old ones removed, the new one
-- pushed) and records it on the mission, in one step.
-- KEYS[1] events, KEYS[2] dispatcher lock, KEYS[3] mission hash, KEYS[4] conductor inbox,
-- KEYS[5] conductor agent key (its wake list).
-- ARGV[1] now, ARGV[2] JSON {mission, token, marker, reason, attempts, message (JSON; '' only
--   retires the old request), text}
local o = cjson.decode(ARGV[2])
if not lease_ok(KEYS[2], o.token) then return cjson.encode({error='stale'}) end
retire_help(KEYS[4], o.marker)
if o.message == '' then
  redis.call('HDEL', KEYS[3], 'help_reason', 'help_at')
  redis.call('HSET', KEYS[3], 'help_attempts', 0)
  mission_event(o, {type='mission_help_retired', message=o.text, actor='dispatcher'})
  return cjson.encode({ok=true})
end
push_message(KEYS[4], KEYS[5], '0', o.message, 'tail')
redis.call('HSET', KEYS[3], 'help_reason', o.reason, 'help_at', ARGV[1], 'help_attempts', o.attempts)
mission_event(o, {type='mission_help_needed', reason=o.reason, message=o.text, actor='dispatcher'})
return cjson.encode({ok=true})
`,
);

export const ACQUIRE_LEASE = defineScript(
  "acquireDispatcherLease",
  2,
  `
-- Takes the dispatcher lease when free (or held by the given dead holder) with a new fencing
-- token. KEYS[1] lock, KEYS[2] fence counter.
-- ARGV[1] lease ms, ARGV[2] holder (host:pid), ARGV[3] token of a holder known dead, or ''
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[3] then return {0, cur} end
local token = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[2]
redis.call('SET', KEYS[1], token, 'PX', tonumber(ARGV[1]))
return {1, token}
`,
);

export const RENEW_LEASE = defineScript(
  "renewDispatcherLease",
  1,
  `
-- Extends the lease only while it is still ours. KEYS[1] lock. ARGV[1] token, ARGV[2] lease ms
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`,
);

export const RELEASE_LEASE = defineScript(
  "releaseDispatcherLease",
  1,
  `
-- Gives the lease up only if it is still ours. KEYS[1] lock. ARGV[1] token
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`,
);
