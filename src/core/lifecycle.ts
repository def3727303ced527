/**
 * Agent lifecycle: spawn, interrupt, resume, close, kill, restart, prune, recover. State lives in
 * Redis; the supervisor that runs an agent is reached through its control list, and an idle agent
 * is woken through its wake list. Every change lands in the event stream with its reason.
 */
import {
  createAgent,
  type Ctx,
  getAgent,
  listAgents,
  resolveAgent,
  setAgentState,
} from "./agents.ts";
import { type Agent, AGENT_STATES, type AgentState, isTerminalAgent } from "./schemas.ts";
import { ConflictError, UsageError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { sendControl, supervisorInfo, thisHost } from "./control.ts";
import { endRound } from "./rounds.ts";
import { emitEvent } from "./events.ts";
import { execDurably } from "../redis/script.ts";
import { parseMessage } from "./messages.ts";
import { returnTaskToAssigned } from "./tasks.ts";
import { localSupervisorRunning, validateHostName } from "./hosts.ts";
import type { TownContext } from "./town.ts";

export interface SpawnOptions {
  name: string;
  cli?: string;
  role?: string;
  nickname?: string;
  /** Parent agent reference. */
  parent?: string;
  rounds?: number;
  /** Override `[agent] worktrees`. */
  worktree?: boolean;
  /** Don't start a supervisor (the caller runs the agent loop itself, e.g. --foreground). */
  noSupervisor?: boolean;
  /** The host whose supervisor runs it (default: this host). */
  host?: string;
}

/** Creates the agent (and its worktree in a git repo) and has the supervisor start it. */
export async function spawnAgent(t: TownContext, opts: SpawnOptions): Promise<Agent> {
  const parent = opts.parent ? await resolveAgent(t, opts.parent) : undefined;
  const rounds = opts.rounds ?? t.config.agent.max_rounds;
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new UsageError("--rounds must be a positive integer");
  }
  const host = opts.host === undefined ? thisHost() : validateHostName(opts.host);
  if (opts.noSupervisor && host !== thisHost()) {
    throw new UsageError(`--foreground runs the agent here (${thisHost()}): drop --host ${host}`);
  }
  const agent = await createAgent(t, {
    name: opts.name,
    cli: opts.cli?.trim() || t.config.default_cli,
    role: opts.role,
    nickname: opts.nickname,
    parent: parent?.id,
    host,
    max_rounds: rounds,
  });
  const { removeRoundLogs } = await import("../supervisor/log_files.ts");
  await removeRoundLogs(t.root, agent.name); // of a pruned agent that had this name
  if (opts.worktree ?? t.config.agent.worktrees) {
    const { createWorktree } = await import("../supervisor/worktree.ts");
    try {
      const wt = await createWorktree(t.root, agent.name);
      if (wt) {
        await t.redis.hset(t.keys.agent(agent.id), { workdir: wt.workdir, branch: wt.branch });
        Object.assign(agent, wt);
      }
    } catch (e) {
      await removeAgentRecords(t, [agent]);
      throw e;
    }
  }
  if (!opts.noSupervisor) await startOnSupervisor(t, agent.id, host);
  return agent;
}

/**
 * Makes sure the agent's host's supervisor runs it: this host's is started if need be; another
 * host's gets a start message when it is up, and otherwise runs the agent when it comes up
 * (a starting supervisor runs every agent placed on its host).
 */
export async function startOnSupervisor(t: TownContext, agentId: string, host = thisHost()) {
  if (host !== thisHost()) {
    if (await supervisorInfo(t, host)) {
      await sendControl(t, host, { op: "start", agent_id: agentId });
    }
    return;
  }
  const { ensureSupervisor } = await import("../supervisor/start.ts");
  // Queue first: a supervisor that is about to retire sees the message and stays.
  await sendControl(t, thisHost(), { op: "start", agent_id: agentId });
  await ensureSupervisor(t);
}

async function wake(t: Ctx, agentId: string) {
  await t.redis.multi().lpush(t.keys.wake(agentId), "1").ltrim(t.keys.wake(agentId), 0, 0).exec();
}

/** Every state but the terminal ones (stopped, error). */
const ACTIVE: AgentState[] = AGENT_STATES.filter((s) => !isTerminalAgent(s));

/** Pause: the running round finishes, no new round starts. */
export async function interruptAgent(t: Ctx, agent: Agent) {
  await setAgentState(t, agent.id, "paused", {
    eventType: "agent_interrupted",
    message: "interrupted (paused)",
    from: ["starting", "idle", "working", "rate_limited", "over_budget", "needs_input"],
  }).catch(explainState(agent, "interrupt"));
  await wake(t, agent.id);
}

export async function resumeAgent(t: Ctx, agent: Agent) {
  await setAgentState(t, agent.id, "idle", {
    eventType: "agent_resumed",
    message: "resumed",
    from: ["paused"],
  }).catch(explainState(agent, "resume"));
  await wake(t, agent.id);
}

