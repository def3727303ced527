/** Completion of tasks that carry a check (`verify`): held reports, refusals, and the pass. */
import assert from "node:assert/strict";
import { createAgent, getAgent, toRecipient } from "../../src/core/agents.ts";
import {
  assignTask,
  completeTask,
  getTask,
  returnTaskToAssigned,
  startTask,
} from "../../src/core/tasks.ts";
import { ConflictError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

Deno.test("a task with a check: an agent's report is held, a human must verify, a pass completes once", async () => {
  await withTestTown(async (t) => {
    const w = await createAgent(t, { name: "w1", cli: "claude" });
    const task = await assignTask(t, toRecipient(w), {
      description: "x",
      verify: "deno task test",
    });
    assert.equal(task.verify, "deno task test");
    await startTask(t, task.id, w.id);

    const held = await completeTask(t, task.id, { by: w.id, result: "all green" });
    assert.equal(held.state, "running");
    assert.equal(held.claimed_result, "all green");
    assert.equal((await getAgent(t, w.id))?.tasks_completed, 0);

    const before = await snapshotTown(t);
    await assert.rejects(
      completeTask(t, task.id, {}),
      (e) =>
        e instanceof ConflictError &&
        /must pass its check first \(deno task test\)/.test(e.message),
    );
    assert.deepEqual(await snapshotTown(t), before);

    // A round that is cut off drops the held report: the next round must report again.
    await returnTaskToAssigned(t, task.id, "round killed");
    assert.equal((await getTask(t, task.id))?.claimed_result, undefined);

    const done = await completeTask(t, task.id, { by: w.id, verified: true, result: "green" });
    assert.equal(done.state, "completed");
    assert.equal(done.claimed_result, undefined);
    assert.equal((await getAgent(t, w.id))?.tasks_completed, 1);
    await assert.rejects(completeTask(t, task.id, { by: w.id, verified: true }), ConflictError);
    assert.equal((await getAgent(t, w.id))?.tasks_completed, 1);
  });
});

Deno.test("tasks without a check complete at once, whoever reports", async () => {
  await withTestTown(async (t) => {
    const w = await createAgent(t, { name: "w1", cli: "claude" });
    const task = await assignTask(t, toRecipient(w), { description: "x" });
    assert.equal((await completeTask(t, task.id, { by: w.id })).state, "completed");
  });
});
