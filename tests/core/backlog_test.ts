import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import {
  addToBacklog,
  assignAll,
  claimTask,
  listBacklog,
  removeFromBacklog,
} from "../../src/core/backlog.ts";
import { completeTask, getTask, listTasks } from "../../src/core/tasks.ts";
import { peekInbox } from "../../src/core/messages.ts";
import { recentEvents } from "../../src/core/events.ts";
import { NotFoundError, UsageError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

Deno.test("addToBacklog queues pending tasks FIFO with their tags", async () => {
  await withTestTown(async (t) => {
    const a = await addToBacklog(t, { description: "first", tags: ["x", "y"] });
    const b = await addToBacklog(t, { description: "second" });
    assert.equal(a.state, "pending");
    assert.deepEqual(await t.redis.lrange(t.keys.backlog, 0, -1), [a.id, b.id]);
    const listed = await listBacklog(t);
    assert.deepEqual(listed.map((x) => [x.description, x.tags]), [
      ["first", ["x", "y"]],
      ["second", []],
    ]);
    assert.equal((await recentEvents(t, { count: 1 }))[0].type, "task_created");
    const before = await snapshotTown(t);
    await assert.rejects(addToBacklog(t, { description: "" }), UsageError);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("claimTask assigns a backlog task and sends the task_assign message", async () => {
  await withTestTown(async (t) => {
    const w = await createAgent(t, { name: "w", cli: "claude" });
    const a = await addToBacklog(t, { description: "do it" });
    const b = await addToBacklog(t, { description: "later" });
    const claimed = await claimTask(t, a.id, w);
    assert.equal(claimed.state, "assigned");
    assert.equal(claimed.assigned_to, w.id);
    assert.deepEqual(await t.redis.lrange(t.keys.backlog, 0, -1), [b.id]);
    const inbox = (await peekInbox(t, w.id)).inbox;
    assert.deepEqual(inbox.map((m) => [m.type, m.task_id, m.body]), [
      ["task_assign", a.id, "do it"],
    ]);
    assert.equal((await recentEvents(t, { count: 1 }))[0].type, "task_assigned");
  });
});

Deno.test("a refused claim changes nothing: not in backlog, or the agent is gone", async () => {
  await withTestTown(async (t) => {
    const w = await createAgent(t, { name: "w", cli: "claude" });
    const other = await createAgent(t, { name: "other", cli: "claude" });
    const a = await addToBacklog(t, { description: "a" });
    await claimTask(t, a.id, w);
    const before = await snapshotTown(t);
    await assert.rejects(claimTask(t, a.id, other), /not in the backlog/);
    await assert.rejects(claimTask(t, "ffffffff-0000-4000-8000-000000000000", w), NotFoundError);
    assert.deepEqual(await snapshotTown(t), before);

    const b = await addToBacklog(t, { description: "b" });
    await t.redis.del(t.keys.agent(other.id));
    const gone = await snapshotTown(t);
    await assert.rejects(claimTask(t, b.id, other), /no longer exists/);
    assert.deepEqual(await snapshotTown(t), gone);
    assert.deepEqual(await t.redis.lrange(t.keys.backlog, 0, -1), [b.id]);
  });
});

Deno.test("20 concurrent claims of one task: exactly one wins, one message is sent", async () => {
  await withTestTown(async (t) => {
    const agents = await Promise.all(
      Array.from({ length: 20 }, (_, i) => createAgent(t, { name: `w${i}`, cli: "claude" })),
    );
    const task = await addToBacklog(t, { description: "contended" });
    const results = await Promise.allSettled(agents.map((a) => claimTask(t, task.id, a)));
    const won = results.flatMap((r, i) => r.status === "fulfilled" ? [agents[i]] : []);
    assert.equal(won.length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.match(String(r.reason), /not in the backlog/);
    }
    assert.equal((await getTask(t, task.id))?.assigned_to, won[0].id);
    const counts = await Promise.all(agents.map((a) => t.redis.llen(t.keys.inbox(a.id))));
    assert.equal(counts.reduce((x, y) => x + y, 0), 1);
    assert.equal(await t.redis.llen(t.keys.inbox(won[0].id)), 1);
  });
});

Deno.test("assignAll gives every backlog task, in order, to one agent", async () => {
  await withTestTown(async (t) => {
    const w = await createAgent(t, { name: "w", cli: "claude" });
    assert.deepEqual(await assignAll(t, w), []);
    const ids = [];
    for (const d of ["one", "two", "three"]) {
      ids.push((await addToBacklog(t, { description: d })).id);
    }
    const got = await assignAll(t, w);
    assert.deepEqual(got.map((x) => x.id), ids);
    assert.ok(got.every((x) => x.state === "assigned" && x.assigned_to === w.id));
    assert.equal(await t.redis.llen(t.keys.backlog), 0);
    assert.deepEqual((await peekInbox(t, w.id)).inbox.map((m) => m.body), ["one", "two", "three"]);

    await addToBacklog(t, { description: "four" });
    await t.redis.del(t.keys.agent(w.id));
    const before = await snapshotTown(t);
    await assert.rejects(assignAll(t, w), NotFoundError);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("removeFromBacklog deletes the task everywhere; other tasks are refused", async () => {
  await withTestTown(async (t) => {
    const a = await addToBacklog(t, { description: "a", planId: "p1" });
    const b = await addToBacklog(t, { description: "b" });
    assert.equal(await t.redis.hget(t.keys.plan, "p1"), a.id);
    const removed = await removeFromBacklog(t, a.id);
    assert.equal(removed.description, "a");
    assert.equal(await t.redis.exists(t.keys.task(a.id)), 0);
    assert.equal(await t.redis.hget(t.keys.plan, "p1"), null);
    assert.deepEqual((await listTasks(t)).map((x) => x.id), [b.id]);
    assert.deepEqual(await t.redis.lrange(t.keys.backlog, 0, -1), [b.id]);
    assert.equal((await recentEvents(t, { count: 1 }))[0].type, "task_removed");

    await completeTask(t, b.id);
    const before = await snapshotTown(t);
    await assert.rejects(removeFromBacklog(t, b.id), /not in the backlog/);
    await assert.rejects(removeFromBacklog(t, a.id), NotFoundError);
    assert.deepEqual(await snapshotTown(t), before);
  });
});