/** Finish the running round, then stop. */
export async function closeAgent(t: Ctx, agentId: string, reason = "closed by request") {
  await setAgentState(t, agentId, "draining", {
    eventType: "agent_closing",
    message: `closing: ${reason}`,
    from: ["starting", "idle", "working", "paused", "rate_limited", "over_budget", "needs_input"],
  });
  await wake(t, agentId);
}

function explainState(agent: Agent, verb: string) {
  return (e: unknown) => {
    if (e instanceof ConflictError) {
      throw new ConflictError(
        `cannot ${verb} ${agent.name}: ${e.message.replace(/^agent /, "it ")}`,
      );
    }
    throw e;
  };
}

/**
 * Stops an agent now. Its supervisor kills the running round's process group (SIGTERM, grace,
 * SIGKILL) and puts the round's messages back; with no live supervisor this is done here.
 */
export async function killAgent(t: Ctx, agent: Agent, reason = "killed by request"): Promise<void> {
  if (isTerminalAgent(agent.state)) {
    throw new ConflictError(`${agent.name} is already ${agent.state}`);
  }
  const host = agent.host ?? thisHost();
  if (await supervisorInfo(t, host)) {
    const reply = await sendControl(t, host, { op: "kill", agent_id: agent.id, reason }, 60);
    if (reply === "ok") return;
  }
  await stopWithoutSupervisor(t, agent, reason);
}

/** The agent has no process: return its round's work and mark it stopped. */
async function stopWithoutSupervisor(t: Ctx, agent: Agent, reason: string) {
  if (agent.round_pgid && (agent.host ?? thisHost()) === thisHost()) {
    try {
      Deno.kill(-agent.round_pgid, "SIGKILL");
    } catch { /* already gone */ }
  }
  await returnRoundTasks(t, agent.id, `round cut off: ${reason}`);
  await endRound(t, agent.id, { kind: "cutoff", reason }, "round cut off");
  await setAgentState(t, agent.id, "stopped", {
    eventType: "agent_stopped",
    message: `stopped: ${reason}`,
    why: reason,
  });
  // As the supervisor does: a stopped agent strands no work ([agent] on_stop); prune moves it.
  if (reason !== "pruned" && "config" in t) {
    const { releaseWork } = await import("../supervisor/stop.ts");
    await releaseWork(t as TownContext, agent.id, reason);
  }
}

/** Tasks of messages in the agent's processing list go back from running to assigned. */
async function returnRoundTasks(t: Ctx, agentId: string, reason: string) {
  for (const raw of await t.redis.lrange(t.keys.processing(agentId), 0, -1)) {
    const m = parseMessage(raw);
    if (m?.type === "task_assign" && m.task_id) await returnTaskToAssigned(t, m.task_id, reason);
  }
}

/** Brings a stopped agent back with the same id, inbox and worktree. */
export async function restartAgent(t: TownContext, agent: Agent, rounds?: number) {
  if (!isTerminalAgent(agent.state)) {
    throw new ConflictError(`${agent.name} is still ${agent.state}: 'tt kill ${agent.name}' first`);
  }
  const max = rounds ?? t.config.agent.max_rounds;
  if (!Number.isInteger(max) || max < 1) {
    throw new UsageError("--rounds must be a positive integer");
  }
  const { removeRoundLogs } = await import("../supervisor/log_files.ts");
  await removeRoundLogs(t.root, agent.name);
  await t.redis.hset(t.keys.agent(agent.id), {
    round: 0,
    max_rounds: max,
    host: thisHost(),
    last_active_at: new Date().toISOString(),
  });
  await setAgentState(t, agent.id, "starting", {
    eventType: "agent_restarted",
    message: `restarted with ${max} rounds`,
    from: ["stopped", "error"],
  });
  await startOnSupervisor(t, agent.id);
}

export interface PruneResult {
  removed: Agent[];
  /** Worktrees kept because they hold work, with the reason. */
  keptWorktrees: { agent: string; why: string }[];
}

/** Removes stopped/error agents (with `all`, every agent: active ones are killed first). */
export async function pruneAgents(t: TownContext, all = false): Promise<PruneResult> {
  const agents = await listAgents(t);
  const victims = agents.filter((a) => all || isTerminalAgent(a.state));
  for (const a of victims) if (!isTerminalAgent(a.state)) await killAgent(t, a, "pruned");
  const keptWorktrees: PruneResult["keptWorktrees"] = [];
  for (const a of victims) {
    if (!a.workdir || !a.branch) continue;
    const { removeWorktreeIfMerged } = await import("../supervisor/worktree.ts");
    const r = await removeWorktreeIfMerged(t.root, a.workdir, a.branch);
    if (!r.removed) keptWorktrees.push({ agent: a.name, why: r.why });
  }
  await removeAgentRecords(t, victims);
  return { removed: victims, keptWorktrees };
}

