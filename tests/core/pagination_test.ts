/**
 * Task lists page by page (counters.ts listTaskPage): every filter, every page size, ties in
 * creation time; following next_cursor gives exactly the full scan, once each, in order; a page
 * costs the same in a town of 10 tasks as in one of 2,000; bad cursors and sizes are refused;
 * the REST route and the CLI expose the same pages.
 */
import assert from "node:assert/strict";
import { createAgent, setAgentState, SUPERVISOR, toRecipient } from "../../src/core/agents.ts";
import { addToBacklog, claimTask } from "../../src/core/backlog.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import { reclaimWork } from "../../src/core/reclaim.ts";
import {
  assignTask,
  completeTask,
  createTask,
  getTasks,
  type TaskFilter,
} from "../../src/core/tasks.ts";
import { listTaskPage, listTasksIn, MAX_PAGE } from "../../src/core/counters.ts";
import { INDEX_VERSION, recountTasks, verifyTaskIndexes } from "../../src/core/task_index.ts";
import { UsageError } from "../../src/core/errors.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { type Task, TASK_STATES } from "../../src/core/schemas.ts";
import type { TownContext } from "../../src/core/town.ts";
import { TaskPage } from "../../src/townhall/schemas.ts";
import { Sandbox, withTestTown } from "../helpers.ts";
import { countCalls } from "../redis_calls.ts";
import { api, closeHall, startHall } from "../townhall/helpers.ts";

/** Every task, oldest first, the slow way: the whole index, then filtered here. */
async function fullScan(t: TownContext, f: TaskFilter): Promise<Task[]> {
  const all = await getTasks(t, await t.redis.zrange(t.keys.tasks, "0", "-1"));
  return all.filter((x) =>
    (!f.state || x.state === f.state) && (f.agentId === undefined || x.assigned_to === f.agentId)
  );
}

async function allPages(t: TownContext, f: TaskFilter, limit: number) {
  const ids: string[] = [];
  let after: string | undefined;
  for (let pages = 1;; pages++) {
    const p = await listTaskPage(t, { ...f, limit, after });
    assert.ok(p.tasks.length <= limit);
    ids.push(...p.tasks.map((x) => x.id));
    if (!p.next_cursor) return { ids, pages };
    assert.ok(p.tasks.length > 0, "a page that is not the last is empty");
    assert.ok(pages < 1000, "pages never end");
    after = p.next_cursor;
  }
}

/** A town with tasks in every state, two agents, the conductor, and tasks of equal scores. */
async function mixedTown(t: TownContext) {
  const a = await createAgent(t, { name: "alpha", cli: "x" });
  const b = await createAgent(t, { name: "beta", cli: "x" });
  for (let i = 0; i < 6; i++) {
    const x = await assignTask(t, toRecipient(i % 2 ? a : b), { description: `work ${i}` });
    if (i % 3 === 0) await completeTask(t, x.id, { verified: true });
  }
  for (let i = 0; i < 5; i++) await addToBacklog(t, { description: `later ${i}` });
  const claimed = await addToBacklog(t, { description: "claimed" });
  await claimTask(t, claimed.id, a);
  await assignTask(t, SUPERVISOR, { description: "for the human" });
  for (const s of ["completed", "failed", "cancelled"] as const) {
    await createTask(t, { description: `ended ${s}`, state: s }, { kind: "none" });
  }
  // Plain task messages of a stopped agent become backlog tasks of one reclaim: equal scores.
  for (let i = 0; i < 4; i++) {
    await sendMessage(t, textMessage(SUPERVISOR_ID, b.id, `plain ${i}`, "task"));
  }
  await setAgentState(t, b.id, "stopped");
  await reclaimWork(t, { from: { ...b, state: "stopped" }, toBacklog: true });
  return { a, b };
}

