import assert from "node:assert/strict";
import { createAgent, getAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { sendMessage } from "../../src/core/messages.ts";
import { endRound, takeRound } from "../../src/core/rounds.ts";
import { beginRound } from "../../src/core/round_start.ts";
import { assignTask, cancelTask, completeTask, createTask, getTask } from "../../src/core/tasks.ts";
import { lexScore, verifyTaskIndexes } from "../../src/core/task_index.ts";
import { taskCounts } from "../../src/core/counters.ts";
import { recentEvents } from "../../src/core/events.ts";
import { ConflictError } from "../../src/core/errors.ts";
import type { Message } from "../../src/core/schemas.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { withTestTown } from "../helpers.ts";

Deno.test("beginRound: working, round fields and the agent's own open tasks started, in one script", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    const b = await createAgent(t, { name: "v", cli: "x" });
    await setAgentState(t, a.id, "idle");
    const mine = await assignTask(t, toRecipient(a), { description: "mine" });
    const also = await assignTask(t, toRecipient(a), { description: "also mine" });
    const cancelled = await assignTask(t, toRecipient(a), { description: "cancelled" });
    await cancelTask(t, cancelled.id);
    const theirs = await assignTask(t, toRecipient(b), { description: "b's task" });
    // A forged assignment naming b's task (and one naming no task) in a's inbox: never started.
    for (const task_id of [theirs.id, crypto.randomUUID()]) {
      await t.redis.rpush(
        t.keys.inbox(a.id),
        JSON.stringify({
          id: crypto.randomUUID(),
          from: SUPERVISOR_ID,
          to: a.id,
          type: "task_assign",
          task_id,
          body: "forged",
          created_at: new Date().toISOString(),
        }),
      );
    }
    const taken = await takeRound(t, a.id);
    assert.equal(taken.messages.length, 5);
    const before = (await recentEvents(t, { count: 1000 })).length;

    const tasks = await beginRound(t, a.id, 1, taken.messages);

    assert.deepEqual(
      [...tasks.values()].map((x) => [x.description, x.state]),
      [["mine", "running"], ["also mine", "running"], ["cancelled", "cancelled"], [
        "b's task",
        "assigned",
      ]],
    );
    const agent = (await getAgent(t, a.id))!;
    assert.equal(agent.state, "working");
    assert.equal(agent.round, 1);
    assert.ok(agent.round_started_at && agent.round_started_at === agent.last_active_at);
    assert.equal(agent.current_task, also.id);
    assert.equal((await getTask(t, mine.id))!.state, "running");
    assert.equal((await getTask(t, theirs.id))!.state, "assigned");
    const events = (await recentEvents(t, { count: 1000 })).slice(before);
    assert.deepEqual(events.map((e) => [e.type, e.task_id ?? e.new_state]), [
      ["agent_state_changed", "working"],
      ["task_started", mine.id],
      ["task_started", also.id],
    ]);
    assert.equal(events[0].message, "round 1 started with 5 message(s)");
    // The counters the scripts keep are exact.
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 4, wrong: 0 });
    const { by_state } = await taskCounts(t);
    assert.deepEqual([by_state.running, by_state.assigned, by_state.cancelled], [2, 1, 1]);
  });
});

Deno.test("beginRound refuses a paused agent and writes nothing", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    const task = await assignTask(t, toRecipient(a), { description: "x" });
    await setAgentState(t, a.id, "paused");
    const taken = await takeRound(t, a.id);
    const before = await t.redis.hgetall(t.keys.agent(a.id));
    const events = (await recentEvents(t, { count: 1000 })).length;
    await assert.rejects(beginRound(t, a.id, 1, taken.messages), ConflictError);
    assert.deepEqual(await t.redis.hgetall(t.keys.agent(a.id)), before);
    assert.equal((await getTask(t, task.id))!.state, "assigned");
    assert.equal((await recentEvents(t, { count: 1000 })).length, events);
    // A round of no task at all starts too (an answer to a query).
    await setAgentState(t, a.id, "idle");
    assert.equal((await beginRound(t, a.id, 1, [])).size, 0);
    assert.equal((await getAgent(t, a.id))!.state, "working");
  });
});

Deno.test("endRound with idle moves a working agent to idle after the round's event, and nothing else", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    await setAgentState(t, a.id, "idle");
    await sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body: "do" });
    const taken = await takeRound(t, a.id);
    await beginRound(t, a.id, 1, taken.messages);
    const started = (await getAgent(t, a.id))!.last_active_at;
    await new Promise((r) => setTimeout(r, 5)); // a later millisecond for last_active_at
    const before = (await recentEvents(t, { count: 1000 })).length;
    await endRound(t, a.id, { kind: "ok" }, "round 1 completed", { idle: "round 1 ended" });
    const agent = (await getAgent(t, a.id))!;
    assert.equal(agent.state, "idle");
    assert.equal(agent.rounds_completed, 1);
    assert.ok(agent.last_active_at > started, `${agent.last_active_at} after ${started}`);
    assert.equal(agent.round_started_at, undefined);
    const events = (await recentEvents(t, { count: 1000 })).slice(before);
    assert.deepEqual(events.map((e) => [e.type, e.message]), [
      ["round_completed", "round 1 completed"],
      ["agent_state_changed", "round 1 ended"],
    ]);

    // Paused (or closed) during the round: the round ends, the state stays.
    await sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body: "again" });
    await beginRound(t, a.id, 2, (await takeRound(t, a.id)).messages);
    await setAgentState(t, a.id, "paused");
    await endRound(t, a.id, { kind: "ok" }, "round 2 completed", { idle: "round 2 ended" });
    assert.equal((await getAgent(t, a.id))!.state, "paused");
    assert.equal(await t.redis.exists(t.keys.processing(a.id)), 0);
    // An agent deleted meanwhile is not brought back as a hash of one field.
    await sendMessage(t, { from: SUPERVISOR_ID, to: a.id, type: "task", body: "last" });
    await takeRound(t, a.id);
    await t.redis.del(t.keys.agent(a.id));
    await endRound(t, a.id, { kind: "ok" }, "round 3 completed", { idle: "round 3 ended" });
    assert.equal(await t.redis.exists(t.keys.agent(a.id)), 0);
  });
});

