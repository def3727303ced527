/**
 * Task throughput (tasks/s; ratios above 1 mean tt is faster than the baseline).
 *
 * 1. assign → claim (round) → complete through 1, 10 and 50 in-process fake agents
 *    (bench/fixtures/throughput_tt.ts: src/core directly, one blocking connection per agent,
 *    the Redis work of a supervisor round with what an agent's `tt task complete` runs in place
 *    of the CLI), against BullMQ add → process → complete at the same concurrency on the same Redis
 *    (bench/node/throughput.mjs, under Node). Each side is its own process whose producer keeps
 *    50 adds in flight while the consumers run; timed from the first add to the last completion.
 *    Each side runs 3 times per concurrency, interleaved with the other (which goes first
 *    alternates), and a row is the median: one run is half a second (1,000 tasks with --quick),
 *    so a single one measured mostly what else the machine was doing in that half second.
 * 2. End to end: 10 agents started with `tt spawn` running tests/fixtures/fake-agent.sh
 *    (complete mode: `tt task complete` per task) through the real supervisor, against the same
 *    fake CLI spawned directly 10 at a time (no supervisor, same `tt` shim) and against the
 *    in-process figure for 10 agents. Bounded: 100 tasks each way, in runs of 50 ordered
 *    direct, supervised, supervised, direct (--quick: 40 tasks, one run each).
 */
import { runNode } from "../lib/node.ts";
import { benchTown, cliEnv, dropTown, populate, stopSupervisor } from "../lib/town.ts";
import { assignTask, getTasks } from "../../src/core/tasks.ts";
import { toRecipient } from "../../src/core/agents.ts";
import { followEvents } from "../../src/core/events.ts";
import { waitForAgents } from "../../src/core/lifecycle.ts";
import { townKeys } from "../../src/core/keys.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { writeShim } from "../../src/supervisor/self.ts";
import {
  type BenchContext,
  denoArgs,
  type Row,
  type Section,
  type SectionResult,
} from "../lib/types.ts";

interface Run {
  seconds: number;
  add_seconds: number;
  rounds?: number;
}

const CONCURRENCY = [1, 10, 50];
const WINDOW = 50;
const dec = new TextDecoder();

