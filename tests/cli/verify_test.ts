/** `tt assign --verify`: a task is done only when its check passes. */
import assert from "node:assert/strict";
import { AgentTown, FAKE_AGENT, waitForEvent } from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { recentEvents } from "../../src/core/events.ts";

type TaskJson = { id: string; state: string; verify?: string };

/** The fake agent that completes its tasks, keeping a copy of every prompt it was given. */
function recordingAgent(at: AgentTown): { cli: string; prompts: string } {
  const prompts = `${at.sb.dir}/prompts.log`;
  return { cli: `tee -a '${prompts}' | sh '${FAKE_AGENT}' complete`, prompts };
}

const ended = (id: string) => (e: { type: string; task_id?: string }) =>
  e.task_id === id && ["task_completed", "task_failed"].includes(e.type);

Deno.test("--verify: a failed check sends the task back with its output; a pass completes it once", async () => {
  const at = await AgentTown.create();
  try {
    const agent = recordingAgent(at);
    await at.sb.ok(["spawn", "w1", "--cli", agent.cli]);
    // Fails the first time (and leaves a marker), passes the second time.
    const check = "test -e checked || { echo 'tests: 1 failing (login)'; touch checked; exit 1; }";
    const task = await at.sb.json<TaskJson>([
      "assign",
      "w1",
      "make the tests pass",
      "--verify",
      check,
    ]);
    assert.equal(task.verify, check);
    const end = await waitForEvent(at.t, ended(task.id));
    assert.equal(end.type, "task_completed");

    const done = (await getTask(at.t, task.id))!;
    assert.equal(done.state, "completed");
    assert.equal(done.result, "done by w1");
    assert.equal(done.verify_failures, 1);
    assert.equal(done.claimed_result, undefined);
    assert.equal((await resolveAgent(at.t, "w1")).tasks_completed, 1);

    const events = (await recentEvents(at.t, { count: 1000 })).filter((e) => e.task_id === task.id);
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === "task_completed").length, 1);
    assert.equal(types.filter((t) => t === "task_reported").length, 2);
    const back = events.find((e) => e.type === "task_requeued");
    assert.match(back?.reason ?? "", /check failed \(exit code 1\): test -e checked/);

    // The second prompt told the agent why its report was sent back.
    const prompts = await Deno.readTextFile(agent.prompts);
    assert.equal(prompts.split("# Agent: w1").length - 1, 2);
    const second = prompts.slice(prompts.lastIndexOf("# Agent: w1"));
    assert.match(second, /Your last report was sent back: the check failed \(1 time/);
    assert.match(second, /tests: 1 failing \(login\)/);
    assert.match(prompts, /Done means this check passes in your working directory/);
    // The check's output is in the round's log, after the agent's.
    const log = await at.sb.ok(["logs", "w1", "--round", "1"]);
    assert.match(log.stdout, /== tt: verifying with: test -e checked[\s\S]*tests: 1 failing/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("--verify: a check that keeps failing fails the task after 3 reports, with the output", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", recordingAgent(at).cli]);
    const task = await at.sb.json<TaskJson>([
      "assign",
      "w1",
      "impossible",
      "--verify",
      "echo 'still red'; exit 3",
    ]);
    const end = await waitForEvent(at.t, ended(task.id));
    assert.equal(end.type, "task_failed");
    const failed = (await getTask(at.t, task.id))!;
    assert.equal(failed.verify_failures, 3);
    assert.match(failed.result ?? "", /check failed \(exit code 3\).*3 times.*\n[\s\S]*still red/);
    assert.equal((await resolveAgent(at.t, "w1")).tasks_completed, 0);
    const reports = (await recentEvents(at.t, { count: 1000 }))
      .filter((e) => e.task_id === task.id && e.type === "task_reported");
    assert.equal(reports.length, 3);
  } finally {
    await at.cleanup();
  }
});

Deno.test("--verify: a human's completion runs the check first; failure changes nothing", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "sleep 600", "--rounds", "1"]);
    await at.sb.ok(["interrupt", "w1"]); // never starts the round: the human does the work
    const task = await at.sb.json<TaskJson>([
      "assign",
      "w1",
      "ship it",
      "--verify",
      "echo 'lint: 2 problems' >&2; test -e ready",
    ]);
    const refused = await at.sb.tt(["task", "complete", task.id.slice(0, 8)]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /lint: 2 problems/);
    const last = refused.stderr.trim().split("\n").at(-1)!;
    assert.match(last, /not completed: its check failed \(exit code 1\).*--no-verify/);
    assert.equal((await getTask(at.t, task.id))?.state, "assigned");

    await Deno.writeTextFile(`${at.sb.dir}/ready`, "");
    await at.sb.ok(["task", "complete", task.id, "--result", "checked by hand"]);
    const done = (await getTask(at.t, task.id))!;
    assert.equal(done.state, "completed");
    assert.equal(done.result, "checked by hand");
    assert.equal((await resolveAgent(at.t, "w1")).tasks_completed, 1);

    const skip = await at.sb.json<TaskJson>(["assign", "w1", "trust me", "--verify", "false"]);
    await at.sb.ok(["task", "complete", skip.id, "--no-verify"]);
    assert.equal((await getTask(at.t, skip.id))?.state, "completed");
  } finally {
    await at.cleanup();
  }
});

Deno.test("--verify: agents cannot skip the check; bad values are usage errors that create nothing", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "sleep 600"]);
    await at.sb.ok(["interrupt", "w1"]);
    const w1 = await resolveAgent(at.t, "w1");
    const task = await at.sb.json<TaskJson>(["assign", "w1", "x", "--verify", "true"]);
    const asAgent = { env: { TINYTOWN_AGENT_ID: w1.id } };
    const skip = await at.sb.tt(["task", "complete", task.id, "--no-verify"], asAgent);
    assert.equal(skip.code, 2);
    assert.match(skip.stderr, /--no-verify is for humans/);

    // An agent's report outside a round is held, not completed.
    const held = await at.sb.tt(["task", "complete", task.id, "--result", "mine"], asAgent);
    assert.equal(held.code, 0, held.stderr);
    assert.match(held.stdout, /reported: tt checks `true` after this round/);
    const t = (await getTask(at.t, task.id))!;
    assert.equal(t.state, "assigned");
    assert.equal(t.claimed_result, "mine");

    const before = (await at.sb.json<unknown[]>(["task", "list"])).length;
    const empty = await at.sb.tt(["assign", "w1", "y", "--verify", "  "]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /--verify needs a command/);
    assert.equal((await at.sb.json<unknown[]>(["task", "list"])).length, before);
  } finally {
    await at.cleanup();
  }
});
