/**
 * Files on disk: the town's `tinytown.toml`, the user's `~/.tt/config.toml` and the registry of
 * towns `~/.tt/towns.toml`. No Redis here, so `tt plan` and `tt --help` stay cheap.
 */
import { parse as parseToml, stringify as stringifyToml, TomlError } from "smol-toml";
import { z } from "zod";
import { singleLine, TtError } from "./errors.ts";
import { TOWN_FILE } from "./town_root.ts";

export { exists, findTownRoot, realPath, RUNTIME_DIR, TOWN_FILE } from "./town_root.ts";
import { isValidTownName, sanitizeTownName, TOWN_NAME_RULE } from "./keys.ts";
import { urlPassword } from "./secrets.ts";
import { warnOnce } from "./warnings.ts";
import { BudgetConfig, PricingConfig } from "./usage/schema.ts";

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

/** Parses TOML text, turning syntax errors into `file:line:col: what` messages. */
export function parseTomlFile(text: string, path: string): unknown {
  try {
    return parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const what = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new TtError(`${path}:${e.line}:${e.column}: invalid TOML: ${what}`);
    }
    throw e;
  }
}

/** Validates parsed data, naming the first bad field and the file. */
export function validate<T extends z.ZodType>(schema: T, data: unknown, path: string): z.infer<T> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.length ? issue.path.join(".") : "(top level)";
  throw new TtError(singleLine(`${path}: ${where}: ${issue.message}`));
}

export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

export async function loadTownConfig(root: string): Promise<TownConfig> {
  const path = `${root}/${TOWN_FILE}`;
  const text = await readTextIfExists(path);
  if (text === undefined) {
    throw new TtError(`no ${TOWN_FILE} in ${root}: run 'tt init' there first`);
  }
  const cfg = validate(TownConfig, parseTomlFile(text, path), path);
  if (!isValidTownName(cfg.name)) {
    throw new TtError(singleLine(
      `${path}: name: '${cfg.name}' is not a valid town name: use ${TOWN_NAME_RULE} (try '${
        sanitizeTownName(cfg.name) ?? "tinytown"
      }')`,
    ));
  }
  if (cfg.redis.url && urlPassword(cfg.redis.url) !== undefined) {
    warnOnce(
      `${path} holds a Redis password in [redis] url, and this file is meant to be committed: ` +
        `move the password to REDIS_URL (or ~/.tt/config.toml redis_url) and drop it from the file`,
      "password-in-town-file",
    );
  }
  return cfg;
}

/**
 * The text of a new tinytown.toml: every setting shown, with comments. `redisUrl` must come
 * without a password (see secrets.ts `withoutPassword`): this file is committed.
 */
export function renderTownConfig(
  name: string,
  defaultCli: string,
  redisUrl: string | undefined,
  id: string,
): string {
  if (redisUrl && urlPassword(redisUrl) !== undefined) {
    throw new TtError("internal: a Redis password must not be written into tinytown.toml");
  }
  return `# Tinytown town. Commit this file; runtime state lives in .tt/ (git-ignored).
name = ${JSON.stringify(name)}
id = ${JSON.stringify(id)}   # this town's identity on its Redis (tt init)
default_cli = ${JSON.stringify(defaultCli)}   # a preset (tt config shows them) or any command
# conductor_cli = "claude"

[redis]
# Unset: tt runs its own redis-server on a unix socket in .tt/ (AOF, started on first use).
# Set (or export REDIS_URL) to use an existing Redis. No password here: it comes from REDIS_URL,
# or from ~/.tt/config.toml redis_url when that names the same host, port and user.
${redisUrl ? `url = ${JSON.stringify(redisUrl)}` : '# url = "redis://user@host:6379/0"'}
# Also redis+cluster://host:port,host:port… and redis+sentinel://host:port,…/<master-name>.
# wait_replicas = 1      # every state change waits for 1 replica (WAIT) before tt reports it

[agent]
idle_timeout_secs = 300    # an idle agent stops after this long; 0 = never
round_timeout_secs = 1800  # a CLI round is killed after this long
max_rounds = 10            # rounds before an agent stops (tt spawn --rounds overrides)
worktrees = true           # in a git repo, each agent works in its own worktree (branch tt/<agent>)
# stall_timeout_secs = 300 # a round whose CLI shows no progress this long ends as stalled; 0 = never
# on_stop = "backlog"      # a stopped agent's queued work: "backlog", "fail" or "keep"
# on_host_loss = "backlog" # a lost host's agents' work (tt spawn --host): "backlog" or "wait"
# host_timeout_secs = 10   # a host whose supervisor is silent this long is lost
# sandbox = "auto"         # agent CLIs and checks in bubblewrap where it works; "on" | "off"
# allow_hosts = []         # hosts agents may reach besides their CLI's API (e.g. "registry.npmjs.org")

[townhall]
bind = "127.0.0.1"
port = 8080
# auth = "auto"           # every request needs an API key; auto creates the first one (printed once)
#                         # api_key: never create one; none: no key (loopback only, dangerous)
# allowed_hosts = []      # Host names besides 127.0.0.1, localhost, [::1] (e.g. behind a proxy)
# allowed_origins = []    # browser Origins allowed to call, e.g. "https://dash.example.com"
# max_body_bytes = 262144
# [townhall.rate_limit]   # per API key (or client address); 0 disables
# read_per_min = 600
# write_per_min = 120
# burst = 60

# Budgets, checked before every round: a spent one stops new rounds (work stays queued) until
# the window rolls or the budget is raised here (tt budget shows what is left).
# [budget]
# agent_usd = 5.00        # what each agent may spend over the window (USD)
# agent_tokens = 2000000  # and/or input + output tokens
# window = "1d"           # rolling: "30m", "5h", "1d"
# town_usd_per_day = 20   # the whole town, per UTC day
# hard = false            # true: also end a running round that crosses agent_usd/agent_tokens
# [budget.roles.reviewer] # overrides by role, and by agent name ([budget.agents.NAME])
# agent_usd = 1.00
# [pricing."gpt-5"]        # USD per million tokens, for CLIs that report tokens but no cost
# input_usd_per_mtok = 1.25
# output_usd_per_mtok = 10

# Custom agent CLIs, or overrides of the built-in presets. The prompt arrives on stdin, or
# write {prompt_file} where the CLI wants the path of a file holding it.
# [agent_clis.mycli]
# command = "mycli --non-interactive"
`;
}

