/**
 * An agent's report: `tt task complete <id>` as an agent's round runs it, through the round's
 * channel (its shim → src/agent/client.ts → the channel served here, in this process, by the
 * same openRoundChannel the supervisor uses), against a `deno run` hello world and today's path
 * (the full tt with Redis, as an agent ran it before channels). Each run completes a fresh
 * task; the three commands are interleaved run by run. Wall time is per process; CPU is the
 * children's user+sys (bash `times`), plus, for the channel, this process's CPU above the hello
 * world's (the supervisor's share: parsing, the CLI, Redis).
 */
import process from "node:process";
import { benchTown, cliEnv, dropTown } from "../lib/town.ts";
import { createAgent, toRecipient } from "../../src/core/agents.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { openRoundChannel } from "../../src/supervisor/channel/mod.ts";
import { quantile, summarize } from "../lib/stats.ts";
import { type BenchContext, denoArgs, type Row, type Section } from "../lib/types.ts";

type Variant = "hello" | "channel" | "full";
const VARIANTS: Variant[] = ["hello", "channel", "full"];

export const agentreport: Section = {
  id: "agentreport",
  title: "an agent's report (tt task complete) through its channel",
  async run(ctx: BenchContext) {
    const { dir, t } = await benchTown(ctx, "bench-agentreport");
    const agent = await createAgent(t, { name: "reporter", cli: "true", host: "bench-elsewhere" });
    const channel = await openRoundChannel(t, agent, 1);
    const deno = Deno.execPath();
    const base = cliEnv(ctx);
    // The round's environment: the channel's two variables, no Redis address.
    const { REDIS_URL: _, BENCH_REDIS_SOCK: __, ...clean } = base;
    const envs: Record<Variant, Record<string, string>> = {
      hello: clean,
      channel: { ...clean, ...channel.env },
      full: { ...base, TT_TOWN: dir, TINYTOWN_AGENT_ID: agent.id, TINYTOWN_AGENT_NAME: agent.name },
    };
    const argv = (v: Variant, id: string): string[] =>
      v === "hello"
        ? [deno, "run", "-q", "--no-config", `${ctx.root}/bench/fixtures/hello.ts`]
        : v === "channel"
        ? ["sh", `${channel.binDir}/tt`, "task", "complete", id, "--result", "bench"]
        : [deno, ...denoArgs(ctx, "main.ts"), "task", "complete", id, "--result", "bench"];
    const to = toRecipient(agent);
    const fresh = async () => (await assignTask(t, to, { description: "bench report" })).id;
    const run = async (v: Variant, cpu: boolean) => {
      const cmd = argv(v, await fresh());
      const args = cpu
        ? ["-c", '"$@" >/dev/null 2>&1 || exit 1; times', "bash", ...cmd]
        : cmd.slice(1);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const out = await new Deno.Command(cpu ? "bash" : cmd[0], {
        args,
        cwd: dir,
        env: envs[v],
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const wall = performance.now() - t0;
      const self = process.cpuUsage(c0);
      if (!out.success) {
        throw new Error(`${v}: ${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
      }
      // bash `times`: line 2 is the children's "user system", e.g. "0m0.031s 0m0.008s".
      const children = new TextDecoder().decode(out.stdout).trim().split("\n")[1] ?? "";
      const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => +m[1] * 60 + +m[2]);
      return {
        wall,
        cpu: secs.reduce((a, b) => a + b, 0) * 1000,
        self: (self.user + self.system) / 1000,
      };
    };
    const n = ctx.quick ? 10 : 30;
    const wall: Record<Variant, number[]> = { hello: [], channel: [], full: [] };
    const cpu: Record<Variant, number[]> = { hello: [], channel: [], full: [] };
    const server: Record<Variant, number[]> = { hello: [], channel: [], full: [] };
    try {
      for (const v of VARIANTS) await run(v, false); // warm caches (V8 code cache, Deno's)
      for (let i = 0; i < n; i++) {
        const order = i % 2 ? [...VARIANTS].reverse() : VARIANTS;
        for (const v of order) wall[v].push((await run(v, false)).wall);
        for (const v of order) {
          const r = await run(v, true);
          cpu[v].push(r.cpu);
          server[v].push(r.self);
        }
      }
    } finally {
      await channel.close();
      await dropTown(t);
      await t.close();
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const supervisorShare = Math.max(0, mean(server.channel) - mean(server.hello));
    const rows: Row[] = [
      {
        id: "hello",
        label: "deno run hello.ts",
        short: "hello",
        value: quantile(wall.hello, 0.5),
        stat: "median",
      },
      {
        id: "channel",
        label: "agent's tt task complete, through the channel",
        short: "channel",
        value: quantile(wall.channel, 0.5),
        stat: "median",
        vs: ["hello"],
      },
      {
        id: "full",
        label: "agent's tt task complete, full tt with Redis (before channels)",
        value: quantile(wall.full, 0.5),
        stat: "median",
        vs: ["hello", "channel"],
      },
      {
        id: "cpu-hello",
        label: "CPU of hello.ts",
        short: "hello CPU",
        value: mean(cpu.hello),
        stat: "mean",
      },
      {
        id: "cpu-channel",
        label: "CPU of a report through the channel (client + supervisor)",
        short: "channel CPU",
        value: mean(cpu.channel) + supervisorShare,
        stat: "mean",
        vs: ["cpu-hello"],
      },
      {
        id: "cpu-full",
        label: "CPU of a report with the full tt",
        value: mean(cpu.full),
        stat: "mean",
        vs: ["cpu-hello", "cpu-channel"],
      },
    ];
    return {
      rows,
      notes: [
        `${n} reports per variant, each on a fresh task; supervisor share of the channel's CPU: ${
          supervisorShare.toFixed(1)
        } ms`,
      ],
      raw: {
        n,
        wall: Object.fromEntries(VARIANTS.map((v) => [v, summarize(wall[v])])),
        cpu_ms: Object.fromEntries(VARIANTS.map((v) => [v, summarize(cpu[v])])),
        bench_process_cpu_ms: Object.fromEntries(VARIANTS.map((v) => [v, summarize(server[v])])),
      },
    };
  },
};
