/**
 * Black-box tests of agent commands not covered by agents_test.ts: restart, prune, stop (drain
 * and --now), and the supervisor as `tt status` shows it. Real `tt`, real supervisor, fake CLIs.
 */
import assert from "node:assert/strict";
import {
  AgentTown,
  alive,
  BackgroundTt,
  fakeCli,
  waitForEvent,
  waitUntil,
} from "../agent_helpers.ts";
import { getAgent, listAgents, resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { supervisorInfo, thisHost } from "../../src/core/control.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { Message } from "../../src/core/schemas.ts";
import { Sandbox, uniqueName } from "../helpers.ts";

type TaskJson = { id: string; state: string; result?: string };

async function runningRound(at: AgentTown, name: string): Promise<number> {
  let pgid: number | undefined;
  await waitUntil(async () => !!(pgid = (await resolveAgent(at.t, name)).round_pgid));
  return pgid!;
}

function oneLineError(stderr: string, re: RegExp) {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  assert.match(lines[0], re);
}

const readLog = (at: AgentTown, agent: string, round: number) =>
  Deno.readTextFile(`${at.sb.dir}/.tt/logs/${agent}_round_${round}.log`).catch(() => "");

Deno.test("restart brings a stopped agent back (same id) for --rounds more rounds; its logs are its new rounds'", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--rounds", "1", "--cli", fakeCli("complete")]);
    const a = await at.sb.json<TaskJson>(["assign", "w1", "before the restart"]);
    await at.sb.ok(["wait", "w1", "--until", "stopped", "--timeout", "60"]);
    const before = await resolveAgent(at.t, "w1");
    assert.equal(before.state, "stopped");
    assert.equal((await getTask(at.t, a.id))?.state, "completed");
    assert.match(await readLog(at, "w1", 1), new RegExp(a.id.slice(0, 8)));

    const r = await at.sb.ok(["restart", "w1", "--rounds", "2"]);
    assert.match(r.stdout, /Restarted w1/);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const again = await resolveAgent(at.t, "w1");
    assert.equal(again.id, before.id);
    assert.equal(again.state, "idle");
    assert.equal(again.max_rounds, 2);
    assert.equal(again.round, 0);

    const b = await at.sb.json<TaskJson>(["assign", "w1", "after the restart"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal((await getTask(at.t, b.id))?.result, "done by w1");
    const latest = await at.sb.ok(["logs", "w1"]);
    assert.match(latest.stdout, new RegExp(b.id.slice(0, 8)));
    assert.doesNotMatch(latest.stdout, new RegExp(a.id.slice(0, 8)), "not the old life's round 1");

    const c = await at.sb.json<TaskJson>(["assign", "w1", "the last round"]);
    await at.sb.ok(["wait", "w1", "--until", "stopped", "--timeout", "60"]);
    assert.equal((await getTask(at.t, c.id))?.state, "completed");
    const end = await resolveAgent(at.t, "w1");
    assert.equal(end.state, "stopped");
    assert.equal(end.tasks_completed, 3);
    assert.ok(
      await waitForEvent(at.t, (e) => e.type === "agent_restarted" && /2 rounds/.test(e.message)),
    );
  } finally {
    await at.cleanup();
  }
});

Deno.test("restart refuses a live agent, an unknown one and --rounds 0, changing nothing", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const before = await resolveAgent(at.t, "w1");
    const live = await at.sb.tt(["restart", "w1"]);
    assert.equal(live.code, 1);
    oneLineError(live.stderr, /^tt: w1 is still idle: 'tt kill w1' first$/);
    const nobody = await at.sb.tt(["restart", "nobody"]);
    assert.equal(nobody.code, 1);
    oneLineError(nobody.stderr, /nobody/);
    const zero = await at.sb.tt(["restart", "w1", "--rounds", "0"]);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--rounds must be a positive integer/);
    assert.deepEqual(await resolveAgent(at.t, "w1"), before);
  } finally {
    await at.cleanup();
  }
});

