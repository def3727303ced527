/** Black-box REST tests against a real `tt townhall`: happy paths and 400/404/409 per endpoint. */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { recentEvents } from "../../src/core/events.ts";
import { listKeys } from "../../src/core/auth.ts";
import { getTask } from "../../src/core/tasks.ts";
import { snapshotTown } from "../helpers.ts";
import {
  AgentDetail,
  AgentList,
  AssignAllResult,
  ErrorBody,
  EventList,
  Inbox,
  SendResult,
  StatusView,
  TaskList,
  TaskResult,
  TaskView,
  TownInfo,
} from "../../src/townhall/schemas.ts";
import { api, assertUnchangedButEvents, closeHall, startHall } from "./helpers.ts";

type Json = Record<string, unknown>;

/** Asserts an error reply: status, JSON shape, and (optionally) the field named. */
function assertError(r: { status: number; body: unknown }, status: number, field?: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  const e = ErrorBody.parse(r.body);
  assert.equal(e.status, status);
  if (field) assert.equal(e.field, field, e.error);
}

Deno.test("health and ready need no key; metrics and scaling need town.read", async () => {
  const h = await startHall({ keys: [["town.read"], ["town.write"]] });
  const [reader, writer] = h.keys;
  try {
    for (const p of ["/metrics", "/api/scaling", "/openapi.json", "/v1/status"]) {
      assert.equal((await api(h, "GET", p)).status, 401, p);
    }
    assert.equal((await api(h, "GET", "/metrics", { key: writer })).status, 403);
    assert.equal((await api(h, "GET", "/openapi.json", { key: writer })).status, 200);
    const health = await api(h, "GET", "/health");
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(health.body.town, h.name);
    const ready = await api(h, "GET", "/ready");
    assert.equal(ready.status, 200);
    assert.equal(ready.body.redis, "connected");
    await createAgent(h.t, { name: "m1", cli: "claude" });
    const metrics = await api<string>(h, "GET", "/metrics", { key: reader });
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /^tinytown_agents\{state="starting"\} 1$/m);
    assert.match(metrics.body, /^tinytown_tasks\{state="pending"\} 0$/m);
    assert.match(metrics.body, /^tinytown_backlog_tasks 0$/m);
    assert.match(metrics.body, /^tinytown_inbox_messages\{agent="m1",list="inbox"\} 0$/m);
    const sc = await api(h, "GET", "/api/scaling", { key: reader });
    assert.equal(sc.status, 200);
    assert.equal(sc.body.active_agents, 1);
    assert.equal(typeof sc.body.scaling_recommendation, "string");
  } finally {
    await closeHall(h);
  }
});

