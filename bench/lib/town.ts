/** Towns for the benchmark sections: on this run's private Redis, filled fast through src/core. */
import { openTown, type TownContext } from "../../src/core/town.ts";
import { createAgent, type Ctx, toRecipient } from "../../src/core/agents.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import type { Agent } from "../../src/core/schemas.ts";
import type { BenchContext } from "./types.ts";

/** Host name for agents that no supervisor on this machine serves (so no tt command starts one). */
export const ELSEWHERE = "bench-elsewhere";

/**
 * A town directory with a tinytown.toml (name, this run's Redis, no worktrees, agents that never
 * idle out, no agent sandbox) plus `extra` lines in [agent]; opened as a TownContext. The marker
 * CLIs of the sections talk to the bench's Redis with redis-cli, which the agent sandbox rightly
 * forbids (with bubblewrap installed, `sandbox = "auto"` is on and no runner ever started); the
 * sandbox's own costs are measured in the agentreport and fleet sections.
 */
export async function benchTown(
  ctx: BenchContext,
  name: string,
  extra = "",
): Promise<{ dir: string; t: TownContext }> {
  const dir = `${ctx.tmp}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/tinytown.toml`,
    `name = "${name}"\n[redis]\nurl = "${ctx.redis.url}"\n` +
      `[agent]\nworktrees = false\nidle_timeout_secs = 0\nmax_rounds = 1000000\n` +
      `sandbox = "off"\n${extra}`,
  );
  return { dir, t: await openTown({ town: dir, clientName: "tt-bench" }) };
}

/**
 * Creates `agents` agent records (on `host`; default: a host no supervisor here serves) and
 * `tasks` tasks assigned round-robin to them, with many calls in flight on one connection.
 */
export async function populate(
  t: Ctx,
  opts: { agents: number; tasks: number; host?: string; prefix?: string },
): Promise<Agent[]> {
  const agents: Agent[] = [];
  await inFlight(opts.agents, 100, async (i) => {
    agents[i] = await createAgent(t, {
      name: `${opts.prefix ?? "agent"}${i}`,
      cli: "true",
      role: ["backend", "frontend", "tester", "reviewer"][i % 4],
      host: opts.host ?? ELSEWHERE,
    });
  });
  const to = agents.map(toRecipient);
  await inFlight(opts.tasks, 200, async (i) => {
    await assignTask(t, to[i % to.length], {
      description: `Bench task ${i}: add a --dry-run flag to the importer and test it`,
      tags: ["bench"],
    });
  });
  return agents;
}

/** Runs fn(0..n-1) with at most `width` calls in flight. */
export async function inFlight(n: number, width: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

/**
 * Stops the town's supervisor on this host: SIGTERM, wait (up to 15 s) until its process has
 * gone, else SIGKILL, so no benchmark leaves a daemon behind once its Redis is stopped.
 */
export async function stopSupervisor(t: Ctx) {
  const info = await supervisorInfo(t);
  if (!info) return;
  try {
    Deno.kill(info.pid, "SIGTERM");
  } catch { /* gone */ }
  for (let i = 0; i < 600 && await alive(info.pid); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  if (await alive(info.pid)) {
    console.log(`  (supervisor ${info.pid} ignored SIGTERM for 15 s: SIGKILL)`);
    try {
      Deno.kill(info.pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** Is the process running (a zombie is not)? Via ps: Deno refuses /proc without --allow-all. */
async function alive(pid: number): Promise<boolean> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const stat = new TextDecoder().decode(out.stdout).trim();
  return stat !== "" && !stat.startsWith("Z");
}

/** Deletes every key of a town (SCAN + UNLINK), to keep the run's Redis small. */
export async function dropTown(t: Ctx) {
  let cursor = "0";
  do {
    const [c, keys] = await t.redis.scan(cursor, "MATCH", t.keys.all, "COUNT", 1000);
    cursor = c;
    if (keys.length) await t.redis.unlink(...keys);
  } while (cursor !== "0");
}

/**
 * A process's resident memory (MiB, via ps) and CPU time so far: `cpuMs` from utime+stime of
 * /proc/<pid>/stat (10 ms ticks; includes exited threads), `threadsNs` per live thread from its
 * schedstat (ns resolution, for short windows: see cpuBetween). Deno refuses /proc without
 * --allow-all, so cat and sh read it.
 */
export async function processUsage(
  pid: number,
): Promise<{ rssMiB: number; cpuMs: number; threadsNs: Map<string, number> }> {
  const run = async (cmd: string, args: string[]) =>
    new TextDecoder().decode(
      (await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output()).stdout,
    ).trim();
  const [rss, stat, sched, tck] = await Promise.all([
    run("ps", ["-o", "rss=", "-p", String(pid)]),
    run("cat", [`/proc/${pid}/stat`]),
    run("sh", [
      "-c",
      `for f in /proc/${pid}/task/*; do echo "\${f##*/} $(cat "$f/schedstat" 2>/dev/null)"; done`,
    ]),
    run("getconf", ["CLK_TCK"]),
  ]);
  // Fields after "(comm) ": state is the 3rd field, utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const threadsNs = new Map<string, number>();
  for (const line of sched.split("\n")) {
    const [tid, ns] = line.split(" ");
    if (tid && Number(ns) >= 0) threadsNs.set(tid, Number(ns));
  }
  return { rssMiB: Number(rss) / 1024, cpuMs: ticks * 1000 / (Number(tck) || 100), threadsNs };
}

/**
 * CPU ms used between two samples by threads alive at the second one (a thread that started
 * meanwhile counts whole). Threads that ended meanwhile are missed, so this is a lower bound.
 */
export function cpuBetween(a: Map<string, number>, b: Map<string, number>): number {
  let ns = 0;
  for (const [tid, v] of b) ns += v - (a.get(tid) ?? 0);
  return ns / 1e6;
}

/**
 * The environment for `tt` processes of the benchmark: this run's Redis and a private TT_HOME,
 * but the real HOME and DENO_DIR (a fresh HOME would mean a cold Deno cache in every process).
 */
export function cliEnv(ctx: BenchContext, extra: Record<string, string> = {}) {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? ctx.tmp,
    TT_HOME: `${ctx.tmp}/tt-home`,
    REDIS_URL: ctx.redis.url,
    BENCH_REDIS_SOCK: ctx.redis.socket,
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    ...extra,
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  return env;
}
