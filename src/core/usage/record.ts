/**
 * One round's usage, recorded in one script with the round's outcome on the agent (session id,
 * token and cost totals): the per-day buckets (by town, agent, task, mission, model and CLI), the
 * all-time counters (Prometheus), the agent's per-minute slots (rolling budgets), the tasks'
 * totals, and a `round_usage` event. Its cost is the same for the first round and the
 * thousandth: a few HINCRBYs on hashes whose size grows with agents, tasks and models, not rounds.
 */
import { defineScript, LUA_EMIT, runScript } from "../../redis/script.ts";
import type { Ctx } from "../agents.ts";
import { type Price } from "./schema.ts";
import { dayOf, minuteOf, usageNow } from "./clock.ts";

/** How long the per-day buckets are kept. */
export const USAGE_DAYS_KEPT = 100;

export interface RoundUsageInput {
  agentId: string;
  /** The agent's CLI (preset name or command) and its family. */
  cli: string;
  model?: string;
  sessionId?: string;
  tokens?: { input: number; output: number; cached?: number };
  /** As the CLI reported it; else computed from `pricing`, else unknown. */
  costUsd?: number;
  durationMs: number;
  round: number;
  /** The tasks the round worked on: its usage is split evenly among them. */
  taskIds: string[];
  pricing: Record<string, Price>;
  /** How long the agent's per-minute slots are kept (the longest budget window), seconds. */
  keepSecs: number;
  /** Length of one slot in minutes (slotMinutesFor: a hundredth of the shortest window). */
  slotMinutes: number;
  /** Clock override for tests (ms); else usageNow(). */
  nowMs?: number;
}

export interface RoundUsage {
  model: string;
  input: number;
  output: number;
  cached: number;
  /** Undefined when neither the CLI nor [pricing] gave a cost. */
  usd?: number;
  /** The cost was computed from [pricing] (the CLI reported none). */
  priced: boolean;
  ms: number;
}

/** Model names come from CLI output (data): a safe, short label. */
export function modelLabel(model: string | undefined): string {
  const m = (model ?? "").replace(/[^A-Za-z0-9._:/@+-]/g, "_").slice(0, 80);
  return m || "unknown";
}

/** The round's cost from [pricing] (by model, then by CLI name), or undefined. */
export function priceOf(
  pricing: Record<string, Price>,
  model: string,
  cli: string,
  t: { input: number; output: number; cached?: number },
): number | undefined {
  const p = pricing[model] ?? pricing[cli];
  if (!p) return undefined;
  const cached = t.cached ?? 0;
  return (t.input * p.input_usd_per_mtok + t.output * p.output_usd_per_mtok +
    cached * (p.cached_usd_per_mtok ?? p.input_usd_per_mtok)) / 1e6;
}