Deno.test("a task state edited behind the scripts' back leaves no stale index entry after its next transition", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    const ids = [];
    for (const d of ["one", "two", "three"]) {
      ids.push((await assignTask(t, toRecipient(a), { description: d })).id);
    }
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 3, wrong: 0 });
    // Indexed as assigned, the hashes now say running and failed.
    await t.redis.hset(t.keys.task(ids[0]), "state", "running");
    await t.redis.hset(t.keys.task(ids[1]), "state", "pending");
    assert.ok((await verifyTaskIndexes(t)).wrong >= 2);
    await completeTask(t, ids[0], { by: a.id });
    await cancelTask(t, ids[1]);
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 3, wrong: 0 });
    const { by_state } = await taskCounts(t);
    assert.deepEqual([by_state.assigned, by_state.completed, by_state.cancelled], [1, 1, 1]);
  });
});

Deno.test("a round's tasks start together: a hand-edited one heals, one without its score copy gets it", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    await setAgentState(t, a.id, "idle");
    const tasks = [];
    for (const d of ["one", "two", "three", "four"]) {
      tasks.push(await assignTask(t, toRecipient(a), { description: d }));
    }
    const [edited, old] = tasks;
    // Indexed as completed, the hash says assigned (edited by hand): the round's bulk move
    // misses its entries, so it clears them under every other state as a single start would.
    await completeTask(t, edited.id, { by: a.id });
    await t.redis.hset(t.keys.task(edited.id), "state", "assigned");
    // A task made by a tt that kept no copy of the score in the hash.
    await t.redis.hdel(t.keys.task(old.id), "score");
    const taken = await takeRound(t, a.id);
    await beginRound(t, a.id, 1, taken.messages);
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 4, wrong: 0 });
    const { by_state } = await taskCounts(t);
    assert.deepEqual([by_state.assigned, by_state.running], [0, 4]);
    assert.equal(
      await t.redis.hget(t.keys.task(old.id), "score"),
      lexScore((await t.redis.zscore(t.keys.tasks, old.id))!),
    );
    assert.deepEqual(await t.redis.hgetall(t.keys.taskCounts), { [`${a.id}|running`]: "4" });
  });
});

Deno.test("a round of 4,100 tasks starts them all: its index moves in slices unpack() can take", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    await setAgentState(t, a.id, "idle");
    // More than Lua's 8,000 values per unpack() in one ZADD of score/member pairs.
    const n = 4100;
    const messages: Message[] = [];
    for (let i = 0; i < n; i += 100) {
      const batch = await Promise.all(
        Array.from(
          { length: 100 },
          (_, j) => assignTask(t, toRecipient(a), { description: `t${i + j}` }),
        ),
      );
      for (const task of batch) messages.push({ type: "task_assign", task_id: task.id } as Message);
    }
    const tasks = await beginRound(t, a.id, 1, messages);
    assert.equal([...tasks.values()].filter((x) => x.state === "running").length, n);
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: n, wrong: 0 });
    assert.deepEqual(await t.redis.hgetall(t.keys.taskCounts), { [`${a.id}|running`]: `${n}` });
    assert.equal((await getAgent(t, a.id))!.current_task, messages[n - 1].task_id);
  });
});

Deno.test("takeRound reports the backlog's length, so an idle agent scans only a backlog with work", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    assert.equal((await takeRound(t, a.id)).backlog, 0);
    await createTask(t, { description: "one" }, { kind: "backlog" });
    await createTask(t, { description: "two" }, { kind: "backlog" });
    const taken = await takeRound(t, a.id);
    assert.deepEqual([taken.backlog, taken.messages.length], [2, 0]);
  });
});

Deno.test("endRound ifReported ends the round only when none of its tasks is left open for the agent or waits for a check", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "x" });
    await setAgentState(t, a.id, "idle");
    const plain = await assignTask(t, toRecipient(a), { description: "plain" });
    const checked = await assignTask(t, toRecipient(a), { description: "checked", verify: "true" });
    const taken = await takeRound(t, a.id);
    await beginRound(t, a.id, 1, taken.messages);
    const ids = [plain.id, checked.id];
    const end = () =>
      endRound(t, a.id, { kind: "ok" }, "round 1 completed", { idle: "ended", ifReported: ids });
    const untouched = async () => {
      assert.equal(await t.redis.llen(t.keys.processing(a.id)), 2);
      assert.equal((await getAgent(t, a.id))!.state, "working");
    };
    assert.equal(await end(), -1); // both open
    await untouched();
    await completeTask(t, plain.id, { by: a.id });
    // Reported by the agent, held for its check: still not the fast path.
    await completeTask(t, checked.id, { by: a.id });
    assert.equal((await getTask(t, checked.id))!.claimed_result, "Completed");
    assert.equal(await end(), -1);
    await untouched();
    await completeTask(t, checked.id, { verified: true });
    assert.equal(await end(), 0);
    assert.equal(await t.redis.exists(t.keys.processing(a.id)), 0);
    assert.equal((await getAgent(t, a.id))!.state, "idle");
  });
});
