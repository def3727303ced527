/**
 * Applying a policy: `wrapRound(policy, command, env)` gives the command and environment the
 * agent loop runs instead of the bare command (for CLI rounds and verify checks alike).
 */
import type { SandboxPolicy } from "./policy.ts";
import { wrapInRuntime } from "./runtime.ts";

export interface WrappedCommand {
  /** For `sh -c` (process.ts runRoundProcess). */
  command: string;
  env: Record<string, string>;
  /** True only when the command really runs in the sandbox (IS_SANDBOX=1 is set then). */
  sandboxed: boolean;
  /** Call once the process has exited: drops the round's network allow-list. */
  release: () => void;
}

/** Variables that would point a CLI back at the operator's home instead of the private one. */
const HOME_VARS = [
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "XDG_STATE_HOME",
  "XDG_CACHE_HOME",
  "XDG_RUNTIME_DIR",
  "SSH_AUTH_SOCK",
  "GNUPGHOME",
];

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Creates the round's private dirs (0700) and the links to the CLI's own config, then wraps
 * `command`. `env` is the round's environment (cli.ts agentEnv); HOME, TMPDIR and IS_SANDBOX are
 * set here. Throws when the sandbox cannot be set up (the caller refuses the round).
 */
export async function wrapRound(
  policy: SandboxPolicy,
  command: string,
  env: Record<string, string>,
): Promise<WrappedCommand> {
  await prepareRound(policy);
  const { command: wrapped, release } = await wrapInRuntime(
    // The runtime sets its own TMPDIR inside; the round's private one wins.
    `export TMPDIR=${q(policy.tmp)} TMP=${q(policy.tmp)} TEMP=${q(policy.tmp)}\n${command}`,
    {
      // Also a path gone since the policy was made (bwrap would fail to mount over it).
      denyRead: await existing(policy.hide),
      allowRead: policy.read,
      allowWrite: policy.write,
      // bwrap cannot bind what does not exist (config.worktree usually does not).
      denyWrite: await existing(policy.readOnly),
    },
    policy.hosts,
  );
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (!HOME_VARS.includes(k)) out[k] = v;
  Object.assign(out, { HOME: policy.home, TMPDIR: policy.tmp, IS_SANDBOX: "1" });
  return { command: wrapped, env: out, sandboxed: true, release };
}

/** The same shape for a round that runs without the sandbox (`sandbox = "off"`). */
export function unsandboxed(command: string, env: Record<string, string>): WrappedCommand {
  const out = { ...env };
  delete out.IS_SANDBOX; // never claim a sandbox that is not there
  return { command, env: out, sandboxed: false, release: () => {} };
}

/** Private HOME and temp dir (0700, made exact), git's ref log dir, and the home links. */
export async function prepareRound(policy: SandboxPolicy): Promise<void> {
  for (const dir of [policy.home, policy.tmp]) {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
  }
  for (const dir of policy.create) await Deno.mkdir(dir, { recursive: true });
  for (const { link, target, dir } of policy.homeLinks) {
    if (!(await exists(target))) {
      if (!dir) continue; // a file the CLI will create in the private home
      // A login made inside the sandbox must outlive the round, as it would outside it.
      await Deno.mkdir(target, { recursive: true, mode: 0o700 });
    }
    const current = await Deno.lstat(link).catch(() => undefined);
    if (current?.isSymlink && (await Deno.readLink(link)) === target) continue;
    if (current) continue; // the CLI replaced the link with its own file: keep it
    await Deno.mkdir(link.replace(/\/[^/]*$/, ""), { recursive: true, mode: 0o700 });
    await symlink(target, link);
  }
}

/**
 * Deno.symlink needs unscoped read and write, which a supervisor with narrowed permissions
 * (permissions.ts) does not have: then `ln` (on its run list) makes the link.
 */
async function symlink(target: string, link: string): Promise<void> {
  try {
    await Deno.symlink(target, link);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      throw e;
    }
    const r = await new Deno.Command("ln", { args: ["-s", "--", target, link], stderr: "piped" })
      .output();
    if (!r.success) {
      throw new Error(`ln -s ${target} ${link}: ${new TextDecoder().decode(r.stderr).trim()}`);
    }
  }
}

async function existing(paths: string[]): Promise<string[]> {
  const out = [];
  for (const p of paths) if (await exists(p)) out.push(p);
  return out;
}

/**
 * Whether `p` is there. A path this process may not stat (its Deno permissions are narrowed:
 * permissions.ts) counts as there: dropping it from what is hidden would show it to the agent.
 */
async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
  }
}
