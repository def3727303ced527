/**
 * A lost host, and its return (see hosts.ts). One live supervisor at a time holds the hosts lock
 * (SET NX PX) while it marks a host lost and, with `[agent] on_host_loss = "backlog"`, marks its
 * agents `lost` and moves their queued and in-flight work to the backlog (one script per agent:
 * nothing lost, nothing twice). A returning host's supervisor takes the same lock to resume its
 * lost agents, so a return never interleaves with a move.
 */
import { type AgentState, isTerminalAgent } from "./schemas.ts";
import { type Ctx, listAgents, setAgentState } from "./agents.ts";
import type { SupervisorInfo } from "./control.ts";
import { ConflictError } from "./errors.ts";
import { defineScript, LUA_EMIT, runScript } from "../redis/script.ts";
import { emitEvent } from "./events.ts";
import { moveAgentWork } from "./reclaim.ts";
import type { TownConfig } from "./config.ts";
import { parseRecord, upRecord } from "./hosts.ts";

const LOCK_MS = 30_000;

const UNLOCK = defineScript(
  "hostsUnlock",
  1,
  `
-- KEYS[1]: the hosts lock. ARGV[1]: the owner token. Deletes the lock only if still ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * Runs `fn` holding the town's hosts lock (SET NX PX: one supervisor at a time handles a lost
 * or returning host). Without `waitMs`, undefined at once when another holds it.
 */
export async function withHostsLock<T>(
  t: Ctx,
  fn: () => Promise<T>,
  waitMs = 0,
): Promise<T | undefined> {
  const token = crypto.randomUUID();
  const deadline = Date.now() + waitMs;
  while ((await t.redis.set(t.keys.hostsLock, token, "PX", LOCK_MS, "NX")) !== "OK") {
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn();
  } finally {
    await runScript(t.redis, UNLOCK, [t.keys.hostsLock], [token]).catch(() => {});
  }
}

const MARK_LOST = defineScript(
  "markHostLost",
  3,
  LUA_EMIT,
  `
-- KEYS[1]: events, KEYS[2]: the hosts hash, KEYS[3]: the lost host's supervisor heartbeat.
-- ARGV[1]: now (ISO), ARGV[2]: the lost host, ARGV[3]: on_host_loss, ARGV[4]: the handling host,
-- ARGV[5]: now (ms), recorded as lost since (within one heartbeat period of the expiry).
-- Marks the host lost only if it is still recorded up and its heartbeat is still gone (it may
-- have come back since the beat that saw it missing). Returns since_ms, or 0 when not lost.
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not raw then return 0 end
local ok, r = pcall(cjson.decode, raw)
if not ok or type(r) ~= 'table' or r.state ~= 'up' then return 0 end
r.state = 'lost'
r.since_ms = tonumber(ARGV[5])
r.lost_by = ARGV[4]
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(r))
local what = 'its agents\\' work moves to the backlog'
if ARGV[3] == 'wait' then what = 'its agents\\' work waits for it (on_host_loss = "wait")' end
emit({type='host_lost', host=ARGV[2], actor=ARGV[4], reason=ARGV[3],
  message='host ' .. ARGV[2] .. ' lost: its supervisor heartbeat expired; ' .. what})
