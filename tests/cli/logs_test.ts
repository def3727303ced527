/**
 * Black-box tests of `tt logs` and of what a crashing agent CLI leaves behind, against the real
 * `tt` and its supervisor running the fake agent CLI (tests/fixtures/fake-agent.sh).
 */
import assert from "node:assert/strict";
import { AgentTown, BackgroundTt, fakeCli, waitForEvent, waitUntil } from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";

type TaskJson = { id: string; state: string };

const logPath = (at: AgentTown, agent: string, round: number) =>
  `${at.sb.dir}/.tt/logs/${agent}_round_${round}.log`;

const readLog = (at: AgentTown, agent: string, round: number) =>
  Deno.readTextFile(logPath(at, agent, round)).catch(() => "");

/** One line of stderr, starting with "tt: ". */
function oneLineError(stderr: string, re: RegExp) {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  assert.match(lines[0], /^tt: /);
  assert.match(lines[0], re);
}

Deno.test("round logs hold the CLI's whole output (2000 lines, in order); logs prints it; --round picks a round", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("noisy")]);
    const first = await at.sb.json<TaskJson>(["assign", "w1", "first noisy task"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const second = await at.sb.json<TaskJson>(["assign", "w1", "second noisy task"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal((await getTask(at.t, second.id))?.state, "completed");

    for (const [round, task, other] of [[1, first, second], [2, second, first]] as const) {
      const text = await readLog(at, "w1", round);
      const lines = text.split("\n");
      for (let i = 0; i < 2000; i++) assert.equal(lines[i], `line ${i} of noisy output`);
      // After the output, the CLI's own `tt task complete` report of this round's task only.
      assert.match(lines.slice(2000).join("\n"), new RegExp(task.id.slice(0, 8)));
      assert.doesNotMatch(text, new RegExp(other.id.slice(0, 8)));
    }
    const latest = await at.sb.ok(["logs", "w1"]);
    assert.equal(latest.stdout, await readLog(at, "w1", 2));
    const one = await at.sb.ok(["logs", "w1", "--round", "1"]);
    assert.equal(one.stdout, await readLog(at, "w1", 1));
    assert.notEqual(one.stdout, latest.stdout);
    // -f on a round that has ended prints it and returns.
    const ended = await new BackgroundTt(at.sb, ["logs", "w1", "--round", "1", "-f"]).finished();
    assert.equal(ended.code, 0, ended.stderr);
    assert.equal(ended.stdout, one.stdout);
  } finally {
    await at.cleanup();
  }
});

Deno.test("logs -f follows a running round and exits by itself when the round ends", async () => {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  let follow: BackgroundTt | undefined;
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("gate", state)]);
    const task = await at.sb.json<TaskJson>(["assign", "w1", "wait for the gate"]);
    await waitUntil(async () => (await readLog(at, "w1", 1)).includes("before gate"));
    follow = new BackgroundTt(at.sb, ["logs", "w1", "-f"]);
    await waitUntil(() => follow!.stdout.includes("before gate"));
    assert.equal(follow.exited, false, "the round is still running");
    await Deno.writeTextFile(`${state}/open`, "");
    const r = await follow.finished();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, await readLog(at, "w1", 1), "everything the round wrote, once");
    assert.match(r.stdout, /after gate/);
    assert.equal((await getTask(at.t, task.id))?.state, "completed");
  } finally {
    await follow?.kill();
    await Deno.writeTextFile(`${state}/open`, "").catch(() => {});
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("logs -f stops on SIGTERM while the round keeps running", async () => {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  let follow: BackgroundTt | undefined;
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("gate", state)]);
    await at.sb.json<TaskJson>(["assign", "w1", "wait for the gate"]);
    await waitUntil(async () => (await readLog(at, "w1", 1)).includes("before gate"));
    follow = new BackgroundTt(at.sb, ["logs", "w1", "--follow"]);
    await waitUntil(() => follow!.stdout.includes("before gate"));
    follow.child.kill("SIGTERM");
    const r = await follow.finished();
    assert.equal(r.signal, null, "it handles SIGTERM instead of dying of it");
    assert.equal(r.code, 0, r.stderr);
    const agent = await resolveAgent(at.t, "w1");
    assert.equal(agent.state, "working", "the round is not affected");
    assert.ok(agent.round_pgid);
  } finally {
    await follow?.kill();
    await Deno.writeTextFile(`${state}/open`, "").catch(() => {});
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("logs: unknown agent, agent without logs, unknown round → one line, exit 1; --round 0 is a usage error", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    const none = await at.sb.tt(["logs", "w1"]);
    assert.equal(none.code, 1);
    oneLineError(none.stderr, /w1 has no round logs yet/);
    assert.equal(none.stdout, "");

    await at.sb.json<TaskJson>(["assign", "w1", "one round"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const nobody = await at.sb.tt(["logs", "nobody"]);
    assert.equal(nobody.code, 1);
    oneLineError(nobody.stderr, /nobody/);
    const round = await at.sb.tt(["logs", "w1", "--round", "7"]);
    assert.equal(round.code, 1);
    oneLineError(round.stderr, /no log for round 7 \(rounds: 1\)/);
    const zero = await at.sb.tt(["logs", "w1", "--round", "0"]);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--round must be a positive integer/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("a CLI that SIGKILLs itself: task back to assigned, the reason in history; a kill then releases it to the backlog", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("crash")]);
    const task = await at.sb.json<TaskJson>(["assign", "w1", "crash on me"]);
    const failed = await waitForEvent(at.t, (e) => e.type === "round_failed");
    assert.match(failed.reason ?? "", /SIGKILL|exit code 137/);
    // Stop the retries (each crashes again) so the queue can be inspected at rest.
    await at.sb.ok(["kill", "w1"]);
    const agent = await resolveAgent(at.t, "w1");
    assert.equal(agent.state, "stopped");
    assert.equal(agent.round_pgid, undefined);
    // A stopped agent strands nothing ([agent] on_stop): the task is pending in the backlog.
    assert.equal((await getTask(at.t, task.id))?.state, "pending");
    assert.equal(await at.t.redis.llen(at.t.keys.processing(agent.id)), 0);
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), [task.id]);
    const history = await at.sb.ok(["history", "-n", "200"]);
    assert.match(history.stdout, /round 1 failed: (killed by SIGKILL|exit code 137)/);
    assert.match(history.stdout, /back to assigned: round 1 failed/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("a CLI that crashes once: the agent is not stuck, the next round completes the task", async () => {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("crashonce", state)]);
    const task = await at.sb.json<TaskJson>(["assign", "w1", "crash then succeed"]);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const done = await getTask(at.t, task.id);
    assert.equal(done?.state, "completed");
    assert.equal(done?.result, "after a crash");
    const agent = await resolveAgent(at.t, "w1");
    assert.equal(agent.state, "idle");
    assert.equal(agent.rounds_completed, 2);
    assert.equal(agent.tasks_completed, 1);
    const failed = await waitForEvent(at.t, (e) => e.type === "round_failed");
    assert.match(failed.message, /round 1 failed/);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});