Deno.test("following next_cursor gives the full scan, once each, in order, for every filter and size", async () => {
  await withTestTown(async (t) => {
    const { a, b } = await mixedTown(t);
    const scores = await t.redis.zrange(t.keys.tasks, "0", "-1", "WITHSCORES");
    const values = scores.filter((_, i) => i % 2);
    assert.ok(new Set(values).size < values.length, "the town has tasks of equal scores");
    const filters: TaskFilter[] = [
      {},
      ...TASK_STATES.map((state) => ({ state })),
      ...[a.id, b.id, "nobody"].flatMap((agentId) => [
        { agentId },
        ...TASK_STATES.map((state) => ({ agentId, state })),
      ]),
    ];
    let compared = 0;
    for (const f of filters) {
      const want = (await fullScan(t, f)).map((x) => x.id);
      for (const limit of [1, 2, 3, 7, MAX_PAGE]) {
        const got = await allPages(t, f, limit);
        assert.deepEqual(got.ids, want, `${JSON.stringify(f)} by ${limit}`);
        assert.equal(got.pages, Math.max(1, Math.ceil(want.length / limit)));
        compared += want.length;
      }
    }
    assert.ok(compared > 100, `${compared}`);
    const open = await listTasksIn(t, ["pending", "assigned", "running"]);
    assert.deepEqual(
      open.map((x) => x.id),
      (await fullScan(t, {})).filter((x) => ["pending", "assigned", "running"].includes(x.state))
        .map((x) => x.id),
    );
  });
});

Deno.test("a page costs the same round trips in a town of 10 tasks as in one of 2,000", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "x" });
    const calls = (f: TaskFilter) =>
      countCalls(t, async (counted) => {
        const first = await listTaskPage(counted, { ...f, limit: 5 });
        await listTaskPage(counted, { ...f, limit: 5, after: first.next_cursor });
      });
    const fill = async (n: number) => {
      const p = [];
      for (let i = 0; i < n; i++) p.push(assignTask(t, toRecipient(a), { description: `t${i}` }));
      await Promise.all(p);
    };
    await fill(10);
    const few = [
      await calls({}),
      await calls({ state: "assigned" }),
      await calls({ agentId: a.id }),
    ];
    await fill(1990);
    const many = [
      await calls({}),
      await calls({ state: "assigned" }),
      await calls({ agentId: a.id }),
    ];
    assert.deepEqual(many, few);
    // Reading 2,000 tasks one page of 5 at a time is bounded by the page, not the town: the
    // second page of the big town holds the 6th to 10th task.
    const p1 = await listTaskPage(t, { limit: 5 });
    const p2 = await listTaskPage(t, { limit: 5, after: p1.next_cursor });
    const all = await t.redis.zrange(t.keys.tasks, "5", "9");
    assert.deepEqual(p2.tasks.map((x) => x.id), all);
  });
});

Deno.test("bad cursors and page sizes are refused with a usage error; forged cursors read nothing else", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "x" });
    const mine = await assignTask(t, toRecipient(a), { description: "mine" });
    for (const limit of [0, -1, 1.5, MAX_PAGE + 1, NaN]) {
      await assert.rejects(listTaskPage(t, { limit }), UsageError, String(limit));
    }
    for (
      const after of [
        "",
        "junk",
        "1:",
        ":abc",
        "1:abc|x",
        "(1:abc",
        "1:abc\n",
        "+inf:x",
        `1:${"a".repeat(65)}`,
        "1:a]b",
      ]
    ) {
      await assert.rejects(listTaskPage(t, { limit: 5, after }), UsageError, JSON.stringify(after));
    }
    // A well-formed cursor before everything reads the filter's tasks only: an agent's page
    // never shows another assignee's tasks, whatever the cursor.
    const other = await createAgent(t, { name: "beta", cli: "x" });
    await assignTask(t, toRecipient(other), { description: "not yours" });
    const p = await listTaskPage(t, { agentId: a.id, limit: 100, after: "0:0" });
    assert.deepEqual(p.tasks.map((x) => x.id), [mine.id]);
    assert.equal(p.next_cursor, undefined);
  });
});

Deno.test("a town made before the counters gets them built on first read", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "x" });
    const tasks = [];
    for (let i = 0; i < 5; i++) {
      tasks.push(await assignTask(t, toRecipient(a), { description: "x" }));
    }
    // As an older tt left it: no indexes, no marker.
    await t.redis.del(
      t.keys.taskIndex,
      t.keys.taskCounts,
      t.keys.tasksByAgent,
      ...TASK_STATES.map((s) => t.keys.tasksIn(s)),
    );
    const p = await listTaskPage(t, { agentId: a.id, limit: 10 });
    assert.deepEqual(p.tasks.map((x) => x.id), tasks.map((x) => x.id));
    assert.equal(await t.redis.get(t.keys.taskIndex), INDEX_VERSION);
    assert.equal(await recountTasks(t), 5);
  });
});

