import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import { previewReset, resetTown } from "../../src/core/reset.ts";
import { recentEvents } from "../../src/core/events.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { TownContext } from "../../src/core/town.ts";
import { snapshotTown, testTown, withTestTown } from "../helpers.ts";

/** Two agents with mail, a task, backlog, plan entry, the conductor's mailbox, events. */
async function populate(t: TownContext) {
  const a = await createAgent(t, { name: "alpha", cli: "claude" });
  const b = await createAgent(t, { name: "beta", cli: "claude" });
  await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, "do", "task"));
  await sendMessage(t, textMessage(a.id, b.id, "now", "task"), { urgent: true });
  await sendMessage(t, textMessage(a.id, SUPERVISOR_ID, "done", "info"));
  await t.redis.rpush(t.keys.processing(b.id), "{}");
  await t.redis.lpush(t.keys.activity(a.id), "round 1 ok");
  const task = crypto.randomUUID();
  await t.redis.hset(t.keys.task(task), { id: task, description: "x", state: "pending" });
  await t.redis.zadd(t.keys.tasks, 1, task);
  await t.redis.rpush(t.keys.backlog, task);
  await t.redis.hset(t.keys.plan, "entry-1", task);
  return { a, b, task };
}

Deno.test("previewReset counts what would go and deletes nothing", async () => {
  await withTestTown(async (t) => {
    await populate(t);
    const before = await snapshotTown(t);
    const full = await previewReset(t);
    assert.deepEqual(full, {
      agents_only: false,
      agents: 2,
      tasks: 1,
      backlog: 1,
      keys: Object.keys(before).length,
    });
    const agentsOnly = await previewReset(t, { agentsOnly: true });
    // All but events, the task, the task index, backlog and plan.
    assert.equal(agentsOnly.keys, Object.keys(before).length - 5);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("resetTown deletes every key of the town, no other town's, then records town_reset", async () => {
  const other = await testTown();
  try {
    await withTestTown(async (t) => {
      await populate(t);
      await populate(other);
      const untouched = await snapshotTown(other);
      const keys = Object.keys(await snapshotTown(t)).length;
      const { deleted } = await resetTown(t);
      assert.equal(deleted, keys);
      assert.deepEqual(Object.keys(await snapshotTown(t)), [t.keys.events]);
      const ev = await recentEvents(t, { count: 10 });
      assert.deepEqual(ev.map((e) => e.type), ["town_reset"]);
      assert.match(ev[0].message, new RegExp(`${deleted} keys deleted`));
      assert.deepEqual(await snapshotTown(other), untouched);
    });
  } finally {
    await other.close();
  }
});

Deno.test("resetTown agentsOnly keeps tasks, backlog, plan and events; clears every mailbox", async () => {
  await withTestTown(async (t) => {
    const { task } = await populate(t);
    const eventsBefore = await t.redis.xlen(t.keys.events);
    const keysBefore = Object.keys(await snapshotTown(t)).length;
    const { deleted } = await resetTown(t, { agentsOnly: true });
    assert.equal(deleted, keysBefore - 5);
    const left = await snapshotTown(t);
    assert.deepEqual(
      Object.keys(left).sort(),
      [
        t.keys.backlog,
        t.keys.events,
        t.keys.plan,
        t.keys.task(task),
        t.keys.tasks,
      ].sort(),
    );
    assert.equal(left[t.keys.events], eventsBefore + 1);
    assert.equal((await recentEvents(t, { count: 1 }))[0].type, "town_reset");
  });
});

Deno.test("resetTown sweeps more keys than one SCAN batch", async () => {
  await withTestTown(async (t) => {
    const pipe = t.redis.pipeline();
    for (let i = 0; i < 1200; i++) pipe.set(`${t.keys.prefix}filler:${i}`, "x");
    await pipe.exec();
    assert.equal((await previewReset(t)).keys, 1200);
    assert.equal((await resetTown(t)).deleted, 1200);
    assert.equal((await previewReset(t)).keys, 1); // the town_reset event
  });
});
