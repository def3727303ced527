// createTask builds its Task typed instead of parsing it with the Task schema: each rule that
// parse enforced on the caller's input is checked here, and every task it returns must be what
// the schema reads back from the hash it wrote.
import { lexScore } from "../../src/core/task_index.ts";
import assert from "node:assert/strict";
import { createAgent, toRecipient } from "../../src/core/agents.ts";
import { assignTask, createTask, getTask, type NewTask } from "../../src/core/tasks.ts";
import { addToBacklog } from "../../src/core/backlog.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { UsageError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";
import type { TownContext } from "../../src/core/town.ts";

const TRICKY = `fix "auth" & $(rm -rf /); \`id\` 'x' | > /dev/null\n\ttabs — 日本語 🚀 \\n %s`;

/** Input a JavaScript caller (library, plugin) may pass whatever the types say. */
// deno-lint-ignore no-explicit-any
const loose = (x: Record<string, unknown>) => x as any as NewTask;

/** The returned task is exactly what a read of its hash gives (the schema's view of it). */
async function readBack(t: TownContext, task: Awaited<ReturnType<typeof createTask>>) {
  assert.deepEqual(task, await getTask(t, task.id));
  return task;
}

Deno.test("createTask returns what getTask reads back, for every placement and option", async () => {
  await withTestTown(async (t) => {
    const w = toRecipient(await createAgent(t, { name: "w", cli: "claude" }));
    const parent = await readBack(t, await assignTask(t, w, { description: TRICKY }));
    await readBack(
      t,
      await assignTask(t, w, {
        description: "with all",
        tags: ["a", "b"],
        from: w.id,
        planId: "p1",
        parentId: parent.id,
        verify: "deno task test",
      }),
    );
    await readBack(t, await addToBacklog(t, { description: "queued", tags: ["ops"] }));
    const done = await readBack(
      t,
      await createTask(t, { description: "old", state: "completed", result: "" }, {
        kind: "none",
      }),
    );
    assert.equal(done.result, "");
  });
});

Deno.test("createTask: a state that is not a terminal one is pending, without completed_at", async () => {
  await withTestTown(async (t) => {
    for (const state of ["bogus", "running"]) {
      const task = await readBack(
        t,
        await createTask(t, loose({ description: "x", state }), { kind: "none" }),
      );
      assert.equal(task.state, "pending");
      assert.equal(task.completed_at, undefined);
      assert.equal(await t.redis.hget(t.keys.task(task.id), "state"), "pending");
      assert.equal(await t.redis.hexists(t.keys.task(task.id), "completed_at"), 0);
    }
    const failed = await createTask(t, { description: "y", state: "failed", result: "no" }, {
      kind: "none",
    });
    assert.equal(failed.state, "failed");
    assert.equal(failed.completed_at, failed.created_at);
    assert.equal(await t.redis.hget(t.keys.task(failed.id), "result"), "no");
  });
});

Deno.test("createTask: empty optional text (from, plan id, parent id) is left out, not stored empty", async () => {
  await withTestTown(async (t) => {
    const task = await readBack(
      t,
      await createTask(t, { description: "x", from: "", planId: "", parentId: "" }, {
        kind: "backlog",
      }),
    );
    assert.equal(task.created_by, undefined);
    assert.equal(task.plan_id, undefined);
    assert.equal(task.parent_id, undefined);
    const h = await t.redis.hgetall(t.keys.task(task.id));
    for (const f of ["created_by", "plan_id", "parent_id"]) assert.equal(h[f], undefined, f);
    assert.equal(await t.redis.exists(t.keys.plan), 0);
    // Absent, the sender is the supervisor.
    const def = await createTask(t, { description: "y" }, { kind: "backlog" });
    assert.equal(def.created_by, SUPERVISOR_ID);
  });
});

Deno.test("createTask: tags that are not a list of text are stored as none; the list is copied", async () => {
  await withTestTown(async (t) => {
    for (const tags of ["api", ["api", 7], { 0: "api" }, null]) {
      const task = await readBack(
        t,
        await createTask(t, loose({ description: "x", tags }), { kind: "backlog" }),
      );
      assert.deepEqual(task.tags, [], JSON.stringify(tags));
      assert.equal(await t.redis.hget(t.keys.task(task.id), "tags"), "[]");
    }
    const tags = ["api"];
    const task = await createTask(t, { description: "x", tags }, { kind: "backlog" });
    tags.push("later");
    assert.deepEqual(task.tags, ["api"]);
  });
});

Deno.test("createTask: counters start at 0 in the hash; unknown input fields are not stored", async () => {
  await withTestTown(async (t) => {
    const task = await createTask(t, loose({ description: "x", bogus: "1", state_x: "2" }), {
      kind: "backlog",
    });
    assert.equal(task.attempts, 0);
    assert.equal(task.verify_failures, 0);
    const h = await t.redis.hgetall(t.keys.task(task.id));
    assert.equal(h.attempts, "0");
    assert.equal(h.verify_failures, "0");
    assert.deepEqual(
      Object.keys(h).sort(),
      [
        "attempts",
        "created_at",
        "created_by",
        "description",
        "id",
        "score",
        "state",
        "tags",
        "updated_at",
        "verify_failures",
      ],
    );
    // The index's copy of the creation score (task_index.ts), padded, equal to the tasks index's.
    assert.match(h.score, /^\d{13}\.\d{3}$/);
    assert.equal(Number(h.score), Number(await t.redis.zscore(t.keys.tasks, task.id)));
    assert.equal(h.score, lexScore(h.score));
  });
});

Deno.test("createTask refuses non-text description, check or result, and writes nothing", async () => {
  await withTestTown(async (t) => {
    const w = toRecipient(await createAgent(t, { name: "w", cli: "claude" }));
    const before = await snapshotTown(t);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ description: 42 }, /description must be text/],
      [{ description: ["a"] }, /description must be text/],
      [{ description: "x", verify: 1 }, /--verify needs a command as text/],
      [{ description: "x", verify: "  " }, /--verify needs a command/],
      [{ description: "x", result: 3 }, /result must be text/],
      [{ description: "x", result: { a: 1 } }, /result must be text/],
    ];
    for (const [input, msg] of bad) {
      await assert.rejects(assignTask(t, w, loose(input)), (e: Error) => {
        assert.ok(e instanceof UsageError, `${JSON.stringify(input)}: ${e}`);
        assert.match(e.message, msg);
        return true;
      });
    }
    assert.deepEqual(await snapshotTown(t), before);
  });
});
