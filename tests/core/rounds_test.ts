import assert from "node:assert/strict";
import { createAgent, toRecipient } from "../../src/core/agents.ts";
import { sendMessage } from "../../src/core/messages.ts";
import { dropStaleAssignments, endRound, notesOf, takeRound } from "../../src/core/rounds.ts";
import {
  assignTask,
  cancelTask,
  completeTask,
  failTask,
  requeueTaskToBacklog,
} from "../../src/core/tasks.ts";
import { recentEvents } from "../../src/core/events.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { withTestTown } from "../helpers.ts";

Deno.test("takeRound moves urgent first, then the inbox, into processing; a failed round puts them back in order", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    const send = (body: string, urgent = false) =>
      sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body }, { urgent });
    await send("one");
    await send("two");
    await send("now!", true);
    const r = await takeRound(t, a.id);
    assert.deepEqual(r.messages.map((m) => m.body), ["now!", "one", "two"]);
    assert.equal(await t.redis.llen(t.keys.inbox(a.id)), 0);
    assert.equal(await t.redis.llen(t.keys.processing(a.id)), 3);
    await send("three"); // arrives during the round
    const back = await endRound(
      t,
      a.id,
      { kind: "failed", reason: "exit code 1" },
      "round 1 failed",
    );
    assert.equal(back, 3);
    const inbox = (await t.redis.lrange(t.keys.inbox(a.id), 0, -1)).map((s) => JSON.parse(s).body);
    assert.deepEqual(inbox, ["now!", "one", "two", "three"]);
    assert.equal(await t.redis.exists(t.keys.processing(a.id)), 0);
    assert.equal(await t.redis.hget(t.keys.agent(a.id), "rounds_completed"), "1");
  });
});

Deno.test("a clean round acknowledges everything except the messages it must requeue", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    const m1 = await sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body: "done" });
    const m2 = await sendMessage(t, {
      from: SUPERVISOR_ID,
      to: a.id,
      type: "task",
      body: "unfinished",
    });
    await takeRound(t, a.id);
    await endRound(t, a.id, { kind: "ok", requeue: [m2.id] }, "round 1 completed");
    const inbox = (await t.redis.lrange(t.keys.inbox(a.id), 0, -1)).map((s) => JSON.parse(s).id);
    assert.deepEqual(inbox, [m2.id]);
    assert.notEqual(inbox[0], m1.id);
  });
});

Deno.test("informational-only rounds are parked as notes, shown once, then cleared by a clean round", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    await sendMessage(t, {
      from: SUPERVISOR_ID,
      to: a.id,
      type: "informational",
      body: "fyi: schema changed",
    });
    await takeRound(t, a.id);
    await endRound(t, a.id, { kind: "parked" }, "noted");
    assert.deepEqual((await notesOf(t, a.id)).map((m) => m.body), ["fyi: schema changed"]);
    assert.equal(await t.redis.hget(t.keys.agent(a.id), "rounds_completed"), "0");
    await sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body: "work" });
    await takeRound(t, a.id);
    await endRound(t, a.id, { kind: "ok" }, "done");
    assert.deepEqual(await notesOf(t, a.id), []);
  });
});

Deno.test("every push leaves exactly one wake token, and takeRound never takes it", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    for (let i = 0; i < 5; i++) {
      await sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body: `m${i}` });
    }
    assert.equal(await t.redis.llen(t.keys.wake(a.id)), 1);
    await takeRound(t, a.id);
    // The token may be a kill's or a close's, pushed after the loop read the agent's state:
    // taking it here left the loop blocked for ever (supervisors that never stopped, stop 18).
    assert.equal(await t.redis.llen(t.keys.wake(a.id)), 1);
    await takeRound(t, a.id); // an empty inbox too
    assert.equal(await t.redis.llen(t.keys.wake(a.id)), 1);
  });
});

for (const folded of [false, true]) {
  const how = folded ? "takeRound({ dropStale })" : "dropStaleAssignments";
  Deno.test(`${how} takes out of the round only assignments that are no longer the agent's`, async () => {
    await withTestTown(async (t) => {
      const a = await createAgent(t, { name: "w", cli: "x" });
      const b = await createAgent(t, { name: "v", cli: "x" });
      const to = toRecipient(a);
      const mk = (d: string) => assignTask(t, to, { description: d });
      const [live, done, failed, cancelled, gone, moved, backlog] = [
        await mk("live"),
        await mk("done"),
        await mk("failed"),
        await mk("cancelled"),
        await mk("gone"),
        await mk("moved"),
        await mk("to the backlog"),
      ];
      await sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body: "plain" });
      await completeTask(t, done.id, { by: a.id });
      await failTask(t, failed.id, { by: a.id });
      await cancelTask(t, cancelled.id);
      await t.redis.multi().del(t.keys.task(gone.id)).zrem(t.keys.tasks, gone.id).exec();
      await t.redis.hset(t.keys.task(moved.id), "assigned_to", b.id);
      await requeueTaskToBacklog(t, backlog.id, "test");
      const taken = await takeRound(t, a.id, { dropStale: folded });
      assert.equal(taken.messages.length, folded ? 2 : 8);
      const left = folded ? taken.messages : await dropStaleAssignments(t, a.id, taken.messages);
      assert.deepEqual(left.map((m) => m.task_id ?? m.body), [live.id, "plain"]);
      const processing = (await t.redis.lrange(t.keys.processing(a.id), 0, -1))
        .map((s) => JSON.parse(s).id);
      assert.deepEqual(processing, left.map((m) => m.id));
      const events = (await recentEvents(t, { count: 100 }))
        .filter((e) => e.type === "assignment_dropped");
      assert.deepEqual(
        events.map((e) => [e.task_id, e.reason]),
        [
          [done.id, "completed"],
          [failed.id, "failed"],
          [cancelled.id, "cancelled"],
          [gone.id, "missing"],
          [moved.id, "assigned"],
          [backlog.id, "pending"],
        ],
      );
      // Nothing stale: the same list back, nothing touched.
      assert.equal(await dropStaleAssignments(t, a.id, left), left);
    });
  });
}
