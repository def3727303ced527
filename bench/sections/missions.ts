/**
 * Missions: (a) a dependency's task completing → its dependant's CLI started, through the real
 * supervisor and its dispatcher (no tick: the completion event itself), against a direct assign
 * → CLI started of the same agent in the same run; (b) the dispatcher's scheduling work per
 * dependency-completed event (the item moved on, its dependant promoted and assigned) in a
 * 500-item mission against a 10-item one: it must not grow with the graph.
 */
import { benchTown, dropTown, stopSupervisor } from "../lib/town.ts";
import { spawnAgent, waitForAgents } from "../../src/core/lifecycle.ts";
import { createAgent, resolveRecipient, setAgentState } from "../../src/core/agents.ts";
import { assignTask, completeTask } from "../../src/core/tasks.ts";
import { runScript } from "../../src/redis/script.ts";
import { ACQUIRE_LEASE } from "../../src/core/missions/scripts.ts";
import { compileGraph } from "../../src/core/missions/graph.ts";
import { createMission, loadMission } from "../../src/core/missions/store.ts";
import { onTaskEnded, type SchedCtx, scheduleMission } from "../../src/core/missions/scheduler.ts";
import { quantile, summarize } from "../lib/stats.ts";
import type { BenchContext, Row, Section, SectionResult } from "../lib/types.ts";

export const missions: Section = {
  id: "missions",
  title: "missions: dependency completed → dependant started; scheduling cost per event",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const n = ctx.quick ? 10 : 40;
    const latency = await dependantLatency(ctx, n);
    const { small, large } = await schedulingCosts(ctx, ctx.quick ? 500 : 1000);
    const rows: Row[] = [
      {
        id: "assign",
        label: "assign (core, as tt assign) → supervisor round → CLI started",
        short: "direct assign",
        value: quantile(latency.direct, 0.5),
        stat: "p50",
      },
      {
        id: "dependant",
        label: "dependency's task completed → dispatcher → dependant's CLI started",
        value: quantile(latency.mission, 0.5),
        stat: "p50",
        vs: ["assign"],
      },
      {
        id: "sched-10",
        label: "scheduling per dependency-completed event, 10-item mission",
        short: "10 items",
        value: quantile(small, 0.5),
        stat: "p50",
      },
      {
        id: "sched-500",
        label: "scheduling per dependency-completed event, 500-item mission",
        value: quantile(large, 0.5),
        stat: "p50",
        vs: ["sched-10"],
      },
      {
        id: "sched-10-p95",
        label: "scheduling per dependency-completed event, 10-item mission",
        short: "10 items p95",
        value: quantile(small, 0.95),
        stat: "p95",
      },
      {
        id: "sched-500-p95",
        label: "scheduling per dependency-completed event, 500-item mission",
        value: quantile(large, 0.95),
        stat: "p95",
        vs: ["sched-10-p95"],
      },
    ];
    return {
      rows,
      notes: [
        "the dependant's start should cost about what a direct assign does (the dispatcher " +
        "reacts to the completion event; no polling tick)",
        "per-event scheduling at 500 items should stay near 1× the 10-item mission's",
      ],
      raw: {
        n,
        direct: summarize(latency.direct),
        dependant: summarize(latency.mission),
        sched_10: summarize(small),
        sched_500: summarize(large),
      },
    };
  },
};

/**
 * Pushes its agent's name to `list` when it starts, then holds its round until the bench pushes
 * to `<list>:<agent>` (so a task is completed while its round runs, as a real CLI reports it).
 */
function markerCli(ctx: BenchContext, list: string) {
  const cli = `redis-cli -s '${ctx.redis.socket}'`;
  return `${cli} RPUSH '${list}' "$TINYTOWN_AGENT_NAME" >/dev/null; ` +
    `${cli} BLPOP "${list}:$TINYTOWN_AGENT_NAME" 60 >/dev/null; cat >/dev/null`;
}

/**
 * Two agents (roles backend and frontend) with the same marker CLI. First `n` direct assigns
 * to one of them (each from idle); then a chain mission of n+1 items whose roles alternate, so
 * each item's dependant goes to the other, idle agent: the time from completing an item's task
 * (while its round runs) to the dependant's CLI start is the dispatcher's whole path.
 */
