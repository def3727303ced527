/**
 * Budgets: what an agent spent over its rolling window (per-minute slots), what the town spent
 * today (the day bucket), and whether a `[budget]` limit is reached. Read-only: one pipeline for
 * any number of agents (its cost is bounded by the window's minutes, not by the rounds run).
 */
import type { Ctx } from "../agents.ts";
import type { Agent } from "../schemas.ts";
import { type BudgetConfig, type EffectiveLimits, limitsFor } from "./schema.ts";
import { dayOf, minuteOf, usageNow } from "./clock.ts";

export type BudgetName =
  | "agent_usd"
  | "agent_tokens"
  | "town_usd_per_day"
  | "town_tokens_per_day";

export interface Spent {
  /** Over the agent's window. */
  agent_usd: number;
  agent_tokens: number;
  /** Today (UTC), the whole town. */
  town_usd: number;
  town_tokens: number;
}

export interface OverBudget {
  budget: BudgetName;
  spent: number;
  limit: number;
  /** When enough of the window has rolled by (or the day ended) for the agent to go on. */
  resumeAtMs?: number;
  /** "agent_usd: $1.20 of $1.00 over 1d (20% over)". */
  text: string;
}

export interface AgentBudget {
  agent_id: string;
  limits: EffectiveLimits;
  spent: Spent;
  /** The first exhausted budget, if any. */
  over?: OverBudget;
  /** What is left of each configured budget (never negative). */
  left: Partial<Record<BudgetName, number>>;
}

type Slots = { minute: number; usd: number; tok: number }[];

function slotsOf(h: Record<string, string>, fromMinute: number): Slots {
  const by = new Map<number, { minute: number; usd: number; tok: number }>();
  for (const [k, v] of Object.entries(h)) {
    const [m, kind] = k.split("|");
    const minute = Number(m);
    if (!Number.isFinite(minute) || minute < fromMinute) continue;
    const s = by.get(minute) ?? { minute, usd: 0, tok: 0 };
    if (kind === "usd") s.usd += Number(v) || 0;
    if (kind === "tok") s.tok += Number(v) || 0;
    by.set(minute, s);
  }
  return [...by.values()].sort((a, b) => a.minute - b.minute);
}

const money = (n: number) => `$${n.toFixed(2)}`;

/** When the oldest slots will have left the window enough for `pick`'s sum to drop below limit. */
function rollsAt(slots: Slots, pick: (s: Slots[0]) => number, limit: number, windowMs: number) {
  let total = slots.reduce((a, s) => a + pick(s), 0);
  for (const s of slots) {
    total -= pick(s);
    if (total < limit) return s.minute * 60_000 + windowMs;
  }
  return undefined;
}

function judge(limits: EffectiveLimits, spent: Spent, slots: Slots, now: number) {
  const windowMs = limits.windowSecs * 1000;
  const midnight = Date.parse(`${dayOf(now)}T00:00:00Z`) + 86_400_000;
  const checks: [BudgetName, number | undefined, number, string, () => number | undefined][] = [
    [
      "agent_usd",
      limits.agent_usd,
      spent.agent_usd,
      `over ${limits.window}`,
      () => rollsAt(slots, (s) => s.usd, limits.agent_usd!, windowMs),
    ],
    [
      "agent_tokens",
      limits.agent_tokens,
      spent.agent_tokens,
      `over ${limits.window}`,
      () => rollsAt(slots, (s) => s.tok, limits.agent_tokens!, windowMs),
    ],
    ["town_usd_per_day", limits.town_usd_per_day, spent.town_usd, "today (UTC)", () => midnight],
    [
      "town_tokens_per_day",
      limits.town_tokens_per_day,
      spent.town_tokens,
      "today (UTC)",
      () => midnight,
    ],
  ];
  const left: Partial<Record<BudgetName, number>> = {};
  let over: OverBudget | undefined;
  for (const [name, limit, used, span, resume] of checks) {
    if (limit === undefined) continue;
    left[name] = Math.max(0, limit - used);
    if (over || used < limit) continue;
    const usd = name.endsWith("usd") || name === "town_usd_per_day";
    const pct = limit > 0 ? Math.round(((used - limit) / limit) * 100) : undefined;
    over = {
      budget: name,
      spent: used,
      limit,
      resumeAtMs: resume(),
      text: `${name}: ${usd ? money(used) : `${used} tokens`} of ${
        usd ? money(limit) : `${limit} tokens`
      } ${span}${pct !== undefined ? ` (${pct}% over)` : ""}`,
    };
  }
  return { over, left };
}

