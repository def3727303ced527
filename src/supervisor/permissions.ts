/**
 * The Deno permissions of the long-lived processes tt starts: the supervisor (`tt supervise`) and
 * townhall (`tt townhall`). The one place that computes them: instead of deno.json's broad set
 * (`-P`), each gets read/write only on what its town needs, net only to its Redis (and townhall's
 * bind, GitHub's API for missions, the agents' hosts for the sandbox's filtering proxy), and run
 * only for the programs it starts itself. Never `-A`.
 *
 * What each scope is for, found by running the test suite under these flags:
 * - read+write: the town dir (`.tt/`, worktrees, logs, channels), the git metadata its worktrees
 *   write when the repository's `.git` is above the town, `TT_HOME`, the temp dir (the sandbox
 *   runtime's proxy sockets), and the CLIs' own config under HOME (`~/.claude`, …: the agents'
 *   private homes link to them, and a first login creates them).
 * - read only: the Redis URL's TLS files (tls_cert, tls_key, tls_ca: exactly those files, read
 *   when a client is made, reconnections included), this tt (source tree or bundle), Deno's
 *   executable and cache (npm packages, the
 *   sandbox's seccomp helper), the PATH directories (finding programs), `/etc` (resolver, git
 *   and passwd lookups of npm code), the operator's git config, and — when agents may run in the
 *   sandbox — HOME and the other registered towns: the sandbox hides them, and it must be able to
 *   inspect what it hides (it fails open on a path it cannot stat).
 * - net: the Redis address (a unix socket needs read+write+net on its exact path; Cluster/Sentinel:
 *   unscoped, as the nodes to reach after a failover are not known in advance), GitHub's API, the
 *   rounds' channel sockets and the operator channel's, townhall's bind. Unscoped for a supervisor whose agents may run in the
 *   sandbox: its filtering proxy (in this process) dials resolved addresses and listens on
 *   sockets named after its pid.
 * - run: sh (agent rounds, verify, notify), git, ps and kill (liveness, signals: Deno.kill needs
 *   unscoped run), redis-server (restarting the managed one), bwrap/socat/rg/which/npm (the
 *   sandbox runtime), ln (the sandbox's home links: Deno.symlink needs unscoped read/write), gh
 *   (missions' token), and this Deno (townhall starts the supervisor).
 *   Agent CLIs are not listed: Deno checks only its direct children, and a round is `sh -c`.
 * - env: unscoped (ioredis's `debug` enumerates the environment at import; rounds and the sandbox
 *   runtime copy it). sys: the same list as deno.json.
 */
import type { TownContext } from "../core/town.ts";
import { ttHome } from "../core/config.ts";
import { isTopologyUrl, parseTopologyUrl, queryParams, redactUrl } from "../redis/url.ts";
import { tlsFileList, tlsPaths } from "../redis/tls_files.ts";
import { PRESET_NEEDS } from "./sandbox/presets.ts";
import { channelSocketPaths } from "./channel/slots.ts";
import { operatorPaths } from "./channel/operator_wire.ts";
import { thisHost } from "../core/host_name.ts";
import { servicePath } from "./service.ts";

export interface Scopes {
  read: string[];
  write: string[];
  /** true: unscoped (the supervisor when agents may run in the sandbox). */
  net: string[] | true;
  run: string[];
  /** true: unscoped (see the header). */
  env: true;
  sys: string[];
  /** Paths refused even inside an allowed one. */
  denyRead: string[];
}

/** The sys scopes tt uses (thisHost, os.userInfo/homedir of npm code, redis diagnostics). */
const SYS = ["hostname", "osRelease", "uid", "gid", "homedir", "networkInterfaces"];

/** Programs a supervisor starts itself (resolved on PATH; those not installed are left out). */
const SUPERVISOR_RUN = [
  "sh",
  "git",
  "ps",
  "kill",
  "redis-server",
  "bwrap",
  "socat",
  "rg",
  "which",
  "npm",
  "gh",
  "ln",
];
/** Townhall: git and gh (missions from issues), ps (is the supervisor alive), redis-server. */
const TOWNHALL_RUN = ["sh", "git", "ps", "kill", "redis-server", "gh"];

/**
 * Directories of secrets no tt process needs: their entries are refused even where HOME is
 * readable. Their entries, not the directories: the sandbox must still stat a directory to hide
 * it from agents (and treats one it cannot stat as a reason to hide its parent, HOME).
 */
const SECRET_DIRS = [".ssh", ".gnupg", ".aws", ".kube", ".docker", ".password-store"];

function secretEntries(home: string): string[] {
  const out: string[] = [];
  for (const d of SECRET_DIRS) {
    try {
      for (const e of Deno.readDirSync(`${home}/${d}`)) out.push(`${home}/${d}/${e.name}`);
    } catch { /* none */ }
  }
  return out;
}

const env = (k: string) => Deno.env.get(k) || undefined;
const dirOf = (p: string) => p.replace(/\/[^/]*$/, "") || "/";