Deno.test("a town indexed by an older tt (fractional state-set scores) is rebuilt once; doctor sees the old scores", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "x" });
    const tasks = [];
    for (let i = 0; i < 3; i++) {
      tasks.push(await assignTask(t, toRecipient(a), { description: "x" }));
    }
    const set = t.keys.tasksIn("assigned");
    const whole = await t.redis.zrange(set, "0", "-1", "WITHSCORES");
    assert.ok(whole.filter((_, i) => i % 2).every((v) => /^\d+$/.test(v)), String(whole));
    // As version 1 left it: the state sets scored like the tasks index (creation ms).
    for (const x of tasks) {
      await t.redis.zadd(set, (await t.redis.zscore(t.keys.tasks, x.id))!, x.id);
    }
    await t.redis.set(t.keys.taskIndex, "1");
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 3, wrong: 3 });
    const p = await listTaskPage(t, { state: "assigned", limit: 10 });
    assert.deepEqual(p.tasks.map((x) => x.id), tasks.map((x) => x.id));
    assert.equal(await t.redis.get(t.keys.taskIndex), INDEX_VERSION);
    assert.deepEqual(await t.redis.zrange(set, "0", "-1", "WITHSCORES"), whole);
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 3, wrong: 0 });
  });
});

Deno.test("REST GET /v1/tasks pages with limit and cursor; tt task list --limit/--after too", async () => {
  const h = await startHall();
  try {
    const a = await createAgent(h.t, { name: "w1", cli: "claude" });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await assignTask(h.t, toRecipient(a), { description: `job ${i}` })).id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const q = `/v1/tasks?agent=w1&limit=3${
        cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""
      }`;
      const r = await api(h, "GET", q);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const page = TaskPage.parse(r.body);
      assert.equal(page.count, page.tasks.length);
      seen.push(...page.tasks.map((x) => x.id as string));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, ids);
    const bad = await api(h, "GET", "/v1/tasks?limit=0");
    assert.equal(bad.status, 400);
    const forged = await api(h, "GET", "/v1/tasks?cursor=%28evil");
    assert.equal(forged.status, 400, JSON.stringify(forged.body));
    assert.match(String(forged.body.error), /not a task list cursor/);
    const all = TaskPage.parse((await api(h, "GET", "/v1/tasks")).body);
    assert.equal(all.count, 7);
    assert.equal(all.next_cursor, undefined);
  } finally {
    await closeHall(h);
  }
});

Deno.test("tt task list --limit prints one page and the next cursor; --after follows it", async () => {
  const sb = new Sandbox();
  try {
    await sb.init();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await sb.json<Task>(["backlog", "add", `job ${i}`])).id);
    }
    const p1 = await sb.json<{ tasks: Task[]; count: number; next_cursor?: string }>([
      "task",
      "list",
      "--limit",
      "2",
    ]);
    assert.deepEqual(p1.tasks.map((x) => x.id), ids.slice(0, 2));
    assert.ok(p1.next_cursor);
    const human = await sb.ok(["task", "list", "--limit", "2", "--after", p1.next_cursor]);
    const lines = human.stdout.trim().split("\n");
    assert.equal(lines.length, 3, human.stdout);
    assert.match(lines[0], new RegExp(ids[2].slice(0, 8)));
    const next = /^Next page: --after (\S+)$/.exec(lines[2]);
    assert.ok(next, lines[2]);
    const last = await sb.json<{ tasks: Task[]; next_cursor?: string }>([
      "task",
      "list",
      "--limit",
      "2",
      "--after",
      next[1],
    ]);
    assert.deepEqual(last.tasks.map((x) => x.id), ids.slice(4));
    assert.equal(last.next_cursor, undefined);
    // Without --limit: every task, as before (a plain array).
    assert.deepEqual((await sb.json<Task[]>(["task", "list"])).map((x) => x.id), ids);
    for (const args of [["--limit", "0"], ["--limit", "x"], ["--after", "junk"]]) {
      const r = await sb.tt(["task", "list", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  } finally {
    sb.cleanup();
  }
});