/** Deletes agents' records and mailboxes; messages still queued go to the conductor's inbox. */
async function removeAgentRecords(t: Ctx, agents: Agent[]) {
  for (const a of agents) {
    const k = t.keys;
    const leftovers = [
      ...await t.redis.lrange(k.processing(a.id), 0, -1),
      ...await t.redis.lrange(k.urgent(a.id), 0, -1),
      ...await t.redis.lrange(k.inbox(a.id), 0, -1),
    ];
    const m = t.redis.multi();
    if (leftovers.length) m.rpush(k.inbox(SUPERVISOR_ID), ...leftovers);
    m.del(
      k.agent(a.id),
      k.inbox(a.id),
      k.urgent(a.id),
      k.processing(a.id),
      k.wake(a.id),
      k.notes(a.id),
    )
      .srem(k.agents, a.id)
      .hdel(k.agentNames, a.name.toLowerCase());
    await execDurably(t.redis, m, k.agents);
    await emitEvent(t, {
      type: "agent_pruned",
      agent_id: a.id,
      message: `${a.name} removed${
        leftovers.length ? `; ${leftovers.length} queued message(s) moved to the conductor` : ""
      }`,
    });
  }
}

export interface RecoverResult {
  checked: number;
  recovered: { agent: Agent; why: string }[];
  /** Agents that look stuck but whose supervisor is alive: left running, with the reason. */
  skipped: { agent: Agent; why: string }[];
}

/** Whether a supervisor of the town runs on this machine (its lock file): see hosts.ts. */
export { localSupervisorRunning };

/**
 * An agent is dead only when its supervisor is: its heartbeat has expired and (on this host) no
 * supervisor process holds the town's supervisor lock. Dead agents are stopped and their work
 * requeued. Agents of a live supervisor are never stopped here, even when their round has run
 * past the round timeout (that supervisor enforces the timeout; 'tt kill' stops one by hand).
 */
export async function recoverAgents(t: TownContext): Promise<RecoverResult> {
  const agents = (await listAgents(t)).filter((a) => ACTIVE.includes(a.state));
  const recovered: RecoverResult["recovered"] = [];
  const skipped: RecoverResult["skipped"] = [];
  const limitMs = (t.config.agent.round_timeout_secs + 60) * 1000;
  const alive = new Map<string, boolean>();
  for (const a of agents) {
    const host = a.host ?? thisHost();
    if (!alive.has(host)) {
      alive.set(
        host,
        !!(await supervisorInfo(t, host)) ||
          (host === thisHost() && await localSupervisorRunning(t.root, host)),
      );
    }
    if (alive.get(host)) {
      if (a.round_started_at && Date.now() - Date.parse(a.round_started_at) > limitMs) {
        skipped.push({
          agent: a,
          why:
            `its round ${a.round} has run longer than the ${t.config.agent.round_timeout_secs} s timeout, but its supervisor on ${host} is alive: 'tt kill ${a.name}' stops it`,
        });
      }
      continue;
    }
    const why = `its supervisor on ${host} is not running`;
    await stopWithoutSupervisor(t, a, `recovered: ${why}`);
    recovered.push({ agent: a, why });
  }
  return { checked: agents.length, recovered, skipped };
}

export type WaitCondition = "idle" | "stopped";

/**
 * Has the agent reached the condition? idle = idle with nothing queued; stopped = terminal. For
 * idle, an agent that cannot run until a human acts (paused, needs_input, over_budget) is settled:
 * waiting on its work could never end.
 */
export async function conditionMet(t: Ctx, agent: Agent, until: WaitCondition): Promise<boolean> {
  if (isTerminalAgent(agent.state)) return true;
  if (until === "stopped") return false;
  if (["paused", "needs_input", "over_budget", "lost"].includes(agent.state)) {
    return true; // lost: its host is gone and its work moved ([agent] on_host_loss)
  }
  if (agent.state !== "idle") return false;
  const [u, i, p] = await Promise.all([
    t.redis.llen(t.keys.urgent(agent.id)),
    t.redis.llen(t.keys.inbox(agent.id)),
    t.redis.llen(t.keys.processing(agent.id)),
  ]);
  return u + i + p === 0;
}

/**
 * Blocks (on the event stream, no polling) until every agent meets the condition, or the
 * timeout passes. With no agent ids: every non-terminal agent of the town.
 */
export async function waitForAgents(
  t: Ctx,
  ids: string[] | undefined,
  until: WaitCondition,
  timeoutMs?: number,
): Promise<{ met: boolean; agents: Agent[] }> {
  const { followEvents } = await import("./events.ts");
  const check = async () => {
    const agents = ids
      ? (await Promise.all(ids.map((id) => getAgent(t, id)))).filter((a): a is Agent => !!a)
      : await listAgents(t);
    const results = await Promise.all(agents.map((a) => conditionMet(t, a, until)));
    return { met: results.every(Boolean), agents };
  };
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let outcome = await check();
  if (outcome.met) return outcome;
  const lastId =
    ((await t.redis.xrevrange(t.keys.events, "+", "-", "COUNT", 1)) as [string, string[]][])[0]
      ?.[0] ??
      "0-0";
  // Re-check after the subscription point so nothing between check and follow is missed.
  outcome = await check();
  if (outcome.met) return outcome;
  if (timeoutMs !== undefined) timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    await followEvents(t, lastId, async () => {
      outcome = await check();
      if (outcome.met) ac.abort();
    }, ac.signal);
  } finally {
    clearTimeout(timer);
  }
  return outcome;
}
