/**
 * Scale. (1) The supervisor with 1, 10, 50 and 200 idle agents: resident memory, against an
 * idle Deno process holding one Redis connection, and CPU time used while idle (heartbeats,
 * blocked loops), against the same supervisor with 1 agent; and the hand-off (assign → the
 * agent's CLI started) with 10 and with 200 agents in the town. (2) `tt status` (source) on towns
 * of 10, 100 and 1,000 agents with 10,000 tasks, against the same command on 10 agents and 1,000
 * tasks, and against a script that only loads ioredis, connects and PINGs, all in one
 * interleaved group. (3) townhall's `GET /v1/status` on the 1,000 agents/10,000 tasks town
 * against the same server's `/health` (autocannon), and the server's RSS under that load against
 * its idle RSS.
 */
import { spawnAgent, waitForAgents } from "../../src/core/lifecycle.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { resolveRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask } from "../../src/core/tasks.ts";
import type { TownContext } from "../../src/core/town.ts";
import { quantile } from "../lib/stats.ts";
import { runNode } from "../lib/node.ts";
import { type Load, type Server, startServer } from "./townhall.ts";
import { type Cmd, timeGroup } from "../lib/commands.ts";
import {
  benchTown,
  cliEnv,
  cpuBetween,
  dropTown,
  populate,
  processUsage,
  stopSupervisor,
} from "../lib/town.ts";
import {
  type BenchContext,
  denoArgs,
  ioredisPingArgv,
  type Row,
  type Section,
  type SectionResult,
} from "../lib/types.ts";