/** The budgets of `agents` (town defaults, role and agent overrides), in one round trip. */
export async function agentBudgets(
  t: Ctx,
  agents: Pick<Agent, "id" | "name" | "role">[],
  config: BudgetConfig,
  nowMs = usageNow(),
): Promise<Map<string, AgentBudget>> {
  const pipe = t.redis.pipeline();
  pipe.hmget(
    t.keys.usageDay(dayOf(nowMs)),
    "town||usd",
    "town||in",
    "town||out",
  );
  for (const a of agents) pipe.hgetall(t.keys.usageSlots(a.id));
  const res = (await pipe.exec()) ?? [];
  const [townUsd, townIn, townOut] = (res[0]?.[1] ?? []) as (string | null)[];
  const out = new Map<string, AgentBudget>();
  agents.forEach((a, i) => {
    const limits = limitsFor(config, a);
    const from = minuteOf(nowMs - limits.windowSecs * 1000) + 1;
    const slots = slotsOf((res[i + 1]?.[1] ?? {}) as Record<string, string>, from);
    const spent: Spent = {
      agent_usd: slots.reduce((s, x) => s + x.usd, 0),
      agent_tokens: slots.reduce((s, x) => s + x.tok, 0),
      town_usd: Number(townUsd) || 0,
      town_tokens: (Number(townIn) || 0) + (Number(townOut) || 0),
    };
    out.set(a.id, { agent_id: a.id, limits, spent, ...judge(limits, spent, slots, nowMs) });
  });
  return out;
}

/** Whether [budget] sets any limit, for any agent (else nothing needs reading). */
export function budgetsConfigured(config: BudgetConfig): boolean {
  const any = (l: object) =>
    ["agent_usd", "agent_tokens", "town_usd_per_day", "town_tokens_per_day"].some((k) =>
      (l as Record<string, unknown>)[k] !== undefined
    );
  return any(config) || [...Object.values(config.agents), ...Object.values(config.roles)].some(any);
}

/** Whether any budget is configured at all (else `tt status` shows no budget line). */
export function hasBudget(l: EffectiveLimits): boolean {
  return [l.agent_usd, l.agent_tokens, l.town_usd_per_day, l.town_tokens_per_day].some((x) =>
    x !== undefined
  );
}

/** "$1.20 of $1.00 over 1d; 3750 of 10000 tokens" for `tt status` and `tt budget`. */
export function budgetText(b: AgentBudget): string {
  const l = b.limits;
  const s = b.spent;
  const parts: string[] = [];
  if (l.agent_usd !== undefined) {
    parts.push(`${money(s.agent_usd)} of ${money(l.agent_usd)} over ${l.window}`);
  }
  if (l.agent_tokens !== undefined) {
    parts.push(`${s.agent_tokens} of ${l.agent_tokens} tokens over ${l.window}`);
  }
  if (l.town_usd_per_day !== undefined) {
    parts.push(`town ${money(s.town_usd)} of ${money(l.town_usd_per_day)} today`);
  }
  if (l.town_tokens_per_day !== undefined) {
    parts.push(`town ${s.town_tokens} of ${l.town_tokens_per_day} tokens today`);
  }
  return parts.join("; ");
}

/**
 * Adds each agent's budget (and a `line` for humans: "$1.20 of $1.00 over 1d") to status
 * entries. Agents with no budget get none; with no [budget] at all this reads nothing.
 */
export async function withBudgets(
  t: Ctx,
  entries: { agent: Agent; budget?: AgentBudget & { line?: string } }[],
  config: BudgetConfig,
): Promise<void> {
  if (!entries.length || !budgetsConfigured(config)) return;
  const budgets = await agentBudgets(t, entries.map((e) => e.agent), config);
  for (const e of entries) {
    const b = budgets.get(e.agent.id)!;
    if (hasBudget(b.limits)) e.budget = { ...b, line: budgetText(b) };
  }
}
