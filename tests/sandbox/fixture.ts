/**
 * A town on disk for the sandbox tests: an operator home with a planted SSH key and a claude
 * login dir, `.tt/` with a redis.sock, logs and two agents' worktrees (a, b), and a channel
 * socket for agent a answering "pong".
 */
import { probeSandbox } from "../../src/supervisor/sandbox/mod.ts";
import { report } from "../helpers.ts";
import {
  buildRoundPolicy,
  type RoundPolicyInput,
  type SandboxPolicy,
  type WrappedCommand,
  wrapRound,
} from "../../src/supervisor/sandbox/mod.ts";

export const probe = await probeSandbox();
if (!probe.ok) report(`tests/sandbox: skipped, no sandbox here: ${probe.reason} (${probe.fix})`);
/** Passed as `ignore` to each test. */
export const noSandbox = !probe.ok;

export const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- planted-secret-9f3a";

export interface Town {
  dir: string;
  opHome: string;
  /** Another registered town (with notes.txt). */
  other: string;
  root: string;
  wtA: string;
  wtB: string;
  channel: string;
  policy(extra?: Partial<RoundPolicyInput>): Promise<SandboxPolicy>;
  /** Runs `script` in agent a's sandbox (cwd: its worktree). */
  run(script: string, extra?: Partial<RoundPolicyInput>): Promise<Ran>;
  close(): Promise<void>;
}

export interface Ran {
  code: number;
  out: string;
  wrapped: WrappedCommand;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await new Deno.Command("git", {
    args: ["-c", "user.email=t@t", "-c", "user.name=t", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!r.success) throw new Error(`git ${args.join(" ")}: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout).trim();
}
export { git };

export async function makeTown(): Promise<Town> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "tt-sbx-" }));
  const opHome = `${dir}/home`;
  await Deno.mkdir(`${opHome}/.ssh`, { recursive: true });
  await Deno.writeTextFile(`${opHome}/.ssh/id_ed25519`, SSH_KEY);
  await Deno.mkdir(`${opHome}/.claude`, { recursive: true });
  await Deno.writeTextFile(`${opHome}/.claude/settings.json`, "{}");
  await Deno.mkdir(`${opHome}/.tt`, { recursive: true });
  await Deno.writeTextFile(`${opHome}/.tt/config.toml`, 'redis_url = "redis://:pw@h"\n');
  const root = `${dir}/town`;
  // Another town of the same operator, registered in TT_HOME.
  const other = `${dir}/other-town`;
  await Deno.mkdir(`${other}/.tt`, { recursive: true });
  await Deno.writeTextFile(`${other}/notes.txt`, "other town's notes");
  await Deno.writeTextFile(
    `${opHome}/.tt/towns.toml`,
    `[[towns]]\npath = "${other}"\nname = "o"\n\n[[towns]]\npath = "${root}"\nname = "t"\n`,
  );
  await Deno.mkdir(`${root}/.tt/logs`, { recursive: true });
  await Deno.writeTextFile(`${root}/tinytown.toml`, 'name = "t"\n');
  await Deno.writeTextFile(`${root}/.gitignore`, ".tt/\n");
  await git(root, "init", "-q", "-b", "main");
  await git(root, "add", ".");
  await git(root, "commit", "-q", "-m", "init");
  await Deno.writeTextFile(`${root}/.tt/logs/b.log`, "log of agent b");
  const redis = Deno.listen({ transport: "unix", path: `${root}/.tt/redis.sock` });
  const wtA = `${root}/.tt/worktrees/a`, wtB = `${root}/.tt/worktrees/b`;
  await git(root, "worktree", "add", "-q", "-b", "tt/a", wtA);
  await git(root, "worktree", "add", "-q", "-b", "tt/b", wtB);
  await Deno.writeTextFile(`${wtB}/secret.txt`, "b's work");
  await Deno.mkdir(`${root}/.tt/channels`, { recursive: true });
  const channel = `${root}/.tt/channels/a.sock`;
  const chan = Deno.listen({ transport: "unix", path: channel });
  const serving = (async () => {
    for await (const c of chan) {
      await c.write(new TextEncoder().encode("pong\n")).catch(() => {});
      c.close();
    }
  })();
  const policy = (extra: Partial<RoundPolicyInput> = {}) =>
    buildRoundPolicy({
      townRoot: root,
      agent: "a",
      workdir: wtA,
      cli: "claude",
      channelSocket: channel,
      operatorHome: opHome,
      ttHome: `${opHome}/.tt`,
      ...extra,
    });
  return {
    dir,
    opHome,
    other,
    root,
    wtA,
    wtB,
    channel,
    policy,
    async run(script, extra) {
      const p = await policy(extra);
      const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: opHome, LANG: "C" };
      const wrapped = await wrapRound(p, script, env);
      try {
        const r = await new Deno.Command("sh", {
          args: ["-c", wrapped.command],
          cwd: p.workdir,
          env: wrapped.env,
          clearEnv: true,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr), wrapped };
      } finally {
        wrapped.release();
      }
    },
    async close() {
      redis.close();
      chan.close();
      await serving.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}