const SUPERVISED = [1, 10, 50, 200];
/** Town sizes (agents) at which the hand-off is timed. */
const HANDOFF_AT = [10, 200];
const STATUS_TOWNS = [
  { agents: 10, tasks: 1_000 },
  { agents: 10, tasks: 10_000 },
  { agents: 100, tasks: 10_000 },
  { agents: 1_000, tasks: 10_000 },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const scale: Section = {
  id: "scale",
  title: "scale: supervisor with idle agents; tt status on big towns",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const windowMs = ctx.quick ? 2000 : 5000;
    const rows: Row[] = [];
    const notes: string[] = [];
    const raw: Record<string, unknown> = { idle_window_ms: windowMs };

    // --- (1) supervisor memory and idle CPU
    const { t } = await benchTown(ctx, "bench-scale");
    const supervisor: Record<number, unknown> = {};
    const handoffs: Record<number, unknown> = {};
    try {
      const readyKey = `${t.keys.prefix}bench-idle`;
      const idle = new Deno.Command(Deno.execPath(), {
        args: [
          ...denoArgs(ctx, "bench/fixtures/idle.ts"),
          ctx.redis.url,
          readyKey,
        ],
        stdout: "null",
      }).spawn();
      let floor;
      try {
        await t.redis.blpop(readyKey, 30);
        floor = await idleUsage(idle.pid, windowMs);
      } finally {
        idle.kill("SIGTERM");
        await idle.status;
      }
      raw.floor = floor;
      rows.push({
        id: "rss-floor",
        label: "idle Deno + 1 Redis connection, RSS",
        short: "idle Deno",
        value: floor.rssMiB,
        unit: "MiB",
        stat: "RSS",
      });
      const ids: string[] = [];
      let cpuBefore = 0;
      const handoff = new HandOff(ctx, t);
      for (const target of SUPERVISED) {
        const t0 = performance.now();
        while (ids.length < target) {
          const a = await spawnAgent(t, {
            name: `idle${ids.length}`,
            cli: "true",
            worktree: false,
          });
          ids.push(a.id);
        }
        const { met } = await waitForAgents(t, ids, "idle", 120_000);
        if (!met) throw new Error(`${target} agents did not become idle within 120 s`);
        const startSecs = (performance.now() - t0) / 1000;
        await sleep(300); // let the last loops settle into their blocking wait
        const pid = (await supervisorInfo(t))!.pid;
        const usage = await idleUsage(pid, windowMs);
        supervisor[target] = {
          ...usage,
          start_seconds: startSecs,
          start_cpu_ms: usage.cpuStartMs - cpuBefore,
        };
        cpuBefore = usage.cpuEndMs;
        if (HANDOFF_AT.includes(target)) {
          const times = await handoff.time(ctx.quick ? 10 : 30);
          const p50 = quantile(times, 0.5);
          handoffs[target] = { p50, p90: quantile(times, 0.9), n: times.length };
          rows.push({
            id: `handoff-${target}`,
            label: `hand-off (assign → CLI started) with ${target} idle agents + the runner`,
            short: `hand-off at ${target}`,
            value: p50,
            stat: "p50",
            vs: target === HANDOFF_AT[0] ? undefined : [`handoff-${HANDOFF_AT[0]}`],
          });
        }
        const n = target === 1 ? "1 idle agent" : `${target} idle agents`;
        rows.push(
          {
            id: `rss-${target}`,
            label: `supervisor with ${n}, RSS`,
            value: usage.rssMiB,
            unit: "MiB",
            stat: "RSS",
            vs: ["rss-floor"],
          },
          {
            id: `cpu-${target}`,
            label: `supervisor with ${n}, CPU while idle`,
            short: target === 1 ? "1 agent" : undefined,
            value: usage.cpuMsPerSec,
            unit: "ms/s",
            stat: "CPU",
            vs: target === 1 ? undefined : ["cpu-1"],
          },
        );
      }
      handoff.close();
    } finally {
      await stopSupervisor(t);
      await dropTown(t);
      await t.close();
    }
    raw.supervisor = supervisor;
    raw.handoff = handoffs;

    // --- (2) tt status as towns grow
    const env = cliEnv(ctx);
    const towns = [];
    const t0 = performance.now();
    for (const [i, size] of STATUS_TOWNS.entries()) {
      // Rate limits off: the biggest town also serves townhall's load in (3).
      const town = await benchTown(ctx, `bench-status-${i}`, NO_RATE_LIMIT);
      await populate(town.t, size);
      towns.push({ ...town, ...size, id: `status-${size.agents}-${size.tasks}` });
    }
    raw.fill_seconds = (performance.now() - t0) / 1000;
    try {
      const deno = Deno.execPath();
      const cmds: Cmd[] = [
        {
          name: "ioredis-ping",
          argv: ioredisPingArgv(ctx),
        },
        ...towns.map((x) => ({
          name: x.id,
          argv: [
            deno,
            ...denoArgs(ctx, "main.ts"),
            "--town",
            x.dir,
            "status",
          ],
        })),
      ];
      const runs = ctx.quick ? 4 : 16;
      const timing = await timeGroup(
        { cwd: ctx.tmp, env, cmds, runs, warmup: ctx.quick ? 1 : 2 },
        ctx.hyperfine,
        ctx.tmp,
      );
      raw.status = { runs, timings: timing };
      rows.push({
        id: "ioredis-ping",
        label: "ioredis connect + PING (process)",
        short: "ioredis PING",
        value: timing["ioredis-ping"].summary.median,
        stat: "median",
      });
      const base = towns[0].id;
      for (const x of towns) {
        rows.push({
          id: x.id,
          label: `tt status, ${x.agents} agents, ${x.tasks} tasks`,
          short: `${x.agents} agents/${x.tasks} tasks`,
          value: timing[x.id].summary.median,
          stat: "median",
          vs: x.id === base ? ["ioredis-ping"] : [base, "ioredis-ping"],
        });
      }
      // --- (3) townhall on the biggest town
      const big = towns[towns.length - 1];
      try {
        const r = await townhallLoad(ctx, big.dir, env);
        raw.townhall = r;
        rows.push(
          {
            id: "th-health",
            label: `townhall GET /health (${big.agents} agents, ${big.tasks} tasks)`,
            short: "/health",
            value: r.health.rps,
            unit: "req/s",
            stat: "req/s",
          },
          {
            id: "th-status",
            label: `townhall GET /v1/status, ${big.agents} agents, ${big.tasks} tasks`,
            value: r.status.rps,
            unit: "req/s",
            stat: "req/s",
            vs: ["th-health"],
          },
          {
            id: "th-rss-idle",
            label: "townhall RSS, idle (started, each route answered once)",
            short: "idle townhall",
            value: r.rssIdleMiB,
            unit: "MiB",
            stat: "RSS",
          },
          {
            id: "th-rss-health",
            label: "townhall RSS after the /health load",
            value: r.rssHealthMiB,
            unit: "MiB",
            stat: "RSS",
            vs: ["th-rss-idle"],
          },
          {
            id: "th-rss-load",
            label: "townhall RSS after the /v1/status load (after /health's)",
            value: r.rssAfterMiB,
            unit: "MiB",
            stat: "RSS",
            vs: ["th-rss-idle"],
          },
        );
      } catch (e) {
        notes.push(`townhall rows skipped: ${(e as Error).message}`);
      }
    } finally {
      for (const x of towns) {
        await dropTown(x.t);
        await x.t.close();
      }
    }
    const steps = SUPERVISED.map((n, i) => {
      const s = supervisor[n] as { start_cpu_ms: number };
      const added = n - (SUPERVISED[i - 1] ?? 0);
      return `${(s.start_cpu_ms / added).toFixed(0)} ms ${
        i ? `(${SUPERVISED[i - 1]}→${n})` : "(the first, incl. the supervisor's own start)"
      }`;
    });
    return {
      rows,
      notes: [
        ...notes,
        "hand-off: a runner agent whose CLI pushes a marker; assign → marker, p50, with the " +
        "idle agents of (1) around it (the runner counts from 10 on)",
        "townhall: /v1/status and /health on the same server, 10 connections, rate limits off; " +
        "targets: status ≥ 0.1× /health, RSS under load < 2× idle",
        `supervisor CPU per agent started: ${steps.join(", ")}`,
        `idle CPU: CPU time of the supervisor's threads over ${windowMs / 1000} s of idling ` +
        "(schedstat of /proc/<pid>/task/*), in ms per s; RSS via ps",
        "status towns: tasks assigned round-robin to agents on another host (nothing runs them)",
      ],
      raw,
    };
  },
};

