/**
 * Agents through the real supervisor: assign → the agent's CLI has started (against spawning
 * the same command directly), and the supervisor's memory with 1, 10 and 50 idle agents
 * (against an idle Deno process holding one Redis connection).
 */
import { openTown } from "../../src/core/town.ts";
import { spawnAgent, waitForAgents } from "../../src/core/lifecycle.ts";
import { resolveRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask } from "../../src/core/tasks.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { quantile, summarize } from "../lib/stats.ts";
import type { BenchContext, Row, Section, SectionResult } from "../lib/types.ts";

/** Resident memory in MiB (via ps: Deno refuses /proc/<pid> without --allow-all). */
async function rssMiB(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(out.stdout).trim()) / 1024;
}

export const agents: Section = {
  id: "agents",
  title: "agents through the supervisor",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const dir = await Deno.makeTempDir({ dir: ctx.tmp, prefix: "town-" });
    await Deno.writeTextFile(
      `${dir}/tinytown.toml`,
      `name = "bench-agents"\n[redis]\nurl = "${ctx.redis.url}"\n[agent]\nworktrees = false\nmax_rounds = 100000\nidle_timeout_secs = 0\n`,
    );
    const t = await openTown({ town: dir, clientName: "tt-bench" });
    const blocker = t.redis.duplicate();
    await blocker.connect();
    const started = `${t.keys.prefix}bench-started`;
    const marker =
      `redis-cli -s '${ctx.redis.socket}' RPUSH '${started}' x >/dev/null; cat >/dev/null`;
    const n = ctx.quick ? 10 : 50;
    try {
      // Baseline: the same command spawned directly.
      const direct: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const child = new Deno.Command("sh", {
          args: ["-c", marker],
          stdin: "null",
          stdout: "null",
        }).spawn();
        await blocker.blpop(started, 30);
        direct.push(performance.now() - t0);
        await child.status;
      }
      const a = await spawnAgent(t, { name: "runner", cli: marker, worktree: false });
      const to = await resolveRecipient(t, a.name);
      const viaTt: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const task = await assignTask(t, to, { description: `bench task ${i}` });
        await blocker.blpop(started, 30);
        viaTt.push(performance.now() - t0);
        // The marker CLI does not report back; complete for it, then wait for the round's end.
        await completeTask(t, task.id, { result: "bench" });
        await waitForAgents(t, [a.id], "idle", 30_000);
      }
      const rows: Row[] = [
        {
          id: "direct",
          label: "spawn sh -c <cli> directly → started",
          short: "direct spawn",
          value: quantile(direct, 0.5),
          stat: "p50",
        },
        {
          id: "assign",
          label: "assign → supervisor round → CLI started",
          value: quantile(viaTt, 0.5),
          stat: "p50",
          vs: ["direct"],
        },
      ];

      // Memory: idle Deno + one connection, then the supervisor with 1, 10, 50 idle agents.
      const readyKey = `${t.keys.prefix}bench-idle`;
      const idle = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-q",
          "-P",
          "--no-prompt",
          "--config",
          `${ctx.root}/deno.json`,
          `${ctx.root}/bench/fixtures/idle.ts`,
          ctx.redis.url,
          readyKey,
        ],
        stdout: "null",
      }).spawn();
      await blocker.blpop(readyKey, 30);
      const floor = await rssMiB(idle.pid);
      idle.kill("SIGTERM");
      await idle.status;
      rows.push({
        id: "rss-floor",
        label: "idle Deno + 1 Redis connection (RSS)",
        short: "idle Deno",
        value: floor,
        stat: "MiB",
      });
      let count = 1;
      const memory: Record<number, number> = {};
      for (const target of [1, 10, 50]) {
        for (; count < target; count++) {
          await spawnAgent(t, { name: `idle${count}`, cli: "true", worktree: false });
        }
        const pid = (await supervisorInfo(t))!.pid;
        memory[target] = await rssMiB(pid);
        rows.push({
          id: `rss-${target}`,
          label: `supervisor with ${target} idle agent(s) (RSS)`,
          value: memory[target],
          stat: "MiB",
          vs: ["rss-floor"],
        });
      }
      return {
        rows,
        notes: ["RSS figures are MiB, not ms; ratios are against the idle Deno process."],
        raw: {
          n,
          direct: summarize(direct),
          assign: summarize(viaTt),
          memory_mib: memory,
          floor_mib: floor,
        },
      };
    } finally {
      const info = await supervisorInfo(t);
      if (info) {
        Deno.kill(info.pid, "SIGTERM");
        for (let i = 0; i < 200 && await supervisorInfo(t); i++) {
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      blocker.disconnect();
      await t.close();
    }
  },
};
