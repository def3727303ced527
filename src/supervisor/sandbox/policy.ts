/**
 * The sandbox policy of one agent round: what it may write, what it may see, which hosts it may
 * reach. Pure data computed from the town, the agent and its CLI; `wrapRound` (wrap.ts) applies
 * it. Writable: the agent's worktree (and the git metadata its commits write), a private HOME and
 * a private temp dir. Read-only: the system. Invisible: the town's `.tt/` (except the round's
 * channel socket and the agent's own dirs), the operator's home (except the CLI's own config,
 * bound read-write, and the tools on PATH, read-only), `TT_HOME`, other registered towns, `/tmp`
 * (unless the town is in it: then /tmp is read-only), and what the caller adds.
 * A hidden path is an empty tmpfs inside: writes there succeed and vanish with the round (a
 * private /tmp for CLIs that ignore TMPDIR); nothing reaches the host.
 */
import { z } from "zod";
import { readTextIfExists } from "../../core/config.ts";
import { parseTomlFile } from "../../core/toml_file.ts";
import { presetNeeds } from "./presets.ts";

export interface SandboxPolicy {
  agent: string;
  workdir: string;
  /** The agent's private HOME (0700), `<town>/.tt/homes/<agent>`. */
  home: string;
  /** The agent's private temp dir (0700), `<town>/.tt/tmp/<agent>`. */
  tmp: string;
  /** The only writable paths. */
  write: string[];
  /** Read-only even inside a writable path (git config and hooks: the operator's git runs them). */
  readOnly: string[];
  /** Visible again (read-only) inside a hidden path. */
  read: string[];
  /** Invisible. */
  hide: string[];
  /** Hosts the round may reach through the filtering proxy; empty: no network at all. */
  hosts: string[];
  /** Links `home/<rel>` → `<operator home>/<rel>` for the CLI's own config and login. */
  homeLinks: { link: string; target: string; dir: boolean }[];
  /** Directories to create before the round (so they can be bound): git's ref log dir. */
  create: string[];
}

export interface RoundPolicyInput {
  /** The town's root (the directory holding tinytown.toml and .tt/). */
  townRoot: string;
  agent: string;
  /** The round's working directory (its worktree). */
  workdir: string;
  /** The CLI's preset or configured name (resolveCli(...).name) and its command. */
  cli: string;
  command?: string;
  /** `[agent] allow_hosts` (host names, `*.domain`, IP literals such as 127.0.0.1). */
  allowHosts?: string[];
  /** The round's channel socket (must exist when the round is wrapped). */
  channelSocket?: string;
  /** More paths to show read-only (e.g. the directory of the agent's `tt` shim). */
  readPaths?: string[];
  /** More paths to hide (e.g. an external Redis unix socket, other towns' `.tt/`). */
  hidePaths?: string[];
  /** Defaults: $HOME, $TT_HOME (else ~/.tt), $PATH, $DENO_DIR. */
  operatorHome?: string;
  ttHome?: string;
  path?: string;
  denoDir?: string;
}

const FILE_RE = /\.(json|ya?ml|toml)$/;

const under = (p: string, dir: string) => p === dir || p.startsWith(dir.replace(/\/$/, "") + "/");

/** The policy of one round of `input.agent`. Reads git metadata; creates nothing. */
export async function buildRoundPolicy(input: RoundPolicyInput): Promise<SandboxPolicy> {
  const env = (k: string) => Deno.env.get(k);
  const opHome = input.operatorHome ?? env("HOME") ?? "/root";
  const ttHome = input.ttHome ?? env("TT_HOME") ?? `${opHome}/.tt`;
  const runtime = `${input.townRoot}/.tt`;
  const home = `${runtime}/homes/${input.agent}`;
  const tmp = `${runtime}/tmp/${input.agent}`;
  const needs = presetNeeds(input.cli, input.command);
  const homeLinks = (needs?.homePaths ?? []).map((rel) => ({
    link: `${home}/${rel}`,
    target: `${opHome}/${rel}`,
    dir: !FILE_RE.test(rel),
  }));
  const git = await gitWritePaths(input.workdir);
  const tools = toolPaths(opHome, input.path ?? env("PATH") ?? "", input.denoDir);
  return {
    agent: input.agent,
    workdir: input.workdir,
    home,
    tmp,
    write: unique([input.workdir, home, tmp, ...git.write, ...homeLinks.map((l) => l.target)]),
    readOnly: git.readOnly,
    read: unique([
      ...tools,
      ...(input.readPaths ?? []),
      ...(input.channelSocket ? [input.channelSocket] : []),
    ]),
    hide: unique([
      runtime,
      ...(await hideAround([opHome, ttHome], input.townRoot)),
      // /tmp churns: listing it to hide all but a town inside it would race with files that
      // vanish before bwrap binds over them. A town in /tmp (tests, demos) sees it read-only.
      ...(under(input.townRoot, "/tmp") ? [] : ["/tmp"]),
      ...(await otherTowns(ttHome, input.townRoot)),
      ...(input.hidePaths ?? []),
    ]),
    hosts: unique([...(needs?.hosts ?? []), ...(input.allowHosts ?? [])]),
    homeLinks,
    create: git.create,
  };
}

