/**
 * Budgets and usage: the limits that apply to an agent (from the `[budget]` section, whose schema
 * is in config_schema.ts) and the JSON usage records that cross Redis. No zod here: one-shot
 * commands such as `tt status` read these.
 */
import type { AgentLimits, BudgetConfig } from "./config_schema.ts";
import { type Infer, record, string } from "../record.ts";

export type { AgentLimits, BudgetConfig, Price } from "./config_schema.ts";

/** "30m", "5h", "1d", "90s", "2w" → seconds; undefined when it is not a duration. */
export function parseWindow(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(s.trim());
  if (!m) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as "s"];
  const secs = Math.round(Number(m[1]) * unit);
  return secs >= 60 ? secs : undefined;
}

/** The limits that apply to one agent, with the window in seconds. */
export interface EffectiveLimits {
  agent_usd?: number;
  agent_tokens?: number;
  windowSecs: number;
  window: string;
  hard: boolean;
  town_usd_per_day?: number;
  town_tokens_per_day?: number;
}

export const DEFAULT_WINDOW = "1d";

/** Town defaults, then the role's override, then the agent's own. */
export function limitsFor(
  b: BudgetConfig,
  agent: { name: string; role?: string },
): EffectiveLimits {
  const role = agent.role ? b.roles[agent.role] : undefined;
  const own = b.agents[agent.name];
  const pick = <K extends keyof AgentLimits>(k: K): AgentLimits[K] => own?.[k] ?? role?.[k] ?? b[k];
  const window = pick("window") ?? DEFAULT_WINDOW;
  return {
    agent_usd: pick("agent_usd"),
    agent_tokens: pick("agent_tokens"),
    window,
    windowSecs: parseWindow(window)!,
    hard: pick("hard") ?? false,
    town_usd_per_day: b.town_usd_per_day,
    town_tokens_per_day: b.town_tokens_per_day,
  };
}

/** The longest window any agent uses (how long the per-minute slots are kept). */
export function longestWindowSecs(b: BudgetConfig): number {
  const all = [b, ...Object.values(b.agents), ...Object.values(b.roles)];
  return Math.max(
    86400,
    ...all.map((l) => (l.window ? parseWindow(l.window)! : 0)),
  );
}

/**
 * How long one slot of the rolling windows is, in minutes: a hundredth of the shortest window
 * configured (at least a minute), so a window is read from about 100 slots whatever the rounds.
 * A spend leaves the window when its slot's start does: up to one slot early.
 */
export function slotMinutesFor(b: BudgetConfig): number {
  const all = [b, ...Object.values(b.agents), ...Object.values(b.roles)];
  const windows = all.map((l) => (l.window ? parseWindow(l.window)! : 0)).filter((w) => w > 0);
  const shortest = Math.min(parseWindow(DEFAULT_WINDOW)!, ...windows);
  return Math.max(1, Math.floor(shortest / 60 / 100));
}

/** A CLI account's usage limit, shared by every agent on that account (usage/limits.ts). */
export const UsageLimit = record({
  reset_at: string(),
  family: string(),
  /** The agent whose round hit it. */
  agent: string(),
  message: string(),
}, "usage limit");
export type UsageLimit = Infer<typeof UsageLimit>;
