/**
 * Recovery after a crash or stall at an awkward moment (found by the chaos runs, tests/chaos/): the
 * state a kill leaves behind is set up by hand, then the real supervisor or tt must carry on.
 */
import assert from "node:assert/strict";
import { AgentTown, alive, fakeCli, waitUntil } from "../agent_helpers.ts";
import { resolveAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { assignTask, getTask } from "../../src/core/tasks.ts";
import { buildMessage } from "../../src/core/messages.ts";
import { recentEvents } from "../../src/core/events.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { Sandbox } from "../helpers.ts";

type TaskJson = { id: string; state: string };

async function assign(at: AgentTown, agent: string, desc: string): Promise<TaskJson> {
  return await at.sb.json<TaskJson>(["assign", agent, desc]);
}

Deno.test("an assignment whose task has ended is dropped, not run again (a round cut off after tt task complete)", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    const first = await assign(at, "w1", "first");
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal((await getTask(at.t, first.id))?.state, "completed");
    // What recovery does with a round cut off after its CLI completed the task (supervisor
    // SIGKILLed, or Redis restarted, before the round ended): the assignment is back in the inbox.
    const w1 = await resolveAgent(at.t, "w1");
    const stale = buildMessage({
      from: SUPERVISOR_ID,
      to: w1.id,
      type: "task_assign",
      task_id: first.id,
      body: "first",
    });
    await at.t.redis.lpush(at.t.keys.inbox(w1.id), JSON.stringify(stale));
    const second = await assign(at, "w1", "second");
    // Before the fix, the fake CLI failed on the ended task ('already completed'), the failed
    // round put both messages back, and the second task never completed.
    await at.sb.ok(["wait", "w1", "--timeout", "30"]);
    assert.equal((await getTask(at.t, second.id))?.state, "completed");
    const events = await recentEvents(at.t, { count: 1000 });
    const dropped = events.filter((e) => e.type === "assignment_dropped");
    assert.deepEqual(dropped.map((e) => [e.task_id, e.reason]), [[first.id, "completed"]]);
    assert.equal(events.filter((e) => e.type === "round_failed").length, 0);
    assert.equal(events.filter((e) => e.type === "task_completed").length, 2);
    assert.equal((await resolveAgent(at.t, "w1")).tasks_completed, 2);
  } finally {
    await at.cleanup();
  }
});

Deno.test("a supervisor killed between ending a round and marking the agent idle: the next one serves it", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const sup = (await supervisorInfo(at.t))!;
    Deno.kill(sup.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(sup.pid)));
    await at.t.redis.del(at.t.keys.supervisor(sup.host)); // its heartbeat would expire in ≤10 s
    // What that kill leaves: the round ended (nothing in processing), the agent still working.
    await setAgentState(at.t, (await resolveAgent(at.t, "w1")).id, "working");
    // Before the fix, the new supervisor refused to start a round for a 'working' agent, put the
    // message back, and tried again at once, forever.
    // Work waiting when the next supervisor starts (assigned through the core: no revival yet).
    const task = await assignTask(at.t, toRecipient(await resolveAgent(at.t, "w1")), {
      description: "after the crash",
    });
    await at.sb.ok(["start"]);
    await at.sb.ok(["wait", "w1", "--timeout", "30"]);
    assert.equal((await getTask(at.t, task.id))?.state, "completed");
  } finally {
    await at.cleanup();
  }
});

Deno.test("an agent left 'working' by a lost write (Redis restarted from an older AOF) is served by its live supervisor", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    // The idle agent's last transition (working → idle) is what the lost second took back.
    const w1 = await resolveAgent(at.t, "w1");
    await setAgentState(at.t, w1.id, "working");
    // Before the fix, every round was refused ('working' is not idle), put back and retried at
    // once: a hot loop writing two events per turn, and the task never ran.
    const task = await assign(at, "w1", "after the lost write");
    await at.sb.ok(["wait", "w1", "--timeout", "30"]);
    assert.equal((await getTask(at.t, task.id))?.state, "completed");
    const cut = (await recentEvents(at.t, { count: 1000 }))
      .filter((e) => e.type === "round_interrupted");
    assert.equal(cut.length, 0);
  } finally {
    await at.cleanup();
  }
});

