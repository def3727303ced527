import assert from "node:assert/strict";
import { AgentTown, alive, fakeCli, waitForEvent, waitUntil } from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask, listTasks } from "../../src/core/tasks.ts";
import { supervisorInfo, thisHost } from "../../src/core/control.ts";
import { snapshotTown } from "../helpers.ts";

type TaskJson = { id: string; state: string; result?: string; assigned_to?: string };

/** Waits until the agent's round CLI has been started; returns its process group id. */
async function runningRound(at: AgentTown, name: string): Promise<number> {
  let pgid: number | undefined;
  await waitUntil(async () => !!(pgid = (await resolveAgent(at.t, name)).round_pgid));
  return pgid!;
}

async function assign(at: AgentTown, agent: string, desc: string): Promise<TaskJson> {
  return await at.sb.json<TaskJson>(["assign", agent, desc]);
}

Deno.test("spawn → assign → the agent completes the task exactly once; wait returns when idle", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    const task = await assign(at, "w1", "write hello; echo $HOME `id` 'quoted' ünïcode");
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const done = await getTask(at.t, task.id);
    assert.equal(done?.state, "completed");
    assert.equal(done?.result, "done by w1");
    const agent = await resolveAgent(at.t, "w1");
    assert.equal(agent.tasks_completed, 1);
    assert.equal(agent.rounds_completed, 1);
    assert.equal(agent.state, "idle");
    await Deno.stat(`${at.sb.dir}/.tt/logs/w1_round_1.log`);
    const logs = await at.sb.ok(["logs", "w1"]);
    assert.equal(logs.code, 0);
    const completions =
      (await at.sb.json<{ type: string; task_id?: string }[]>(["events", "--count", "500"]))
        .filter((e) => e.type === "task_completed" && e.task_id === task.id);
    assert.equal(completions.length, 1);
  } finally {
    await at.cleanup();
  }
});

Deno.test("a failing CLI puts the message back in the inbox; a kill then moves the task to the backlog", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("fail")]);
    const task = await assign(at, "w1", "doomed");
    await waitForEvent(at.t, (e) => e.type === "round_failed");
    await at.sb.ok(["kill", "w1"]);
    // A stopped agent strands nothing: its work goes back to the backlog ([agent] on_stop).
    const t = await getTask(at.t, task.id);
    assert.equal(t?.state, "pending");
    assert.equal(t?.assigned_to, undefined);
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), [task.id]);
    const inbox = await at.sb.json<{ inbox: { task_id?: string }[] }>(["inbox", "w1"]);
    assert.deepEqual(inbox.inbox, []);
    await waitForEvent(at.t, (e) => e.type === "work_released");
    const failed = await waitForEvent(at.t, (e) => e.type === "round_failed");
    assert.match(failed.reason ?? "", /exit code 1/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("kill stops a hanging round (SIGTERM to its group) and requeues its work", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
    const task = await assign(at, "w1", "hang forever");
    const pgid = await runningRound(at, "w1");
    assert.ok(await alive(pgid));
    await at.sb.ok(["kill", "w1"]);
    assert.equal(await alive(pgid!), false);
    const agent = await resolveAgent(at.t, "w1");
    assert.equal(agent.state, "stopped");
    assert.equal((await getTask(at.t, task.id))?.state, "pending", "back in the backlog");
    assert.equal(await at.t.redis.llen(at.t.keys.processing(agent.id)), 0);
    assert.equal(await at.t.redis.llen(at.t.keys.inbox(agent.id)), 0);
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), [task.id]);
  } finally {
    await at.cleanup();
  }
});

Deno.test("a CLI that ignores SIGTERM is SIGKILLed after the grace period", async () => {
  const at = await AgentTown.create("kill_grace_secs = 1");
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("stubborn")]);
    await assign(at, "w1", "ignore signals");
    const pgid = await runningRound(at, "w1");
    await at.sb.ok(["kill", "w1"]);
    assert.equal(await alive(pgid), false);
    assert.equal((await resolveAgent(at.t, "w1")).state, "stopped");
  } finally {
    await at.cleanup();
  }
});