/** Writes a file atomically (temp file + rename), so a crash never leaves half a file. */
export async function writeFileAtomic(path: string, text: string, mode?: number): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, text, mode === undefined ? undefined : { mode });
  await Deno.rename(tmp, path);
}

// ---- user-level files (~/.tt) ----

/** `TT_HOME`, else `~/.tt`. */
export function ttHome(): string {
  const explicit = Deno.env.get("TT_HOME");
  if (explicit) return explicit;
  const home = Deno.env.get("HOME");
  if (!home) throw new TtError("HOME is not set: set HOME or TT_HOME");
  return `${home}/.tt`;
}

export const GlobalConfig = z.object({
  default_cli: z.string().min(1).default("claude"),
  conductor_cli: z.string().min(1).optional(),
  /** Default `[redis] url` for towns created later. */
  redis_url: z.string().min(1).optional(),
  agent_clis: z.record(z.string(), z.string().min(1)).default({}),
}).strict();
export type GlobalConfig = z.infer<typeof GlobalConfig>;

export async function loadGlobalConfig(): Promise<GlobalConfig> {
  const path = `${ttHome()}/config.toml`;
  const text = await readTextIfExists(path);
  return validate(GlobalConfig, text === undefined ? {} : parseTomlFile(text, path), path);
}

/**
 * `~/.tt` holds a Redis password (config.toml redis_url): the directory is 0700 and its files
 * 0600, also when they were made by an older tt with the umask's 0755/0644.
 */
async function privateHome(): Promise<string> {
  const dir = ttHome();
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  return dir;
}

/** Writes a file of `~/.tt` (0600, atomically: a 0644 file it replaces goes away). */
async function writePrivate(name: string, text: string): Promise<string> {
  const path = `${await privateHome()}/${name}`;
  await writeFileAtomic(path, text, 0o600);
  await Deno.chmod(path, 0o600); // the umask may have cleared bits, never added: make it exact
  return path;
}

export async function saveGlobalConfig(cfg: GlobalConfig): Promise<string> {
  return await writePrivate("config.toml", stringifyToml(cfg) + "\n");
}

const TownsFile = z.object({
  towns: z.array(z.object({ path: z.string(), name: z.string() })).default([]),
});
export type RegisteredTown = { path: string; name: string };

export async function loadTownRegistry(): Promise<RegisteredTown[]> {
  const path = `${ttHome()}/towns.toml`;
  const text = await readTextIfExists(path);
  return text === undefined ? [] : validate(TownsFile, parseTomlFile(text, path), path).towns;
}

export async function registerTown(town: RegisteredTown): Promise<void> {
  const towns = (await loadTownRegistry()).filter((t) => t.path !== town.path);
  towns.push(town);
  await writePrivate("towns.toml", stringifyToml({ towns }) + "\n");
}
