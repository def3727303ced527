/**
 * Hosts of a town. Each host runs one supervisor for the agents placed on it (`tt spawn --host`,
 * the agent hash's `host`); two supervisors with different `TT_HOST` on one machine are two hosts.
 * A supervisor's heartbeat (`supervisor:<host>`, TTL `[agent] host_timeout_secs`) says it is up;
 * the `hosts` hash remembers every host that ran one and how it ended: `stopped` (it exited
 * cleanly), `lost` (its heartbeat expired while it was up). A lost host is handled once, by one
 * live supervisor holding the hosts lock: with `[agent] on_host_loss = "backlog"` its agents become
 * `lost` and their queued and in-flight work moves to the backlog (one script per agent); with
 * "wait" nothing moves. When the host's supervisor comes back, its lost agents resume.
 */
import { arrayOf, before, type Infer, number, oneOf, optional, record, string } from "./record.ts";
import type { Redis } from "ioredis";
import { type Agent, isTerminalAgent } from "./schemas.ts";
import type { Ctx } from "./agents.ts";
import { machineHost, parseSupervisorInfo, type SupervisorInfo, thisHost } from "./control.ts";
import { HOST_NAME_RULE, isValidHostName } from "./keys.ts";
import { UsageError } from "./errors.ts";
import { defineScript, evalScript } from "../redis/script.ts";
import { cmp } from "./order.ts";

/** `tt spawn --host` and REST/MCP `host`: the agent-name rule, or a usage error. */
export function validateHostName(name: string): string {
  const n = name.trim();
  if (!isValidHostName(n)) {
    throw new UsageError(`invalid host name '${n.slice(0, 80)}': use ${HOST_NAME_RULE}`);
  }
  return n;
}

/**
 * A supervisor's files in `.tt/` for `host`: the machine's own host keeps the plain names
 * (`supervisor.lock`, `logs/supervisor.log`); another `TT_HOST` on this machine gets its own.
 */
export function supervisorFiles(root: string, host = thisHost()): { lock: string; log: string } {
  const tag = host === machineHost() ? "" : `.${host}`;
  return {
    lock: `${root}/.tt/supervisor${tag}.lock`,
    log: `${root}/.tt/logs/supervisor${tag}.log`,
  };
}

/**
 * True while a supervisor of the town at `root` runs on this machine (for `host`, else for any
 * host): it holds its lock file (`.tt/supervisor.lock`, or `.tt/supervisor.<host>.lock` for
 * another TT_HOST; src/supervisor/daemon.ts) for its whole life, whether or not it can write its
 * heartbeat (a Redis that cannot persist refuses the write, and the heartbeat expires).
 */
export async function localSupervisorRunning(root: string, host?: string): Promise<boolean> {
  if (host === undefined) {
    const locks: string[] = [];
    try {
      for await (const e of Deno.readDir(`${root}/.tt`)) {
        if (/^supervisor(\..+)?\.lock$/.test(e.name) && e.name !== "supervisor.start.lock") {
          locks.push(e.name);
        }
      }
    } catch {
      return false; // no .tt: no supervisor ever ran here
    }
    for (const name of locks) if (await lockHeld(`${root}/.tt/${name}`)) return true;
    return false;
  }
  return await lockHeld(supervisorFiles(root, host).lock);
}

async function lockHeld(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch {
    return false; // no lock file: no supervisor ever ran here
  }
  try {
    if (!(await file.tryLock(true))) return true;
    await file.unlock();
    return false;
  } finally {
    file.close();
  }
}

export const HostRecord = record({
  host: string(),
  state: oneOf(["up", "stopped", "lost"]),
  pid: number({ int: true }),
  started_at: string(),
  ttl_secs: number(),
  /** When it stopped, or when another host found its heartbeat expired (lost). */
  since_ms: optional(number()),
  /** The host whose supervisor handled its loss, and what it did. */
  lost_by: optional(string()),
  moved: optional(number({ int: true })),
}, "host record");
export type HostRecord = Infer<typeof HostRecord>;

export function parseRecord(raw: unknown): HostRecord | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const r = HostRecord.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