return r.since_ms
`,
);

/** States in which a lost host's agent becomes `lost` (paused, needs_input, draining keep theirs). */
const LOSABLE: AgentState[] = ["starting", "idle", "working", "rate_limited"];

export interface HostLoss {
  host: string;
  /** False when the host came back (or another supervisor handled it) first. */
  lost: boolean;
  agents: string[];
  moved: number;
}

/**
 * Handles a host seen lost by `by`'s heartbeat: marks it lost (once), then per
 * `[agent] on_host_loss` marks its agents lost and moves their work to the backlog. The caller
 * holds the hosts lock.
 */
export async function handleLostHost(
  t: Ctx & { config: TownConfig },
  host: string,
  by: string,
): Promise<HostLoss> {
  const mode = t.config.agent.on_host_loss;
  const since = Number(
    await runScript(t.redis, MARK_LOST, [t.keys.events, t.keys.hosts, t.keys.supervisor(host)], [
      new Date().toISOString(),
      host,
      mode,
      by,
      Date.now(),
    ]),
  );
  const out: HostLoss = { host, lost: since > 0, agents: [], moved: 0 };
  if (!out.lost) return out;
  if (mode === "backlog") {
    const sinceIso = new Date(since).toISOString();
    for (const a of await listAgents(t)) {
      if (a.host !== host || isTerminalAgent(a.state)) continue;
      if (LOSABLE.includes(a.state)) {
        await setAgentState(t, a.id, "lost", {
          eventType: "agent_lost",
          message: `host ${host} lost: waiting for it to come back`,
          from: LOSABLE,
          why: `host ${host} lost since ${sinceIso}`,
        }).catch((e) => {
          if (!(e instanceof ConflictError)) throw e;
        });
      }
      const r = await moveAgentWork(
        t,
        a,
        "backlog",
        `host ${host} lost: work of ${a.name} to the backlog`,
      );
      if (r) {
        out.agents.push(a.name);
        out.moved += r.moved;
      }
    }
  }
  await emitEvent(t, {
    type: "host_loss_handled",
    host,
    actor: by,
    reason: mode,
    message: mode === "backlog"
      ? `host ${host} lost: ${out.moved} message(s) of ${out.agents.length} agent(s) moved to the backlog`
      : `host ${host} lost: nothing moved (on_host_loss = "wait")`,
  });
  await recordMoved(t, host, out.moved);
  return out;
}

/**
 * Work that reached a lost host's lost agents after its loss was handled (an assignment, a
 * message) moves to the backlog too, so it does not wait for the host either. The caller holds
 * the hosts lock; nothing moves unless the host is still recorded lost with no heartbeat.
 */
export async function sweepLostHost(t: Ctx, host: string): Promise<number> {
  const [[, raw], [, beat]] = (await t.redis.pipeline().hget(t.keys.hosts, host)
    .exists(t.keys.supervisor(host)).exec()) as [Error | null, unknown][];
  if (parseRecord(raw)?.state !== "lost" || beat === 1) return 0;
  const lost = (await listAgents(t)).filter((a) => a.host === host && a.state === "lost");
  if (!lost.length) return 0;
  const pipe = t.redis.pipeline();
  for (const a of lost) {
    pipe.llen(t.keys.processing(a.id)).llen(t.keys.urgent(a.id)).llen(t.keys.inbox(a.id));
  }
  const lens = ((await pipe.exec()) ?? []).map(([, n]) => Number(n));
  let moved = 0;
  for (const [i, a] of lost.entries()) {
    if (lens[3 * i] + lens[3 * i + 1] + lens[3 * i + 2] === 0) continue;
    const why = `host ${host} lost: work that arrived for ${a.name} to the backlog`;
    moved += (await moveAgentWork(t, a, "backlog", why))?.moved ?? 0;
  }
  return moved;
}

async function recordMoved(t: Ctx, host: string, moved: number) {
  const rec = parseRecord(await t.redis.hget(t.keys.hosts, host));
  if (rec?.state === "lost") {
    await t.redis.hset(t.keys.hosts, host, JSON.stringify({ ...rec, moved }));
  }
}

/**
 * This host's supervisor is back after being taken for lost: its lost agents resume (idle) and
 * its record is up again. Waits up to 5 s for the hosts lock (a loss being handled right now
 * finishes first). Returns the names of the agents resumed, or undefined when the lock stayed
 * taken: the record stays lost, so the next heartbeat tries again.
 */
export async function resumeHost(t: Ctx, info: SupervisorInfo, ttlSecs: number) {
  return await withHostsLock(t, async () => {
    const resumed: string[] = [];
    for (const a of await listAgents(t)) {
      if (a.host !== info.host || a.state !== "lost") continue;
      await setAgentState(t, a.id, "idle", {
        eventType: "agent_resumed",
        message: `host ${info.host} is back`,
        from: ["lost"],
      }).then(() => resumed.push(a.name), (e) => {
        if (!(e instanceof ConflictError)) throw e;
      });
    }
    const record = upRecord(info, ttlSecs);
    await t.redis.hset(t.keys.hosts, info.host, JSON.stringify(record));
    await emitEvent(t, {
      type: "host_back",
      host: info.host,
      message: `host ${info.host} is back (supervisor pid ${info.pid})${
        resumed.length ? `: ${resumed.join(", ")} resumed` : ""
      }`,
    });
    return resumed;
  }, 5_000);
}
