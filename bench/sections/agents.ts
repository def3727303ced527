/**
 * Agents through the real supervisor: assign → the agent's CLI has started, against spawning
 * the same command directly; and a whole round whose output tt parses as a CLI's JSON stream
 * (the claude family) against the same output read as plain text. (Supervisor memory and CPU
 * with many agents: the scale section.)
 */
import { benchTown, dropTown, stopSupervisor } from "../lib/town.ts";
import { spawnAgent, waitForAgents } from "../../src/core/lifecycle.ts";
import { resolveRecipient } from "../../src/core/agents.ts";
import { sendMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { TownContext } from "../../src/core/town.ts";
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
      const rounds = await jsonVsPlainRounds(ctx, t, ctx.quick ? 8 : 30);
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
        {
          id: "round-plain",
          label: `round with ${STREAM_LINES} lines of output read as plain text → idle`,
          short: "plain-text round",
          value: quantile(rounds.plain, 0.5),
          stat: "p50",
        },
        {
          id: "round-json",
          label: `the same round parsed as a JSON stream (claude family) → idle`,
          value: quantile(rounds.json, 0.5),
          stat: "p50",
          vs: ["round-plain"],
        },
      ];

      return {
        rows,
        notes: ["a JSON-parsing round should cost at most 1.1× a plain-text round"],
        raw: {
          n,
          direct: summarize(direct),
          assign: summarize(viaTt),
          round_plain: summarize(rounds.plain),
          round_json: summarize(rounds.json),
        },
      };
    } finally {
      await stopSupervisor(t);
      await dropTown(t);
      blocker.disconnect();
      await t.close();
    }
  },
};

/** Lines of claude-shaped stream-json each benchmark round prints (about 330 KiB). */
const STREAM_LINES = 2000;

/**
 * Whole rounds (a task message sent → the agent idle again) of two agents whose CLIs print the
 * same claude stream-json: one under the name `claude` (parsed by its family), one under another
 * name (read as plain text). Interleaved, so drift affects both alike.
 */
async function jsonVsPlainRounds(ctx: BenchContext, t: TownContext, n: number) {
  const bin = `${ctx.tmp}/clis`;
  await Deno.mkdir(bin, { recursive: true });
  const data = `${bin}/stream.jsonl`;
  const lines = [
    JSON.stringify({ type: "system", subtype: "init", session_id: crypto.randomUUID() }),
  ];
  for (let i = 1; i < STREAM_LINES - 1; i++) {
    lines.push(JSON.stringify({
      type: "assistant",
      message: {
        role: "assistant",
        content: [{ type: "text", text: `step ${i}: ${"x".repeat(120)}` }],
      },
      session_id: "s",
    }));
  }
  lines.push(JSON.stringify({
    type: "result",
    subtype: "success",
    is_error: false,
    result: "done",
    session_id: "s",
    total_cost_usd: 0.01,
    usage: { input_tokens: 10, output_tokens: 5 },
    permission_denials: [],
  }));
  await Deno.writeTextFile(data, lines.join("\n") + "\n");
  const script = `#!/bin/sh\ncat >/dev/null\ncat '${data}'\n`;
  for (const name of ["claude", "plaincli"]) {
    await Deno.writeTextFile(`${bin}/${name}`, script, { mode: 0o755 });
  }
  const json = await spawnAgent(t, { name: "json", cli: `${bin}/claude`, worktree: false });
  const plain = await spawnAgent(t, { name: "plain", cli: `${bin}/plaincli`, worktree: false });
  const round = async (id: string) => {
    const t0 = performance.now();
    await sendMessage(t, { from: SUPERVISOR_ID, to: id, type: "task", body: "print your stream" });
    await waitForAgents(t, [id], "idle", 60_000);
    return performance.now() - t0;
  };
  await round(json.id); // warm-up (first rounds load the parsers)
  await round(plain.id);
  const out = { json: [] as number[], plain: [] as number[] };
  for (let i = 0; i < n; i++) {
    out.plain.push(await round(plain.id));
    out.json.push(await round(json.id));
  }
  return out;
}
