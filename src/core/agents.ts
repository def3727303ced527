/**
 * Agent records: creation, lookup by reference (name, nickname, `Nick [role]`, short id), state.
 * Processes that serve agents live in src/supervisor; this module only touches Redis.
 */
import { Agent, type AgentState, isTerminalAgent } from "./schemas.ts";
import { ConflictError, NotFoundError, UsageError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { nicknameFor } from "./nicknames.ts";
import { defineScript, LUA_EMIT, runScript } from "../redis/script.ts";
import { readHashes } from "../redis/bulk.ts";
import type { TownContext } from "./town.ts";
import { cmp } from "./order.ts";

export type Ctx = Pick<TownContext, "redis" | "keys">;

const RESERVED = new Set(["supervisor", "conductor"]);
const NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N}._-]{0,63}$/u;

export function validateAgentName(name: string): string {
  const n = name.trim();
  if (!n) throw new UsageError("agent name must not be empty");
  if (RESERVED.has(n.toLowerCase())) {
    throw new UsageError(
      `'${n}' is reserved (it names the conductor's mailbox): pick another name`,
    );
  }
  if (!NAME_RE.test(n)) {
    throw new UsageError(
      `invalid agent name '${n}': use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return n;
}

/** `Nickname [role]`, or `Nickname [name]` when the agent has no role. */
export function agentLabel(a: Pick<Agent, "name" | "nickname" | "role">): string {
  return `${a.nickname || a.name} [${a.role && a.role !== "default" ? a.role : a.name}]`;
}

export const shortId = (id: string) => id.slice(0, 4);

const CREATE = defineScript(
  "createAgent",
  4,
  LUA_EMIT,
  `
-- KEYS: events, agents set, agent-names hash, new agent hash.
-- ARGV: now, key prefix, lower-case name, id, field/value…
local existing = redis.call('HGET', KEYS[3], ARGV[3])
if existing then
  -- same hash slot as KEYS (shared {town} tag)
  local state = redis.call('HGET', ARGV[2] .. 'agent:' .. existing, 'state')
  if state then return cjson.encode({error='exists', id=existing, state=state}) end
end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[4], unpack(fields))
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
local name = redis.call('HGET', KEYS[4], 'name')
emit({type='agent_spawned', agent_id=ARGV[4], message='Agent ' .. name .. ' created', new_state='starting'})
return cjson.encode({ok=true})
`,
);

export interface NewAgent {
  name: string;
  cli: string;
  role?: string;
  nickname?: string;
  parent?: string;
  host?: string;
  workdir?: string;
  branch?: string;
  max_rounds?: number;
}

/** Creates an agent record in state `starting`. Refuses a name that is already taken. */
export async function createAgent(t: Ctx, input: NewAgent): Promise<Agent> {
  const name = validateAgentName(input.name);
  const id = crypto.randomUUID();
  const now = new Date().toISOString();
  const agent: Agent = Agent.parse({
    id,
    name,
    nickname: input.nickname?.trim() || nicknameFor(id),
    role: input.role?.trim() || undefined,
    parent: input.parent,
    cli: input.cli,
    host: input.host,
    workdir: input.workdir,
    branch: input.branch,
    max_rounds: input.max_rounds,
    round: 0,
    state: "starting",
    created_at: now,
    last_heartbeat: now,
    last_active_at: now,
    tasks_completed: 0,
    rounds_completed: 0,
  });
  const fields = Object.entries(agent).filter(([, v]) => v !== undefined).flatMap((
    [k, v],
  ) => [k, String(v)]);
  const res = JSON.parse(String(
    await runScript(
      t.redis,
      CREATE,
      [t.keys.events, t.keys.agents, t.keys.agentNames, t.keys.agent(id)],
      [now, t.keys.prefix, name.toLowerCase(), id, ...fields],
    ),
  ));
  if (res.error === "exists") {
    throw new ConflictError(
      `an agent named '${name}' already exists (${res.state}): ${
        isTerminalAgent(res.state)
          ? `'tt restart ${name}' or 'tt prune' first`
          : "pick another name"
      }`,
    );
  }
  return agent;
}

export function parseAgent(hash: Record<string, string>): Agent | undefined {
  if (!hash || !hash.id) return undefined;
  const r = Agent.safeParse(hash);
  return r.success ? r.data : undefined;
}

export async function getAgent(t: Ctx, id: string): Promise<Agent | undefined> {
  return parseAgent(await t.redis.hgetall(t.keys.agent(id)));
}

/** All agents, oldest first: one SMEMBERS, then their hashes read by one script per 500. */
export async function listAgents(t: Ctx): Promise<Agent[]> {
  const ids = await t.redis.smembers(t.keys.agents);
  if (!ids.length) return [];
  const res = await readHashes(t.redis, ids.map((id) => t.keys.agent(id)));
  return res
    .map((h) => parseAgent(h))
    .filter((a): a is Agent => !!a)
    .sort((a, b) => cmp(a.created_at, b.created_at));
}

/** What an agent reference resolved to: a real agent, or the supervisor mailbox. */
export type Recipient =
  | { kind: "agent"; id: string; name: string; label: string; agent: Agent }
  | { kind: "supervisor"; id: typeof SUPERVISOR_ID; name: "supervisor"; label: "supervisor" };

export const SUPERVISOR: Recipient = {
  kind: "supervisor",
  id: SUPERVISOR_ID,
  name: "supervisor",
  label: "supervisor",
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Resolves a reference typed by a user: `supervisor`/`conductor`, a full id, or (case-insensitive)
 * a name, nickname, `Nickname [role]` label or id prefix of at least 4 characters.
 */
export async function resolveRecipient(t: Ctx, ref: string): Promise<Recipient> {
  const r = ref.trim();
  if (!r) throw new UsageError("agent reference must not be empty");
  if (RESERVED.has(r.toLowerCase()) || r === SUPERVISOR_ID) return SUPERVISOR;
  return toRecipient(await resolveAgent(t, r));
}

export function toRecipient(agent: Agent): Recipient {
  return { kind: "agent", id: agent.id, name: agent.name, label: agentLabel(agent), agent };
}

/** Like resolveRecipient, but only real agents. */
export async function resolveAgent(t: Ctx, ref: string): Promise<Agent> {
  const r = ref.trim();
  if (!r) throw new UsageError("agent reference must not be empty");
  if (UUID_RE.test(r)) {
    const a = await getAgent(t, r.toLowerCase());
    if (a) return a;
    throw new NotFoundError(`no agent with id ${r}: 'tt list' shows the agents`);
  }
  const byName = await t.redis.hget(t.keys.agentNames, r.toLowerCase());
  if (byName) {
    const a = await getAgent(t, byName);
    if (a) return a;
  }
  const all = await listAgents(t);
  const q = r.toLowerCase();
  const matches = all.filter((a) =>
    a.name.toLowerCase() === q ||
    a.nickname.toLowerCase() === q ||
    agentLabel(a).toLowerCase() === q ||
    (q.length >= 4 && /^[0-9a-f-]+$/.test(q) && a.id.startsWith(q))
  );
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new NotFoundError(`no agent '${r}': 'tt list' shows the agents`);
  }
  throw new UsageError(
    `agent reference '${r}' is ambiguous: ${
      matches.map((a) => `${agentLabel(a)} (${shortId(a.id)})`).join(", ")
    }; use the name or a longer id`,
  );
}

/**
 * Lua (after LUA_EMIT; ARGV[1] is the time): `set_agent_state(key, state, event type, message,
 * reason, only-if-state csv or '', why or '', resume_at or ''[, more])` → the old state, or nil
 * and an error table (nothing written). The state change and its event, shared by setAgentState
 * and the round scripts, which pass in `more` what they write to the agent with it: {set =
 * {field, value, …}, del = {field, …}}, in the same HSET and HDEL.
 */
export const SET_AGENT_STATE_LUA = `
local function set_agent_state(key, state, event_type, message, reason, from, why, resume_at, more)
  local cur = redis.call('HMGET', key, 'state', 'id', 'reason', 'resume_at')
  local old = cur[1]
  if not old then return nil, {error='not_found'} end
  if from ~= '' then
    local ok = false
    for s in string.gmatch(from, '[^,]+') do if s == old then ok = true end end
    if not ok then return nil, {error='state', state=old} end
  end
  local set, del = {'state', state, 'last_heartbeat', ARGV[1]}, {}
  -- reason and resume_at belong to the state: the new one's, or none.
  if why ~= '' then set[#set + 1] = 'reason'; set[#set + 1] = why
  elseif cur[3] then del[#del + 1] = 'reason' end
  if resume_at ~= '' then set[#set + 1] = 'resume_at'; set[#set + 1] = resume_at
  elseif cur[4] then del[#del + 1] = 'resume_at' end
  if more then
    for _, v in ipairs(more.set or {}) do set[#set + 1] = v end
    for _, f in ipairs(more.del or {}) do del[#del + 1] = f end
  end
  redis.call('HSET', key, unpack(set))
  if #del > 0 then redis.call('HDEL', key, unpack(del)) end
  local ev = {type=event_type, agent_id=cur[2], old_state=old, new_state=state, message=message}
  if reason ~= '' then ev.reason = reason end
  emit(ev)
  return old, nil
end
`;

const SET_STATE = defineScript(
  "setAgentState",
  2,
  LUA_EMIT + SET_AGENT_STATE_LUA,
  `
-- KEYS: events, agent. ARGV: now, new state, event type, message, reason, only-if-state (csv or ''),
--   why the agent is in the new state (the hash's 'reason'; '' = none), resume_at ('' = none)
local old, err = set_agent_state(KEYS[2], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8])
if err then return cjson.encode(err) end
return cjson.encode({ok=true, old=old})
`,
);

export interface StateChange {
  eventType?: string;
  message?: string;
  reason?: string;
  /** Only change if the current state is one of these. */
  from?: AgentState[];
  /** Kept on the agent while it stays in this state (`tt status` shows it); else cleared. */
  why?: string;
  /** For rate_limited: when rounds may start again (ISO time). */
  resumeAt?: string;
}

/** Sets an agent's state and records the transition in the event stream, atomically. */
export async function setAgentState(
  t: Ctx,
  id: string,
  state: AgentState,
  change: StateChange = {},
): Promise<{ old: AgentState }> {
  const res = JSON.parse(String(
    await runScript(t.redis, SET_STATE, [t.keys.events, t.keys.agent(id)], [
      new Date().toISOString(),
      state,
      change.eventType ?? "agent_state_changed",
      change.message ?? `state → ${state}`,
      change.reason ?? "",
      (change.from ?? []).join(","),
      change.why ?? "",
      change.resumeAt ?? "",
    ]),
  ));
  if (res.error === "not_found") throw new NotFoundError(`no agent with id ${id}`);
  if (res.error === "state") {
    throw new ConflictError(`agent is ${res.state}; expected ${change.from!.join(" or ")}`);
  }
  return { old: res.old };
}

/** Forgets an agent's CLI session: its next round starts a new one (`tt restart --fresh`). */
export async function forgetCliSession(t: Ctx, id: string) {
  await t.redis.hdel(t.keys.agent(id), "session_id");
}
