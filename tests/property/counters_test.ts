/**
 * The task counters and indexes (src/core/task_index.ts) against a full scan of the tasks. Several
 * clients, each on its own Redis connection, run random sequences of every operation that
 * creates, moves or deletes a task at the same time (create/assign/backlog, claim, assign-all,
 * start (alone and a round's at once), return, requeue, complete, fail, cancel, backlog remove, delete, reclaim of a stopped
 * agent's work to the backlog or to another agent, orphan requeue/cancel/delete), with a
 * save → restore or a reset between some rounds. After each round the per-state sets, the
 * per-assignee index and the counts equal what a scan of every task hash says, and so do the
 * counts `taskCounts` and `assigneeCounts` report.
 */
import assert from "node:assert/strict";
import { type Agent, type Message, TASK_STATES } from "../../src/core/schemas.ts";
import { beginRound } from "../../src/core/round_start.ts";
import { createAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { addToBacklog, assignAll, claimTask, removeFromBacklog } from "../../src/core/backlog.ts";
import {
  assignTask,
  cancelTask,
  completeTask,
  createTask,
  failTask,
  requeueTaskToBacklog,
  returnTaskToAssigned,
  startTask,
} from "../../src/core/tasks.ts";
import {
  deleteTask,
  lexScore,
  recountTasks,
  setScore,
  verifyTaskIndexes,
} from "../../src/core/task_index.ts";
import { assigneeCounts, taskCounts } from "../../src/core/counters.ts";
import { reclaimOrphanTasks, reclaimWork } from "../../src/core/reclaim.ts";
import { restoreSnapshot, takeSnapshot } from "../../src/core/snapshot.ts";
import { resetTown } from "../../src/core/reset.ts";
import { TtError } from "../../src/core/errors.ts";
import { type Keys, townKeys } from "../../src/core/keys.ts";
import { duplicateConnection, type Redis } from "../../src/redis/connection.ts";
import { report, uniqueName, withTestTown } from "../helpers.ts";
import { assertCatches, assertProperty, fc } from "./prop.ts";

const AGENTS = 3;

type Op =
  | { op: "assign"; agent: number }
  | { op: "backlog" }
  | { op: "ended"; state: "completed" | "failed" | "cancelled" }
  | { op: "claim"; task: number; agent: number }
  | { op: "assignAll"; agent: number }
  | { op: "start"; task: number; agent: number }
  | { op: "round"; tasks: number[]; agent: number }
  | { op: "unscore"; task: number }
  | { op: "return"; task: number }
  | { op: "requeue"; task: number }
  | { op: "complete"; task: number; agent: number; force: boolean }
  | { op: "fail"; task: number; agent: number; force: boolean }
  | { op: "cancel"; task: number }
  | { op: "remove"; task: number }
  | { op: "delete"; task: number }
  | { op: "reclaim"; agent: number; to: number | "backlog" }
  | { op: "orphans"; action: "backlog" | "cancel" | "delete" };

const agent = fc.nat(AGENTS - 1);
const task = fc.nat();
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("assign" as const), agent }) },
  { weight: 3, arbitrary: fc.constant({ op: "backlog" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("ended" as const),
      state: fc.constantFrom("completed" as const, "failed" as const, "cancelled" as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("claim" as const), task, agent }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("assignAll" as const), agent }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("start" as const), task, agent }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("round" as const),
      tasks: fc.array(task, { maxLength: 6 }),
      agent,
    }),
  },
  // A task as an older tt made it: no copy of its score in the hash (task_index.ts).
  { weight: 1, arbitrary: fc.record({ op: fc.constant("unscore" as const), task }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("return" as const), task }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("requeue" as const), task }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("complete" as const),
      task,
      agent,
      force: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("fail" as const), task, agent, force: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const), task }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("remove" as const), task }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("delete" as const), task }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("reclaim" as const),
      agent,
      to: fc.oneof(fc.constant("backlog" as const), agent),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("orphans" as const),
      action: fc.constantFrom("backlog" as const, "cancel" as const, "delete" as const),
    }),
  },
);

const round = fc.record({
  clients: fc.array(fc.array(opArb, { maxLength: 10, size: "max" }), {
    minLength: 1,
    maxLength: 3,
  }),
  /** What happens to the town after the round's operations. */
  after: fc.constantFrom("nothing", "nothing", "nothing", "restore", "reset"),
});
const scenario = fc.array(round, { minLength: 1, maxLength: 3 });
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

interface Town {
  redis: Redis;
  keys: Keys;
  name: string;
  root: string;
}