Deno.test("a managed redis-server that stalls gets no twin: tt waits for it; a stale pid file does not block a restart", async () => {
  const sb = new Sandbox(null);
  const servers = async () =>
    new TextDecoder().decode(
      (await new Deno.Command("pgrep", {
        args: ["-f", `${sb.dir}/.tt/redis.sock`],
        stdout: "piped",
      })
        .output()).stdout,
    ).trim().split("\n").filter(Boolean).map(Number);
  try {
    await sb.ok(["init", "--name", "stall"]);
    const [pid] = await servers();
    // Stopped longer than tt's ping timeout: before the fix tt took it for dead, unlinked its
    // socket and started a second server on the same AOF (the supervisor stayed on the first).
    Deno.kill(pid, "SIGSTOP");
    const status = sb.tt(["status"]);
    await new Promise((r) => setTimeout(r, 2500));
    Deno.kill(pid, "SIGCONT");
    assert.equal((await status).code, 0);
    assert.deepEqual(await servers(), [pid]);
    // Killed: its pid file stays behind, naming a pid that may be reused by another process.
    Deno.kill(pid, "SIGKILL");
    await waitUntil(async () => !(await alive(pid)));
    await Deno.writeTextFile(`${sb.dir}/.tt/redis.pid`, `${Deno.pid}\n`);
    await sb.ok(["status"]);
    const restarted = await servers();
    assert.equal(restarted.length, 1);
    assert.notEqual(restarted[0], pid);
  } finally {
    for (const p of await servers()) {
      try {
        Deno.kill(p, "SIGCONT");
        Deno.kill(p, "SIGKILL");
      } catch { /* gone */ }
    }
    sb.cleanup();
  }
});

Deno.test("a town whose tinytown.toml is gone does not get its Redis started again (a tt still running while the town is deleted)", async () => {
  const sb = new Sandbox(null);
  try {
    await sb.ok(["init", "--name", "gone"]);
    await sb.ok(["stop"]);
    const { ensureManagedRedis, managedPid } = await import("../../src/redis/server.ts");
    await Deno.remove(`${sb.dir}/tinytown.toml`);
    await assert.rejects(
      () => ensureManagedRedis(sb.dir),
      /the town at .* is gone \(no tinytown.toml\): its Redis is not started/,
    );
    assert.equal(await managedPid(sb.dir), undefined);
  } finally {
    sb.cleanup();
  }
});

Deno.test("tt recover never stops agents whose supervisor is alive, even when its heartbeat is gone (Redis refused the write)", async () => {
  const at = await AgentTown.create();
  let stopped: number | undefined;
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["spawn", "w2", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "--timeout", "60"]);
    const sup = (await supervisorInfo(at.t))!;
    // Alive but unable to beat: stopped, as if each heartbeat write were refused (disk full).
    Deno.kill(sup.pid, "SIGSTOP");
    stopped = sup.pid;
    await at.t.redis.del(at.t.keys.supervisor(sup.host));
    const r = await at.sb.json<{ checked: number; recovered: unknown[] }>(["recover"]);
    assert.equal(r.checked, 2);
    assert.deepEqual(r.recovered, []);
    for (const name of ["w1", "w2"]) {
      assert.equal((await resolveAgent(at.t, name)).state, "idle", name);
    }
    Deno.kill(sup.pid, "SIGCONT");
    stopped = undefined;
    // And it still serves them.
    const task = await assign(at, "w2", "after the scare");
    await at.sb.ok(["wait", "w2", "--timeout", "30"]);
    assert.equal((await getTask(at.t, task.id))?.state, "completed");
  } finally {
    if (stopped) Deno.kill(stopped, "SIGCONT");
    await at.cleanup();
  }
});
