/**
 * A fleet of agents draining quick tasks through the real supervisor (issue 10's "500 quick tasks,
 * 20 agents"): each agent's CLI is a shell script that reports every task of its prompt with
 * `tt task complete`. Two towns, the same work: reports through the round's channel (what agents
 * do today: the shim → src/agent/client.ts → the supervisor) against the path agents took before
 * channels (the full tt, connecting to Redis itself, once per report). With quick tasks the
 * reports are nearly all the CPU, so tasks/s shows what a report costs the machine.
 */
import { benchTown, dropTown, inFlight, stopSupervisor } from "../lib/town.ts";
import { spawnAgent, waitForAgents } from "../../src/core/lifecycle.ts";
import { toRecipient } from "../../src/core/agents.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { taskCounts } from "../../src/core/counters.ts";
import { type BenchContext, denoArgs, type Row, type Section } from "../lib/types.ts";

type Path = "channel" | "full";

/** The agent CLI: reports every task id of its prompt, through `tt` (channel) or the full tt. */
function cliScript(ctx: BenchContext, path: Path, dir: string): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const report = path === "channel"
    ? `tt task complete "$id" --result bench`
    // As an agent ran it before channels: its own tt, with the Redis address and its identity.
    : `env -u TT_CHANNEL -u TT_CHANNEL_TOKEN REDIS_URL=${q(ctx.redis.url)} TT_TOWN=${q(dir)} ` +
      `${q(Deno.execPath())} ${denoArgs(ctx, "main.ts").map(q).join(" ")} ` +
      `task complete "$id" --result bench`;
  return [
    "#!/bin/sh",
    `ids=$(sed -n 's/^ *- Task ID: \\([0-9a-f-]*\\)$/\\1/p')`,
    `for id in $ids; do ${report} >/dev/null || exit 3; done`,
    "",
  ].join("\n");
}

/** Seconds for `agents` agents to complete `tasks` tasks assigned round-robin at once. */
async function drain(ctx: BenchContext, path: Path, agents: number, tasks: number) {
  const { dir, t } = await benchTown(ctx, `bench-fleet-${path}`);
  try {
    const cli = `${dir}/agent-cli.sh`;
    await Deno.writeTextFile(cli, cliScript(ctx, path, dir), { mode: 0o755 });
    const spawned = [];
    for (let i = 0; i < agents; i++) {
      spawned.push(await spawnAgent(t, { name: `f${i}`, cli: `sh ${cli}`, worktree: false }));
    }
    await waitForAgents(t, spawned.map((a) => a.id), "idle", 60_000);
    const to = spawned.map(toRecipient);
    const t0 = performance.now();
    await inFlight(tasks, 50, async (i) => {
      await assignTask(t, to[i % to.length], { description: `quick task ${i}` });
    });
    // The counters are one round trip whatever the number of tasks; a bench may poll them.
    for (let waited = 0;; waited += 20) {
      const c = await taskCounts(t);
      if (c.by_state.completed === tasks) break;
      if (c.by_state.failed || waited > 600_000) {
        throw new Error(`fleet (${path}): ${JSON.stringify(c.by_state)} after ${waited} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return (performance.now() - t0) / 1000;
  } finally {
    await stopSupervisor(t);
    await dropTown(t);
    await t.close();
  }
}

export const fleet: Section = {
  id: "fleet",
  title: "a fleet of agents draining quick tasks (reports through the channel vs the full tt)",
  async run(ctx: BenchContext) {
    const agents = 20;
    const tasks = ctx.quick ? 200 : 500;
    const full = await drain(ctx, "full", agents, tasks);
    const channel = await drain(ctx, "channel", agents, tasks);
    const rows: Row[] = [
      {
        id: "full",
        label: `${agents} agents, ${tasks} tasks, each report a full tt (before channels)`,
        short: "full-tt reports",
        value: tasks / full,
        unit: "tasks/s",
        stat: "rate",
      },
      {
        id: "channel",
        label: `the same, reports through the round's channel`,
        value: tasks / channel,
        unit: "tasks/s",
        stat: "rate",
        vs: ["full"],
      },
    ];
    return {
      rows,
      notes: ["issue 10 asks for at least 2.5× the full-tt tasks/s through the channel"],
      raw: { agents, tasks, full_secs: full, channel_secs: channel },
    };
  },
};
