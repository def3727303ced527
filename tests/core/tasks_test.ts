import assert from "node:assert/strict";
import { createAgent, getAgent, SUPERVISOR, toRecipient } from "../../src/core/agents.ts";
import {
  assignTask,
  cancelTask,
  completeTask,
  createTask,
  currentTask,
  endTaskBriefly,
  failTask,
  getTask,
  listTasks,
  requeueTaskToBacklog,
  resolveTask,
  returnTaskToAssigned,
  startTask,
} from "../../src/core/tasks.ts";
import { peekInbox } from "../../src/core/messages.ts";
import { recentEvents } from "../../src/core/events.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { MAX_MESSAGE_BYTES } from "../../src/core/schemas.ts";
import { ConflictError, NotFoundError, UsageError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";
import type { TownContext } from "../../src/core/town.ts";

const TRICKY = `fix "auth" & $(rm -rf /); \`id\` 'x' | > /dev/null\n\ttabs — 日本語 🚀 \\n %s`;

async function worker(t: TownContext, name = "w1") {
  return toRecipient(await createAgent(t, { name, cli: "claude" }));
}

Deno.test("assignTask stores an assigned task, indexes it, and queues one task_assign message", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const task = await assignTask(t, w, { description: "build the API", tags: ["api"] });
    assert.equal(task.state, "assigned");
    assert.equal(task.assigned_to, w.id);
    assert.deepEqual(task.tags, ["api"]);
    assert.equal(task.created_by, SUPERVISOR_ID);
    assert.deepEqual(await t.redis.zrange(t.keys.tasks, "0", "-1"), [task.id]);
    assert.equal(await t.redis.hget(t.keys.task(task.id), "tags"), '["api"]');
    const inbox = await peekInbox(t, w.id);
    assert.equal(inbox.inbox.length, 1);
    const m = inbox.inbox[0];
    assert.equal(m.type, "task_assign");
    assert.equal(m.task_id, task.id);
    assert.equal(m.body, "build the API");
    assert.equal(m.from, SUPERVISOR_ID);
    assert.equal(m.to, w.id);
    const ev = await recentEvents(t, { count: 1 });
    assert.equal(ev[0].type, "task_assigned");
    assert.equal(ev[0].task_id, task.id);
    assert.equal(ev[0].agent_id, w.id);
  });
});

Deno.test("assignTask records the sending agent and works for the supervisor mailbox", async () => {
  await withTestTown(async (t) => {
    const a = await worker(t, "a");
    const task = await assignTask(t, SUPERVISOR, { description: "review", from: a.id });
    assert.equal(task.created_by, a.id);
    const inbox = await peekInbox(t, SUPERVISOR_ID);
    assert.equal(inbox.inbox[0].from, a.id);
    assert.equal(inbox.inbox[0].task_id, task.id);
  });
});

Deno.test("descriptions with shell metacharacters and unicode round-trip exactly", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const task = await assignTask(t, w, { description: TRICKY });
    assert.equal((await getTask(t, task.id))?.description, TRICKY);
    assert.equal((await peekInbox(t, w.id)).inbox[0].body, TRICKY);
  });
});

Deno.test("bad input changes nothing: empty or oversized description, vanished agent", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const before = await snapshotTown(t);
    await assert.rejects(assignTask(t, w, { description: "  \n " }), UsageError);
    await assert.rejects(
      assignTask(t, w, { description: "x".repeat(MAX_MESSAGE_BYTES + 1) }),
      /limit is 65536/,
    );
    assert.deepEqual(await snapshotTown(t), before);
    await t.redis.del(t.keys.agent(w.id));
    const gone = await snapshotTown(t);
    await assert.rejects(assignTask(t, w, { description: "x" }), NotFoundError);
    assert.deepEqual(await snapshotTown(t), gone);
  });
});