export const throughput: Section = {
  id: "throughput",
  title: "task throughput (tasks/s; > 1× means tt is faster)",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const tasks = ctx.quick ? 1000 : 5000;
    const reps = 3;
    const notes: string[] = [];
    const runs: Record<string, Run[]> = {};
    let bullmqMissing: string | undefined;
    let town = 0;

    const ttRun = async (c: number): Promise<Run> => {
      const name = `bench-tp-${town++}`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          ...denoArgs(ctx, "bench/fixtures/throughput_tt.ts"),
          ctx.redis.url,
          name,
          String(tasks),
          String(c),
          String(WINDOW),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(
          `throughput_tt.ts exited ${out.code}: ${dec.decode(out.stderr).slice(-500)}`,
        );
      }
      const redis = await connectRedis(ctx.redis.url, { name: "tt-bench" });
      await dropTown({ redis, keys: townKeys(name) });
      await redis.quit();
      return JSON.parse(dec.decode(out.stdout).trim().split("\n").pop()!);
    };
    const bullRun = (c: number) =>
      runNode<Run>(ctx.root, "throughput.mjs", [
        ctx.redis.socket,
        String(tasks),
        String(c),
        String(WINDOW),
      ]);

    for (let rep = 0; rep < reps; rep++) {
      for (const c of CONCURRENCY) {
        // Alternate which side goes first, so a slow patch of the machine does not hit one only.
        const order = (rep + c) % 2 ? ["tt", "bullmq"] : ["bullmq", "tt"];
        for (const side of order) {
          const key = `${side}-${c}`;
          if (side === "bullmq") {
            if (bullmqMissing) continue;
            try {
              (runs[key] ??= []).push(await bullRun(c));
            } catch (e) {
              bullmqMissing = String((e as Error).message ?? e).split("\n")[0];
            }
          } else {
            (runs[key] ??= []).push(await ttRun(c));
          }
        }
      }
    }
    if (bullmqMissing) notes.push(`BullMQ left out: ${bullmqMissing}`);

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rate = (key: string) => median(runs[key].map((r) => tasks / r.seconds));
    const rows: Row[] = [];
    for (const c of CONCURRENCY) {
      const agents = c === 1 ? "1 agent" : `${c} agents`;
      if (runs[`bullmq-${c}`]) {
        rows.push({
          id: `bullmq-${c}`,
          label: `BullMQ add → process → complete, concurrency ${c}`,
          short: `BullMQ ×${c}`,
          value: rate(`bullmq-${c}`),
          unit: "tasks/s",
          stat: "median",
        });
      }
      rows.push({
        id: `tt-${c}`,
        label: `tt assign → round → complete, ${agents} in-process`,
        short: `in-process ×${c}`,
        value: rate(`tt-${c}`),
        unit: "tasks/s",
        stat: "median",
        vs: runs[`bullmq-${c}`] ? [`bullmq-${c}`] : undefined,
      });
    }
    const perRound = CONCURRENCY.map((c) => {
      const r = runs[`tt-${c}`];
      const rounds = r.reduce((a, x) => a + (x.rounds ?? 0), 0);
      return `${c}: ${(tasks * r.length / rounds).toFixed(1)}`;
    });
    if (!bullmqMissing) {
      // Each rep's tt run against the BullMQ run beside it: how far one run can stray.
      const spread = CONCURRENCY.map((c) => {
        const r = runs[`tt-${c}`].map((x, i) => runs[`bullmq-${c}`][i].seconds / x.seconds);
        return `${c}: ${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)}×`;
      });
      notes.push(`tt vs BullMQ run by run (same rep): ${spread.join(", ")}`);
    }
    notes.push(
      `${tasks} tasks per run, median of ${reps}; tasks per tt round (a round takes up to 50 ` +
        `queued messages) by agents: ${perRound.join(", ")}`,
    );

    const e2e = await endToEnd(ctx, ctx.quick ? 40 : 50);
    rows.push(
      {
        id: "direct-10",
        label: `fake CLI spawned directly, 10 at a time (${e2e.tasks} tasks)`,
        short: "direct spawn",
        value: e2e.tasks / e2e.direct,
        unit: "tasks/s",
        stat: "run",
      },
      {
        id: "e2e-10",
        label: `10 fake agents via tt spawn + supervisor (${e2e.tasks} tasks)`,
        value: e2e.tasks / e2e.supervised,
        unit: "tasks/s",
        stat: "run",
        vs: ["direct-10", "tt-10"],
      },
    );
    notes.push(
      "end to end: each task costs one `tt task complete` process (fake-agent.sh), which " +
        "dominates both figures",
    );
    return {
      rows,
      notes,
      raw: { tasks, reps, window: WINDOW, runs, end_to_end: e2e },
    };
  },
};

/**
 * `n` tasks through 10 supervised fake agents, and through the same fake CLI spawned directly:
 * seconds for each, summed over the runs, which go A B (quick) or A B B A (full), so a machine
 * that slows down or speeds up during the section weighs on both alike.
 */
