/**
 * Backlog claims under concurrency: several clients, each on its own Redis connection, run
 * random add / claim / assign-all / remove sequences at the same time (Promise.all). Afterwards
 * every task is assigned to at most one agent, the one whose claim won; each agent's inbox holds
 * exactly one task_assign per task it got and none for others; the backlog holds exactly the
 * tasks still pending, once each; removed tasks are gone everywhere.
 */
import assert from "node:assert/strict";
import { type Agent } from "../../src/core/schemas.ts";
import { createAgent } from "../../src/core/agents.ts";
import { addToBacklog, assignAll, claimTask, removeFromBacklog } from "../../src/core/backlog.ts";
import { getTask } from "../../src/core/tasks.ts";
import { parseMessage } from "../../src/core/messages.ts";
import { NotFoundError } from "../../src/core/errors.ts";
import { type Keys, townKeys } from "../../src/core/keys.ts";
import { duplicateConnection, type Redis } from "../../src/redis/connection.ts";
import { report, uniqueName, withTestTown } from "../helpers.ts";
import { assertCatches, assertProperty, fc } from "./prop.ts";

const AGENTS = 3;

type Op =
  | { op: "add" }
  | { op: "claim"; task: number; agent: number }
  | { op: "assignAll"; agent: number }
  | { op: "remove"; task: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ op: "add" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("claim" as const),
      task: fc.nat(),
      agent: fc.nat(AGENTS - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("assignAll" as const), agent: fc.nat(AGENTS - 1) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("remove" as const), task: fc.nat() }) },
);