Deno.test("listTasks: oldest first, filtered by state and assignee, in one pipeline", async () => {
  await withTestTown(async (t) => {
    const a = await worker(t, "a");
    const b = await worker(t, "b");
    const t1 = await assignTask(t, a, { description: "one" });
    const t2 = await assignTask(t, b, { description: "two" });
    const t3 = await createTask(t, { description: "three" }, { kind: "backlog" });
    await completeTask(t, t1.id);
    assert.deepEqual((await listTasks(t)).map((x) => x.id), [t1.id, t2.id, t3.id]);
    assert.deepEqual((await listTasks(t, { state: "completed" })).map((x) => x.id), [t1.id]);
    assert.deepEqual((await listTasks(t, { agentId: b.id })).map((x) => x.id), [t2.id]);
    assert.deepEqual((await listTasks(t, { state: "pending" })).map((x) => x.id), [t3.id]);
  });
});

Deno.test("tasks made in the same millisecond list in creation order", async () => {
  await withTestTown(async (t) => {
    const made: string[] = [];
    for (let i = 0; i < 50; i++) {
      made.push((await createTask(t, { description: `t${i}` }, { kind: "backlog" })).id);
    }
    assert.deepEqual((await listTasks(t)).map((x) => x.id), made);
  });
});

Deno.test("resolveTask: full id, unique prefix; short, unknown and ambiguous refs are errors", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const task = await assignTask(t, w, { description: "x" });
    assert.equal((await resolveTask(t, task.id)).id, task.id);
    assert.equal((await resolveTask(t, task.id.toUpperCase())).id, task.id);
    assert.equal((await resolveTask(t, task.id.slice(0, 6))).id, task.id);
    await assert.rejects(resolveTask(t, task.id.slice(0, 3)), UsageError);
    await assert.rejects(resolveTask(t, "ffffffff-0000-4000-8000-000000000000"), NotFoundError);
    for (
      const id of ["abcd1111-0000-4000-8000-000000000000", "abcd2222-0000-4000-8000-000000000000"]
    ) {
      const now = new Date().toISOString();
      await t.redis.hset(t.keys.task(id), {
        id,
        description: `task ${id.slice(4, 8)}`,
        state: "pending",
        created_at: now,
        updated_at: now,
        tags: "[]",
      });
      await t.redis.zadd(t.keys.tasks, Date.now(), id);
    }
    await assert.rejects(
      resolveTask(t, "abcd"),
      (e: Error) =>
        e instanceof UsageError && /ambiguous: abcd1111 \(task 1111\), abcd2222/.test(e.message),
    );
    assert.equal((await resolveTask(t, "abcd2")).id, "abcd2222-0000-4000-8000-000000000000");
  });
});

Deno.test("completeTask: result, timestamps, counts once, clears current_task; twice is refused", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const task = await assignTask(t, w, { description: "x" });
    assert.deepEqual(await startTask(t, task.id, w.id), { moved: true, state: "running" });
    assert.equal((await getAgent(t, w.id))?.current_task, task.id);
    const done = await completeTask(t, task.id);
    assert.equal(done.state, "completed");
    assert.equal(done.result, "Completed");
    assert.ok(done.completed_at);
    assert.equal(done.updated_at, done.completed_at);
    const agent = await getAgent(t, w.id);
    assert.equal(agent?.tasks_completed, 1);
    assert.equal(agent?.current_task, undefined);
    const ev = (await recentEvents(t, { count: 1 }))[0];
    assert.equal(ev.type, "task_completed");
    assert.equal(ev.old_state, "running");
    assert.equal(ev.agent_id, w.id);

    const before = await snapshotTown(t);
    await assert.rejects(completeTask(t, task.id, { result: "again" }), ConflictError);
    await assert.rejects(failTask(t, task.id), /already completed/);
    await assert.rejects(cancelTask(t, task.id), ConflictError);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("racing completions: exactly one wins and tasks_completed is 1", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const task = await assignTask(t, w, { description: "x" });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => completeTask(t, task.id, { result: `r${i}` })),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    assert.equal((await getAgent(t, w.id))?.tasks_completed, 1);
  });
});

