import assert from "node:assert/strict";
import { agentLabel, createAgent, setAgentState } from "../../src/core/agents.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import { townStatus } from "../../src/core/status.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { TaskState } from "../../src/core/schemas.ts";
import type { TownContext } from "../../src/core/town.ts";
import { recountTasks } from "../../src/core/task_index.ts";
import { withTestTown } from "../helpers.ts";
import { countCalls } from "../redis_calls.ts";

let seq = 0;
/**
 * A task hash and its index entry, written the way the tasks module stores them, then the
 * counters rebuilt from them (as `tt restore` does).
 */
async function putTask(
  t: TownContext,
  description: string,
  state: TaskState,
  assigned_to?: string,
): Promise<string> {
  const id = crypto.randomUUID();
  const now = new Date().toISOString();
  await t.redis.hset(t.keys.task(id), {
    id,
    description,
    state,
    created_at: now,
    updated_at: now,
    tags: "[]",
    ...(assigned_to ? { assigned_to } : {}),
  });
  await t.redis.zadd(t.keys.tasks, Date.now() * 1000 + seq++, id);
  await recountTasks(t);
  return id;
}

Deno.test("townStatus: agents, mailbox counts with categories, tasks by state, backlog", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "claude", role: "worker" });
    const b = await createAgent(t, { name: "beta", cli: "claude" });
    await setAgentState(t, b.id, "stopped");
    await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, "do", "task"));
    await sendMessage(t, textMessage(b.id, a.id, "why?", "query"), { urgent: true });
    await sendMessage(t, textMessage(a.id, SUPERVISOR_ID, "fyi", "info"));
    const taken = JSON.stringify({
      ...textMessage(SUPERVISOR_ID, a.id, "ok", "ack"),
      id: crypto.randomUUID(),
      created_at: new Date().toISOString(),
    });
    await t.redis.rpush(t.keys.processing(a.id), taken);
    const running = await putTask(t, "build the parser", "running", a.id);
    await putTask(t, "queued work", "assigned", a.id);
    await putTask(t, "old", "completed", a.id);
    const pending = await putTask(t, "later", "pending");
    await putTask(t, "nope", "cancelled");
    await t.redis.rpush(t.keys.backlog, pending);
    await t.redis.zadd(t.keys.tasks, 1, crypto.randomUUID()); // index entry of a deleted task

    const s = await townStatus(t);
    assert.equal(s.town, t.name);
    // Agents created in the same millisecond may come in either order.
    assert.deepEqual(s.agents.map((x) => x.label).sort(), [agentLabel(a), agentLabel(b)].sort());
    const [sa, sb] = [a, b].map((x) => s.agents.find((y) => y.id === x.id)!);
    assert.deepEqual(
      { urgent: sa.mailbox.urgent, inbox: sa.mailbox.inbox, processing: sa.mailbox.processing },
      { urgent: 1, inbox: 1, processing: 1 },
    );
    assert.deepEqual(sa.mailbox.categories, { task: 1, query: 1, info: 0, confirmation: 1 });
    assert.equal(sa.current_task?.id, running);
    assert.equal(sb.agent.state, "stopped");
    assert.equal(sb.current_task, undefined);
    assert.equal(s.conductor.inbox, 1);
    assert.equal(s.conductor.categories.info, 1);
    assert.deepEqual(s.tasks, {
      total: 5,
      by_state: { pending: 1, assigned: 1, running: 1, completed: 1, failed: 0, cancelled: 1 },
      backlog: 1,
    });
    assert.equal(sa.deep, undefined);
    assert.equal(s.task_groups, undefined);
    assert.equal(s.supervisor?.running, false);
    assert.match(s.supervisor?.summary ?? "", /NOT RUNNING with \d+ active agent/);
  });
});

