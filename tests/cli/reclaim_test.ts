/**
 * Black-box tests of `tt reclaim`: the queued work of agents killed mid-round moves to a live
 * agent or the backlog with nothing dropped; orphan tasks; refusals that change nothing.
 */
import assert from "node:assert/strict";
import { AgentTown, alive, fakeCli, untilNoSupervisor, waitUntil } from "../agent_helpers.ts";
import { resolveAgent, setAgentState } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { supervisorInfo, thisHost } from "../../src/core/control.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { recentEvents } from "../../src/core/events.ts";
import type { Message } from "../../src/core/schemas.ts";
import { snapshotTown } from "../helpers.ts";

type TaskJson = { id: string; state: string; assigned_to?: string; result?: string };

const list = async (at: AgentTown, key: string): Promise<Message[]> =>
  (await at.t.redis.lrange(key, 0, -1)).map((s) => JSON.parse(s));

async function runningRound(at: AgentTown, name: string): Promise<number> {
  let pgid: number | undefined;
  await waitUntil(async () => !!(pgid = (await resolveAgent(at.t, name)).round_pgid));
  return pgid!;
}

/**
 * w1 (hanging CLI) is killed in the middle of a round, leaving queued: two task assignments (the
 * first was running), a free-text task, an informational note and an urgent request.
 */
async function deadAgentWithWork(at: AgentTown) {
  await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
  const a = await at.sb.json<TaskJson>(["assign", "w1", "task A"]);
  await runningRound(at, "w1");
  const b = await at.sb.json<TaskJson>(["assign", "w1", "task B"]);
  await at.sb.ok(["send", "w1", "free text work"]);
  await at.sb.ok(["send", "w1", "for your information", "--info"]);
  await at.sb.ok(["send", "w1", "hurry up", "--urgent"]);
  await at.sb.ok(["kill", "w1"]);
  const w1 = await resolveAgent(at.t, "w1");
  assert.equal(w1.state, "stopped");
  assert.equal((await getTask(at.t, a.id))?.state, "assigned");
  const queued = [
    ...await list(at, at.t.keys.processing(w1.id)),
    ...await list(at, at.t.keys.urgent(w1.id)),
    ...await list(at, at.t.keys.inbox(w1.id)),
  ];
  assert.equal(queued.length, 5);
  return { w1, a, b, queued };
}

/** The supervisor's heartbeat and control list move on their own; everything else must not. */
async function stableSnapshot(at: AgentTown) {
  const s = await snapshotTown(at.t);
  delete s[at.t.keys.supervisor(thisHost())];
  delete s[at.t.keys.control(thisHost())];
  return s;
}

/** reclaim is for work left on stopped agents: keep it there ([agent] on_stop). */
const KEEP = 'on_stop = "keep"';