Deno.test("a round that outlives round_timeout_secs is killed and its work requeued", async () => {
  const at = await AgentTown.create("round_timeout_secs = 1\nkill_grace_secs = 1");
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
    const task = await assign(at, "w1", "too slow");
    const ev = await waitForEvent(at.t, (e) => e.type === "round_failed");
    assert.match(ev.reason ?? "", /timed out after 1 s/);
    await at.sb.ok(["kill", "w1"]);
    assert.equal((await getTask(at.t, task.id))?.state, "pending", "back in the backlog");
  } finally {
    await at.cleanup();
  }
});

Deno.test("interrupt pauses, resume only from paused, close drains then stops", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const bad = await at.sb.tt(["resume", "w1"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cannot resume w1: it is idle; expected paused/);
    await at.sb.ok(["interrupt", "w1"]);
    assert.equal((await resolveAgent(at.t, "w1")).state, "paused");
    const task = await assign(at, "w1", "while paused");
    // Paused: the message waits in the inbox.
    assert.equal((await getTask(at.t, task.id))?.state, "assigned");
    await at.sb.ok(["resume", "w1"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal((await getTask(at.t, task.id))?.state, "completed");
    await at.sb.ok(["close", "w1"]);
    await at.sb.ok(["wait", "w1", "--until", "stopped", "--timeout", "60"]);
    assert.equal((await resolveAgent(at.t, "w1")).state, "stopped");
    const history = await at.sb.ok(["history", "-n", "200"]);
    assert.match(history.stdout, /interrupted/);
    assert.match(history.stdout, /resumed/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("wait --timeout exits 1 when the condition is not reached", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
    await assign(at, "w1", "never ends");
    const r = await at.sb.tt(["wait", "w1", "--timeout", "1"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /timed out/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("supervisor SIGKILLed mid-round: the next tt command restarts it and the task completes once", async () => {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hangonce", state)]);
    const task = await assign(at, "w1", "survive a crash");
    // The fake CLI marks the task before it hangs: from then on the round is really running.
    await waitUntil(() => Deno.stat(`${state}/${task.id}`).then(() => true, () => false));
    const sup = (await supervisorInfo(at.t))!;
    const pgid = (await resolveAgent(at.t, "w1")).round_pgid!;
    Deno.kill(sup.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(sup.pid)));
    await at.t.redis.del(at.t.keys.supervisor(sup.host)); // its heartbeat would expire in ≤10 s
    await at.sb.ok(["start"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal(await alive(pgid), false, "the orphaned round was killed on adoption");
    const done = await getTask(at.t, task.id);
    assert.equal(done?.state, "completed");
    assert.equal(done?.result, "after restart");
    assert.equal((await resolveAgent(at.t, "w1")).tasks_completed, 1);
    const ev = await waitForEvent(at.t, (e) => e.type === "round_interrupted");
    assert.match(ev.reason ?? "", /supervisor restarted/);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("20 tasks through 5 agents: all completed, none twice", async () => {
  const at = await AgentTown.create();
  try {
    for (let i = 1; i <= 5; i++) await at.sb.ok(["spawn", `w${i}`, "--cli", fakeCli("complete")]);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await assign(at, `w${(i % 5) + 1}`, `task ${i}`)).id);
    await at.sb.ok(["wait", "--timeout", "120"]);
    const tasks = await listTasks(at.t);
    assert.equal(tasks.filter((t) => ids.includes(t.id) && t.state === "completed").length, 20);
    const completions =
      (await at.sb.json<{ type: string; task_id?: string }[]>(["events", "--count", "2000"]))
        .filter((e) => e.type === "task_completed");
    assert.equal(completions.length, 20);
    assert.equal(new Set(completions.map((e) => e.task_id)).size, 20);
    let total = 0;
    for (let i = 1; i <= 5; i++) total += (await resolveAgent(at.t, `w${i}`)).tasks_completed;
    assert.equal(total, 20);
  } finally {
    await at.cleanup();
  }
});

Deno.test("idle agents claim matching backlog work by themselves", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "api1", "--role", "backend", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "api1", "--timeout", "60"]);
    const fe = await at.sb.json<TaskJson>([
      "backlog",
      "add",
      "style the page",
      "--tags",
      "frontend",
    ]);
    const be = await at.sb.json<TaskJson>(["backlog", "add", "add the endpoint", "--tags", "api"]);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === be.id);
    assert.equal((await getTask(at.t, fe.id))?.state, "pending");
  } finally {
    await at.cleanup();
  }
});

Deno.test("idle timeout stops an idle agent", async () => {
  const at = await AgentTown.create("idle_timeout_secs = 1");
  try {
    await at.sb.ok(["spawn", "sleepy", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "sleepy", "--until", "stopped", "--timeout", "60"]);
    const ev = await waitForEvent(at.t, (e) => e.type === "agent_stopped");
    assert.match(ev.message ?? "", /closed/);
    assert.ok(await waitForEvent(at.t, (e) => /idle for 1 s/.test(e.message ?? "")));
  } finally {
    await at.cleanup();
  }
});

// Without an idle timeout here: on a slow machine it could stop the agent before its task arrives.
Deno.test("max rounds stop an agent after its last round", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "short", "--rounds", "1", "--cli", fakeCli("forget")]);
    await assign(at, "short", "one");
    await at.sb.ok(["wait", "short", "--until", "stopped", "--timeout", "60"]);
    const ev = await waitForEvent(at.t, (e) => e.type === "agent_stopped");
    assert.match(ev.message ?? "", /reached its 1 rounds/);
    assert.equal((await resolveAgent(at.t, "short")).rounds_completed, 1);
  } finally {
    await at.cleanup();
  }
});

