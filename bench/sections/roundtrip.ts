/**
 * Send → inbox round trip through the core library, in one process: `sendMessage` (one Lua
 * script: check recipient, push, wake, event) then `peekInbox` (one pipeline), against the
 * floor: raw LPUSH then LRANGE with the same client. Iterations alternate the two, so noise
 * hits both alike; the lists are emptied between iterations, outside the timed part.
 */
import { connectRedis } from "../../src/redis/connection.ts";
import { townKeys } from "../../src/core/keys.ts";
import { createAgent } from "../../src/core/agents.ts";
import { peekInbox, sendMessage } from "../../src/core/messages.ts";
import { quantile, summarize } from "../lib/stats.ts";
import type { BenchContext, Row, Section, SectionResult } from "../lib/types.ts";

export const roundtrip: Section = {
  id: "roundtrip",
  title: "send → inbox round trip, in-process (latency per iteration)",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const iterations = ctx.quick ? 300 : 3000;
    const warmup = ctx.quick ? 50 : 300;
    const redis = await connectRedis(ctx.redis.url, { name: "tt-bench" });
    try {
      const keys = townKeys("bench-roundtrip");
      const t = { redis, keys };
      const agent = await createAgent(t, { name: "receiver", cli: "true" });
      const body = "Refactor the parser: split tokenize() out of parse() and add tests for it.";
      const rawKey = `${keys.prefix}bench-raw`;
      const rawJson = JSON.stringify({ from: "bench", to: agent.id, type: "task", body });
      const core: number[] = [];
      const raw: number[] = [];
      for (let i = 0; i < warmup + iterations; i++) {
        let t0 = performance.now();
        await sendMessage(t, { from: "bench", to: agent.id, type: "task", body });
        const view = await peekInbox(t, agent.id);
        const dCore = performance.now() - t0;
        if (view.inbox.length !== 1) throw new Error("peekInbox did not see the message");
        await redis.del(keys.inbox(agent.id));

        t0 = performance.now();
        await redis.lpush(rawKey, rawJson);
        const got = await redis.lrange(rawKey, 0, -1);
        const dRaw = performance.now() - t0;
        if (got.length !== 1) throw new Error("LRANGE did not see the pushed item");
        await redis.del(rawKey);

        if (i >= warmup) {
          core.push(dCore);
          raw.push(dRaw);
        }
      }
      const row = (id: string, label: string, s: number[], q: number, vs?: string): Row => ({
        id: `${id}-p${q * 100}`,
        label,
        short: id === "raw" ? "raw LPUSH+LRANGE" : label,
        value: quantile(s, q),
        stat: `p${q * 100}`,
        vs: vs ? [`${vs}-p${q * 100}`] : undefined,
      });
      return {
        rows: [
          row("raw", "ioredis LPUSH + LRANGE", raw, 0.5),
          row("core", "sendMessage + peekInbox", core, 0.5, "raw"),
          row("raw", "ioredis LPUSH + LRANGE", raw, 0.99),
          row("core", "sendMessage + peekInbox", core, 0.99, "raw"),
        ],
        notes: [],
        raw: {
          iterations,
          warmup,
          body_bytes: body.length,
          core: summarize(core),
          raw: summarize(raw),
        },
      };
    } finally {
      await redis.quit();
    }
  },
};