/** RSS at the end of a `windowMs` idle window, and CPU time used during it (ms per second). */
async function idleUsage(pid: number, windowMs: number) {
  const a = await processUsage(pid);
  await sleep(windowMs);
  const b = await processUsage(pid);
  return {
    rssMiB: b.rssMiB,
    cpuMsPerSec: cpuBetween(a.threadsNs, b.threadsNs) / (windowMs / 1000),
    cpuStartMs: a.cpuMs,
    cpuEndMs: b.cpuMs,
  };
}

const NO_RATE_LIMIT = "[townhall.rate_limit]\nread_per_min = 0\nwrite_per_min = 0\n";

/** Times assign → CLI started for one runner agent whose CLI pushes a marker (as agents.ts). */
class HandOff {
  #blocker?: Awaited<ReturnType<TownContext["redis"]["duplicate"]>>;
  #runner?: string;
  readonly #started: string;
  constructor(private ctx: BenchContext, private t: TownContext) {
    this.#started = `${t.keys.prefix}bench-handoff`;
  }

  async time(n: number): Promise<number[]> {
    const { t } = this;
    if (!this.#blocker) {
      this.#blocker = t.redis.duplicate();
      await this.#blocker.connect();
      const marker = `redis-cli -s '${this.ctx.redis.socket}' RPUSH '${this.#started}' x ` +
        ">/dev/null; cat >/dev/null";
      const a = await spawnAgent(t, { name: "runner", cli: marker, worktree: false });
      await waitForAgents(t, [a.id], "idle", 60_000);
      this.#runner = a.id;
    }
    const to = await resolveRecipient(t, this.#runner!);
    const out: number[] = [];
    for (let i = 0; i < n + 2; i++) {
      const t0 = performance.now();
      const task = await assignTask(t, to, { description: `hand-off ${i}` });
      if (!(await this.#blocker.blpop(this.#started, 30))) {
        throw new Error("the runner never started");
      }
      if (i >= 2) out.push(performance.now() - t0); // the first two warm the round's code paths
      await completeTask(t, task.id, { result: "bench" });
      await waitForAgents(t, [this.#runner!], "idle", 30_000);
    }
    return out;
  }

  close() {
    this.#blocker?.disconnect();
  }
}

/** autocannon on /health then /v1/status of one townhall; its RSS idle and after the load. */
async function townhallLoad(ctx: BenchContext, dir: string, env: Record<string, string>) {
  const deno = Deno.execPath();
  const tt = [deno, ...denoArgs(ctx, "main.ts")];
  const key = new TextDecoder().decode(
    (await new Deno.Command(deno, {
      args: [...tt.slice(1), "auth", "gen-key", "--name", "bench"],
      cwd: dir,
      env,
      stdout: "piped",
      stderr: "inherit",
    }).output()).stdout,
  ).trim();
  let hall: Server | undefined;
  try {
    hall = await startServer([...tt, "townhall", "--port", "0", "--json"], dir, env);
    // Idle: started, each route answered once (code loaded), then at rest.
    for (const [path, auth] of [["/health", false], ["/v1/status", true]] as const) {
      const r = await fetch(`${hall.url}${path}`, {
        headers: auth ? { authorization: `Bearer ${key}` } : {},
      });
      if (!r.ok) throw new Error(`townhall ${path}: ${r.status}`);
      await r.body?.cancel();
    }
    await sleep(1000);
    const rssIdleMiB = (await processUsage(hall.pid)).rssMiB;
    const seconds = ctx.quick ? 3 : 5;
    const load = (path: string, auth: boolean) =>
      runNode<Load>(ctx.root, "http.mjs", [JSON.stringify({
        url: `${hall!.url}${path}`,
        headers: auth ? { authorization: `Bearer ${key}` } : {},
        connections: 10,
        seconds,
        warmup: 1,
      })]);
    const health = await load("/health", false);
    const rssHealthMiB = (await processUsage(hall.pid)).rssMiB;
    const status = await load("/v1/status", true);
    for (const [name, r] of [["health", health], ["status", status]] as const) {
      if (r.non2xx || r.errors || r.timeouts || !r.requests) {
        throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors of ${r.requests}`);
      }
    }
    const rssAfterMiB = (await processUsage(hall.pid)).rssMiB;
    return { health, status, rssIdleMiB, rssHealthMiB, rssAfterMiB, seconds };
  } finally {
    await hall?.stop();
  }
}