Deno.test("spawn refuses an active name and an unknown parent, changing nothing", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    const before = await snapshotTown(at.t);
    const dup = await at.sb.tt(["spawn", "w1"]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
    const orphan = await at.sb.tt(["spawn", "w2", "--parent", "nobody"]);
    assert.equal(orphan.code, 1);
    assert.match(orphan.stderr, /no agent 'nobody'/);
    const after = await snapshotTown(at.t);
    // The event stream and the supervisor's control queue (still consuming the first spawn) move on their own.
    for (const key of [at.t.keys.events, at.t.keys.control(thisHost())]) {
      delete before[key];
      delete after[key];
    }
    assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
  } finally {
    await at.cleanup();
  }
});

Deno.test("a CLI that is not installed puts the agent in error with the reason", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "definitely-not-a-cli-xyz"]);
    await assign(at, "w1", "anything");
    const ev = await waitForEvent(at.t, (e) => e.type === "agent_failed");
    assert.match(ev.message, /command not found/);
    assert.equal((await resolveAgent(at.t, "w1")).state, "error");
  } finally {
    await at.cleanup();
  }
});

Deno.test("recover stops agents whose supervisor is dead and requeues their round to the backlog", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
    const task = await assign(at, "w1", "stuck");
    await runningRound(at, "w1");
    const sup = (await supervisorInfo(at.t))!;
    Deno.kill(sup.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(sup.pid)));
    await at.t.redis.del(at.t.keys.supervisor(sup.host));
    const r = await at.sb.json<{ recovered: { name: string; why: string }[] }>(["recover"]);
    assert.deepEqual(r.recovered.map((x) => x.name), ["w1"]);
    assert.match(r.recovered[0].why, /supervisor .* is not running/);
    assert.equal((await resolveAgent(at.t, "w1")).state, "stopped");
    // Its round's task is not stranded on the stopped agent: back in the backlog ([agent] on_stop).
    assert.equal((await getTask(at.t, task.id))?.state, "pending");
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), [task.id]);
  } finally {
    await at.cleanup();
  }
});
