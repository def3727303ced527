/**
 * Test harness: a real redis-server on a private unix socket (started by scripts/test and passed
 * in TT_TEST_REDIS_SOCK), unique town namespaces per test, and a runner for the real `tt`.
 */
import { connectRedis } from "../src/redis/connection.ts";
import { townKeys } from "../src/core/keys.ts";
import { createAgent, setAgentState } from "../src/core/agents.ts";
import type { TownContext } from "../src/core/town.ts";
import { TownConfig } from "../src/core/config_schema.ts";
import { shebangFlags as flagsOfBundle } from "../scripts/bundle.ts";

export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

export function testRedisUrl(): string {
  const sock = Deno.env.get("TT_TEST_REDIS_SOCK");
  if (!sock) {
    throw new Error(
      "TT_TEST_REDIS_SOCK is not set: run the tests with scripts/test (it starts Redis)",
    );
  }
  return `unix://${sock}`;
}

let counter = 0;
export function uniqueName(prefix = "t"): string {
  return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}-${
    Math.random().toString(36).slice(2, 6)
  }`;
}

/** A town context on the test Redis with a fresh namespace; no files. Close it when done. */
export async function testTown(name = uniqueName()): Promise<TownContext> {
  const url = testRedisUrl();
  const redis = await connectRedis(url, { name: "tt-test" });
  const config = TownConfig.parse({ name, redis: { url } });
  return {
    root: "/nonexistent",
    config,
    name,
    keys: townKeys(name),
    redis,
    redisUrl: url,
    managed: false,
    close: async () => {
      await redis.quit();
    },
  };
}

/** Runs `fn` with a fresh town context and closes it afterwards. */
export async function withTestTown<T>(fn: (t: TownContext) => Promise<T>): Promise<T> {
  const t = await testTown();
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

export interface TtResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno run` arguments for a script of this repository, with the permissions of its deno.json. */
export function denoRunArgs(script: string): string[] {
  return [
    "run",
    "-q",
    "-P",
    "--no-prompt",
    "--frozen",
    "--config",
    `${ROOT}/deno.json`,
    `${ROOT}/${script}`,
  ];
}

/** The command that runs tt: source by default, or the bundle when TT_TEST_BUNDLE is set. */
export function ttCommand(): { cmd: string; args: string[] } {
  const bundle = Deno.env.get("TT_TEST_BUNDLE");
  if (bundle) return { cmd: Deno.execPath(), args: ["run", "-q", ...shebangFlags(bundle), bundle] };
  return { cmd: Deno.execPath(), args: denoRunArgs("main.ts") };
}

/** The Deno cache of this test process, shared with every tt it runs. */
const DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;

export interface TtOptions {
  cwd: string;
  env?: Record<string, string>;
  stdin?: string;
}

