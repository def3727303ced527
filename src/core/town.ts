/**
 * A town: a directory with tinytown.toml, its `.tt/` runtime dir, and a Redis namespace.
 * `openTown` is how every command that needs Redis gets its context.
 */
import {
  exists,
  findTownRoot,
  loadGlobalConfig,
  loadTownConfig,
  readTextIfExists,
  registerTown,
  renderTownConfig,
  RUNTIME_DIR,
  TOWN_FILE,
  type TownConfig,
  validateToml,
  writeFileAtomic,
} from "./config.ts";
import { ConflictError, TtError } from "./errors.ts";
import { type Keys, townKeys } from "./keys.ts";
import {
  chooseTownName,
  copiedTown,
  heldByOther,
  isStaleClaim,
  newTownId,
  type OwnerRecord,
  ownerRecord,
  parseOwner,
  writeTownId,
} from "./identity.ts";
import { urlPassword, withoutPassword, withPasswordFrom } from "./secrets.ts";
import { emitEvent } from "./events.ts";
import { warnOnce } from "./warnings.ts";
import { ConnectError, connectRedis, redactUrl, type Redis } from "../redis/connection.ts";
import { ensureManagedRedis, managedPaths, managedPid, waitForExit } from "../redis/server.ts";

export interface TownContext {
  root: string;
  config: TownConfig;
  name: string;
  /**
   * The town's id (tinytown.toml `id`), checked against the name's owner on Redis when the town
   * was opened. Unset only in contexts made without a town directory (tests, tools).
   */
  id?: string;
  keys: Keys;
  redis: Redis;
  /** The Redis URL with any password masked, for display. */
  redisUrl: string;
  /**
   * The external Redis URL as connected, password included (see secrets.ts), for the agent
   * shims in `.tt/bin` (mode 700). Never print or log it. Unset for a managed Redis.
   */
  connectUrl?: string;
  /** True when tt runs this town's redis-server itself. */
  managed: boolean;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Town directory (`--town`); default: TT_TOWN, then the nearest tinytown.toml upward. */
  town?: string;
  /** Connection name in CLIENT LIST. */
  clientName?: string;
  persistent?: boolean;
}

/** Where this town's Redis is: REDIS_URL, then `[redis] url`, else the managed unix socket. */
export function redisTarget(root: string, config: TownConfig): { url: string; managed: boolean } {
  const external = Deno.env.get("REDIS_URL") || config.redis.url;
  if (external) return { url: external, managed: false };
  return { url: `unix://${managedPaths(root).socket}`, managed: true };
}

export async function openTown(opts: OpenOptions = {}): Promise<TownContext> {
  const root = await findTownRoot(opts.town);
  const config = await loadTownConfig(root);
  return await connectTown(root, config, opts);
}

interface ConnectMode {
  /** `tt init`: the caller writes tinytown.toml (with the returned id) itself. */
  init?: boolean;
  /** `tt init --force`: a claim left over on this host by a deleted or renamed town is taken. */
  takeStale?: boolean;
}