Deno.test("townStatus --tasks groups by assignee, active first, pruned assignees and unassigned last", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "claude" });
    const done = await putTask(t, "finished", "completed", a.id);
    const open = await putTask(t, "open", "assigned", a.id);
    const ghost = crypto.randomUUID();
    const orphan = await putTask(t, "of a pruned agent", "assigned", ghost);
    const free = await putTask(t, "nobody's", "pending");
    const s = await townStatus(t, { tasks: true });
    assert.deepEqual(
      s.task_groups!.map((g) => [g.label, g.active, g.done, g.tasks.map((k) => k.id)]),
      [
        [agentLabel(a), 1, 1, [open, done]],
        [ghost.slice(0, 8), 1, 0, [orphan]],
        ["(unassigned)", 1, 0, [free]],
      ],
    );
    // The explicit current task wins over "the only open one"; an ended one does not.
    await t.redis.hset(t.keys.agent(a.id), "current_task", done);
    assert.equal((await townStatus(t)).agents[0].current_task?.id, open);
  });
});

Deno.test("townStatus --deep: uptime, heartbeat age, parent label and each agent's last 5 events", async () => {
  await withTestTown(async (t) => {
    const p = await createAgent(t, { name: "parent", cli: "claude" });
    const c = await createAgent(t, { name: "child", cli: "claude", parent: p.id });
    for (let i = 0; i < 7; i++) {
      await sendMessage(t, textMessage(SUPERVISOR_ID, p.id, `m${i}`, "task"));
    }
    const now = Date.parse(p.created_at) + 90_000;
    const s = await townStatus(t, { deep: true, now });
    const [dp, dc] = [p.id, c.id].map((id) => s.agents.find((a) => a.id === id)!.deep!);
    assert.equal(dp.uptime_secs, 90);
    assert.equal(dp.heartbeat_age_secs, 90);
    assert.equal(dc.parent_label, agentLabel(p));
    assert.deepEqual(
      dp.events.map((e) => e.message.replace(/^task message: /, "")),
      ["m2", "m3", "m4", "m5", "m6"],
    );
    assert.deepEqual(dc.events.map((e) => e.type), ["agent_spawned"]);
  });
});

Deno.test("townStatus makes the same number of round trips for 2 agents as for 40", async () => {
  await withTestTown(async (t) => {
    // Every command or pipeline started on the connection.
    const calls = () => countCalls(t, (counted) => townStatus(counted, { tasks: true }));
    for (let i = 0; i < 2; i++) {
      const a = await createAgent(t, { name: `a${i}`, cli: "claude" });
      await putTask(t, `task ${i}`, "assigned", a.id);
    }
    const few = await calls();
    for (let i = 2; i < 40; i++) {
      const a = await createAgent(t, { name: `a${i}`, cli: "claude" });
      await putTask(t, `task ${i}`, "assigned", a.id);
      await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, "hi", "task"));
    }
    assert.equal(await calls(), few);
    // Counters, agents + mailboxes, current tasks + groups, their descriptions: 4 steps, 9 calls.
    assert.ok(few > 0 && few <= 9, `${few} round trips`);
  });
});

Deno.test("townStatus agentLimit: the oldest agents in full, every agent counted by state", async () => {
  await withTestTown(async (t) => {
    const made = [];
    for (let i = 0; i < 5; i++) {
      made.push(await createAgent(t, { name: `a${i}`, cli: "claude" }));
      await t.redis.hset(t.keys.agent(made[i].id), "created_at", `2026-01-0${i + 1}T00:00:00Z`);
    }
    await setAgentState(t, made[4].id, "stopped");
    const s = await townStatus(t, { agentLimit: 2 });
    assert.deepEqual(s.agents.map((a) => a.agent.name), ["a0", "a1"]);
    assert.equal(s.agents_total, 5);
    assert.equal(s.agents_by_state.stopped, 1);
    assert.equal(Object.values(s.agents_by_state).reduce((a, b) => a + b, 0), 5);
    const all = await townStatus(t);
    assert.equal(all.agents.length, 5);
    assert.deepEqual(all.agents_by_state, s.agents_by_state);
  });
});