/** A sandbox for black-box runs: a temp dir (the town) and a temp TT_HOME. */
export class Sandbox {
  readonly dir: string;
  readonly home: string;
  /** `redisUrl` null: no REDIS_URL, so tt manages the town's own redis-server. */
  constructor(readonly redisUrl: string | null = testRedisUrl()) {
    this.dir = Deno.makeTempDirSync({ prefix: "tt-town-" });
    this.home = Deno.makeTempDirSync({ prefix: "tt-home-" });
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      HOME: this.home,
      TT_HOME: `${this.home}/.tt`,
      NO_COLOR: "1",
      // A fresh HOME must not mean a fresh Deno cache (every child would re-fetch npm packages).
      DENO_DIR,
      ...(this.redisUrl ? { REDIS_URL: this.redisUrl } : {}),
      ...extra,
    };
  }

  /** Runs `tt` in the sandbox dir. */
  async tt(args: string[], opts: Partial<TtOptions> = {}): Promise<TtResult> {
    return await runTt(args, {
      cwd: opts.cwd ?? this.dir,
      env: this.env(opts.env),
      stdin: opts.stdin,
    });
  }

  /** Runs `tt` and fails the test unless it exits 0. */
  async ok(args: string[], opts: Partial<TtOptions> = {}): Promise<TtResult> {
    const r = await this.tt(args, opts);
    if (r.code !== 0) {
      // A supervisor that did not start says why in its log, which the sandbox's removal loses.
      const log = /see (\S+supervisor\.log)/.exec(r.stderr)?.[1];
      const tail = log
        ? (await Deno.readTextFile(log).catch(() => "")).split("\n").slice(-15).join("\n")
        : "";
      throw new Error(
        `tt ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}` +
          (tail ? `\nsupervisor.log:\n${tail}` : ""),
      );
    }
    return r;
  }

  /** Runs `tt ... --json` and parses stdout. */
  async json<T = unknown>(args: string[], opts: Partial<TtOptions> = {}): Promise<T> {
    const r = await this.ok([...args, "--json"], opts);
    return JSON.parse(r.stdout) as T;
  }

  /**
   * `tt init`, then `[agent] sandbox = "off"`: the fake agents of most tests keep their audit
   * files outside their worktree, which the agent sandbox (rightly) forbids. The sandbox's own
   * tests (tests/sandbox/) turn it on.
   */
  async init(name = uniqueName("bb")): Promise<string> {
    await this.ok(["init", "--name", name]);
    const path = `${this.dir}/tinytown.toml`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replace(/^# sandbox = "auto".*$/m, 'sandbox = "off"'));
    return name;
  }

  cleanup() {
    if (!this.redisUrl) {
      // Its supervisor (or townhall) first: one still running restarts the managed Redis it lost,
      // and the new server outlived the deleted directory (one per full run).
      killNaming(`--town ${this.dir}`, "SIGKILL");
      stopManagedServer(this.dir);
    }
    Deno.removeSync(this.dir, { recursive: true });
    Deno.removeSync(this.home, { recursive: true });
    // A tt of this town still running may have started its Redis again meanwhile.
    if (!this.redisUrl) killNaming(`${this.dir}/.tt/redis.sock`);
  }
}

/** Signals every process whose command line contains `text` (SIGTERM unless told). */
function killNaming(text: string, signal: Deno.Signal = "SIGTERM") {
  const out = new Deno.Command("pgrep", {
    args: ["-f", "--", text],
    stdout: "piped",
    stderr: "null",
  })
    .outputSync();
  for (const pid of new TextDecoder().decode(out.stdout).split("\n").map(Number)) {
    if (pid > 0 && pid !== Deno.pid) {
      try {
        Deno.kill(pid, signal);
      } catch { /* gone */ }
    }
  }
}

/**
 * Stops the redis-server tt started for the town at `dir`, if it runs: a test that forgets
 * `tt stop` would otherwise leave it running after its directory is gone. Only a process whose
 * command line names this town's socket is signalled (a stale pid file's pid may be reused).
 */
function stopManagedServer(dir: string) {
  try {
    const pid = Number(Deno.readTextFileSync(`${dir}/.tt/redis.pid`).trim());
    if (!(pid > 0)) return;
    // ps, not /proc: Deno refuses /proc/<pid> without --allow-all.
    const out = new Deno.Command("ps", { args: ["-o", "args=", "-p", String(pid)], stderr: "null" })
      .outputSync();
    if (new TextDecoder().decode(out.stdout).includes(`${dir}/.tt/`)) Deno.kill(pid, "SIGTERM");
  } catch {
    // no pid file, or the process is gone
  }
}

/**
 * Runs tt in `sb` with a hard limit (a hang or a runaway read fails the test instead of the
 * machine) and measures how long it took.
 */
export async function ttBounded(
  sb: Sandbox,
  args: string[],
  opts: { env?: Record<string, string>; limitMs?: number } = {},
): Promise<TtResult & { ms: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...denoRunArgs("main.ts"), ...args],
    cwd: sb.dir,
    env: { ...sb.env(opts.env), DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(opts.limitMs ?? 60_000),
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    ms: performance.now() - t0,
  };
}

