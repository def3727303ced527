/**
 * Agents through the real supervisor: assign → the agent's CLI has started, against spawning
 * the same command directly. (Supervisor memory and CPU with many agents: the scale section.)
 */
import { benchTown, dropTown, stopSupervisor } from "../lib/town.ts";
import { spawnAgent, waitForAgents } from "../../src/core/lifecycle.ts";
import { resolveRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask } from "../../src/core/tasks.ts";
import { quantile, summarize } from "../lib/stats.ts";
import type { BenchContext, Row, Section, SectionResult } from "../lib/types.ts";

export const agents: Section = {
  id: "agents",
  title: "agents through the supervisor",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const { t } = await benchTown(ctx, "bench-agents");
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
          detached: true, // its own session and process group, as the supervisor starts rounds
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

      return {
        rows,
        notes: [],
        raw: { n, direct: summarize(direct), assign: summarize(viaTt) },
      };
    } finally {
      await stopSupervisor(t);
      await dropTown(t);
      blocker.disconnect();
      await t.close();
    }
  },
};