const scenario = fc.record({
  initial: fc.integer({ min: 0, max: 8 }),
  clients: fc.array(fc.array(opArb, { maxLength: 12, size: "max" }), {
    minLength: 2,
    maxLength: 4,
  }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

interface Outcome {
  keys: Keys;
  agents: Agent[];
  tasks: string[];
  /** Task id → agent ids whose claim or assign-all reported getting it. */
  wins: Map<string, string[]>;
  removed: Set<string>;
  /** Expected refusals (NotFoundError: not in the backlog any more, gone, not pending). */
  refused: number;
}

async function run(conns: Redis[], s: Scenario): Promise<Outcome> {
  const keys = townKeys(uniqueName("backlog"));
  const t0 = { redis: conns[0], keys };
  const agents: Agent[] = [];
  for (let i = 0; i < AGENTS; i++) agents.push(await createAgent(t0, { name: `a${i}`, cli: "x" }));
  const tasks: string[] = [];
  for (let i = 0; i < s.initial; i++) {
    tasks.push((await addToBacklog(t0, { description: `task ${i}` })).id);
  }
  const out: Outcome = { keys, agents, tasks, wins: new Map(), removed: new Set(), refused: 0 };
  const win = (id: string, agent: string) => out.wins.set(id, [...(out.wins.get(id) ?? []), agent]);
  await Promise.all(s.clients.map(async (ops, c) => {
    const t = { redis: conns[c], keys };
    for (const op of ops) {
      try {
        switch (op.op) {
          case "add":
            tasks.push((await addToBacklog(t, { description: `added by ${c}` })).id);
            break;
          case "claim": {
            if (!tasks.length) break;
            const agent = agents[op.agent];
            const task = await claimTask(t, tasks[op.task % tasks.length], agent);
            win(task.id, agent.id);
            break;
          }
          case "assignAll":
            for (const task of await assignAll(t, agents[op.agent])) {
              win(task.id, agents[op.agent].id);
            }
            break;
          case "remove": {
            if (!tasks.length) break;
            out.removed.add((await removeFromBacklog(t, tasks[op.task % tasks.length])).id);
            break;
          }
        }
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        out.refused++;
      }
    }
  }));
  return out;
}

async function check(redis: Redis, o: Outcome) {
  const t = { redis, keys: o.keys };
  const backlog = await redis.lrange(o.keys.backlog, 0, -1);
  assert.equal(new Set(backlog).size, backlog.length, "a task is twice in the backlog");
  const indexed = new Set(await redis.zrange(o.keys.tasks, "0", "-1"));
  const inboxes = new Map<string, string[]>();
  for (const a of o.agents) {
    const raws = await redis.lrange(o.keys.inbox(a.id), 0, -1);
    inboxes.set(
      a.id,
      raws.map((r) => parseMessage(r)!).filter((m) => m.type === "task_assign").map((m) =>
        m.task_id!
      ),
    );
  }
  for (const id of new Set(o.tasks)) {
    const winners = o.wins.get(id) ?? [];
    assert.ok(winners.length <= 1, `task ${id} was won by ${winners.length} claims`);
    const task = await getTask(t, id);
    if (o.removed.has(id)) {
      assert.equal(winners.length, 0, "a removed task was also assigned");
      assert.equal(task, undefined, "a removed task still exists");
      assert.ok(!indexed.has(id) && !backlog.includes(id), "a removed task is still indexed");
      continue;
    }
    assert.ok(task && indexed.has(id), `task ${id} vanished`);
    if (winners.length) {
      assert.equal(task.state, "assigned");
      assert.equal(task.assigned_to, winners[0], "assigned to another agent than the winner");
      assert.ok(!backlog.includes(id), "an assigned task is still in the backlog");
    } else {
      assert.equal(task.state, "pending");
      assert.equal(task.assigned_to, undefined);
      assert.ok(backlog.includes(id), "a pending task left the backlog without an owner");
    }
    for (const a of o.agents) {
      const n = inboxes.get(a.id)!.filter((x) => x === id).length;
      assert.equal(
        n,
        winners[0] === a.id ? 1 : 0,
        `agent ${a.name} has ${n} task_assign for ${id}`,
      );
    }
  }
  for (const a of o.agents) {
    for (const id of inboxes.get(a.id)!) {
      assert.ok(o.tasks.includes(id), "task_assign for an unknown task");
    }
  }
}

async function withConnections<T>(n: number, fn: (base: Redis, conns: Redis[]) => Promise<T>) {
  return await withTestTown(async (base) => {
    const conns = await Promise.all(
      Array.from({ length: n }, () => duplicateConnection(base.redis)),
    );
    try {
      return await fn(base.redis, conns);
    } finally {
      for (const c of conns) c.disconnect();
    }
  });
}

Deno.test("backlog: racing add/claim/assign-all/remove clients never assign a task twice", async () => {
  await withConnections(4, async (redis, conns) => {
    const stats = { wins: 0, refused: 0, removed: 0 };
    await assertProperty("concurrent backlog scenarios", 300, [scenario], async (s) => {
      const o = await run(conns, s);
      await check(redis, o);
      stats.wins += [...o.wins.values()].flat().length;
      stats.refused += o.refused;
      stats.removed += o.removed.size;
    });
    report(`  ${stats.wins} claims won, ${stats.refused} refused, ${stats.removed} removed`);
    // Races must actually happen: many refusals mean clients went for the same tasks.
    assert.ok(stats.wins > 100 && stats.refused > 100 && stats.removed > 50);
  });
});

Deno.test("the backlog property can fail: a duplicated task_assign is caught", async () => {
  await withConnections(4, async (redis, conns) => {
    await assertCatches(
      "a duplicated task_assign",
      /task_assign for/,
      50,
      [scenario],
      async (s) => {
        const o = await run(conns, s);
        const [id, [agent]] = [...o.wins][0] ?? [];
        if (id) {
          const raw = (await redis.lrange(o.keys.inbox(agent), 0, -1)).find((r) =>
            parseMessage(r)?.task_id === id
          )!;
          await redis.rpush(o.keys.inbox(agent), raw);
        }
        await check(redis, o);
      },
    );
  });
});