/**
 * What `git commit` in `workdir` writes. In a linked worktree: its own admin dir
 * (`.git/worktrees/<name>`: HEAD, index, logs/HEAD), the shared objects, and the directory of its
 * branch's ref and ref log (`refs/heads/tt/`, so the operator's other branches stay read-only;
 * git writes a ref as `<ref>.lock` and renames it, so the directory has to be writable). In a
 * plain repository inside the workdir: nothing beyond it. The repository's config and hooks stay
 * read-only either way (the operator's own git would run a hook or a `core.fsmonitor` an agent
 * planted there).
 */
export async function gitWritePaths(
  workdir: string,
): Promise<{ write: string[]; readOnly: string[]; create: string[] }> {
  const none = { write: [], readOnly: [], create: [] };
  const out = await gitOut(workdir, [
    "rev-parse",
    "--path-format=absolute",
    "--git-dir",
    "--git-common-dir",
  ]);
  if (out === undefined) return none;
  const [gitDir, common] = out.split("\n");
  const readOnly = [`${common}/config`, `${common}/hooks`];
  if (gitDir === common) {
    return { write: under(gitDir, workdir) ? [] : [gitDir], readOnly, create: [] };
  }
  const ref = await gitOut(workdir, ["symbolic-ref", "-q", "HEAD"]); // refs/heads/tt/<agent>
  const refDir = ref?.startsWith("refs/heads/") ? ref.replace(/\/[^/]*$/, "") : undefined;
  const refPaths = refDir ? [`${common}/${refDir}`, `${common}/logs/${refDir}`] : [];
  return {
    write: [gitDir, `${common}/objects`, ...refPaths],
    readOnly: [...readOnly, `${gitDir}/config.worktree`],
    create: refPaths,
  };
}

async function gitOut(cwd: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
      .output();
    return r.success ? new TextDecoder().decode(r.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Tools the round runs that may live in the operator's (hidden) home: the PATH entries under it,
 * Deno itself and its cache (the agent's `tt` runs on Deno; the runtime's seccomp helper sits in
 * that cache too).
 */
function toolPaths(opHome: string, path: string, denoDir?: string): string[] {
  const out = path.split(":").filter((p) => p.startsWith("/") && under(p, opHome));
  out.push(Deno.execPath().replace(/\/[^/]*$/, ""));
  out.push(denoDir ?? Deno.env.get("DENO_DIR") ?? `${opHome}/.cache/deno`);
  return out;
}

/**
 * Hides each of `dirs`, but when the town lives inside one (~/src/app, /tmp/x) hides that dir's
 * other entries instead, down to the town, which stays visible. (Showing the town again inside a
 * hidden dir would bind it read-only over the git metadata the round must write.)
 */
async function hideAround(dirs: string[], townRoot: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    if (!under(townRoot, dir)) return void out.push(dir);
    if (townRoot === dir) return;
    try {
      for await (const e of Deno.readDir(dir)) {
        const child = `${dir.replace(/\/$/, "")}/${e.name}`;
        if (under(townRoot, child)) await walk(child);
        else out.push(child);
      }
    } catch { /* unreadable or gone: nothing to hide */ }
  };
  for (const d of dirs) await walk(d);
  return out;
}

const Registry = z.object({ towns: z.array(z.object({ path: z.string() })).default([]) });

/**
 * The other towns of `TT_HOME/towns.toml`: each one hidden whole, or only its `.tt/` when this
 * town lives inside it. An unreadable registry hides nothing more (TT_HOME itself is hidden).
 */
async function otherTowns(ttHome: string, townRoot: string): Promise<string[]> {
  const path = `${ttHome}/towns.toml`;
  try {
    const text = await readTextIfExists(path);
    if (text === undefined) return [];
    const r = Registry.safeParse(parseTomlFile(text, path));
    if (!r.success) return [];
    return r.data.towns.map((t) => t.path).filter((p) => p.startsWith("/") && p !== townRoot)
      .map((p) => (under(townRoot, p) ? `${p}/.tt` : p));
  } catch {
    return [];
  }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs.filter(Boolean))];
}