async function endToEnd(ctx: BenchContext, n: number) {
  const fake = `sh '${ctx.root}/tests/fixtures/fake-agent.sh' complete`;
  const env = cliEnv(ctx);
  delete env.REDIS_URL; // supervised agents reach the town through their round's channel

  // Baseline: the same CLI spawned directly with the operator's full `tt` (and REDIS_URL), each
  // with its agent's tasks: what a report cost before the agent channel.
  const direct = await benchTown(ctx, "bench-e2e-direct");
  const bin = `${ctx.tmp}/direct-bin`;
  await writeShim(bin);
  const directAgents = await populate(direct.t, { agents: 10, tasks: 0, prefix: "direct" });
  const runDirect = async (tasks = n) => {
    const to = directAgents.map(toRecipient);
    const t0 = performance.now();
    const ids: string[][] = directAgents.map(() => []);
    for (let i = 0; i < tasks; i++) {
      ids[i % 10].push((await assignTask(direct.t, to[i % 10], { description: `e2e ${i}` })).id);
    }
    await Promise.all(directAgents.map(async (a, k) => {
      const child = new Deno.Command("sh", {
        args: ["-c", fake],
        // Its own session, as the supervisor starts rounds: with the kernel's autogroup
        // scheduling, CPU is shared per session, so under load from other sessions 10 CLIs in
        // one session got half the CPU of 10 supervised rounds (measured: 2× slower).
        detached: true,
        cwd: direct.dir,
        env: {
          ...env,
          REDIS_URL: ctx.redis.url,
          PATH: `${bin}:${env.PATH}`,
          TINYTOWN_AGENT_ID: a.id,
          TINYTOWN_AGENT_NAME: a.name,
          TINYTOWN_TOWN: "bench-e2e-direct",
          TT_TOWN: direct.dir,
        },
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(ids[k].map((id) => `   - Task ID: ${id}\n`).join("")));
      await w.close();
      const out = await child.output();
      if (!out.success) throw new Error(`fake-agent.sh: ${dec.decode(out.stderr).slice(-300)}`);
    }));
    const secs = (performance.now() - t0) / 1000;
    const done = await getTasks(direct.t, ids.flat());
    if (done.some((x) => x.state !== "completed")) throw new Error("direct: a task not completed");
    return secs;
  };

  // Through the supervisor: `tt spawn` ×10, then assign and wait for every completion.
  const e2e = await benchTown(ctx, "bench-e2e");
  const tt = [
    Deno.execPath(),
    ...denoArgs(ctx, "main.ts"),
    "--town",
    e2e.dir,
  ];
  const runSupervised = async () => {
    const { met, agents } = await waitForAgents(e2e.t, undefined, "idle", 60_000);
    if (!met) throw new Error("the spawned agents did not become idle within 60 s");
    const to = agents.map(toRecipient);
    const pending = new Set<string>();
    let completedAll!: () => void;
    const allDone = new Promise<void>((r) => completedAll = r);
    const ac = new AbortController();
    const early: string[] = [];
    let assigned = false;
    const watch = followEvents(e2e.t, "$", (ev) => {
      if (ev.type !== "task_completed" || !ev.task_id) return;
      if (!pending.delete(ev.task_id)) early.push(ev.task_id);
      if (pending.size === 0 && assigned) completedAll();
    }, ac.signal);
    await new Promise((r) => setTimeout(r, 100)); // the follower is blocked on the stream
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      pending.add((await assignTask(e2e.t, to[i % 10], { description: `e2e ${i}` })).id);
    }
    for (const id of early) pending.delete(id);
    assigned = true;
    if (pending.size === 0) completedAll();
    const timer = setTimeout(() => ac.abort(), 120_000);
    await Promise.race([allDone, watch]);
    clearTimeout(timer);
    const secs = (performance.now() - t0) / 1000;
    ac.abort();
    await watch.catch(() => {});
    if (pending.size) throw new Error(`supervised: ${pending.size} task(s) not completed in 120 s`);
    return secs;
  };

  try {
    for (let i = 0; i < 10; i++) {
      const out = await new Deno.Command(tt[0], {
        args: [...tt.slice(1), "spawn", `fake${i}`, "--cli", fake],
        cwd: e2e.dir,
        env,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(`tt spawn: ${dec.decode(out.stderr).trim()}`);
    }
    const order = ctx.quick ? ["direct", "supervised"] : [
      "direct",
      "supervised",
      "supervised",
      "direct",
    ];
    // Untimed: one task per agent, so Deno's caches for `tt task complete` are warm (a source
    // file edited since the last run is transpiled again by the first processes that load it).
    await runDirect(10);
    const seconds = { direct: 0, supervised: 0 };
    const each: { kind: string; seconds: number }[] = [];
    for (const kind of order) {
      const secs = kind === "direct" ? await runDirect() : await runSupervised();
      seconds[kind as keyof typeof seconds] += secs;
      each.push({ kind, seconds: secs });
    }
    return { tasks: n * order.length / 2, runs: each, ...seconds };
  } finally {
    await stopSupervisor(e2e.t);
    for (const town of [direct, e2e]) {
      await dropTown(town.t);
      await town.t.close();
    }
  }
}