const BEAT = defineScript(
  "hostBeat",
  2,
  `
-- KEYS[1]: this host's supervisor heartbeat. KEYS[2]: the hosts hash.
-- ARGV[1]: this host, ARGV[2]: heartbeat JSON, ARGV[3]: TTL (s), ARGV[4]: this host's record
-- (state up), ARGV[5]: key prefix (heartbeats of other hosts, same {town} slot).
-- Refreshes the heartbeat; writes the record only when it changes (a new supervisor), and keeps
-- a 'lost' one as it is (the host's return is handled under the hosts lock, hostloss.ts
-- resumeHost). Returns this host's previous state, the other hosts recorded up whose heartbeat
-- has expired (lost), and those already handled as lost and not back (still).
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
local prev = ''
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if raw then
  local ok, r = pcall(cjson.decode, raw)
  if ok and type(r) == 'table' and type(r.state) == 'string' then prev = r.state end
end
if prev ~= 'lost' and raw ~= ARGV[4] then redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
local lost, still = {}, {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    local ok, r = pcall(cjson.decode, all[i + 1])
    if ok and type(r) == 'table' and (r.state == 'up' or r.state == 'lost')
      and redis.call('EXISTS', ARGV[5] .. 'supervisor:' .. all[i]) == 0 then
      if r.state == 'up' then lost[#lost + 1] = all[i] else still[#still + 1] = all[i] end
    end
  end
end
return cjson.encode({prev = prev, lost = lost, still = still})
`,
);

// cjson encodes an empty table as {}.
const hostList = before((v) => Array.isArray(v) ? v : [], arrayOf(string()));
const BeatResult = record({ prev: string(), lost: hostList, still: hostList }, "heartbeat result");
export type BeatResult = Infer<typeof BeatResult>;

/** The record of a host whose supervisor `info` is up and beats every `ttlSecs`. */
export const upRecord = (info: SupervisorInfo, ttlSecs: number): HostRecord => ({
  host: info.host,
  state: "up",
  pid: info.pid,
  started_at: info.started_at,
  ttl_secs: ttlSecs,
});

/** One heartbeat of this host's supervisor: refreshes its liveness, names lost hosts. */
export async function beatHost(t: Ctx, info: SupervisorInfo, ttlSecs: number): Promise<BeatResult> {
  const record = upRecord(info, ttlSecs);
  const res = await evalScript(t.redis, BEAT, [t.keys.supervisor(info.host), t.keys.hosts], [
    info.host,
    JSON.stringify(info),
    ttlSecs,
    JSON.stringify(record),
    t.keys.prefix,
  ]);
  return BeatResult.parse(JSON.parse(String(res)));
}

const RETIRE = defineScript(
  "retireHost",
  3,
  `
-- KEYS[1]: the host's supervisor heartbeat, KEYS[2]: its control list, KEYS[3]: the hosts hash.
-- ARGV[1]: the host, ARGV[2]: its record (state stopped), ARGV[3]: 1 = only if no control
-- message waits (a supervisor with nothing left to run), 0 = always (exit); ARGV[4]: its pid.
-- Deletes the heartbeat and records a clean stop, so no other host takes it for lost.
if ARGV[3] == '1' and redis.call('LLEN', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[1])
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if raw then
  local ok, r = pcall(cjson.decode, raw)
  -- Lost stays lost (hostloss.ts); a stop already recorded for this process stays as it was.
  if ok and type(r) == 'table' and r.state == 'lost' then return 1 end
  if ok and type(r) == 'table' and r.state == 'stopped' and tostring(r.pid) == ARGV[4] then
    return 1
  end
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`,
);

/**
 * The supervisor of `host` goes away cleanly: heartbeat deleted, record `stopped`. With
 * `ifIdle`, only when no control message waits (1 = retired, 0 = a message arrived: stay).
 */
export async function retireHost(
  t: Ctx,
  info: SupervisorInfo,
  ttlSecs: number,
  ifIdle: boolean,
): Promise<boolean> {
  const now = Date.now();
  const record: HostRecord = {
    host: info.host,
    state: "stopped",
    pid: info.pid,
    started_at: info.started_at,
    ttl_secs: ttlSecs,
    since_ms: now,
  };
  const keys = [t.keys.supervisor(info.host), t.keys.control(info.host), t.keys.hosts];
  const res = await evalScript(t.redis, RETIRE, keys, [
    info.host,
    JSON.stringify(record),
    ifIdle ? "1" : "0",
    String(info.pid),
  ]);
  return Number(res) === 1;
}

export type HostState = "up" | "lost" | "down";

export interface HostStatus {
  host: string;
  /** up: its supervisor's heartbeat is fresh; lost: it expired while up; down: none runs. */
  state: HostState;
  /** ISO: up since (supervisor start), lost since (heartbeat expiry), down since (clean stop). */
  since?: string;
  pid?: number;
  /** Agents placed on it that are not stopped. */
  agents: number;
  this_host: boolean;
}