async function runOp(t: Town, agents: Agent[], tasks: string[], op: Op) {
  const pick = (i: number) => tasks[i % tasks.length];
  const a = (i: number) => agents[i];
  if (!tasks.length && "task" in op) return;
  switch (op.op) {
    case "assign":
      tasks.push((await assignTask(t, toRecipient(a(op.agent)), { description: "a" })).id);
      break;
    case "backlog":
      tasks.push((await addToBacklog(t, { description: "b" })).id);
      break;
    case "ended":
      tasks.push(
        (await createTask(t, { description: "e", state: op.state }, { kind: "none" })).id,
      );
      break;
    case "claim":
      await claimTask(t, pick(op.task), a(op.agent));
      break;
    case "assignAll":
      await assignAll(t, a(op.agent));
      break;
    case "start":
      await startTask(t, pick(op.task), a(op.agent).id);
      break;
    case "round": {
      // An agent's round starting with assignments of these tasks (theirs or not, repeated).
      const messages = op.tasks.map((i) => ({ type: "task_assign", task_id: pick(i) }) as Message);
      await beginRound(t, a(op.agent).id, 1, messages);
      break;
    }
    case "unscore":
      await t.redis.hdel(t.keys.task(pick(op.task)), "score");
      break;
    case "return":
      await returnTaskToAssigned(t, pick(op.task), "test");
      break;
    case "requeue":
      await requeueTaskToBacklog(t, pick(op.task), "test");
      break;
    case "complete":
      await completeTask(t, pick(op.task), { by: a(op.agent).id, force: op.force });
      break;
    case "fail":
      await failTask(t, pick(op.task), { by: a(op.agent).id, force: op.force });
      break;
    case "cancel":
      await cancelTask(t, pick(op.task));
      break;
    case "remove":
      await removeFromBacklog(t, pick(op.task));
      break;
    case "delete":
      await deleteTask(t, pick(op.task), "deleted by the test");
      break;
    case "reclaim": {
      // Stop the agent, hand its queued work on, bring it back.
      const dead = a(op.agent);
      await setAgentState(t, dead.id, "stopped");
      const to = op.to === "backlog" || op.to === op.agent ? undefined : a(op.to);
      await reclaimWork(t, { from: { ...dead, state: "stopped" }, to, toBacklog: !to });
      await setAgentState(t, dead.id, "idle");
      break;
    }
    case "orphans":
      await reclaimOrphanTasks(t, op.action);
      break;
  }
}

/** What the indexes must hold, from a scan of every task hash listed in the tasks index. */
async function scan(redis: Redis, keys: Keys) {
  const flat = await redis.zrange(keys.tasks, "0", "-1", "WITHSCORES");
  const byState = new Map<string, string[]>(TASK_STATES.map((s) => [s, []]));
  const lex: string[] = [];
  const counts: Record<string, number> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const [id, score] = [flat[i], flat[i + 1]];
    const h = await redis.hgetall(keys.task(id));
    if (h.score !== undefined) assert.equal(h.score, lexScore(score), `score copy of ${id}`);
    if (!byState.has(h.state)) continue;
    const who = h.assigned_to ?? "";
    byState.get(h.state)!.push(`${id} ${setScore(score)}`);
    lex.push(`${who}|${h.state}|${lexScore(score)}|${id}`);
    counts[`${who}|${h.state}`] = (counts[`${who}|${h.state}`] ?? 0) + 1;
  }
  return { byState, lex: lex.sort(), counts };
}

async function check(redis: Redis, keys: Keys) {
  const want = await scan(redis, keys);
  for (const s of TASK_STATES) {
    const flat = await redis.zrange(keys.tasksIn(s), "0", "-1", "WITHSCORES");
    const got = [];
    for (let i = 0; i < flat.length; i += 2) got.push(`${flat[i]} ${flat[i + 1]}`);
    assert.deepEqual(got.sort(), want.byState.get(s)!.sort(), `index of state ${s}`);
  }
  assert.deepEqual(await redis.zrange(keys.tasksByAgent, "0", "-1"), want.lex, "assignee index");
  const counts = Object.fromEntries(
    Object.entries(await redis.hgetall(keys.taskCounts)).map(([k, v]) => [k, Number(v)]),
  );
  assert.deepEqual(counts, want.counts, "assignee counts");
  const t = { redis, keys };
  const c = await taskCounts(t);
  for (const s of TASK_STATES) {
    assert.equal(c.by_state[s], want.byState.get(s)!.length, `taskCounts of ${s}`);
  }
  assert.equal(c.total, [...want.byState.values()].reduce((n, l) => n + l.length, 0));
  assert.equal((await verifyTaskIndexes(t)).wrong, 0, "verifyTaskIndexes disagrees with the scan");
  const per = await assigneeCounts(t);
  for (const [field, n] of Object.entries(want.counts)) {
    const cut = field.lastIndexOf("|");
    const got = per.get(field.slice(0, cut))?.[field.slice(cut + 1) as never];
    assert.equal(got, n, `assigneeCounts ${field}`);
  }
}

