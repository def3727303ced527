/**
 * Files on disk: the town's `tinytown.toml`, the user's `~/.tt/config.toml` and the registry of
 * towns `~/.tt/towns.toml`. No Redis here, so `tt plan` and `tt --help` stay cheap; and neither zod
 * nor the TOML parser unless a file changed since its validated form was cached (validatedOnce).
 */
import { singleLine, TtError } from "./errors.ts";
import { RUNTIME_DIR, TOWN_FILE } from "./town_root.ts";
import type { z } from "zod";
import type { GlobalConfig, TownConfig } from "./config_schema.ts";
import { VERSION } from "../version.ts";

export { exists, findTownRoot, realPath, RUNTIME_DIR, TOWN_FILE } from "./town_root.ts";
export type { AgentPower, GlobalConfig, TownConfig } from "./config_schema.ts";
import { isValidTownName, sanitizeTownName, TOWN_NAME_RULE } from "./keys.ts";
import { urlPassword } from "./secrets.ts";
import { warnOnce } from "./warnings.ts";

// ---- the validated files, cached ----

/** Next to the file it caches: `.tt/config-cache.json` of a town, `~/.tt/config-cache.json`. */
const CACHE_FILE = "config-cache.json";

/**
 * The validated form of a config file's `text`: from `cachePath` when it was made from exactly
 * this text by this tt, else `validate()` (which loads zod and the schemas, ~30 ms of a one-shot
 * command), then cached. Files that failed validation are never cached.
 *
 * The cache sits with state tt already trusts: a town's in `.tt/` (hidden from sandboxed agents,
 * with the Redis socket and its AOF), the user's in `~/.tt/` (0600, like the password
 * `config.toml` may hold); the directory is made (0700) when missing, as tt makes it anyway. A
 * missing, unreadable or foreign entry is a miss; where nothing can be written it stays uncached.
 */
async function validatedOnce<T>(
  text: string,
  cachePath: string,
  validate: () => Promise<T>,
): Promise<T> {
  const stamp = codeStamp();
  let entries: CacheEntry[] = [];
  try {
    const file = JSON.parse(await Deno.readTextFile(cachePath));
    if (Array.isArray(file?.entries)) entries = file.entries.filter(isEntry);
  } catch { /* a miss */ }
  const hit = entries.find((e) => e.stamp === stamp && e.text === text);
  if (hit) return hit.value as T;
  const value = await validate();
  // One entry per tt that reads the file (source and bundle, two versions): they do not evict
  // each other's entry at every run.
  const kept = [{ stamp, text, value }, ...entries.filter((e) => e.stamp !== stamp)];
  try {
    await Deno.mkdir(cachePath.slice(0, cachePath.lastIndexOf("/")), {
      recursive: true,
      mode: 0o700,
    });
    await writeFileAtomic(
      cachePath,
      JSON.stringify({ entries: kept.slice(0, CACHED_CODES) }),
      0o600,
    );
  } catch { /* uncached */ }
  return value;
}

/** How many tt builds (versions, source or bundle) a cache file keeps an entry for. */
const CACHED_CODES = 4;

interface CacheEntry {
  stamp: string;
  text: string;
  value: unknown;
}

const isEntry = (e: unknown): e is CacheEntry => {
  const x = e as CacheEntry | null;
  return typeof x?.stamp === "string" && typeof x.text === "string" &&
    typeof x.value === "object" && x.value !== null;
};

/**
 * Which code validated a cache entry: the version, and from source the times of the files that
 * validate (the schemas, the town name rule, the budget windows, this file), so an edit of one
 * (or a rebuilt bundle, whose modules share its URL) invalidates the cache.
 */
function codeStamp(): string {
  const files = [
    "./config_schema.ts",
    "./usage/config_schema.ts",
    "./usage/schema.ts",
    "./keys.ts",
    import.meta.url,
  ];
  // Once per process: a command loads the town's config and the user's.
  return stamp ??= [VERSION, ...files.map((f) => fileTime(new URL(f, import.meta.url)))].join(":");
}
let stamp: string | undefined;

function fileTime(url: URL): string {
  if (url.protocol !== "file:") return "";
  try {
    return String(Deno.statSync(url).mtime?.getTime() ?? "");
  } catch {
    return "";
  }
}

type Schemas = typeof import("./config_schema.ts");

/**
 * The TOML `text` of file `path` (absent: an empty file) validated by one of config_schema.ts's
 * schemas; both that module and the TOML parser are loaded here, only when a file is validated.
 */
export async function validateToml<K extends "TownConfig" | "GlobalConfig" | "TownsFile">(
  schema: K,
  text: string | undefined,
  path: string,
): Promise<z.infer<Schemas[K]>> {
  const schemas = await import("./config_schema.ts");
  const { parseTomlFile } = await import("./toml_file.ts");
  const data = text === undefined ? {} : parseTomlFile(text, path);
  return schemas.validate(schemas[schema], data, path) as z.infer<Schemas[K]>;
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
  const cfg = await validatedOnce(text, `${root}/${RUNTIME_DIR}/${CACHE_FILE}`, async () => {
    const cfg = await validateToml("TownConfig", text, path);
    if (!isValidTownName(cfg.name)) {
      throw new TtError(singleLine(
        `${path}: name: '${cfg.name}' is not a valid town name: use ${TOWN_NAME_RULE} (try '${
          sanitizeTownName(cfg.name) ?? "tinytown"
        }')`,
      ));
    }
    return cfg;
  });
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

export async function loadGlobalConfig(): Promise<GlobalConfig> {
  const path = `${ttHome()}/config.toml`;
  const text = await readTextIfExists(path);
  return await validatedOnce(text ?? "", `${ttHome()}/${CACHE_FILE}`, async () => {
    return await validateToml("GlobalConfig", text, path);
  });
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
  const { stringifyToml } = await import("./toml_file.ts");
  return await writePrivate("config.toml", stringifyToml(cfg) + "\n");
}

export type RegisteredTown = { path: string; name: string };

export async function loadTownRegistry(): Promise<RegisteredTown[]> {
  const path = `${ttHome()}/towns.toml`;
  const text = await readTextIfExists(path);
  if (text === undefined) return [];
  return (await validateToml("TownsFile", text, path)).towns;
}

export async function registerTown(town: RegisteredTown): Promise<void> {
  const towns = (await loadTownRegistry()).filter((t) => t.path !== town.path);
  towns.push(town);
  const { stringifyToml } = await import("./toml_file.ts");
  await writePrivate("towns.toml", stringifyToml({ towns }) + "\n");
}