const HOSTS_READ = defineScript(
  "readHosts",
  1,
  `
-- KEYS[1]: the hosts hash. ARGV[1]: key prefix (heartbeats, same {town} slot); ARGV[2..]: more
-- host names (those agents are placed on). Returns {host, record or '', heartbeat or ''} triples.
local seen, out = {}, {}
local function add(h, rec)
  if seen[h] then return end
  seen[h] = true
  out[#out + 1] = h
  out[#out + 1] = rec or redis.call('HGET', KEYS[1], h) or ''
  out[#out + 1] = redis.call('GET', ARGV[1] .. 'supervisor:' .. h) or ''
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do add(all[i], all[i + 1]) end
for i = 2, #ARGV do add(ARGV[i]) end
return out
`,
);

/**
 * Queues the hosts read on a pipeline another reader sends anyway (`tt status`: no round trip
 * of its own; EVAL, as a pipeline cannot retry a NOSCRIPT). Hosts no supervisor ever ran on are
 * added by hostsFromRead from the agents.
 */
export function queueHostsRead(t: Ctx, pipe: ReturnType<Redis["pipeline"]>) {
  return pipe.eval(HOSTS_READ.lua, 1, t.keys.hosts, t.keys.prefix, thisHost());
}

/**
 * Every host that has agents, runs a supervisor or was lost, this host first, then by name, from
 * HOSTS_READ's triples and the town's agents.
 */
export function hostsFromRead(flat: string[], agents: Agent[]): HostStatus[] {
  const here = thisHost();
  flat = [...flat];
  for (const h of new Set(agents.map((a) => a.host ?? here))) {
    if (!flat.some((x, i) => i % 3 === 0 && x === h)) flat.push(h, "", "");
  }
  const active = new Map<string, number>();
  for (const a of agents) {
    if (isTerminalAgent(a.state)) continue;
    const h = a.host ?? here;
    active.set(h, (active.get(h) ?? 0) + 1);
  }
  const out: HostStatus[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const host = flat[i];
    const rec = parseRecord(flat[i + 1]);
    const beat = parseSupervisorInfo(flat[i + 2] || null);
    const n = active.get(host) ?? 0;
    const iso = (ms?: number) => ms === undefined ? undefined : new Date(ms).toISOString();
    let st: HostStatus;
    if (beat) {
      st = {
        host,
        state: "up",
        since: beat.started_at,
        pid: beat.pid,
        agents: n,
        this_host: false,
      };
    } else if (rec && rec.state !== "stopped") {
      st = {
        host,
        state: "lost",
        // Recorded up, no heartbeat, not handled yet: lost within the last TTL.
        since: iso(rec.since_ms),
        pid: rec.pid,
        agents: n,
        this_host: false,
      };
    } else st = { host, state: "down", since: iso(rec?.since_ms), agents: n, this_host: false };
    st.this_host = host === here;
    // A host that ended cleanly and holds no agent any more is history, not news.
    if (st.state === "down" && !n && !st.this_host) continue;
    out.push(st);
  }
  return out.sort((a, b) => Number(b.this_host) - Number(a.this_host) || cmp(a.host, b.host));
}

/** Is a supervisor of `host` up (fresh heartbeat)? */
async function hostUp(t: Ctx, host: string): Promise<boolean> {
  return (await t.redis.exists(t.keys.supervisor(host))) === 1;
}

/** Where a new agent runs: on another host than this one, and whether that host is up now. */
export async function placement(
  t: Ctx,
  agent: Pick<Agent, "host">,
): Promise<{ elsewhere: boolean; host_up: boolean }> {
  const host = agent.host ?? thisHost();
  return { elsewhere: host !== thisHost(), host_up: await hostUp(t, host) };
}

/** The supervisors whose heartbeat is fresh, on every host that ever ran one (one script). */
export async function liveSupervisors(t: Ctx): Promise<SupervisorInfo[]> {
  const flat = await evalScript(t.redis, HOSTS_READ, [t.keys.hosts], [t.keys.prefix]) as string[];
  const out: SupervisorInfo[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const info = parseSupervisorInfo(flat[i + 2] || null);
    if (info) out.push(info);
  }
  return out;
}

/**
 * Stops the supervisor of another host (`tt stop --all`): its pid means nothing here, so it is
 * asked through its control list and waited for until its heartbeat is gone (it deletes it as
 * it exits). "gone" when it stopped, "no answer" when it did not within the limit.
 */
export async function stopOtherHost(
  t: Ctx,
  sup: SupervisorInfo,
  now: boolean,
  limitMs = now ? 120_000 : 7_200_000,
): Promise<"stopped" | "no answer"> {
  const { sendControl } = await import("./control.ts");
  const reply = await sendControl(t, sup.host, { op: "shutdown", now }, Math.ceil(limitMs / 1000));
  if (reply === undefined) return "no answer";
  const deadline = Date.now() + 30_000;
  while (await hostUp(t, sup.host)) {
    if (Date.now() > deadline) return "no answer";
    await new Promise((r) => setTimeout(r, 50));
  }
  return "stopped";
}