Deno.test("agents, inbox and messages: happy paths, 404 for unknown agents, 400 naming the field", async () => {
  const h = await startHall();
  try {
    const a = await createAgent(h.t, { name: "backend", cli: "claude", role: "api" });
    const town = await api(h, "GET", "/v1/town");
    assert.equal(TownInfo.parse(town.body).name, h.name);

    const list = AgentList.parse((await api(h, "GET", "/v1/agents")).body);
    assert.deepEqual(list.agents.map((x: Json) => x.name), ["backend"]);
    const one = await api(h, "GET", `/v1/agents/${a.id.slice(0, 6)}`);
    assert.equal(one.status, 200);
    assert.equal(AgentDetail.parse(one.body).agent.id, a.id);
    assertError(await api(h, "GET", "/v1/agents/nobody"), 404);

    const sent = await api(h, "POST", "/v1/messages/send", {
      body: { to: "backend", message: "please review", kind: "query", urgent: true },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const s = SendResult.parse(sent.body);
    assert.equal(s.to.id, a.id);
    assert.equal(s.type, "query");
    const inbox = Inbox.parse((await api(h, "GET", "/v1/agents/backend/inbox")).body);
    assert.equal(inbox.counts.urgent, 1);
    assert.equal(inbox.urgent[0].body, "please review");
    assert.equal(inbox.urgent[0].from, "00000000-0000-0000-0000-000000000001");

    const sup = await api(h, "POST", "/v1/messages/send", {
      body: { to: "conductor", message: "done", kind: "ack", from: "backend" },
    });
    assert.equal(sup.status, 201);
    const box = Inbox.parse((await api(h, "GET", "/v1/agents/supervisor/inbox")).body);
    assert.equal(box.inbox[0].type, "confirmation");
    assert.equal(box.inbox[0].from, a.id);

    const before = await snapshotTown(h.t);
    const evBefore = (await recentEvents(h.t, { count: 10_000 })).length;
    assertError(
      await api(h, "POST", "/v1/messages/send", { body: { to: "nobody", message: "x" } }),
      404,
    );
    assertError(
      await api(h, "POST", "/v1/messages/send", { body: { message: "x" } }),
      400,
      "body.to",
    );
    assertError(
      await api(h, "POST", "/v1/messages/send", { body: { to: "backend", message: 5 } }),
      400,
      "body.message",
    );
    assertError(
      await api(h, "POST", "/v1/messages/send", {
        body: { to: "backend", message: "x", kind: "shout" },
      }),
      400,
      "body.kind",
    );
    assertError(
      await api(h, "POST", "/v1/messages/send", { body: { to: "backend", message: "x", zz: 1 } }),
      400,
      "body",
    );
    assertError(await api(h, "POST", "/v1/messages/send", { body: '{"to": "backend",' }), 400);
    assertError(
      await api(h, "POST", "/v1/messages/send", {
        body: "to=backend",
        headers: { "content-type": "text/plain" },
      }),
      415,
    );
    assertError(await api(h, "GET", "/v1/agents/backend/inbox?limit=zero"), 400, "query.limit");
    assertError(await api(h, "GET", "/v1/nothing-here"), 404);
    // Refused requests change nothing but the audit trail.
    const events = await recentEvents(h.t, { count: 10_000 });
    assert.ok(events.slice(evBefore).every((e) => e.type === "audit" && e.status! >= 400));
    await assertUnchangedButEvents(h, before);
  } finally {
    await closeHall(h);
  }
});

Deno.test("tasks: assign, list, show by prefix, complete/fail/cancel; 404, 409 on a second completion", async () => {
  const h = await startHall();
  try {
    const a = await createAgent(h.t, { name: "w1", cli: "claude" });
    const r = await api(h, "POST", "/v1/tasks/assign", {
      body: { agent: "w1", description: "write the parser", tags: ["parser", "p1"] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const { task } = TaskResult.parse(r.body);
    assert.equal(task.state, "assigned");
    assert.equal(task.assigned_to, a.id);
    assert.deepEqual(task.tags, ["parser", "p1"]);

    const listed = TaskList.parse((await api(h, "GET", "/v1/tasks?state=assigned&agent=w1")).body);
    assert.deepEqual(listed.tasks.map((x: Json) => x.id), [task.id]);
    assert.equal(TaskList.parse((await api(h, "GET", "/v1/tasks?state=completed")).body).count, 0);
    assertError(await api(h, "GET", "/v1/tasks?state=bogus"), 400, "query.state");
    assertError(await api(h, "GET", "/v1/tasks?agent=ghost"), 404);

    const shown = await api(h, "GET", `/v1/tasks/${task.id.slice(0, 8)}`);
    assert.equal(TaskView.parse(shown.body).id, task.id);
    assertError(await api(h, "GET", "/v1/tasks/ffffffff"), 404);
    assertError(await api(h, "GET", "/v1/tasks/ab"), 400);

    assertError(
      await api(h, "POST", "/v1/tasks/assign", { body: { agent: "ghost", description: "x" } }),
      404,
    );
    assertError(
      await api(h, "POST", "/v1/tasks/assign", { body: { agent: "w1", description: "" } }),
      400,
      "body.description",
    );
    assertError(
      await api(h, "POST", "/v1/tasks/assign", {
        body: { agent: "w1", description: "x", tags: "a" },
      }),
      400,
      "body.tags",
    );

    // Ownership: another agent may not complete it without force.
    await createAgent(h.t, { name: "w2", cli: "claude" });
    assertError(
      await api(h, "POST", `/v1/tasks/${task.id}/complete`, { body: { agent: "w2" } }),
      409,
    );
    const done = await api(h, "POST", `/v1/tasks/${task.id}/complete`, {
      body: { result: "parsed" },
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(TaskResult.parse(done.body).task.state, "completed");
    assert.equal((await getTask(h.t, task.id))?.result, "parsed");
    assertError(await api(h, "POST", `/v1/tasks/${task.id}/complete`), 409);
    assertError(await api(h, "POST", `/v1/tasks/${task.id}/cancel`), 409);
    assertError(await api(h, "POST", "/v1/tasks/deadbeef/complete"), 404);

    const t2 = TaskResult.parse(
      (await api(h, "POST", "/v1/tasks/assign", { body: { agent: "w1", description: "b" } })).body,
    ).task;
    const failed = await api(h, "POST", `/v1/tasks/${t2.id}/fail`, { body: { reason: "no" } });
    assert.equal(TaskResult.parse(failed.body).task.state, "failed");
    const t3 = TaskResult.parse(
      (await api(h, "POST", "/v1/tasks/assign", { body: { agent: "w1", description: "c" } })).body,
    ).task;
    const cancelled = await api(h, "POST", `/v1/tasks/${t3.id}/cancel`, {
      body: { reason: "dropped" },
    });
    assert.equal(TaskResult.parse(cancelled.body).task.state, "cancelled");
    assertError(
      await api(h, "POST", `/v1/tasks/${t3.id}/cancel`, { body: { force: true } }),
      400,
      "body",
    );

    // A task with a check: an agent's report is held; a human must skip the check explicitly.
    const t4 = TaskResult.parse(
      (await api(h, "POST", "/v1/tasks/assign", {
        body: { agent: "w1", description: "d", verify: "deno task test" },
      })).body,
    ).task;
    assert.equal(t4.verify, "deno task test");
    const held = await api(h, "POST", `/v1/tasks/${t4.id}/complete`, {
      body: { agent: "w1", result: "green" },
    });
    assert.equal(TaskResult.parse(held.body).task.claimed_result, "green");
    assertError(await api(h, "POST", `/v1/tasks/${t4.id}/complete`), 409);
    assertError(
      await api(h, "POST", `/v1/tasks/${t4.id}/complete`, {
        body: { agent: "w1", skip_verify: true },
      }),
      400,
    );
    const skipped = await api(h, "POST", `/v1/tasks/${t4.id}/complete`, {
      body: { skip_verify: true },
    });
    assert.equal(TaskResult.parse(skipped.body).task.state, "completed");

    const st = StatusView.parse((await api(h, "GET", "/v1/status")).body);
    assert.equal(st.tasks.total, 4);
    assert.equal(st.tasks.by_state.completed, 2);
    assert.equal(st.agents.length, 2);
  } finally {
    await closeHall(h);
  }
});

Deno.test("backlog: add, list, claim, assign-all, delete; 404 for tasks not in the backlog", async () => {
  const h = await startHall();
  try {
    const a = await createAgent(h.t, { name: "w1", cli: "claude" });
    const add = async (d: string) => {
      const r = await api(h, "POST", "/v1/backlog", { body: { description: d, tags: ["b"] } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return TaskResult.parse(r.body).task;
    };
    const [x, y, z, w] = [await add("x"), await add("y"), await add("z"), await add("w")];
    const list = TaskList.parse((await api(h, "GET", "/v1/backlog")).body);
    assert.deepEqual(list.tasks.map((t: Json) => t.id), [x.id, y.id, z.id, w.id]);

    const claimed = await api(h, "POST", `/v1/backlog/${y.id.slice(0, 8)}/claim`, {
      body: { agent: "w1" },
    });
    assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
    assert.equal(TaskResult.parse(claimed.body).task.assigned_to, a.id);
    assertError(
      await api(h, "POST", `/v1/backlog/${y.id}/claim`, { body: { agent: "w1" } }),
      404,
    );
    assertError(
      await api(h, "POST", `/v1/backlog/${x.id}/claim`, { body: { agent: "ghost" } }),
      404,
    );
    assertError(await api(h, "POST", `/v1/backlog/${x.id}/claim`, { body: {} }), 400, "body.agent");

    const del = await api(h, "DELETE", `/v1/backlog/${w.id}`);
    assert.equal(del.status, 200);
    assert.equal(await getTask(h.t, w.id), undefined);
    assertError(await api(h, "DELETE", `/v1/backlog/${w.id}`), 404);
    assertError(await api(h, "DELETE", `/v1/backlog/${y.id}`), 404);

    const all = await api(h, "POST", "/v1/backlog/assign-all", { body: { agent: "w1" } });
    const r = AssignAllResult.parse(all.body);
    assert.equal(r.assigned, 2);
    assert.deepEqual(r.tasks.map((t: Json) => t.id), [x.id, z.id]);
    assert.equal(TaskList.parse((await api(h, "GET", "/v1/backlog")).body).count, 0);
    assertError(await api(h, "POST", "/v1/backlog/assign-all", { body: { agent: "ghost" } }), 404);
  } finally {
    await closeHall(h);
  }
});

Deno.test("events and history: recent with count and agent filter, newest-first history", async () => {
  const h = await startHall();
  try {
    const a = await createAgent(h.t, { name: "w1", cli: "claude" });
    await createAgent(h.t, { name: "w2", cli: "claude" });
    for (const i of [1, 2, 3]) {
      await api(h, "POST", "/v1/messages/send", { body: { to: "w1", message: `m${i}` } });
    }
    const ev = EventList.parse((await api(h, "GET", "/v1/events?count=2&agent=w1")).body);
    assert.equal(ev.count, 2);
    assert.ok(ev.events.every((e: Json) => e.agent_id === a.id));
    assert.match(String(ev.events[1].message), /m3/);
    const hist = EventList.parse((await api(h, "GET", "/v1/history?limit=3")).body);
    assert.equal(hist.count, 3);
    assert.ok(String(hist.events[0].id) > String(hist.events[2].id));
    assertError(await api(h, "GET", "/v1/events?count=0"), 400, "query.count");
    assertError(await api(h, "GET", "/v1/events?count=5&count=6"), 400, "query.count");
    assertError(await api(h, "GET", "/v1/events?agent=ghost"), 404);
    const audit = (await recentEvents(h.t, { count: 50 })).filter((e) => e.type === "audit");
    assert.equal(audit.length, 3);
    assert.deepEqual(
      [audit[0].method, audit[0].path, audit[0].status, audit[0].actor],
      ["POST", "/v1/messages/send", 201, (await listKeys(h.t))[0].id],
    );
  } finally {
    await closeHall(h);
  }
});

Deno.test("REST errors name the request fields (skip_verify, force, to_backlog), not CLI flags", async () => {
  const h = await startHall();
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    await createAgent(h.t, { name: "w2", cli: "claude" });
    const checked = await api<{ task: { id: string } }>(h, "POST", "/v1/tasks/assign", {
      body: { agent: "w1", description: "x", verify: "true" },
    });
    assert.equal(checked.status, 201);
    const id = checked.body.task.id;
    const unverified = await api(h, "POST", `/v1/tasks/${id}/complete`, { body: {} });
    assert.equal(unverified.status, 409);
    const e1 = ErrorBody.parse(unverified.body).error;
    assert.match(e1, /"skip_verify": true/);
    const notYours = await api(h, "POST", `/v1/tasks/${id}/complete`, {
      body: { agent: "w2", result: "mine" },
    });
    const e2 = ErrorBody.parse(notYours.body).error;
    assert.match(e2, /"force": true/);
    const both = await api(h, "POST", "/v1/reclaim", { body: { to: "w1", to_backlog: true } });
    const e3 = ErrorBody.parse(both.body).error;
    assert.match(e3, /to or to_backlog/);
    for (const e of [e1, e2, e3]) assert.doesNotMatch(e, /--[a-z]/, e);
  } finally {
    await closeHall(h);
  }
});