Deno.test("an agent cannot complete or fail another agent's task without force; humans can", async () => {
  await withTestTown(async (t) => {
    const a = await worker(t, "alice");
    const b = await worker(t, "bob");
    const task = await assignTask(t, a, { description: "x" });
    const before = await snapshotTown(t);
    await assert.rejects(
      completeTask(t, task.id, { by: b.id }),
      (e: Error) => e instanceof ConflictError && /assigned to alice.*--force/.test(e.message),
    );
    await assert.rejects(failTask(t, task.id, { by: b.id }), ConflictError);
    assert.deepEqual(await snapshotTown(t), before);
    const done = await completeTask(t, task.id, { by: b.id, force: true, result: "took over" });
    assert.equal(done.result, "took over");
    assert.equal((await getAgent(t, a.id))?.tasks_completed, 1);
    assert.equal((await getAgent(t, b.id))?.tasks_completed, 0);

    const own = await assignTask(t, b, { description: "y" });
    assert.equal((await completeTask(t, own.id, { by: b.id })).state, "completed");
    const human = await assignTask(t, a, { description: "z" });
    assert.equal((await completeTask(t, human.id)).state, "completed");
    const conductor = await assignTask(t, a, { description: "w" });
    assert.equal((await completeTask(t, conductor.id, { by: SUPERVISOR_ID })).state, "completed");
  });
});

Deno.test("endTaskBriefly ends a task as completeTask does, answering only its state and check", async () => {
  await withTestTown(async (t) => {
    const a = await worker(t, "alice");
    const b = await worker(t, "bob");
    // The same end as completeTask's: hash, counts, events (the other fields read back equal).
    const one = await assignTask(t, a, { description: "x" });
    const two = await assignTask(t, a, { description: "x" });
    assert.deepEqual(await endTaskBriefly(t, one.id, "completed", { by: a.id, result: "r" }), {
      id: one.id,
      state: "completed",
    });
    const full = await completeTask(t, two.id, { by: a.id, result: "r" });
    const strip = (x: Record<string, unknown>) => {
      const { id: _i, created_at: _c, updated_at: _u, completed_at: _d, ...rest } = x;
      return rest;
    };
    assert.deepEqual(strip((await getTask(t, one.id))!), strip(full));
    assert.equal((await getAgent(t, a.id))?.tasks_completed, 2);
    // A report with a check to run: held, the state it stays in and the check come back.
    const checked = await assignTask(t, a, { description: "y", verify: "deno task test" });
    assert.deepEqual(await endTaskBriefly(t, checked.id, "completed", { by: a.id }), {
      id: checked.id,
      state: "assigned",
      verify: "deno task test",
    });
    assert.equal((await getTask(t, checked.id))?.claimed_result, "Completed");
    // The same refusals, nothing written: another's task, an ended one, a missing one.
    const before = await snapshotTown(t);
    await assert.rejects(
      endTaskBriefly(t, checked.id, "failed", { by: b.id }),
      /assigned to alice.*--force/,
    );
    await assert.rejects(endTaskBriefly(t, one.id, "completed", { by: a.id }), /already completed/);
    await assert.rejects(
      endTaskBriefly(t, crypto.randomUUID(), "cancelled"),
      (e: Error) => e instanceof NotFoundError,
    );
    assert.deepEqual(await snapshotTown(t), before);
    assert.deepEqual(await endTaskBriefly(t, checked.id, "cancelled"), {
      id: checked.id,
      state: "cancelled",
      verify: "deno task test",
    });
  });
});

Deno.test("fail and cancel end a task with a reason, don't count it, and leave the backlog", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const a = await assignTask(t, w, { description: "a" });
    const failed = await failTask(t, a.id);
    assert.equal(failed.state, "failed");
    assert.equal(failed.result, "Failed");
    const f2 = await assignTask(t, w, { description: "b" });
    assert.equal((await failTask(t, f2.id, { result: "tests red" })).result, "tests red");
    assert.equal((await recentEvents(t, { count: 1 }))[0].type, "task_failed");
    assert.equal((await getAgent(t, w.id))?.tasks_completed, 0);

    const queued = await createTask(t, { description: "c" }, { kind: "backlog" });
    const other = await worker(t, "other");
    const cancelled = await cancelTask(t, queued.id, { result: "not needed", by: other.id });
    assert.equal(cancelled.state, "cancelled");
    assert.equal(cancelled.result, "not needed");
    assert.deepEqual(await t.redis.lrange(t.keys.backlog, 0, -1), []);
    const ev = (await recentEvents(t, { count: 1 }))[0];
    assert.equal(ev.type, "task_cancelled");
    assert.equal(ev.reason, "not needed");
    await assert.rejects(completeTask(t, "ffffffff-0000-4000-8000-000000000000"), NotFoundError);
  });
});

