/**
 * The short chaos run of scripts/test (long runs: scripts/chaos), and proof that its invariant
 * checker catches what it looks for (planted duplicates, losses, stranded messages, stuck agents).
 * TT_CHAOS_SEED=<n> replays a run's fault schedule.
 */
import assert from "node:assert/strict";
import { runChaos, summary } from "./chaos.ts";
import { checkInvariants, parseAgentLog } from "./invariants.ts";
import { randomSeed } from "./rng.ts";
import { report as printFigure, withTestTown } from "../helpers.ts";
import { createAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask, getTask } from "../../src/core/tasks.ts";
import { emitEvent } from "../../src/core/events.ts";
import { takeRound } from "../../src/core/rounds.ts";
import type { TownContext } from "../../src/core/town.ts";

Deno.test("chaos: tasks through fake agents while rounds, the supervisor and Redis are SIGKILLed", async (ctx) => {
  const given = Deno.env.get("TT_CHAOS_SEED");
  const seed = given ? Number(given) : randomSeed();
  const lines: string[] = [];
  const report = await runChaos({
    seed,
    tasks: 20,
    agents: 3,
    faults: 6,
    log: (l) => lines.push(l),
  });
  // scripts/test runs deno test -q, which hides console output: the figures go in a step's name
  // and into the figures scripts/test prints at the end.
  printFigure(`chaos: ${summary(report)}`);
  await ctx.step(summary(report), () => {
    assert.deepEqual(
      report.violations,
      [],
      `chaos run with seed ${seed} broke invariants; replay: TT_CHAOS_SEED=${seed} scripts/test tests/chaos/ (or scripts/chaos --seed ${seed} --tasks 20 --agents 3 --faults 6 --verbose)\n${
        lines.join("\n")
      }`,
    );
  });
});

/** A healthy town on the test Redis: two agents, four tasks completed once each. */
async function healthyTown(t: TownContext) {
  const a = await createAgent(t, { name: "a", cli: "x" });
  const b = await createAgent(t, { name: "b", cli: "x" });
  await setAgentState(t, a.id, "idle");
  await setAgentState(t, b.id, "idle");
  const ids: string[] = [];
  const log: string[] = [];
  for (const [i, who] of [a, b, a, b].entries()) {
    const task = await assignTask(t, toRecipient(who), { description: `task ${i}` });
    await takeRound(t, who.id);
    await t.redis.del(t.keys.processing(who.id)); // the round ended cleanly
    await completeTask(t, task.id, { by: who.id });
    ids.push(task.id);
    log.push(`start ${task.id} ${who.name}`, `done ${task.id} ${who.name}`);
  }
  return { a, b, ids, log };
}

const check = (t: TownContext, ids: string[], log: string[]) =>
  checkInvariants(t, {
    expected: ids,
    agentLog: parseAgentLog(log.join("\n")),
    supervisorAlive: true,
    alive: () => Promise.resolve(false),
  });

Deno.test("chaos checker: a healthy town passes; each planted fault is caught", async (ctx) => {
  await ctx.step("healthy", async () => {
    await withTestTown(async (t) => {
      const { ids, log } = await healthyTown(t);
      const r = await check(t, ids, log);
      assert.deepEqual(r.violations, []);
      assert.equal(r.completed, 4);
    });
  });
  const planted: [
    string,
    RegExp,
    (t: TownContext, h: Awaited<ReturnType<typeof healthyTown>>) => Promise<void>,
  ][] = [
    ["a second completion event", /has 2 task_completed events/, async (t, h) => {
      await emitEvent(t, {
        type: "task_completed",
        task_id: h.ids[0],
        agent_id: h.a.id,
        message: "again",
      });
    }],
    ["a completion acknowledged twice to an agent", /succeeded 2 times/, (_t, h) => {
      h.log.push(`done ${h.ids[1]} b`);
      return Promise.resolve();
    }],
    ["a counter counted twice", /tasks_completed is 3, but 2/, async (t, h) => {
      await t.redis.hincrby(t.keys.agent(h.a.id), "tasks_completed", 1);
    }],
    ["a lost task", /task \w+ is missing/, async (t, h) => {
      await t.redis.multi().del(t.keys.task(h.ids[2])).zrem(t.keys.tasks, h.ids[2]).exec();
    }],
    [
      "a completion reverted (an acknowledged write lost)",
      /ended running, not completed/,
      async (t, h) => {
        await t.redis.hset(t.keys.task(h.ids[3]), "state", "running");
      },
    ],
    ["a message stranded in processing", /left in its processing list/, async (t, h) => {
      await t.redis.rpush(t.keys.processing(h.b.id), "{}");
    }],
    ["a message stranded in an inbox", /left in its inbox list/, async (t, h) => {
      await assignTask(t, toRecipient(h.b), { description: "never taken" });
    }],
    [
      "an agent working on a round whose process is gone",
      /round process group 4242/,
      async (t, h) => {
        await setAgentState(t, h.a.id, "working");
        await t.redis.hset(t.keys.agent(h.a.id), "round_pgid", 4242);
      },
    ],
    ["an agent that ended in error", /agent a ended error/, async (t, h) => {
      await setAgentState(t, h.a.id, "error");
    }],
  ];
  for (const [what, expected, plant] of planted) {
    await ctx.step(what, async () => {
      await withTestTown(async (t) => {
        const h = await healthyTown(t);
        await plant(t, h);
        const r = await check(t, h.ids, h.log);
        assert.ok(
          r.violations.some((v) => expected.test(v)),
          `${what}: expected a violation matching ${expected}, got ${JSON.stringify(r.violations)}`,
        );
      });
    });
  }
  await ctx.step("no supervisor for live agents", async () => {
    await withTestTown(async (t) => {
      const { ids, log } = await healthyTown(t);
      const r = await checkInvariants(t, {
        expected: ids,
        agentLog: parseAgentLog(log.join("\n")),
        supervisorAlive: false,
      });
      assert.ok(r.violations.some((v) => /no supervisor runs/.test(v)), String(r.violations));
    });
  });
  await ctx.step("a trimmed event stream is reported, not silently undercounted", async () => {
    await withTestTown(async (t) => {
      const { ids, log } = await healthyTown(t);
      await t.redis.xtrim(t.keys.events, "MAXLEN", 1);
      await assert.rejects(check(t, ids, log), /event stream was trimmed/);
      assert.equal((await getTask(t, ids[0]))?.state, "completed");
    });
  });
});
