/**
 * Whether and how a round runs in the agent sandbox (`[agent] sandbox`, decided against a real
 * probe of this host), and the wrapper its CLI command and its `verify` checks go through. The
 * round's channel socket and the programs its `tt` needs (deno, the client) stay reachable inside.
 */
import type { TownContext } from "../core/town.ts";
import type { Agent } from "../core/schemas.ts";
import type { ResolvedCli } from "./cli.ts";
import type { RoundChannel } from "./channel/mod.ts";
import {
  buildRoundPolicy,
  decideSandbox,
  probeSandbox,
  type SandboxPolicy,
  unsandboxed,
  type WrappedCommand,
  wrapRound,
} from "./sandbox/mod.ts";
import { redisScopes } from "./permissions.ts";

export interface RoundSandbox {
  /** The wrapped CLI command (or the command itself when the sandbox is off). */
  wrap(command: string, env: Record<string, string>): Promise<WrappedCommand>;
  /** The same for a verify check, which runs after the round's channel has closed. */
  wrapCheck(command: string, env: Record<string, string>): Promise<WrappedCommand>;
  sandboxed: boolean;
  /** Why the sandbox is off, or the one-line refusal of `sandbox = "on"` where it cannot work. */
  why?: string;
  refusal?: string;
}

const dirOf = (p: string) => p.replace(/\/[^/]*$/, "") || "/";

export async function roundSandbox(
  town: TownContext,
  agent: Agent,
  cli: ResolvedCli,
  cwd: string,
  channel: RoundChannel,
): Promise<RoundSandbox> {
  const d = decideSandbox(town.config.agent.sandbox, await probeSandbox());
  if (!d.on) {
    const off = (c: string, e: Record<string, string>) => Promise.resolve(unsandboxed(c, e));
    return { wrap: off, wrapCheck: off, sandboxed: false, ...d };
  }
  // The shim runs deno with this tt's agent client (src/agent/client.ts, or one written beside
  // the shim); both must be readable inside, wherever tt is installed.
  const here = new URL("../agent/", import.meta.url);
  const client = here.protocol === "file:" ? [decodeURIComponent(here.pathname)] : [];
  const readPaths: string[] = [];
  for (const p of [channel.binDir, dirOf(Deno.execPath()), ...client]) {
    if (await Deno.stat(p).then(() => true, () => false)) readPaths.push(p);
  }
  const policyOf = (withChannel: boolean): Promise<SandboxPolicy> =>
    buildRoundPolicy({
      townRoot: town.root,
      agent: agent.name,
      workdir: cwd,
      cli: cli.name,
      command: cli.command,
      allowHosts: town.config.agent.allow_hosts,
      channelSocket: withChannel ? channel.env.TT_CHANNEL : undefined,
      readPaths: withChannel ? readPaths : readPaths.filter((p) => p !== channel.binDir),
      // An external Redis on a unix socket outside .tt/ (/run/redis/…) would otherwise stay
      // visible, and a socket connects even on a read-only mount.
      hidePaths: redisSocket(town.redisUrl),
      denoDir: denoDir(),
    });
  const policy = await policyOf(true);
  await copyGitConfig(policy.home);
  let checks: Promise<SandboxPolicy> | undefined;
  // Inside, HOME is the private one: Deno there must still find the operator's cache (shown
  // read-only), or the agent's full `tt` (tt demo-agent) would try to download it, and the
  // sandbox's network refuses that.
  const withDeno = (e: Record<string, string>) => ({ DENO_DIR: denoDir(), ...e });
  return {
    wrap: (c, e) => wrapRound(policy, c, withDeno(e)),
    wrapCheck: async (c, e) => wrapRound(await (checks ??= policyOf(false)), c, withDeno(e)),
    sandboxed: true,
  };
}

function redisSocket(url: string): string[] {
  try {
    return redisScopes(url).paths;
  } catch {
    return []; // not a URL this can read: the town connected with it, so not a unix socket
  }
}

/** Deno's cache directory as this process uses it (DENO_DIR, else the XDG default). */
function denoDir(): string {
  const env = (k: string) => Deno.env.get(k);
  return env("DENO_DIR") ?? `${env("XDG_CACHE_HOME") ?? `${env("HOME") ?? "/root"}/.cache`}/deno`;
}

/**
 * The operator's git identity and settings, copied (not linked: a changed copy must never become
 * the operator's config, whose aliases the operator's own git would run) into the private HOME, so
 * an agent's commits carry the same author as outside the sandbox.
 */
async function copyGitConfig(home: string) {
  const opHome = Deno.env.get("HOME");
  if (!opHome) return;
  await Deno.mkdir(home, { recursive: true, mode: 0o700 });
  for (const rel of [".gitconfig", ".config/git/config"]) {
    const from = `${opHome}/${rel}`;
    try {
      const text = await Deno.readTextFile(from);
      await Deno.mkdir(dirOf(`${home}/${rel}`), { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(`${home}/${rel}`, text, { mode: 0o600 });
    } catch { /* none */ }
  }
}