const RECORD = defineScript(
  "recordUsage",
  6,
  LUA_EMIT,
  `
-- Records one round's usage (src/core/usage/record.ts).
-- KEYS[1] events stream, KEYS[2] agent hash, KEYS[3] usage day hash, KEYS[4] usage totals hash,
-- KEYS[5] agent's usage slots hash, KEYS[6] mission-tasks hash (task id -> JSON {mission,…})
-- ARGV[1] now (ISO), ARGV[2] JSON options: agent, cli, model, session (or ''), input, output,
--   cached, usd (absent = unknown), ms, minute (the epoch minute its slot starts), round, tasks (list of ids), task_prefix (key of a
--   task hash without the id), expire (secs of the day hash), prune_before (epoch minute: older
--   slots are deleted), keep (secs the slots hash lives after its last round), message, usage
--   (event payload)
local events, agentKey, dayKey, totalsKey, slotsKey, missionTasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local o = cjson.decode(ARGV[2])
if redis.call('EXISTS', agentKey) == 0 then return 0 end
local usd = o.usd
if usd == cjson.null then usd = nil end
if o.session ~= '' then redis.call('HSET', agentKey, 'session_id', o.session) end
-- A CLI that reported nothing (plain text): no usage to record, no key created.
if o.input + o.output + o.cached == 0 and not usd then return 0 end
redis.call('HINCRBY', agentKey, 'tokens_in', o.input)
redis.call('HINCRBY', agentKey, 'tokens_out', o.output)
redis.call('HINCRBY', agentKey, 'tokens_cached', o.cached)
if usd then redis.call('HINCRBYFLOAT', agentKey, 'cost_usd', usd) end
local function add(dim, id, share)
  local p = dim .. '|' .. id .. '|'
  redis.call('HINCRBY', dayKey, p .. 'in', math.floor(o.input * share + 0.5))
  redis.call('HINCRBY', dayKey, p .. 'out', math.floor(o.output * share + 0.5))
  redis.call('HINCRBY', dayKey, p .. 'cached', math.floor(o.cached * share + 0.5))
  redis.call('HINCRBY', dayKey, p .. 'ms', math.floor(o.ms * share + 0.5))
  redis.call('HINCRBYFLOAT', dayKey, p .. 'rounds', share)
  if usd then redis.call('HINCRBYFLOAT', dayKey, p .. 'usd', usd * share) end
end
add('town', '', 1)
add('agent', o.agent, 1)
add('model', o.model, 1)
add('cli', o.cli, 1)
local n = #o.tasks
for _, id in ipairs(o.tasks) do
  local share = 1 / n
  add('task', id, share)
  local tk = o.task_prefix .. id
  if redis.call('EXISTS', tk) == 1 then
    redis.call('HINCRBY', tk, 'usage_in', math.floor(o.input * share + 0.5))
    redis.call('HINCRBY', tk, 'usage_out', math.floor(o.output * share + 0.5))
    redis.call('HINCRBYFLOAT', tk, 'usage_rounds', share)
    if usd then redis.call('HINCRBYFLOAT', tk, 'usage_usd', usd * share) end
  end
  local m = redis.call('HGET', missionTasks, id)
  if m then
    local ok, rec = pcall(cjson.decode, m)
    if ok and type(rec) == 'table' and type(rec.mission) == 'string' then add('mission', rec.mission, share) end
  end
end
redis.call('EXPIRE', dayKey, o.expire)
local a = o.agent .. '|' .. o.model .. '|'
redis.call('HINCRBY', totalsKey, a .. 'input', o.input)
redis.call('HINCRBY', totalsKey, a .. 'output', o.output)
redis.call('HINCRBY', totalsKey, a .. 'cached', o.cached)
if usd then redis.call('HINCRBYFLOAT', totalsKey, o.agent .. '||usd', usd) end
local fresh = redis.call('HEXISTS', slotsKey, o.minute .. '|tok') == 0
if usd then redis.call('HINCRBYFLOAT', slotsKey, o.minute .. '|usd', usd) end
redis.call('HINCRBY', slotsKey, o.minute .. '|tok', o.input + o.output)
-- Once per new slot: slots older than the longest budget window go (about 2 x 100 fields).
if fresh then
  for _, f in ipairs(redis.call('HKEYS', slotsKey)) do
    local m = tonumber(string.match(f, '^(%d+)|'))
    if m and m < o.prune_before then redis.call('HDEL', slotsKey, f) end
  end
end
redis.call('EXPIRE', slotsKey, o.keep) -- a pruned agent's slots go by themselves
local ev = {type='round_usage', agent_id=redis.call('HGET', agentKey, 'id'), message=o.message, usage=o.usage}
if n == 1 then ev.task_id = o.tasks[1] end
emit(ev)
return 1
`,
);

/** Writes the round's outcome and usage (see the module doc); returns what was recorded. */
export async function recordRoundUsage(t: Ctx, input: RoundUsageInput): Promise<RoundUsage> {
  const now = input.nowMs ?? usageNow();
  const model = modelLabel(input.model);
  const tok = input.tokens;
  const u: RoundUsage = {
    model,
    input: Math.max(0, Math.round(tok?.input ?? 0)),
    output: Math.max(0, Math.round(tok?.output ?? 0)),
    cached: Math.max(0, Math.round(tok?.cached ?? 0)),
    priced: false,
    ms: Math.max(0, Math.round(input.durationMs)),
  };
  if (input.costUsd !== undefined && Number.isFinite(input.costUsd) && input.costUsd >= 0) {
    u.usd = input.costUsd;
  } else if (tok) {
    u.usd = priceOf(input.pricing, model, input.cli, u);
    u.priced = u.usd !== undefined;
  }
  const cli = input.cli.replace(/\|/g, "_").slice(0, 80);
  await runScript(t.redis, RECORD, [
    t.keys.events,
    t.keys.agent(input.agentId),
    t.keys.usageDay(dayOf(now)),
    t.keys.usageTotals,
    t.keys.usageSlots(input.agentId),
    t.keys.missionTasks,
  ], [
    new Date().toISOString(),
    JSON.stringify({
      agent: input.agentId,
      cli,
      model,
      session: input.sessionId ?? "",
      input: u.input,
      output: u.output,
      cached: u.cached,
      usd: u.usd ?? null,
      ms: u.ms,
      minute: Math.floor(minuteOf(now) / input.slotMinutes) * input.slotMinutes,
      prune_before: minuteOf(now - input.keepSecs * 1000),
      keep: input.keepSecs + 60,
      round: input.round,
      tasks: input.taskIds,
      task_prefix: t.keys.task(""),
      expire: USAGE_DAYS_KEPT * 86400,
      message: `round ${input.round} used ${usageText(u)}`,
      usage: u,
    }),
  ]);
  return u;
}

/** "1200 in / 50 out tokens (300 cached), $0.4000 (claude-fake)". */
export function usageText(u: RoundUsage): string {
  const cost = u.usd === undefined
    ? "cost unknown"
    : `$${u.usd.toFixed(4)}${u.priced ? " priced" : ""}`;
  return `${u.input} in / ${u.output} out tokens${
    u.cached ? ` (${u.cached} cached)` : ""
  }, ${cost} (${u.model})`;
}
