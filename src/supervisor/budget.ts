/**
 * Budgets and shared usage limits in the supervisor. Before every round the agent's loop asks
 * `BudgetGate.hold`: a CLI account under a usage limit makes the agent `rate_limited` until the
 * reset; a spent `[budget]` makes it `over_budget` (its work stays queued) until the window rolls
 * (a timer to that edge) or tinytown.toml raises the budget (a file watch wakes it). After every
 * round `recordRound` writes its usage and shares a usage limit with the account's other agents.
 */
import type { TownContext } from "../core/town.ts";
import { getAgent, setAgentState, type StateChange } from "../core/agents.ts";
import type { Agent, AgentState } from "../core/schemas.ts";
import { loadTownConfig, TOWN_FILE, type TownConfig } from "../core/config.ts";
import { ignoreConflict } from "../core/errors.ts";
import { agentBudgets, budgetsConfigured, type OverBudget } from "../core/usage/budget.ts";
import { accountOf, activeUsageLimit, shareUsageLimit } from "../core/usage/limits.ts";
import { recordRoundUsage } from "../core/usage/record.ts";
import { limitsFor, longestWindowSecs, slotMinutesFor } from "../core/usage/schema.ts";
import { usageNow } from "../core/usage/clock.ts";
import { resolveCli, type ResolvedCli } from "./cli.ts";
import { notifyState } from "./notify.ts";
import { DEFAULT_LIMIT_WAIT_MS } from "./reaction.ts";
import type { CliOutcome } from "./clis/types.ts";

const live = new Map<string, { stamp: string; config: TownConfig }>();

/**
 * The town's config as it is on disk now (the supervisor's copy is from its start): parsed again
 * only when the file's mtime or size changed; a file that does not parse keeps the last good one.
 */
export async function liveConfig(town: TownContext): Promise<TownConfig> {
  return (await readLive(town)).config;
}

/** liveConfig, and whether the file on disk did not parse (being edited, or broken). */
async function readLive(town: TownContext): Promise<{ config: TownConfig; broken: boolean }> {
  const path = `${town.root}/${TOWN_FILE}`;
  const st = await Deno.stat(path).catch(() => undefined);
  const stamp = st ? `${st.mtime?.getTime()}:${st.size}:${st.ino}` : "";
  const cached = live.get(town.root);
  if (cached && cached.stamp === stamp) return { config: cached.config, broken: false };
  try {
    const config = await loadTownConfig(town.root);
    live.set(town.root, { stamp, config });
    return { config, broken: false };
  } catch {
    return { config: cached?.config ?? town.config, broken: true };
  }
}

/** How often a spent agent looks at a tinytown.toml that does not parse (an edit in progress). */
const BROKEN_FILE_RECHECK_SECS = 1;

/** The account of the agent's CLI (usage/limits.ts), from the supervisor's environment. */
export function accountFor(cli: ResolvedCli): string {
  return accountOf(cli.family.name, { ...Deno.env.toObject(), ...cli.env });
}

const GATED: AgentState[] = ["idle", "starting", "over_budget"];

export class BudgetGate {
  constructor(
    readonly town: TownContext,
    readonly agentId: string,
    private log: (line: string) => void,
  ) {}

  /**
   * Whether the agent may not start a round now; then its state says why and this has waited
   * (on the wake list, up to the window's edge) or changed the state: the loop reads it again.
   */
  async hold(agent: Agent, block: (secs: number) => Promise<void>): Promise<boolean> {
    if (!GATED.includes(agent.state)) return false;
    const cfg = await liveConfig(this.town);
    const cli = resolveCli(cfg, agent.cli);
    const limit = await activeUsageLimit(this.town, accountFor(cli));
    if (limit) {
      const why =
        `usage limit of the ${limit.family} account (hit by ${limit.agent}): ${limit.message}`;
      await this.#enter(agent, "rate_limited", {
        eventType: "agent_rate_limited",
        message: `rate limited until ${limit.reset_at}: ${why}`,
        why,
        resumeAt: limit.reset_at,
      });
      return true; // the loop waits for the reset (AgentLoop#waitForReset)
    }
    const b = budgetsConfigured(cfg.budget)
      ? (await agentBudgets(this.town, [agent], cfg.budget)).get(agent.id)!
      : undefined;
    if (b?.over) {
      if (agent.state !== "over_budget") {
        if (!(await this.#enter(agent, "over_budget", overChange(b.over)))) return true;
      }
      const offset = usageNow() - Date.now();
      const wait = b.over.resumeAtMs === undefined
        ? 0
        : Math.max(0.1, (b.over.resumeAtMs - offset - Date.now()) / 1000 + 0.05);
      // Watch first, then look at the file: an edit made before the look is seen by it, one made
      // after wakes the block.
      const stop = watchTownFile(this.town.root, () => this.#wake());
      try {
        const now = await readLive(this.town);
        if (now.config === cfg) await block(now.broken ? BROKEN_FILE_RECHECK_SECS : wait);
      } finally {
        stop();
      }
      return true;
    }
    if (agent.state === "over_budget") {
      await setAgentState(this.town, agent.id, "idle", {
        eventType: "agent_budget_ok",
        from: ["over_budget"],
        message: "budget available again: resuming",
      }).catch(ignoreConflict);
      return true;
    }
    return false;
  }

  async #enter(agent: Agent, state: AgentState, change: StateChange): Promise<boolean> {
    const moved = await setAgentState(this.town, agent.id, state, { from: GATED, ...change })
      .then(() => true, (e) => (ignoreConflict(e), false));
    if (moved) await notifyState(this.town, agent.id, state, change, this.log);
    return moved;
  }

  async #wake() {
    const key = this.town.keys.wake(this.agentId);
    await this.town.redis.multi().lpush(key, "1").ltrim(key, 0, 0).exec().catch(() => {});
  }
}