/** Deno's cache directory as this process uses it. */
export function denoDir(): string {
  return env("DENO_DIR") ?? `${env("XDG_CACHE_HOME") ?? `${env("HOME") ?? "/root"}/.cache`}/deno`;
}

/** The temp dir Deno and npm code use (TMPDIR, else /tmp). */
function tempDir(): string {
  return (env("TMPDIR") ?? "/tmp").replace(/(.)\/$/, "$1");
}

/** What this tt runs from: the source tree, the bundle file, or a URL (nothing to read). */
export function installPaths(): string[] {
  const here = import.meta.url;
  if (!here.startsWith("file:")) return [];
  const path = decodeURIComponent(new URL(here).pathname);
  if (path.endsWith("/src/supervisor/permissions.ts")) {
    return [path.slice(0, -"/src/supervisor/permissions.ts".length)];
  }
  return [path]; // the bundle (this module is inlined in it)
}

/** An executable found on PATH, as an absolute path (scoped --allow-run resolves names itself,
 * but prints a warning for a name it cannot find). */
export function onPath(name: string, path = env("PATH") ?? ""): string | undefined {
  for (const dir of path.split(":")) {
    if (!dir.startsWith("/")) continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && (st.mode ?? 0o111) & 0o111) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Net and socket-path scopes for a Redis URL (no connection needed). */
export function redisScopes(url: string): { net: string[]; paths: string[] } {
  if (isTopologyUrl(url)) {
    const t = parseTopologyUrl(url);
    const nodes = t.kind === "cluster" ? t.nodes : t.sentinels;
    const dflt = t.kind === "cluster" ? 6379 : 26379;
    return { net: nodes.map((n) => hostPort(n.host, n.port || dflt)), paths: [] };
  }
  const u = new URL(url);
  if (u.protocol === "unix:" || u.protocol === "redis+unix:") {
    const path = decodeURIComponent(u.pathname);
    return { net: [`unix:${path}`], paths: [path] };
  }
  return { net: [hostPort(u.hostname, Number(u.port || 6379))], paths: [] };
}

/** The TLS files a Redis URL names (tls_cert, tls_key, tls_ca), to be read when connecting. */
export function redisFiles(url: string): string[] {
  if (isTopologyUrl(url)) return tlsFileList(parseTopologyUrl(url).tlsFiles);
  const u = new URL(url);
  return tlsFileList(
    tlsPaths(queryParams(u.search, url), u.protocol === "rediss:", redactUrl(url)),
  );
}

function hostPort(host: string, port: number): string {
  const h = host.replace(/^\[(.*)\]$/, "$1");
  return h.includes(":") ? `[${h}]:${port}` : `${h}:${port}`;
}

/** The git dir shared by the town's worktrees, when it lies outside the town (.git above it). */
async function gitCommonDir(root: string): Promise<string | undefined> {
  try {
    const r = await new Deno.Command("git", {
      args: ["rev-parse", "--path-format=absolute", "--git-common-dir"],
      cwd: root,
      stdout: "piped",
      stderr: "null",
    }).output();
    const dir = new TextDecoder().decode(r.stdout).trim();
    return r.success && dir && !under(dir, root) ? dir : undefined;
  } catch {
    return undefined;
  }
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir.replace(/\/$/, "") + "/");

/** Registered towns (TT_HOME/towns.toml), which the sandbox hides from agents. */
async function registeredTowns(): Promise<string[]> {
  try {
    const { loadTownRegistry } = await import("../core/config.ts");
    return (await loadTownRegistry()).map((t) => t.path).filter((p) => p.startsWith("/"));
  } catch {
    return [];
  }
}

/** GitHub's API (missions), from GITHUB_API_URL or the public one. */
function githubHost(): string {
  try {
    const u = new URL(env("GITHUB_API_URL") ?? "https://api.github.com");
    return hostPort(u.hostname, Number(u.port || (u.protocol === "http:" ? 80 : 443)));
  } catch {
    return "api.github.com:443";
  }
}

type Town = Pick<TownContext, "root" | "config" | "redis" | "redisUrl" | "connectUrl">;

/** Scopes both processes share: the town, TT_HOME, temp, this tt and Deno, Redis, GitHub. */
async function common(t: Town, redisUrl: string): Promise<Scopes> {
  const home = env("HOME");
  const rw = [t.root, ttHome(), tempDir()];
  const git = await gitCommonDir(t.root);
  if (git) rw.push(git);
  const redis = { ...redisScopes(redisUrl), files: redisFiles(redisUrl) };
  const read = [
    ...rw,
    ...redis.paths,
    ...redis.files,
    ...installPaths(),
    dirOf(Deno.execPath()),
    denoDir(),
    "/etc",
    // The sandbox runtime inspects its own default paths (stdio devices, /tmp/claude).
    "/dev",
    "/private/tmp/claude",
    ...(env("PATH") ?? "").split(":").filter((p) => p.startsWith("/")),
  ];
  if (home) read.push(`${home}/.gitconfig`, `${home}/.config/git`);
  return {
    read,
    write: [...rw, ...redis.paths],
    // Cluster/Sentinel: unscoped. The nodes a client may have to reach (a promoted replica, a
    // node added later, the master a sentinel names) are not known when the process starts;
    // allowing the seeds and the nodes known then left a supervisor unable to reach the new
    // master after a failover (its commands hung, its host was taken for lost).
    net: isTopologyUrl(redisUrl) ? true : [...redis.net, githubHost()],
    run: [],
    env: true,
    sys: SYS,
    // A TLS file kept with the other secrets (~/.ssh/…) stays readable, that file only.
    denyRead: home ? secretEntries(home).filter((p) => !redis.files.some((f) => under(f, p))) : [],
  };
}

/**
 * The supervisor's scopes for town `t`; `redisUrl` is the URL it connects with (the managed socket
 * or the external URL). Besides the common ones: the agents' CLI config under HOME (read-write),
 * and, unless `[agent] sandbox = "off"`, HOME and the other towns (read: the sandbox hides them)
 * and the hosts agents may reach (net: the sandbox's proxy connects for them).
 */
export async function supervisorScopes(t: Town, redisUrl: string): Promise<Scopes> {
  const s = await common(t, redisUrl);
  const home = env("HOME");
  const sandbox = t.config.agent.sandbox !== "off";
  if (home) {
    const cliConfig = [...new Set(Object.values(PRESET_NEEDS).flatMap((n) => n.homePaths))]
      .map((rel) => `${home}/${rel}`);
    s.read.push(...cliConfig);
    s.write.push(...cliConfig);
    if (sandbox) s.read.push(home);
  }
  if (sandbox) s.read.push(...await registeredTowns());
  // Its own `tt service` unit: `tt status` run by the operator channel says whether it is there.
  const unit = servicePath(t.config.name);
  if (unit) s.read.push(unit);
  // The rounds' channel sockets and the operator's: Deno grants a unix socket only by its exact
  // path (the operator's is this host's: TT_HOST is passed down to the supervisor).
  if (s.net !== true) {
    s.net.push(...channelSocketPaths(t.root).map((p) => `unix:${p}`));
    s.net.push(`unix:${operatorPaths(t.root, thisHost()).socket}`);
  }
  // The sandbox's filtering proxy runs in this process: it dials an agent's allowed host by the
  // address it resolved (its guard against DNS rebinding), so any address, and it listens on unix
  // sockets named after its own pid. Neither can be granted in advance: net is unscoped then.
  if (sandbox) s.net = true;
  s.run = resolveRun(SUPERVISOR_RUN);
  return tidy(s);
}

/** Townhall's scopes: the common ones, its bind address, and this Deno (it starts supervisors). */
export async function townhallScopes(
  t: Town,
  redisUrl: string,
  bind: string,
  port: number,
): Promise<Scopes> {
  const s = await common(t, redisUrl);
  const host = bind.replace(/^\[(.*)\]$/, "$1");
  if (s.net !== true) {
    s.net.push(port === 0 ? (host.includes(":") ? `[${host}]` : host) : hostPort(host, port));
  }
  // Starting a supervisor computes its scopes, which reads what the supervisor may read.
  const sup = await supervisorScopes(t, redisUrl);
  s.read.push(...sup.read);
  s.run = resolveRun([...TOWNHALL_RUN]);
  s.run.push(Deno.execPath());
  return tidy(s);
}

function resolveRun(names: string[]): string[] {
  return names.map((n) => onPath(n)).filter((p): p is string => !!p);
}

function tidy(s: Scopes): Scopes {
  const u = (xs: string[]) => [...new Set(xs.filter(Boolean))];
  return {
    ...s,
    read: u(s.read),
    write: u(s.write),
    net: s.net === true ? true : u(s.net),
    run: u(s.run),
    denyRead: u(s.denyRead),
  };
}

/**
 * The `deno run` flags granting `s`. A scope entry with a comma cannot be passed (Deno splits on
 * commas): it is left out, and what needs it is denied. When the environment holds LD_PRELOAD or
 * LD_LIBRARY_PATH, Deno refuses every spawn under a scoped --allow-run, so run is unscoped then.
 */
export function permissionFlags(s: Scopes): string[] {
  const list = (xs: string[]) => xs.filter((x) => !x.includes(",")).join(",");
  const preload = ["LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES"].some((k) => env(k));
  const flags = [
    `--allow-read=${list(s.read)}`,
    `--allow-write=${list(s.write)}`,
    s.net === true ? "--allow-net" : `--allow-net=${list(s.net)}`,
    "--allow-env",
    preload ? "--allow-run" : `--allow-run=${list(s.run)}`,
    `--allow-sys=${list(s.sys)}`,
  ];
  const deny = s.denyRead.filter((p) => !s.write.some((w) => under(w, p)));
  if (deny.length) flags.push(`--deny-read=${list(deny)}`);
  return flags;
}

/** The supervisor's flags for town `t` (as `tt` starts it: ensureSupervisor, tt service). */
export async function supervisorFlags(t: Town): Promise<string[]> {
  return permissionFlags(await supervisorScopes(t, t.connectUrl ?? t.redisUrl));
}
