/**
 * Scale. (1) The supervisor with 1, 10, 50 and 200 idle agents: resident memory, against an
 * idle Deno process holding one Redis connection, and CPU time used while idle (heartbeats,
 * blocked loops), against the same supervisor with 1 agent. (2) `tt status` (source) on towns of
 * 10, 100 and 1,000 agents with 10,000 tasks, against the same command on 10 agents and 1,000
 * tasks, and against a script that only loads ioredis, connects and PINGs, all in one
 * interleaved group.
 */
import { spawnAgent, waitForAgents } from "../../src/core/lifecycle.ts";
import { supervisorInfo } from "../../src/core/control.ts";
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
    const raw: Record<string, unknown> = { idle_window_ms: windowMs };

    // --- (1) supervisor memory and idle CPU
    const { t } = await benchTown(ctx, "bench-scale");
    const supervisor: Record<number, unknown> = {};
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
    } finally {
      await stopSupervisor(t);
      await dropTown(t);
      await t.close();
    }
    raw.supervisor = supervisor;

    // --- (2) tt status as towns grow
    const env = cliEnv(ctx);
    const towns = [];
    const t0 = performance.now();
    for (const [i, size] of STATUS_TOWNS.entries()) {
      const town = await benchTown(ctx, `bench-status-${i}`);
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