Deno.test("prune removes stopped agents only; prune --all kills live ones first; queued work goes to the conductor", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["spawn", "w2", "--cli", fakeCli("hang")]);
    await at.sb.ok(["spawn", "w3", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "w3", "--timeout", "60"]);
    await at.sb.ok(["kill", "w1"]);
    const w1 = await resolveAgent(at.t, "w1");
    const a = await at.sb.json<TaskJson>(["assign", "w2", "running when pruned"]);
    const pgid = await runningRound(at, "w2");
    const b = await at.sb.json<TaskJson>(["assign", "w2", "queued when pruned"]);

    const first = await at.sb.ok(["prune"]);
    assert.equal(first.stdout.trim(), "Removed w1");
    assert.equal(await getAgent(at.t, w1.id), undefined);
    assert.deepEqual((await listAgents(at.t)).map((x) => x.name).sort(), ["w2", "w3"]);
    assert.equal(await alive(pgid), true, "a plain prune leaves live agents alone");
    const nothing = await at.sb.ok(["prune"]);
    assert.equal(nothing.stdout.trim(), "Nothing to prune.");

    const all = await at.sb.json<{ removed: string[] }>(["prune", "--all"]);
    assert.deepEqual(all.removed.sort(), ["w2", "w3"]);
    assert.equal(await alive(pgid), false, "the running round was killed");
    assert.deepEqual(await listAgents(at.t), []);
    const conductor = (await at.t.redis.lrange(at.t.keys.inbox(SUPERVISOR_ID), 0, -1))
      .map((s) => JSON.parse(s) as Message);
    assert.deepEqual(conductor.map((m) => m.task_id), [a.id, b.id]);
    for (const id of [a.id, b.id]) assert.equal((await getTask(at.t, id))?.state, "assigned");
    await waitUntil(async () => !(await supervisorInfo(at.t)));
    const pruned = await at.sb.json<{ type: string; message: string }[]>([
      "events",
      "--count",
      "500",
    ]);
    assert.equal(pruned.filter((e) => e.type === "agent_pruned").length, 3);
  } finally {
    await at.cleanup();
  }
});