Deno.test("reclaim lists without moving; --to-backlog moves every queued message of a killed agent, none lost", async () => {
  const at = await AgentTown.create(KEEP);
  try {
    const { w1, a, b, queued } = await deadAgentWithWork(at);
    await untilNoSupervisor(at.t); // no agent left to supervise
    const before = await snapshotTown(at.t);
    const listed = await at.sb.ok(["reclaim"]);
    assert.match(listed.stdout, /\[w1\]: 5 message\(s\)/);
    assert.match(listed.stdout, /Nothing moved/);
    assert.deepEqual(await snapshotTown(at.t), before, "listing changes nothing");

    const r = await at.sb.json<{ moved: number; destination: string }>([
      "reclaim",
      "--to-backlog",
    ]);
    assert.deepEqual(r, { ...r, moved: 5, destination: "backlog" });
    for (const k of [at.t.keys.processing, at.t.keys.urgent, at.t.keys.inbox]) {
      assert.equal(await at.t.redis.llen(k(w1.id)), 0);
    }
    // Assigned tasks back to pending in the backlog, in order; text tasks become backlog tasks.
    const backlog = await at.t.redis.lrange(at.t.keys.backlog, 0, -1);
    assert.equal(backlog.length, 4);
    assert.deepEqual(backlog.filter((id) => id === a.id || id === b.id), [a.id, b.id]);
    for (const id of [a.id, b.id]) {
      const task = await getTask(at.t, id);
      assert.equal(task?.state, "pending");
      assert.equal(task?.assigned_to, undefined);
    }
    const fresh = await Promise.all(
      backlog.filter((id) => id !== a.id && id !== b.id).map((id) => getTask(at.t, id)),
    );
    assert.deepEqual(fresh.map((x) => x?.description).sort(), ["free text work", "hurry up"]);
    // The note is not work: it goes to the conductor, not into the void.
    const conductor = await list(at, at.t.keys.inbox(SUPERVISOR_ID));
    assert.deepEqual(conductor.map((m) => m.body), ["for your information"]);
    assert.equal(conductor[0].id, queued.find((m) => m.body === "for your information")!.id);
    const ev = (await recentEvents(at.t, { count: 50 })).filter((e) => e.type === "work_reclaimed");
    assert.equal(ev.length, 1);
    assert.match(ev[0].message, /reclaimed to the backlog \(5 message\(s\)\)/);
    // A second run finds nothing.
    const again = await at.sb.ok(["reclaim", "--to-backlog"]);
    assert.match(again.stdout, /No queued work on stopped agents/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("reclaim --from w1 --to w2: the same messages move to a live agent, which does the tasks", async () => {
  const at = await AgentTown.create(KEEP);
  try {
    const { w1, a, b, queued } = await deadAgentWithWork(at);
    await at.sb.ok(["spawn", "w2", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w2", "--timeout", "60"]);
    await at.sb.ok(["interrupt", "w2"]); // paused: what arrives stays queued for inspection
    const r = await at.sb.json<{ moved: number; destination: string }>([
      "reclaim",
      "--from",
      "w1",
      "--to",
      "w2",
    ]);
    assert.equal(r.moved, 5);
    assert.equal(r.destination, "w2");
    for (const k of [at.t.keys.processing, at.t.keys.urgent, at.t.keys.inbox]) {
      assert.equal(await at.t.redis.llen(k(w1.id)), 0);
    }
    const w2 = await resolveAgent(at.t, "w2");
    const arrived = await list(at, at.t.keys.inbox(w2.id));
    assert.deepEqual(
      arrived.map((m) => m.id),
      queued.map((m) => m.id),
      "same messages, same order",
    );
    assert.ok(arrived.every((m) => m.to === w2.id));
    for (const id of [a.id, b.id]) assert.equal((await getTask(at.t, id))?.assigned_to, w2.id);
    assert.equal(await at.t.redis.llen(at.t.keys.inbox(SUPERVISOR_ID)), 0);

    await at.sb.ok(["resume", "w2"]);
    await at.sb.ok(["wait", "w2", "--timeout", "60"]);
    for (const id of [a.id, b.id]) {
      const task = await getTask(at.t, id);
      assert.equal(task?.state, "completed");
      assert.equal(task?.result, "done by w2");
    }
    assert.equal((await resolveAgent(at.t, "w2")).tasks_completed, 2);
  } finally {
    await at.cleanup();
  }
});

Deno.test("reclaim also empties the processing list of an agent that died mid-round", async () => {
  const at = await AgentTown.create(KEEP);
  let pgid: number | undefined;
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
    const a = await at.sb.json<TaskJson>(["assign", "w1", "in flight"]);
    pgid = await runningRound(at, "w1");
    const sup = (await supervisorInfo(at.t))!;
    Deno.kill(sup.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(sup.pid)));
    await at.t.redis.del(at.t.keys.supervisor(sup.host));
    Deno.kill(-pgid, "SIGKILL");
    // Marked dead by hand, with its round's message still in processing.
    const w1 = await resolveAgent(at.t, "w1");
    await setAgentState(at.t, w1.id, "error", { message: "test: died mid-round" });
    assert.equal(await at.t.redis.llen(at.t.keys.processing(w1.id)), 1);
    const r = await at.sb.json<{ moved: number }>(["reclaim", "--to-backlog"]);
    assert.equal(r.moved, 1);
    assert.equal(await at.t.redis.llen(at.t.keys.processing(w1.id)), 0);
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), [a.id]);
    assert.equal((await getTask(at.t, a.id))?.state, "pending");
  } finally {
    if (pgid) {
      try {
        Deno.kill(-pgid, "SIGKILL");
      } catch { /* gone */ }
    }
    await at.cleanup();
  }
});

Deno.test("reclaim refusals: one line, the right exit code, and nothing changes", async () => {
  const at = await AgentTown.create(KEEP);
  try {
    await deadAgentWithWork(at);
    await at.sb.ok(["spawn", "w2", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w2", "--timeout", "60"]);
    const before = await stableSnapshot(at);
    const cases: [string[], number, RegExp][] = [
      [["reclaim", "--to", "w1"], 1, /w1 is stopped: reclaim to a live agent/],
      [["reclaim", "--from", "w2"], 1, /w2 is idle, not dead/],
      [["reclaim", "--to", "nobody"], 1, /nobody/],
      [["reclaim", "--from", "nobody", "--to-backlog"], 1, /nobody/],
      [["reclaim", "--to", "w2", "--to-backlog"], 2, /choose one destination/],
      [["reclaim", "--cancel"], 2, /need --orphan-tasks/],
      [["reclaim", "--delete", "--to-backlog"], 2, /need --orphan-tasks/],
      [["reclaim", "--orphan-tasks", "--to", "w2"], 2, /do not apply to --orphan-tasks/],
      [["reclaim", "--orphan-tasks", "--cancel", "--delete"], 2, /choose one of/],
      [["reclaim", "--orphan-tasks", "--to-backlog", "--cancel"], 2, /choose one of/],
    ];
    for (const [args, code, re] of cases) {
      const r = await at.sb.tt(args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(lines[0], re);
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(await stableSnapshot(at), before);
  } finally {
    await at.cleanup();
  }
});

Deno.test("reclaim --orphan-tasks: lists tasks of stopped or pruned assignees; --cancel, --to-backlog, --delete act on them", async () => {
  const at = await AgentTown.create(KEEP);
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("hang")]);
    await at.sb.ok(["spawn", "w3", "--cli", fakeCli("hang")]);
    const a = await at.sb.json<TaskJson>(["assign", "w1", "orphan of a stopped agent"]);
    const c = await at.sb.json<TaskJson>(["assign", "w3", "orphan of a pruned agent"]);
    await runningRound(at, "w1");
    await runningRound(at, "w3");
    await at.sb.ok(["kill", "w3"]);
    await at.sb.ok(["prune"]); // w3 only: w1 is still running
    await at.sb.ok(["kill", "w1"]);
    await untilNoSupervisor(at.t);

    const before = await snapshotTown(at.t);
    type Orphans = { action: string; orphans: (TaskJson & { reason: string })[] };
    const listed = await at.sb.json<Orphans>(["reclaim", "--orphan-tasks"]);
    assert.equal(listed.action, "list");
    assert.deepEqual(Object.fromEntries(listed.orphans.map((o) => [o.id, o.reason])), {
      [a.id]: "agent_terminal",
      [c.id]: "agent_missing",
    });
    assert.deepEqual(await snapshotTown(at.t), before, "listing changes nothing");

    await at.sb.ok(["reclaim", "--orphan-tasks", "--cancel"]);
    assert.equal((await getTask(at.t, a.id))?.state, "cancelled");
    assert.equal((await getTask(at.t, a.id))?.result, "Cancelled: assignee is stopped");
    assert.equal((await getTask(at.t, c.id))?.state, "cancelled");
    assert.equal((await getTask(at.t, c.id))?.result, "Cancelled: assignee no longer exists");
    const none = await at.sb.ok(["reclaim", "--orphan-tasks"]);
    assert.match(none.stdout, /No orphan tasks/);

    // --to-backlog: the task is pending in the backlog once, even when the dead agent's queued
    // message for it is reclaimed to the backlog afterwards.
    await at.sb.ok(["restart", "w1"]);
    const e = await at.sb.json<TaskJson>(["assign", "w1", "requeue me"]);
    await runningRound(at, "w1");
    await at.sb.ok(["kill", "w1"]);
    const moved = await at.sb.json<Orphans>(["reclaim", "--orphan-tasks", "--to-backlog"]);
    assert.deepEqual(moved.orphans.map((o) => o.id), [e.id]);
    assert.equal((await getTask(at.t, e.id))?.state, "pending");
    assert.equal((await getTask(at.t, e.id))?.assigned_to, undefined);
    await at.sb.ok(["reclaim", "--to-backlog"]);
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), [e.id]);

    // --delete: the task is gone, with an event saying why.
    await at.sb.ok(["backlog", "remove", e.id]);
    await at.sb.ok(["restart", "w1"]);
    const g = await at.sb.json<TaskJson>(["assign", "w1", "delete me"]);
    await runningRound(at, "w1");
    await at.sb.ok(["kill", "w1"]);
    await at.sb.ok(["reclaim", "--orphan-tasks", "--delete"]);
    assert.equal(await getTask(at.t, g.id), undefined);
    const show = await at.sb.tt(["task", "show", g.id]);
    assert.equal(show.code, 1);
    const ev = (await recentEvents(at.t, { count: 100 })).find((x) =>
      x.type === "task_deleted" && x.task_id === g.id
    );
    assert.match(ev?.message ?? "", /orphaned task deleted: assignee is stopped/);
  } finally {
    await at.cleanup();
  }
});
