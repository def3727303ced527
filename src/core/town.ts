/**
 * A town: a directory with tinytown.toml, its `.tt/` runtime dir, and a Redis namespace.
 * `openTown` is how every command that needs Redis gets its context.
 */
import {
  exists,
  findTownRoot,
  loadGlobalConfig,
  loadTownConfig,
  parseTomlFile,
  registerTown,
  renderTownConfig,
  RUNTIME_DIR,
  TOWN_FILE,
  TownConfig,
  validate,
  writeFileAtomic,
} from "./config.ts";
import { ConflictError, TtError } from "./errors.ts";
import { type Keys, sanitizeTownName, townKeys } from "./keys.ts";
import { connectRedis, redactUrl, type Redis } from "../redis/connection.ts";
import { ensureManagedRedis, managedPaths, managedPid, waitForExit } from "../redis/server.ts";

export interface TownContext {
  root: string;
  config: TownConfig;
  name: string;
  keys: Keys;
  redis: Redis;
  /** The Redis URL with any password masked, for display. */
  redisUrl: string;
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

async function connectTown(
  root: string,
  config: TownConfig,
  opts: OpenOptions,
): Promise<TownContext> {
  const { url, managed } = redisTarget(root, config);
  if (managed) await ensureManagedRedis(root);
  const redis = await connectRedis(url, {
    name: opts.clientName ?? "tt",
    persistent: opts.persistent,
  });
  if (!managed) await checkVersion(redis, url);
  return {
    root,
    config,
    name: config.name,
    keys: townKeys(config.name),
    redis,
    redisUrl: redactUrl(url),
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

/** External servers must be Redis ≥ 7.0 (BLMOVE, XAUTOCLAIM, Lua effects replication). */
async function checkVersion(redis: Redis, url: string) {
  const info = await redis.info("server");
  const m = /redis_version:(\d+)\.(\d+)/.exec(info);
  if (m && Number(m[1]) < 7) {
    await redis.quit();
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
  managed: boolean;
  gitignoreUpdated: boolean;
}

/** Creates a town in `dir`: tinytown.toml, .tt/, .gitignore entry, registry entry, Redis. */
export async function initTown(opts: InitOptions): Promise<InitResult> {
  await Deno.mkdir(opts.dir, { recursive: true });
  const root = await Deno.realPath(opts.dir);
  const file = `${root}/${TOWN_FILE}`;
  if (!opts.force && await exists(file)) {
    throw new ConflictError(
      `${file} already exists: this is a town already (use --force to overwrite it)`,
    );
  }
  const name = sanitizeTownName(opts.name ?? await defaultTownName(root));
  if (opts.name !== undefined && opts.name.trim() === "") {
    throw new TtError("town name must not be empty");
  }
  const global = await loadGlobalConfig();
  const text = renderTownConfig(name, global.default_cli, global.redis_url);
  const config = validate(TownConfig, parseTomlFile(text, file), file);
  await Deno.mkdir(`${root}/${RUNTIME_DIR}/logs`, { recursive: true, mode: 0o700 });
  await Deno.chmod(`${root}/${RUNTIME_DIR}`, 0o700);
  // Connect before writing the file, so a bad REDIS_URL leaves no half-made town behind.
  const town = await connectTown(root, config, {});
  try {
    await writeFileAtomic(file, text);
  } finally {
    await town.close();
  }
  const gitignoreUpdated = await ensureGitignore(root);
  try {
    await registerTown({ path: root, name });
  } catch (e) {
    console.error(
      `tt: warning: could not register the town in ~/.tt/towns.toml: ${(e as Error).message}`,
    );
  }
  return { root, name, redisUrl: town.redisUrl, managed: town.managed, gitignoreUpdated };
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