Deno.test("startTask only moves a task assigned to that agent", async () => {
  await withTestTown(async (t) => {
    const a = await worker(t, "a");
    const b = await worker(t, "b");
    const task = await assignTask(t, a, { description: "x" });
    const before = await snapshotTown(t);
    assert.deepEqual(await startTask(t, task.id, b.id), { moved: false, state: "assigned" });
    assert.deepEqual(await startTask(t, "ffffffff-0000-4000-8000-000000000000", a.id), {
      moved: false,
      state: undefined,
    });
    assert.deepEqual(await snapshotTown(t), before);
    assert.equal((await startTask(t, task.id, a.id)).moved, true);
    const running = await getTask(t, task.id);
    assert.equal(running?.state, "running");
    assert.ok(running?.started_at);
    assert.equal((await startTask(t, task.id, a.id)).moved, false);
    assert.equal((await recentEvents(t, { count: 1 }))[0].type, "task_started");
  });
});

Deno.test("returnTaskToAssigned puts a running task back with the same assignee", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const task = await assignTask(t, w, { description: "x" });
    assert.equal((await returnTaskToAssigned(t, task.id, "nothing to return")).moved, false);
    await startTask(t, task.id, w.id);
    assert.deepEqual(await returnTaskToAssigned(t, task.id, "CLI exited 1"), {
      moved: true,
      state: "assigned",
    });
    const back = await getTask(t, task.id);
    assert.equal(back?.state, "assigned");
    assert.equal(back?.assigned_to, w.id);
    assert.equal(back?.started_at, undefined);
    const ev = (await recentEvents(t, { count: 1 }))[0];
    assert.equal(ev.type, "task_requeued");
    assert.equal(ev.reason, "CLI exited 1");
    assert.equal(ev.agent_id, w.id);
  });
});

Deno.test("requeueTaskToBacklog unassigns, appends to the backlog once, and skips ended tasks", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    const task = await assignTask(t, w, { description: "x" });
    await startTask(t, task.id, w.id);
    assert.deepEqual(await requeueTaskToBacklog(t, task.id, "agent died"), {
      moved: true,
      state: "pending",
    });
    const back = await getTask(t, task.id);
    assert.equal(back?.state, "pending");
    assert.equal(back?.assigned_to, undefined);
    assert.equal(back?.started_at, undefined);
    assert.equal((await getAgent(t, w.id))?.current_task, undefined);
    await requeueTaskToBacklog(t, task.id, "again");
    assert.deepEqual(await t.redis.lrange(t.keys.backlog, 0, -1), [task.id]);
    assert.equal((await recentEvents(t, { count: 1 }))[0].reason, "again");

    const done = await assignTask(t, w, { description: "y" });
    await completeTask(t, done.id);
    const before = await snapshotTown(t);
    assert.deepEqual(await requeueTaskToBacklog(t, done.id, "no"), {
      moved: false,
      state: "completed",
    });
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("currentTask: explicit current_task, else the only open task, else none", async () => {
  await withTestTown(async (t) => {
    const w = await worker(t);
    assert.equal((await currentTask(t, w.id)).task, undefined);
    const one = await assignTask(t, w, { description: "one" });
    assert.equal((await currentTask(t, w.id)).task?.id, one.id);
    const two = await assignTask(t, w, { description: "two" });
    const both = await currentTask(t, w.id);
    assert.equal(both.task, undefined);
    assert.equal(both.open.length, 2);
    await startTask(t, two.id, w.id);
    assert.equal((await currentTask(t, w.id)).task?.id, two.id);
    await completeTask(t, two.id);
    assert.equal((await currentTask(t, w.id)).task?.id, one.id);
  });
});
