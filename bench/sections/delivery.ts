/**
 * Delivery latency between two processes: a message sent with the core library reaches an agent
 * loop blocked on its wake list (take round, end round, reply), against the physical floor here:
 * raw LPUSH → BLPOP → LPUSH reply between two Deno processes on the same socket.
 * Figures are round trips (send → reply seen by the sender).
 */
import { connectRedis } from "../../src/redis/connection.ts";
import { townKeys } from "../../src/core/keys.ts";
import { createAgent } from "../../src/core/agents.ts";
import { sendMessage } from "../../src/core/messages.ts";
import { quantile, summarize } from "../lib/stats.ts";
import {
  type BenchContext,
  denoArgs,
  type Row,
  type Section,
  type SectionResult,
} from "../lib/types.ts";

export const delivery: Section = {
  id: "delivery",
  title: "delivery to a blocked agent loop in another process (round trip)",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const iterations = ctx.quick ? 200 : 2000;
    const warmup = ctx.quick ? 50 : 200;
    const town = "bench-delivery";
    const keys = townKeys(town);
    const redis = await connectRedis(ctx.redis.url, { name: "tt-bench" });
    const blocker = redis.duplicate();
    await blocker.connect();
    const t = { redis, keys };
    const agent = await createAgent(t, { name: "receiver", cli: "true" });
    const measure = async (mode: "raw" | "tt") => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          ...denoArgs(ctx, "bench/fixtures/echo.ts"),
          ctx.redis.url,
          mode,
          town,
          agent.id,
        ],
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      try {
        await blocker.blpop(`${keys.prefix}bench-ready`, 30);
        const samples: number[] = [];
        const body = "Refactor the parser: split tokenize() out of parse() and add tests for it.";
        for (let i = 0; i < warmup + iterations; i++) {
          const t0 = performance.now();
          if (mode === "raw") await redis.lpush(`${keys.prefix}bench-req`, body);
          else await sendMessage(t, { from: "bench", to: agent.id, type: "task", body });
          await blocker.blpop(`${keys.prefix}bench-rep`, 30);
          if (i >= warmup) samples.push(performance.now() - t0);
        }
        return samples;
      } finally {
        child.kill("SIGTERM");
        await child.status;
      }
    };
    try {
      const raw = await measure("raw");
      const tt = await measure("tt");
      const row = (id: string, label: string, s: number[], q: number, vs?: string): Row => ({
        id: `${id}-p${q * 100}`,
        label,
        short: id === "raw" ? "raw LPUSH→BLPOP" : label,
        value: quantile(s, q),
        stat: `p${q * 100}`,
        vs: vs ? [`${vs}-p${q * 100}`] : undefined,
      });
      return {
        rows: [
          row("raw", "raw LPUSH → BLPOP → reply", raw, 0.5),
          row("tt", "sendMessage → wake → takeRound → endRound → reply", tt, 0.5, "raw"),
          row("raw", "raw LPUSH → BLPOP → reply", raw, 0.99),
          row("tt", "sendMessage → wake → takeRound → endRound → reply", tt, 0.99, "raw"),
        ],
        notes: [
          "Both ends are separate Deno processes on the same unix socket; figures are round trips.",
        ],
        raw: { iterations, warmup, raw: summarize(raw), tt: summarize(tt) },
      };
    } finally {
      blocker.disconnect();
      await redis.quit();
    }
  },
};
