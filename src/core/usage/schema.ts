/**
 * The `[budget]` and `[pricing]` sections of tinytown.toml, and the JSON usage records that cross
 * Redis. Only zod here: config.ts imports it, so `tt --help` stays cheap.
 */
import { z } from "zod";

/** "30m", "5h", "1d", "90s", "2w" → seconds; undefined when it is not a duration. */
export function parseWindow(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(s.trim());
  if (!m) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as "s"];
  const secs = Math.round(Number(m[1]) * unit);
  return secs >= 60 ? secs : undefined;
}

const Window = z.string().refine(
  (s) => parseWindow(s) !== undefined,
  'a duration of at least a minute such as "30m", "5h" or "1d"',
);
const Usd = z.number().nonnegative();
const Tokens = z.number().int().nonnegative();

/** Task budgets are not enforced yet: refused with a clear message instead of being ignored. */
const NotYet = z.never({
  error:
    "task budgets are not enforced yet: use agent_usd / agent_tokens (per agent over a window) or town_usd_per_day",
});

/** Limits that can be set per agent (an agent's own, or its role's). */
const AgentLimits = z.object({
  /** What the agent may spend over `window`, in USD (as its CLI reported or [pricing] computed). */
  agent_usd: Usd.optional(),
  /** Input + output tokens the agent may use over `window`. */
  agent_tokens: Tokens.optional(),
  window: Window.optional(),
  task_usd: NotYet.optional(),
  task_tokens: NotYet.optional(),
  /** Also end a running round once its streamed usage crosses agent_usd / agent_tokens. */
  hard: z.boolean().optional(),
}).strict();
export type AgentLimits = z.infer<typeof AgentLimits>;

export const BudgetConfig = AgentLimits.extend({
  /** What the whole town may spend per UTC day. */
  town_usd_per_day: Usd.optional(),
  town_tokens_per_day: Tokens.optional(),
  /** By agent name: overrides of the limits above. */
  agents: z.record(z.string(), AgentLimits).default({}),
  /** By role: overrides for the agents with that role (an agent's own override wins). */
  roles: z.record(z.string(), AgentLimits).default({}),
}).strict();
export type BudgetConfig = z.infer<typeof BudgetConfig>;

/** USD per million tokens of one model (or CLI name), for CLIs that report tokens but no cost. */
export const Price = z.object({
  input_usd_per_mtok: Usd,
  output_usd_per_mtok: Usd,
  /** Input tokens served from a cache; unset = priced as input. */
  cached_usd_per_mtok: Usd.optional(),
}).strict();
export type Price = z.infer<typeof Price>;
export const PricingConfig = z.record(z.string(), Price);

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
export const UsageLimit = z.object({
  reset_at: z.string(),
  family: z.string(),
  /** The agent whose round hit it. */
  agent: z.string(),
  message: z.string(),
});
export type UsageLimit = z.infer<typeof UsageLimit>;