function overChange(o: OverBudget): StateChange {
  const at = o.resumeAtMs === undefined
    ? undefined
    : new Date(o.resumeAtMs - (usageNow() - Date.now())).toISOString();
  const why = `${o.text}; ${
    at ? `resumes at ${at} (the window rolls) or` : "resumes"
  } when [budget] in ${TOWN_FILE} is raised`;
  return {
    eventType: "agent_over_budget",
    message: `over budget: ${why}`,
    why,
    resumeAt: at,
  };
}

// One watch of the town root per supervisor, shared by the agents waiting on their budget.
const watchers = new Map<string, { listeners: Set<() => void>; watcher: Deno.FsWatcher }>();

/** Calls `onChange` when tinytown.toml changes; returns the unsubscribe. */
export function watchTownFile(root: string, onChange: () => void): () => void {
  let w = watchers.get(root);
  if (!w) {
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(root, { recursive: false });
    } catch {
      return () => {}; // no inotify: the window's timer still resumes the agent
    }
    const entry = { listeners: new Set<() => void>(), watcher };
    watchers.set(root, entry);
    (async () => {
      for await (const ev of watcher) {
        // Every tt command reads the file ("access"): only changes wake anyone.
        if (ev.kind !== "access" && ev.paths.some((p) => p.endsWith(`/${TOWN_FILE}`))) {
          for (const l of entry.listeners) l();
        }
      }
    })().catch(() => {});
    w = entry;
  }
  const entry = w;
  entry.listeners.add(onChange);
  return () => {
    entry.listeners.delete(onChange);
    if (!entry.listeners.size) {
      watchers.delete(root);
      entry.watcher.close();
    }
  };
}

export interface RoundRecord {
  town: TownContext;
  agent: Agent;
  cli: ResolvedCli;
  outcome: CliOutcome;
  round: number;
  startedMs: number;
  taskIds: string[];
}

/**
 * After a round: its outcome and usage in one script (usage/record.ts); a usage limit it hit
 * is shared with every agent on the same account (they wait for the reset too).
 */
export async function recordRound(r: RoundRecord): Promise<void> {
  const cfg = await liveConfig(r.town);
  const o = r.outcome;
  await recordRoundUsage(r.town, {
    agentId: r.agent.id,
    cli: r.cli.name,
    model: o.model,
    sessionId: o.sessionId,
    tokens: o.usage,
    costUsd: o.costUsd,
    durationMs: Date.now() - r.startedMs,
    round: r.round,
    taskIds: r.taskIds,
    pricing: cfg.pricing,
    keepSecs: longestWindowSecs(cfg.budget),
    slotMinutes: slotMinutesFor(cfg.budget),
  });
  if (o.error?.kind === "usage_limit") {
    const reset = o.error.resetAt && Date.parse(o.error.resetAt) > Date.now()
      ? o.error.resetAt
      : new Date(Date.now() + DEFAULT_LIMIT_WAIT_MS).toISOString();
    await shareUsageLimit(r.town, accountFor(r.cli), {
      reset_at: reset,
      family: r.cli.family.name,
      agent: r.agent.name,
      message: o.error.message.slice(0, 200),
    });
  }
}

/**
 * `hard = true`: a check for the running round, fed the parser's running totals, that says when
 * the round has crossed the agent's cap (the round is then ended). Undefined without a hard cap.
 */
export async function hardCap(
  town: TownContext,
  agent: Agent,
  cfg: TownConfig,
  price: (o: Readonly<CliOutcome>) => number | undefined,
): Promise<((o: Readonly<CliOutcome>) => string | undefined) | undefined> {
  const limits = limitsFor(cfg.budget, agent);
  if (!limits.hard || (limits.agent_usd === undefined && limits.agent_tokens === undefined)) {
    return undefined;
  }
  const fresh = await getAgent(town, agent.id) ?? agent;
  const b = (await agentBudgets(town, [fresh], cfg.budget)).get(agent.id)!;
  return (o) => {
    const usd = b.spent.agent_usd + (o.costUsd ?? price(o) ?? 0);
    const tok = b.spent.agent_tokens + (o.usage ? o.usage.input + o.usage.output : 0);
    if (limits.agent_usd !== undefined && usd >= limits.agent_usd) {
      return `hard budget: agent_usd $${usd.toFixed(2)} of $${
        limits.agent_usd.toFixed(2)
      } reached mid-round`;
    }
    if (limits.agent_tokens !== undefined && tok >= limits.agent_tokens) {
      return `hard budget: agent_tokens ${tok} of ${limits.agent_tokens} reached mid-round`;
    }
    return undefined;
  };
}