async function connectTown(
  root: string,
  config: TownConfig,
  opts: OpenOptions,
  mode: ConnectMode = {},
): Promise<TownContext> {
  const { url, managed } = redisTarget(root, config);
  if (managed) await ensureManagedRedis(root, { init: mode.init });
  const connectUrl = managed ? url : await withPassword(url);
  let redis: Redis;
  try {
    redis = await connectRedis(connectUrl, {
      name: opts.clientName ?? "tt",
      persistent: opts.persistent,
      waitReplicas: config.redis.wait_replicas,
      waitTimeoutMs: config.redis.wait_timeout_ms,
    });
  } catch (e) {
    throw e instanceof ConnectError && /NOAUTH|WRONGPASS/.test(e.message) &&
        urlPassword(connectUrl) === undefined
      ? new TtError(
        `${e.message}: give the password in REDIS_URL, or in ~/.tt/config.toml (tt config ` +
          `redis_url 'redis://user:PASSWORD@host:port'); tinytown.toml holds no password`,
      )
      : e;
  }
  const keys = townKeys(config.name);
  let id: string;
  try {
    id = await checkOwner(redis, url, root, config, keys, managed, mode);
  } catch (e) {
    redis.disconnect();
    throw e;
  }
  if (!config.id && !mode.init) {
    // A town made before ids existed: record the id it now holds the name with.
    try {
      await writeTownId(root, id);
      warnOnce(`gave this town the id ${id} in ${root}/${TOWN_FILE} (commit that line)`);
    } catch (e) {
      warnOnce(`could not write the town id into ${root}/${TOWN_FILE}: ${(e as Error).message}`);
    }
  }
  return {
    root,
    config,
    name: config.name,
    id,
    keys,
    redis,
    redisUrl: redactUrl(url),
    connectUrl: managed ? undefined : connectUrl,
    managed,
    close: async () => {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}

/** The password for an external URL that has none: from ~/.tt/config.toml (see secrets.ts). */
async function withPassword(url: string): Promise<string> {
  if (urlPassword(url) !== undefined) return url;
  try {
    return withPasswordFrom(url, [(await loadGlobalConfig()).redis_url]);
  } catch (e) {
    warnOnce(`not reading a Redis password from ~/.tt/config.toml: ${(e as Error).message}`);
    return url;
  }
}

/**
 * Checks the town's name on its Redis in one round trip (`GET owner`, pipelined with the version
 * check an external server gets anyway), and claims it with `SET owner NX GET` only when missing,
 * so a command that only reads never writes (a Redis refusing writes on a full disk still serves
 * reads). Returns the town's id (for a town
 * without one yet, the id it now has in tinytown.toml). See identity.ts for the rules.
 */
async function checkOwner(
  redis: Redis,
  url: string,
  root: string,
  config: TownConfig,
  keys: Keys,
  managed: boolean,
  mode: ConnectMode,
): Promise<string> {
  const id = config.id ?? newTownId();
  const mine = ownerRecord(id, root);
  const p = redis.pipeline();
  if (!managed) p.info("server");
  p.get(keys.owner);
  const res = (await p.exec()) ?? [];
  if (!managed) {
    const [err, info] = res[0];
    if (err) throw err;
    checkVersion(info as string, url);
  }
  const [err, got] = res[res.length - 1];
  if (err) throw err;
  const held = got ?? await redis.set(keys.owner, JSON.stringify(mine), "NX", "GET");
  let holder: OwnerRecord | undefined = held === null
    ? undefined
    : parseOwner(held as string, keys.owner);
  if (holder && holder.id !== id && mode.takeStale && await isStaleClaim(holder, config.name)) {
    await redis.set(keys.owner, JSON.stringify(mine));
    holder = undefined;
  }
  if (holder === undefined) {
    // Claimed now: a new town, a town that had no id yet, or a Redis that lost the claim.
    if (config.id) {
      await emitEvent({ redis, keys }, {
        type: "town_claimed",
        message: `Claimed the name ${config.name} on this Redis again (its owner key was missing)`,
      });
    }
    return id;
  }
  if (holder.id === id) {
    // The same town: from this directory, or from another machine serving it. A second directory
    // on this host would share its supervisor and worktrees: refused, unless the town moved.
    if (holder.path === root || holder.host !== mine.host) return id;
    if (!(await isStaleClaim(holder, config.name))) throw copiedTown(config.name, holder, root);
    await redis.set(keys.owner, JSON.stringify({ ...holder, path: root }), "XX");
    warnOnce(`town ${config.name} moved from ${holder.path} to ${root}: its claim now says so`);
    return id;
  }
  if (!config.id && holder.path === root && holder.host === mine.host) {
    // No id in the file yet, but this directory claimed the name before: take its id.
    return holder.id;
  }
  const stale = !mode.takeStale && await isStaleClaim(holder, config.name);
  throw heldByOther(config.name, holder, !!mode.init, stale);
}

/** External servers must be Redis ≥ 7.0 (BLMOVE, XAUTOCLAIM, SET NX GET, Lua effects). */
function checkVersion(info: string, url: string) {
  const m = /redis_version:(\d+)\.(\d+)/.exec(info);
  if (m && Number(m[1]) < 7) {
    throw new TtError(
      `Redis at ${redactUrl(url)} is version ${m[1]}.${m[2]}; tt needs 7.0 or newer`,
    );
  }
}

export interface InitOptions {
  dir: string;
  name?: string;
  force?: boolean;
}

export interface InitResult {
  root: string;
  name: string;
  redisUrl: string;
  /** The town's id, as written into tinytown.toml and claimed on its Redis. */
  id: string;
  managed: boolean;
  gitignoreUpdated: boolean;
}

/** Creates a town in `dir`: tinytown.toml, .tt/, .gitignore entry, registry entry, Redis. */
export async function initTown(opts: InitOptions): Promise<InitResult> {
  // An invalid explicit name is refused before anything is made.
  if (opts.name !== undefined) chooseTownName(opts.name, opts.dir.split("/").pop() ?? "");
  await Deno.mkdir(opts.dir, { recursive: true });
  const root = await Deno.realPath(opts.dir);
  const file = `${root}/${TOWN_FILE}`;
  if (!opts.force && await exists(file)) {
    throw new ConflictError(
      `${file} already exists: this is a town already (use --force to overwrite it)`,
    );
  }
  const name = chooseTownName(opts.name, await defaultTownName(root));
  const global = await loadGlobalConfig();
  const url = global.redis_url ? withoutPassword(global.redis_url) : undefined;
  // Re-init (--force) of the same name keeps the town's id, so it stays the owner of its name;
  // another name is another namespace, so a new town with a new id.
  const previous = opts.force ? await idInFile(file) : undefined;
  const previousId = previous?.name === name ? previous.id : undefined;
  const draft = await validateToml(
    "TownConfig",
    renderTownConfig(name, global.default_cli, url, NO_ID),
    file,
  );
  // Connect and claim the name before writing anything, so a bad REDIS_URL or a name held by
  // another town leaves no half-made town behind.
  const town = await connectTown(root, { ...draft, id: previousId }, {}, {
    init: true,
    takeStale: opts.force,
  });
  try {
    await Deno.mkdir(`${root}/${RUNTIME_DIR}/logs`, { recursive: true, mode: 0o700 });
    await Deno.chmod(`${root}/${RUNTIME_DIR}`, 0o700);
    await writeFileAtomic(file, renderTownConfig(name, global.default_cli, url, town.id!));
  } finally {
    await town.close();
  }
  const gitignoreUpdated = await ensureGitignore(root);
  try {
    await registerTown({ path: root, name });
  } catch (e) {
    warnOnce(`could not register the town in ~/.tt/towns.toml: ${(e as Error).message}`);
  }
  return {
    root,
    name,
    id: town.id!,
    redisUrl: town.redisUrl,
    managed: town.managed,
    gitignoreUpdated,
  };
}

/** A placeholder id for validating the rendered file before the real id is known. */
const NO_ID = "00000000-0000-4000-8000-000000000000";

/** The name and `id` of an existing tinytown.toml, if it has a valid id. */
async function idInFile(file: string): Promise<{ name: unknown; id: string } | undefined> {
  try {
    const text = await readTextIfExists(file);
    if (text === undefined) return undefined;
    const { TownConfig } = await import("./config_schema.ts");
    const { parseTomlFile } = await import("./toml_file.ts");
    const data = parseTomlFile(text, file) as Record<string, unknown>;
    const id = TownConfig.shape.id.safeParse(data.id).data;
    return id === undefined ? undefined : { name: data.name, id };
  } catch {
    return undefined;
  }
}

/** `<repo>-<branch>` inside git, else the directory name. */
async function defaultTownName(root: string): Promise<string> {
  const git = async (...args: string[]) => {
    try {
      const out = await new Deno.Command("git", {
        args,
        cwd: root,
        stdout: "piped",
        stderr: "null",
      }).output();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : "";
    } catch {
      return "";
    }
  };
  const top = await git("rev-parse", "--show-toplevel");
  if (top) {
    const repo = top.split("/").pop()!;
    const branch = await git("rev-parse", "--abbrev-ref", "HEAD");
    return branch && branch !== "HEAD" ? `${repo}-${branch.replaceAll("/", "-")}` : repo;
  }
  return root.split("/").pop() || "tinytown";
}

async function ensureGitignore(root: string): Promise<boolean> {
  const path = `${root}/.gitignore`;
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text.split("\n").some((l) => ["/.tt", ".tt", ".tt/", "/.tt/"].includes(l.trim()))) {
    return false;
  }
  const sep = text === "" || text.endsWith("\n") ? "" : "\n";
  await Deno.writeTextFile(path, `${text}${sep}# Tinytown runtime state\n.tt/\n`);
  return true;
}

/** Stops the town's managed redis-server cleanly (AOF flushed). No-op for external Redis. */
export async function stopManagedServer(town: TownContext): Promise<"stopped" | "external"> {
  if (!town.managed) return "external";
  const pid = await managedPid(town.root);
  try {
    await town.redis.call("SHUTDOWN");
  } catch {
    // The server closes the connection while shutting down: that is the success case.
  }
  town.redis.disconnect();
  if (pid !== undefined && !(await waitForExit(pid, 10_000))) {
    throw new TtError(`redis-server (pid ${pid}) did not stop within 10 s`);
  }
  return "stopped";
}
