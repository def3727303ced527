/**
 * The schemas of the `[budget]` and `[pricing]` sections of tinytown.toml (the town's config
 * schema, ../config_schema.ts, includes them).
 */
import { z } from "zod";
import { parseWindow } from "./schema.ts";

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