async function dependantLatency(ctx: BenchContext, n: number) {
  const { t } = await benchTown(ctx, "bench-missions");
  const blocker = t.redis.duplicate();
  await blocker.connect();
  const started = `${t.keys.prefix}bench-started`;
  const nextStart = async (what: string) => {
    const got = await blocker.blpop(started, 30);
    if (!got) throw new Error(`${what}: no CLI start in 30 s`);
    return got[1];
  };
  const release = (agent: string) => t.redis.rpush(`${started}:${agent}`, "go");
  try {
    const cli = markerCli(ctx, started);
    const a = await spawnAgent(t, { name: "alice", role: "backend", cli, worktree: false });
    const b = await spawnAgent(t, { name: "bob", role: "frontend", cli, worktree: false });
    const to = await resolveRecipient(t, a.name);
    const direct: number[] = [];
    for (let i = 0; i < n + 1; i++) {
      const t0 = performance.now();
      const task = await assignTask(t, to, { description: `bench task ${i}` });
      await nextStart(`direct assign ${i}`);
      if (i > 0) direct.push(performance.now() - t0); // the first round warms up
      await completeTask(t, task.id, { result: "bench" });
      await release(a.name);
      await waitForAgents(t, [a.id], "idle", 30_000);
    }
    const items = Array.from({ length: n + 1 }, (_, i) => ({
      id: `step${i}`,
      title: `Bench step ${i}`,
      role: i % 2 ? "frontend" : "backend",
      depends_on: i ? [`step${i - 1}`] : [],
    }));
    const m = await createMission(t, {
      source: "bench",
      items: compileGraph(items),
      reviewer: false,
      maxParallel: 1,
    });
    const mission: number[] = [];
    let running = await nextStart("mission step 0");
    for (let i = 0; i <= n; i++) {
      const l = (await loadMission(t, m.id))!.live.get(`step${i}`)!;
      const t0 = performance.now();
      await completeTask(t, l.task!, { result: `did step ${i}` });
      if (i < n) {
        const next = await nextStart(`mission step ${i + 1}`);
        mission.push(performance.now() - t0);
        if (next === running) throw new Error(`step ${i + 1} went to the same agent`);
        await release(running);
        running = next;
      } else await release(running);
      await waitForAgents(t, [l.agent!], "idle", 30_000);
    }
    await waitForAgents(t, [a.id, b.id], "idle", 30_000);
    return { direct, mission };
  } finally {
    await stopSupervisor(t);
    await dropTown(t);
    blocker.disconnect();
    await t.close();
  }
}

/**
 * What the dispatcher does for one dependency-completed event (the ended item moved on, its
 * dependant promoted and assigned), timed in-process, events of missions of 500 and of 10
 * items (5 chains each) taken in turn, so both see the same machine load. No supervisor: the
 * same calls, without the stream between them.
 */
async function schedulingCosts(ctx: BenchContext, events: number) {
  const { t } = await benchTown(ctx, "bench-missions-sched");
  try {
    for (let i = 0; i < 5; i++) {
      const a = await createAgent(t, { name: `w${i}`, cli: "true", host: "bench-elsewhere" });
      await setAgentState(t, a.id, "idle");
    }
    const [, token] = (await runScript(
      t.redis,
      ACQUIRE_LEASE,
      [t.keys.dispatcherLock, t.keys.dispatcherFence],
      [600_000, "bench:1", ""],
    )) as [number, string];
    const s: SchedCtx = { t, token, helpRepeatMs: 3_600_000 };
    const large = missionEvents(s, 500);
    const small = missionEvents(s, 10);
    const out = { large: [] as number[], small: [] as number[] };
    for (let i = 0; i < events; i++) {
      out.large.push((await large.next()).value as number);
      out.small.push((await small.next()).value as number);
    }
    return out;
  } finally {
    await dropTown(t);
    await t.close();
  }
}

/**
 * The cost of each dependency-completed event that released a dependant, in missions of `size`
 * items one after another.
 */
async function* missionEvents(s: SchedCtx, size: number): AsyncGenerator<number> {
  const { t } = s;
  const items = Array.from({ length: size }, (_, i) => ({
    id: `i${i}`,
    title: `Item ${i}: add a --dry-run flag to the importer and test it`,
    body: "Keep the existing flags working; document the new one in the README.",
    depends_on: i >= 5 ? [`i${i - 5}`] : [],
  }));
  for (;;) {
    const m = await createMission(t, {
      source: "bench",
      items: compileGraph(items),
      maxParallel: 5,
      reviewer: false,
    });
    await scheduleMission(s, m.id);
    for (let round = 0;; round++) {
      const v = (await loadMission(t, m.id))!;
      if (v.mission.state === "completed") break;
      const active = [...v.live].filter(([, l]) => l.status === "active");
      if (!active.length || round > size) throw new Error(`${size} items: nothing active`);
      for (const [item, l] of active) {
        await completeTask(t, l.task!, { result: `did ${item}` });
        const t0 = performance.now();
        await onTaskEnded(s, { mission: m.id, item, role: "work" }, l.task!);
        const r = await scheduleMission(s, m.id);
        const ms = performance.now() - t0;
        // Only events that released a dependant (promoted and assigned it) compare alike: the
        // last items of each chain have none.
        if (r.promoted === 1 && r.assigned === 1) yield ms;
      }
    }
  }
}
