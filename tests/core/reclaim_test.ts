import assert from "node:assert/strict";
import { createAgent, getAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { sendMessage } from "../../src/core/messages.ts";
import { assignTask, getTask } from "../../src/core/tasks.ts";
import { findOrphanTasks, reclaimOrphanTasks, reclaimWork } from "../../src/core/reclaim.ts";
import { pruneAgents } from "../../src/core/lifecycle.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

Deno.test("reclaim without a destination lists and changes nothing", async () => {
  await withTestTown(async (t) => {
    const dead = await createAgent(t, { name: "dead", cli: "x" });
    await assignTask(t, toRecipient(dead), { description: "a" });
    await setAgentState(t, dead.id, "stopped");
    const before = await snapshotTown(t);
    const r = await reclaimWork(t, {});
    assert.equal(r.destination, "listed");
    assert.equal(r.agents[0].messages.length, 1);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("reclaim --to-backlog: task_assign ids in order, plain tasks become backlog tasks, the rest to the conductor", async () => {
  await withTestTown(async (t) => {
    const dead = await createAgent(t, { name: "dead", cli: "x" });
    const t1 = await assignTask(t, toRecipient(dead), { description: "first" });
    const t2 = await assignTask(t, toRecipient(dead), { description: "second" });
    await sendMessage(t, {
      from: SUPERVISOR_ID,
      to: dead.id,
      type: "task",
      body: "free text work",
    });
    await sendMessage(t, { from: SUPERVISOR_ID, to: dead.id, type: "query", body: "a question" });
    await setAgentState(t, dead.id, "stopped");
    const r = await reclaimWork(t, { toBacklog: true });
    assert.equal(r.moved, 4);
    const backlog = await t.redis.lrange(t.keys.backlog, 0, -1);
    assert.deepEqual(backlog.slice(0, 2), [t1.id, t2.id]);
    assert.equal(backlog.length, 3);
    assert.equal((await getTask(t, backlog[2]))?.description, "free text work");
    assert.equal((await getTask(t, t1.id))?.state, "pending");
    assert.equal((await getTask(t, t1.id))?.assigned_to, undefined);
    const conductor = (await t.redis.lrange(t.keys.inbox(SUPERVISOR_ID), 0, -1)).map((s) =>
      JSON.parse(s).body
    );
    assert.deepEqual(conductor, ["a question"]);
    assert.equal(await t.redis.llen(t.keys.inbox(dead.id)), 0);
  });
});

Deno.test("reclaim --to moves the same messages to a live agent and reassigns their tasks", async () => {
  await withTestTown(async (t) => {
    const dead = await createAgent(t, { name: "dead", cli: "x" });
    const live = await createAgent(t, { name: "live", cli: "x" });
    const task = await assignTask(t, toRecipient(dead), { description: "move me" });
    const before = JSON.parse((await t.redis.lrange(t.keys.inbox(dead.id), 0, -1))[0]);
    await setAgentState(t, dead.id, "stopped");
    await reclaimWork(t, { to: (await getAgent(t, live.id))! });
    const after = JSON.parse((await t.redis.lrange(t.keys.inbox(live.id), 0, -1))[0]);
    assert.equal(after.id, before.id);
    assert.equal(after.to, live.id);
    assert.equal((await getTask(t, task.id))?.assigned_to, live.id);
  });
});

Deno.test("orphan tasks: assignee pruned or stopped; --cancel cancels them with the reason", async () => {
  await withTestTown(async (t) => {
    const gone = await createAgent(t, { name: "gone", cli: "x" });
    const task = await assignTask(t, toRecipient(gone), { description: "orphan" });
    await t.redis.del(t.keys.inbox(gone.id)); // its message was handled elsewhere
    await setAgentState(t, gone.id, "stopped");
    const orphans = await findOrphanTasks(t);
    assert.deepEqual(orphans.map((o) => [o.task.id, o.reason]), [[task.id, "agent_terminal"]]);
    await pruneAgents(t);
    assert.equal((await findOrphanTasks(t))[0].reason, "agent_missing");
    await reclaimOrphanTasks(t, "cancel");
    const after = await getTask(t, task.id);
    assert.equal(after?.state, "cancelled");
    assert.match(after?.result ?? "", /assignee no longer exists/);
  });
});