export async function runTt(args: string[], opts: TtOptions): Promise<TtResult> {
  const { cmd, args: pre } = ttCommand();
  return await runProcess(cmd, [...pre, ...args], opts);
}

/** Runs a command to its end with `opts.stdin` (if any) written to it; captures its output. */
export async function runProcess(
  cmd: string,
  args: string[],
  opts: TtOptions,
): Promise<TtResult> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: { ...opts.env, DENO_NO_UPDATE_CHECK: "1" },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Every key of the town's state and its value; not the owner key (the town's claim of its name). */
export async function snapshotTown(t: TownContext): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let cursor = "0";
  do {
    const [next, keys] = await t.redis.scan(cursor, "MATCH", `${t.keys.prefix}*`, "COUNT", 500);
    cursor = next;
    for (const k of keys) {
      if (k === t.keys.owner) continue;
      const type = await t.redis.type(k);
      out[k] = type === "string"
        ? await t.redis.get(k)
        : type === "hash"
        ? await t.redis.hgetall(k)
        : type === "list"
        ? await t.redis.lrange(k, 0, -1)
        : type === "set"
        ? (await t.redis.smembers(k)).sort()
        : type === "zset"
        ? await t.redis.zrange(k, "0", "-1", "WITHSCORES")
        : type === "stream"
        ? await t.redis.xlen(k)
        : type;
    }
  } while (cursor !== "0");
  return out;
}

/** A town context for a black-box sandbox's town (same Redis, same name). */
export async function townOf(name: string): Promise<TownContext> {
  return await testTown(name);
}

// ---- running a built bundle (tests/cli/bundle_test.ts) ----

/** The `deno run` flags in a bundle's shebang line (as TT_TEST_BUNDLE reads them). */
export function shebangFlags(bundle: string): string[] {
  return flagsOfBundle(Deno.readTextFileSync(bundle));
}

/**
 * A Sandbox whose `tt` is the given bundle, run the way TT_TEST_BUNDLE runs it, without setting
 * TT_TEST_BUNDLE in this (shared, parallel) test process.
 */
export class BundleSandbox extends Sandbox {
  constructor(readonly bundle: string, redisUrl: string | null = testRedisUrl()) {
    super(redisUrl);
  }

  override async tt(args: string[], opts: Partial<TtOptions> = {}): Promise<TtResult> {
    return await runProcess(
      Deno.execPath(),
      ["run", "-q", ...shebangFlags(this.bundle), this.bundle, ...args],
      { cwd: opts.cwd ?? this.dir, env: this.env(opts.env), stdin: opts.stdin },
    );
  }
}

export interface AgentSandbox {
  sb: Sandbox;
  t: TownContext;
  /** Agent name → id. */
  ids: Record<string, string>;
}

/**
 * Runs `fn` in a sandboxed town with these agents, stopped so that no command starts a
 * supervisor for them (for tests about records, not rounds).
 */
export async function withAgents(names: string[], fn: (x: AgentSandbox) => Promise<void>) {
  const sb = new Sandbox();
  try {
    const t = await townOf(await sb.init());
    try {
      const ids: Record<string, string> = {};
      for (const name of names) {
        const a = await createAgent(t, { name, cli: "claude" });
        await setAgentState(t, a.id, "stopped");
        ids[name] = a.id;
      }
      await fn({ sb, t, ids });
    } finally {
      await t.close();
    }
  } finally {
    sb.cleanup();
  }
}

/** Runs `fn` in a sandboxed town with no agents. */
export async function withSandboxTown(
  fn: (sb: Sandbox, t: TownContext, name: string) => Promise<void>,
) {
  await withAgents([], ({ sb, t }) => fn(sb, t, t.name));
}

/**
 * A figure worth seeing in scripts/test's output (cases tried, seeds): `deno test -q` hides what
 * tests print, so scripts/test also collects these lines (TT_TEST_REPORT) and prints them last.
 */
export function report(line: string) {
  console.log(line);
  const file = Deno.env.get("TT_TEST_REPORT");
  if (file) Deno.writeTextFileSync(file, line + "\n", { append: true });
}