Deno.test("stop lets a running round finish (the agent drains), then the supervisor exits", async () => {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  let stop: BackgroundTt | undefined;
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("gate", state)]);
    const task = await at.sb.json<TaskJson>(["assign", "w1", "finish me before stopping"]);
    const pgid = await runningRound(at, "w1");
    const sup = (await supervisorInfo(at.t))!;
    stop = new BackgroundTt(at.sb, ["stop"]);
    // The supervisor has the shutdown request once the agent drains; the round is still running.
    await waitUntil(async () => (await resolveAgent(at.t, "w1")).state === "draining");
    assert.equal(stop.exited, false);
    assert.equal(await alive(pgid), true);
    await Deno.writeTextFile(`${state}/open`, "");
    const r = await stop.finished(60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /waiting for running rounds to finish/);
    assert.match(r.stdout, new RegExp(`Stopped the supervisor \\(pid ${sup.pid}\\)`));
    assert.match(r.stdout, /external/);
    const done = await getTask(at.t, task.id);
    assert.equal(done?.state, "completed");
    assert.equal(done?.result, "done by w1");
    assert.equal((await resolveAgent(at.t, "w1")).state, "stopped");
    assert.equal(await alive(sup.pid), false);
    assert.equal(await supervisorInfo(at.t), undefined);
  } finally {
    await stop?.kill();
    await Deno.writeTextFile(`${state}/open`, "").catch(() => {});
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("stop --now kills running rounds, requeues their work and stops the supervisor", async () => {
  const at = await AgentTown.create("kill_grace_secs = 1");
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
    await at.sb.ok(["spawn", "w2", "--cli", fakeCli("stubborn")]);
    const t1 = await at.sb.json<TaskJson>(["assign", "w1", "hang"]);
    const t2 = await at.sb.json<TaskJson>(["assign", "w2", "ignore SIGTERM"]);
    const p1 = await runningRound(at, "w1");
    const p2 = await runningRound(at, "w2");
    const sup = (await supervisorInfo(at.t))!;
    const r = await at.sb.tt(["stop", "--now"]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /waiting/);
    assert.equal(await alive(p1), false);
    assert.equal(await alive(p2), false);
    assert.equal(await alive(sup.pid), false);
    assert.equal(await supervisorInfo(at.t), undefined);
    for (const [name, task] of [["w1", t1], ["w2", t2]] as const) {
      const agent = await resolveAgent(at.t, name);
      assert.equal(agent.state, "stopped");
      assert.equal((await getTask(at.t, task.id))?.state, "assigned");
      assert.equal(await at.t.redis.llen(at.t.keys.processing(agent.id)), 0);
      const inbox = (await at.t.redis.lrange(at.t.keys.inbox(agent.id), 0, -1))
        .map((s) => JSON.parse(s) as Message);
      assert.deepEqual(inbox.map((m) => m.task_id), [task.id]);
    }
    const ev = await waitForEvent(at.t, (e) => e.type === "agent_stopped");
    assert.match(ev.message, /supervisor shutdown/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("status shows the supervisor running (pid, host, agents) and NOT RUNNING once it died", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const sup = (await supervisorInfo(at.t))!;
    assert.equal(await alive(sup.pid), true);
    const ttl = await at.t.redis.ttl(at.t.keys.supervisor(thisHost()));
    assert.ok(ttl > 0 && ttl <= 10, `heartbeat key expires (ttl ${ttl})`);
    type Status = { supervisor: { running: boolean; pid?: number; agents?: number } };
    const s = await at.sb.json<Status>(["status"]);
    assert.equal(s.supervisor.running, true);
    assert.equal(s.supervisor.pid, sup.pid);
    assert.equal(s.supervisor.agents, 1);
    const text = await at.sb.ok(["status"]);
    assert.match(text.stdout, new RegExp(`Supervisor: pid ${sup.pid} on ${thisHost()}, up since `));

    Deno.kill(sup.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(sup.pid)));
    await at.t.redis.del(at.t.keys.supervisor(sup.host)); // its heartbeat would expire in ≤10 s
    const dead = await at.sb.ok(["status"]);
    assert.match(dead.stdout, /Supervisor: NOT RUNNING with 1 active agent\(s\): 'tt start'/);
    assert.equal((await at.sb.json<Status>(["status"])).supervisor.running, false);

    await at.sb.ok(["start"]);
    const back = await at.sb.json<Status>(["status"]);
    assert.equal(back.supervisor.running, true);
    assert.notEqual(back.supervisor.pid, sup.pid);
    assert.equal(await alive(back.supervisor.pid!), true);
  } finally {
    await at.cleanup();
  }
});

/** Processes whose command line mentions `dir` (a managed town's redis-server, supervisor). */
async function processesOf(dir: string): Promise<{ pid: number; args: string }[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,stat=,args="], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim())
    .filter((l) => l.includes(dir) && !/^\d+\s+Z/.test(l))
    .map((l) => ({ pid: Number(l.split(/\s+/)[0]), args: l }));
}

Deno.test("stop in a town with its own Redis: supervisor and redis-server exit; state is kept for the next start", async () => {
  const sb = new Sandbox(null);
  try {
    await sb.init(uniqueName("managed"));
    await sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    const task = await sb.json<TaskJson>(["assign", "w1", "survive a stop"]);
    await sb.ok(["wait", "w1", "--timeout", "60"]);
    const running = await processesOf(sb.dir);
    assert.ok(running.some((p) => /redis-server/.test(p.args)), JSON.stringify(running));
    assert.ok(running.some((p) => /supervise/.test(p.args)), JSON.stringify(running));
    const r = await sb.ok(["stop"]);
    assert.match(r.stdout, /Stopped the supervisor/);
    assert.match(r.stdout, /Stopped the Redis of/);
    assert.deepEqual(await processesOf(sb.dir), []);
    // Next command starts the town's Redis again from its AOF: the work is still there.
    const shown = await sb.json<{ id: string; state: string }>(["task", "show", task.id]);
    assert.equal(shown.state, "completed");
    const agents = await sb.json<{ name: string; state: string }[]>(["list"]);
    assert.deepEqual(agents.map((a) => [a.name, a.state]), [["w1", "stopped"]]);
    await sb.ok(["stop"]);
    assert.deepEqual(await processesOf(sb.dir), []);
  } finally {
    for (const p of await processesOf(sb.dir)) {
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    sb.cleanup();
  }
});