async function run(conns: Redis[], s: Scenario, sabotage?: (t: Town, tasks: string[]) => unknown) {
  const name = uniqueName("counters");
  const keys = townKeys(name);
  const base: Town = { redis: conns[0], keys, name, root: "/nonexistent" };
  let agents: Agent[] = [];
  const tasks: string[] = [];
  const stats = { ops: 0, refused: 0 };
  const makeAgents = async () => {
    agents = [];
    for (let i = 0; i < AGENTS; i++) {
      agents.push(await createAgent(base, { name: `a${i}`, cli: "x" }));
    }
  };
  await makeAgents();
  for (const r of s) {
    await Promise.all(r.clients.map(async (ops, c) => {
      const t = { ...base, redis: conns[c % conns.length] };
      for (const op of ops) {
        stats.ops++;
        try {
          await runOp(t, agents, tasks, op);
        } catch (e) {
          if (!(e instanceof TtError)) throw e;
          stats.refused++; // refused transitions (ended, not yours, not in the backlog, …)
        }
      }
    }));
    if (sabotage) await sabotage(base, tasks);
    await check(base.redis, keys);
    if (r.after === "restore") {
      const snap = await takeSnapshot(base);
      await deleteTask(base, tasks[0] ?? "none");
      await assignTask(base, toRecipient(agents[0]), { description: "after the save" });
      await restoreSnapshot(base, snap);
    } else if (r.after === "reset") {
      await resetTown(base);
      tasks.length = 0;
      await makeAgents();
    }
    await check(base.redis, keys);
  }
  return stats;
}

async function withConnections<T>(n: number, fn: (conns: Redis[]) => Promise<T>) {
  return await withTestTown(async (base) => {
    const conns = await Promise.all(
      Array.from({ length: n }, () => duplicateConnection(base.redis)),
    );
    try {
      return await fn(conns);
    } finally {
      for (const c of conns) c.disconnect();
    }
  });
}

Deno.test("task counters and indexes equal a full scan after random concurrent operations", async () => {
  await withConnections(3, async (conns) => {
    const total = { ops: 0, refused: 0 };
    await assertProperty("counters vs scan", 150, [scenario], async (s) => {
      const st = await run(conns, s);
      total.ops += st.ops;
      total.refused += st.refused;
    });
    report(`  ${total.ops} operations, ${total.refused} refused`);
    assert.ok(total.ops > 1000 && total.refused > 100, JSON.stringify(total));
  });
});

Deno.test("the counters property can fail: a state written behind the scripts' back is caught", async () => {
  await withConnections(3, async (conns) => {
    await assertCatches(
      "a hand-written state",
      /index of state|assignee/,
      50,
      [scenario],
      (s) =>
        run(conns, s, async (t, tasks) => {
          const id = tasks.find(() => true);
          if (!id) return;
          const state = await t.redis.hget(t.keys.task(id), "state");
          if (state) {
            await t.redis.hset(
              t.keys.task(id),
              "state",
              state === "running" ? "failed" : "running",
            );
          }
        }).then(() => {}),
    );
  });
});

Deno.test("tt doctor's verify sees hand edits of tasks; tt task recount puts the counters right", async () => {
  await withConnections(1, async ([redis]) => {
    const keys = townKeys(uniqueName("recount"));
    const t = { redis, keys };
    const a = await createAgent(t, { name: "a", cli: "x" });
    const ids = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await assignTask(t, toRecipient(a), { description: "x" })).id);
    }
    await completeTask(t, ids[0], { verified: true });
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 6, wrong: 0 });
    await redis.hset(keys.task(ids[1]), "state", "failed");
    await redis.hdel(keys.task(ids[2]), "assigned_to");
    await redis.del(keys.task(ids[3]));
    const seen = await verifyTaskIndexes(t);
    assert.equal(seen.tasks, 5);
    assert.ok(seen.wrong >= 3, JSON.stringify(seen));
    await assert.rejects(check(redis, keys), /index of state|assignee/);
    assert.equal(await recountTasks(t), 5);
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 5, wrong: 0 });
    await check(redis, keys);
    assert.equal((await taskCounts(t)).by_state.failed, 1);
  });
});
