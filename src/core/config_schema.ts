/**
 * The schemas of tt's config files (`tinytown.toml`, `~/.tt/config.toml`, `~/.tt/towns.toml`),
 * with zod's messages naming the bad field. config.ts loads them only when a file changed since
 * its validated form was cached, so one-shot commands do not load zod.
 */
import { z } from "zod";
import { singleLine, TtError } from "./errors.ts";
import { BudgetConfig, PricingConfig } from "./usage/config_schema.ts";

const AgentCli = z.object({
  command: z.string().min(1, "command must not be empty"),
  workdir: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
}).strict();

/** What an agent may do beyond its defaults (src/supervisor/channel/powers.ts says what each allows). */
export const AGENT_POWERS = [
  "spawn",
  "assign",
  "kill",
  "cancel",
  "inbox",
  "history",
  "wait",
  "verify",
] as const;
export type AgentPower = (typeof AGENT_POWERS)[number];

export const TownConfig = z.object({
  name: z.string().min(1),
  /** The town's identity on its Redis (a uuid, written by `tt init`; see identity.ts). */
  id: z.uuid("id must be a uuid (tt init writes it; remove the line to get a new one)")
    .optional(),
  default_cli: z.string().min(1).default("claude"),
  conductor_cli: z.string().min(1).optional(),
  redis: z.object({
    /**
     * External Redis: `redis://`, `rediss://`, `unix://`, `redis+cluster://` or
     * `redis+sentinel://` (`rediss+…` for TLS). Unset ⇒ tt manages its own server.
     */
    url: z.string().min(1).optional(),
    /** Every state change waits (WAIT) until this many replicas hold it before tt reports it. */
    wait_replicas: z.number().int().nonnegative().max(64).default(0),
    /** How long that WAIT may take; fewer replicas by then fails the command. */
    wait_timeout_ms: z.number().int().positive().max(60_000).default(1000),
  }).strict().prefault({}),
  agent: z.object({
    idle_timeout_secs: z.number().int().nonnegative().default(300),
    round_timeout_secs: z.number().int().positive().default(1800),
    max_rounds: z.number().int().positive().default(10),
    worktrees: z.boolean().default(true),
    /** Seconds between SIGTERM and SIGKILL when a round is killed or times out. */
    kill_grace_secs: z.number().nonnegative().default(5),
    /** Extra environment variables passed to agent CLIs (secret-looking ones are withheld). */
    pass_env: z.array(z.string()).default([]),
    /** Powers beyond the defaults, by agent name or role: `lead = ["spawn", "assign"]`. */
    powers: z.record(z.string(), z.array(z.enum(AGENT_POWERS))).default({}),
    /** A round whose CLI shows no progress for this long ends as stalled; 0 = never. */
    stall_timeout_secs: z.number().int().nonnegative().default(300),
    /**
     * A stopped agent's queued work: back to the backlog, failed, or kept on the agent (for
     * `tt restart` or `tt reclaim`).
     */
    on_stop: z.enum(["backlog", "fail", "keep"]).default("backlog"),
    /**
     * A host whose supervisor heartbeat is older than this is lost (the heartbeat's TTL; it is
     * refreshed three times per period).
     */
    host_timeout_secs: z.number().int().min(1).max(3600).default(10),
    /** A lost host's agents' queued and in-flight work: to the backlog, or left waiting for it. */
    on_host_loss: z.enum(["backlog", "wait"]).default("backlog"),
    /** Agent CLIs and verify checks in a sandbox: auto = where it works (see supervisor/sandbox). */
    sandbox: z.enum(["auto", "on", "off"]).default("auto"),
    /** Hosts sandboxed rounds may reach besides their CLI's API hosts (`*.example.com`, IPs). */
    allow_hosts: z.array(
      z.string().regex(/^[A-Za-z0-9*.:\[\]-]+$/, "a host name, *.domain or an IP address"),
    ).default([]),
  }).strict().prefault({}),
  agent_clis: z.record(z.string(), AgentCli).default({}),
  /** `command` runs (sh -c, the event's JSON on stdin) when an agent needs input, fails or is rate limited. */
  notify: z.object({ command: z.string().min(1).optional() }).strict().prefault({}),
  /** Spending limits checked before every round (src/core/usage/budget.ts). */
  budget: BudgetConfig.prefault({}),
  /** USD per million tokens by model (or CLI name), for CLIs that report no cost. */
  pricing: PricingConfig.default({}),
  townhall: z.object({
    bind: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
    /**
     * `auto`: every request needs an API key; the first `tt townhall` of a town without one
     * creates one (admin) and prints it once. `api_key`: the same, but never creates one.
     * `none`: no key at all (explicit opt-out; refused on a non-loopback bind).
     */
    auth: z.enum(["auto", "none", "api_key"]).default("auto"),
    /**
     * `Host` header values accepted besides the bind address, localhost, 127.0.0.1 and [::1]
     * (a name, or name:port; a name alone also matches with the listening port).
     */
    allowed_hosts: z.array(z.string().trim().min(1).max(255)).default([]),
    /** `Origin`s allowed to call (besides the server's own http://<host>:<port>); others get 403. */
    allowed_origins: z.array(z.string().trim().min(1).max(255)).default([]),
    /** Largest request body accepted (413 beyond). */
    max_body_bytes: z.number().int().positive().default(256 * 1024),
    /** Token buckets per API key (or client address without one); 0 disables a limit. */
    rate_limit: z.object({
      read_per_min: z.number().int().nonnegative().default(600),
      write_per_min: z.number().int().nonnegative().default(120),
      burst: z.number().int().positive().default(60),
    }).strict().prefault({}),
  }).strict().prefault({}),
}).strict();
export type TownConfig = z.infer<typeof TownConfig>;

/** Validates parsed data, naming the first bad field and the file. */
export function validate<T extends z.ZodType>(schema: T, data: unknown, path: string): z.infer<T> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.length ? issue.path.join(".") : "(top level)";
  throw new TtError(singleLine(`${path}: ${where}: ${issue.message}`));
}

export const GlobalConfig = z.object({
  default_cli: z.string().min(1).default("claude"),
  conductor_cli: z.string().min(1).optional(),
  /** Default `[redis] url` for towns created later. */
  redis_url: z.string().min(1).optional(),
  agent_clis: z.record(z.string(), z.string().min(1)).default({}),
}).strict();
export type GlobalConfig = z.infer<typeof GlobalConfig>;

export const TownsFile = z.object({
  towns: z.array(z.object({ path: z.string(), name: z.string() })).default([]),
});
