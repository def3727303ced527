/**
 * The scheduler against a real Redis, without a supervisor: the lease's fencing, races between
 * dispatch passes, failures, help requests, stop, and hostile text.
 */
import assert from "node:assert/strict";
import { withTestTown } from "../helpers.ts";
import type { Ctx } from "../../src/core/agents.ts";
import type { TownContext } from "../../src/core/town.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { completeTask, failTask, getTask, listTasks } from "../../src/core/tasks.ts";
import { runScript } from "../../src/redis/script.ts";
import { ACQUIRE_LEASE } from "../../src/core/missions/scripts.ts";
import { compileGraph } from "../../src/core/missions/graph.ts";
import { createMission, loadMission, type MissionView } from "../../src/core/missions/store.ts";
import {
  LeaseLost,
  onTaskEnded,
  reconcile,
  type SchedCtx,
  scheduleMission,
} from "../../src/core/missions/scheduler.ts";
import { noteMission, resumeMission, stopMission } from "../../src/core/missions/ops.ts";
import { recentEvents } from "../../src/core/events.ts";
import { sendMessage } from "../../src/core/messages.ts";
import type { ItemDef } from "../../src/core/missions/schemas.ts";
import { idleAgent, lease } from "./helpers.ts";

async function mission(
  t: TownContext,
  defs: ItemDef[],
  opts: { maxParallel?: number; reviewer?: boolean } = {},
) {
  const m = await createMission(t, {
    source: "test",
    items: compileGraph(defs),
    reviewer: false,
    ...opts,
  });
  return m.id;
}

const view = async (t: Ctx, id: string) => (await loadMission(t, id)) as MissionView;
const status = async (t: Ctx, id: string) =>
  Object.fromEntries([...(await view(t, id)).live].map(([k, l]) => [k, l.status]));
const item = (id: string, depends_on: string[] = []) => ({ id, title: `Item ${id}`, depends_on });

/** Ends the task bound to an item the way an agent would, then lets the scheduler react. */
async function finish(
  s: SchedCtx,
  mid: string,
  itemId: string,
  how: "complete" | "fail" = "complete",
) {
  const l = (await view(s.t, mid)).live.get(itemId)!;
  if (how === "complete") await completeTask(s.t, l.task!, { result: `did ${itemId}` });
  else await failTask(s.t, l.task!, { result: "tests are red" });
  await onTaskEnded(s, { mission: mid, item: itemId, role: "work" }, l.task!);
  await scheduleMission(s, mid);
}

Deno.test("lease: a dispatcher whose lease passed to another writes nothing (fencing)", async () => {
  await withTestTown(async (t) => {
    await idleAgent(t, "w1");
    const mid = await mission(t, [item("a"), item("b", ["a"])]);
    const old = await lease(t, "host-a:1");
    await t.redis.del(t.keys.dispatcherLock); // its lease expired while it was paused
    const current = await lease(t, "host-b:2");
    assert.notEqual(old.token, current.token);
    const before = await status(t, mid);
    await assert.rejects(() => scheduleMission(old, mid), LeaseLost);
    assert.deepEqual(await status(t, mid), before);
    assert.equal((await listTasks(t)).length, 0);
    await scheduleMission(current, mid);
    assert.deepEqual(await status(t, mid), { a: "active", b: "pending" });
    // The stale one cannot move the item on either, even with a completed task in hand.
    const task = (await view(t, mid)).live.get("a")!.task!;
    await completeTask(t, task, { result: "done" });
    await assert.rejects(
      () => onTaskEnded(old, { mission: mid, item: "a", role: "work" }, task),
      LeaseLost,
    );
    assert.equal((await status(t, mid)).a, "active");
    // A lease can only be taken over from a holder known to be dead, by its exact token.
    const [taken] =
      (await runScript(t.redis, ACQUIRE_LEASE, [t.keys.dispatcherLock, t.keys.dispatcherFence], [
        60_000,
        "host-c:3",
        old.token,
      ])) as [number, string];
    assert.equal(taken, 0);
  });
});

Deno.test("scheduler: racing passes assign each item once and never exceed max_parallel", async () => {
  await withTestTown(async (t) => {
    const mid = await mission(t, ["a", "b", "c", "d", "e"].map((id) => item(id)), {
      maxParallel: 2,
    });
    const s = await lease(t);
    await scheduleMission(s, mid); // no agent yet: all five become ready, none assigned
    assert.deepEqual(Object.values(await status(t, mid)), Array(5).fill("ready"));
    for (const n of ["w1", "w2", "w3"]) await idleAgent(t, n);
    // Every pass sees five ready items and two free slots.
    await Promise.all(Array.from({ length: 8 }, () => scheduleMission(s, mid)));
    const tasks = await listTasks(t);
    assert.equal(tasks.length, 2);
    const st = await status(t, mid);
    assert.equal(Object.values(st).filter((x) => x === "active").length, 2);
    assert.equal(new Set(tasks.map((x) => x.assigned_to)).size, 2, "spread over two agents");
    const evs = (await recentEvents(t, { count: 1000 })).filter((e) =>
      e.type === "mission_item_assigned"
    );
    assert.equal(evs.length, 2);
  });
});

Deno.test("scheduler: a failed item blocks the mission and asks the conductor once; resume retries it", async () => {
  await withTestTown(async (t) => {
    await idleAgent(t, "w1");
    await sendMessage(t, {
      from: SUPERVISOR_ID,
      to: SUPERVISOR_ID,
      type: "informational",
      body: "unrelated",
    });
    const mid = await mission(t, [item("a"), item("b", ["a"])]);
    const s = await lease(t);
    await scheduleMission(s, mid);
    await finish(s, mid, "a", "fail");
    let v = await view(t, mid);
    assert.equal(v.mission.state, "blocked");
    assert.match(v.mission.reason!, /item 'a' failed .*tests are red/);
    await scheduleMission(s, mid); // nothing changed: no second request
    const inbox = async () =>
      (await t.redis.lrange(t.keys.inbox(SUPERVISOR_ID), 0, -1)).map((m) => JSON.parse(m));
    const help = (await inbox()).filter((m) => m.body.includes(`[Mission help] mission ${mid}`));
    assert.equal(help.length, 1);
    assert.equal(help[0].type, "query");
    await resumeMission(t, mid.slice(0, 8));
    assert.deepEqual(
      (await inbox()).map((m) => m.body),
      ["unrelated"],
      "help retired, the rest kept",
    );
    await scheduleMission(s, mid);
    v = await view(t, mid);
    assert.equal(v.mission.state, "running");
    assert.equal(v.live.get("a")!.status, "active");
    assert.equal(v.live.get("a")!.attempts, 2);
    await finish(s, mid, "a");
    await finish(s, mid, "b");
    assert.equal((await view(t, mid)).mission.state, "completed");
    assert.equal(await t.redis.sismember(t.keys.missionsActive, mid), 0);
  });
});

Deno.test("scheduler: work that ended while no dispatcher listened is picked up by reconcile", async () => {
  await withTestTown(async (t) => {
    await idleAgent(t, "w1");
    const mid = await mission(t, [item("a"), item("b", ["a"])]);
    const s = await lease(t);
    await scheduleMission(s, mid);
    await completeTask(t, (await view(t, mid)).live.get("a")!.task!, { result: "done" });
    await reconcile(s);
    assert.deepEqual(await status(t, mid), { a: "done", b: "active" });
    await reconcile(s); // idempotent
    assert.equal((await listTasks(t)).length, 2);
    // A task deleted behind the mission's back: the item is worked on again, not lost.
    const gone = (await view(t, mid)).live.get("b")!.task!;
    await t.redis.del(t.keys.task(gone));
    await reconcile(s);
    const b = (await view(t, mid)).live.get("b")!;
    assert.equal(b.status, "active");
    assert.notEqual(b.task, gone);
    assert.equal(b.attempts, 2);
  });
});

Deno.test("scheduler: no agent that fits ⇒ a help request; stop cancels open work", async () => {
  await withTestTown(async (t) => {
    await idleAgent(t, "rev", "reviewer"); // scores 0 for implement work
    const mid = await mission(t, [item("a"), item("b")]);
    const s = await lease(t);
    await scheduleMission(s, mid);
    let v = await view(t, mid);
    assert.match(v.mission.help_reason!, /2 ready item\(s\) \(a, b\) but no agent can take them/);
    const w = await idleAgent(t, "w1");
    await scheduleMission(s, mid);
    v = await view(t, mid);
    assert.equal(v.mission.help_reason, undefined, "retired once work could go on");
    assert.equal((await t.redis.lrange(t.keys.inbox(SUPERVISOR_ID), 0, -1)).length, 0);
    const open = (await listTasks(t)).filter((x) => x.assigned_to === w.id);
    assert.equal(open.length, 2);
    await stopMission(t, mid);
    v = await view(t, mid);
    assert.equal(v.mission.state, "stopped");
    assert.deepEqual([...v.live.values()].map((l) => l.status), ["cancelled", "cancelled"]);
    for (const x of open) assert.equal((await getTask(t, x.id))!.state, "cancelled");
    assert.equal(await t.redis.sismember(t.keys.missionsActive, mid), 0);
    // A stopped mission's cancelled tasks move nothing.
    assert.equal(
      await onTaskEnded(s, { mission: mid, item: "a", role: "work" }, open[0].id),
      false,
    );
  });
});

Deno.test("mission text is data: quotes, newlines, Lua patterns and JSON survive intact", async () => {
  await withTestTown(async (t) => {
    await idleAgent(t, "w1");
    const title = `"]]}%s%d\\n'; redis.call('FLUSHALL') -- \u2028 ✓`;
    const body = `line one\nline two with {"json": [1, 2]} and %% and \\`;
    const mid = await mission(t, [{ id: "x", title, body, depends_on: [] }]);
    const s = await lease(t);
    await noteMission(t, mid, `note with "quotes" and\nnewline`);
    await scheduleMission(s, mid);
    const v = await view(t, mid);
    assert.equal(v.mission.items[0].title, title);
    assert.equal(v.mission.title, title);
    const task = (await getTask(t, v.live.get("x")!.task!))!;
    assert.ok(task.description.includes(title));
    assert.ok(task.description.includes(body));
    assert.ok(task.description.includes(`note with "quotes" and\nnewline`));
    assert.ok((await t.redis.dbsize()) > 0, "nothing flushed");
  });
});

/** A mission of one gated item whose work w1 completed: the item waits for rev's review. */
async function inReview(t: TownContext) {
  const worker = await idleAgent(t, "w1");
  const reviewer = await idleAgent(t, "rev", "reviewer");
  const mid = await mission(t, [item("a")], { reviewer: true });
  const s = await lease(t);
  await scheduleMission(s, mid);
  let l = (await view(t, mid)).live.get("a")!;
  assert.equal(l.agent, worker.id, "work goes to the worker, not the reviewer");
  await completeTask(t, l.task!, { by: worker.id, result: "built it" });
  await onTaskEnded(s, { mission: mid, item: "a", role: "work" }, l.task!, undefined, worker.id);
  await scheduleMission(s, mid);
  l = (await view(t, mid)).live.get("a")!;
  assert.equal(l.status, "review");
  const review = (await getTask(t, l.review!))!;
  assert.equal(review.assigned_to, reviewer.id);
  return { s, mid, worker, review };
}

Deno.test("reviewer gate: a worker that ends its own review (--force) decides nothing", async () => {
  await withTestTown(async (t) => {
    const { s, mid, worker, review } = await inReview(t);
    await completeTask(t, review.id, { by: worker.id, force: true, result: "approved: by me" });
    await onTaskEnded(
      s,
      { mission: mid, item: "a", role: "review" },
      review.id,
      undefined,
      worker.id,
    );
    const l = (await view(t, mid)).live.get("a")!;
    assert.equal(l.status, "review");
    assert.equal(l.review, "operator");
    const { approveItem } = await import("../../src/core/missions/ops.ts");
    await approveItem(t, mid, "a", "checked by hand");
    await scheduleMission(s, mid);
    assert.equal((await view(t, mid)).mission.state, "completed");
  });
});

Deno.test("reviewer gate: a review task that fails leaves the item to the operator; reject sends it back", async () => {
  await withTestTown(async (t) => {
    const { s, mid, review } = await inReview(t);
    await failTask(t, review.id, { result: "the reviewer's CLI crashed" });
    await onTaskEnded(s, { mission: mid, item: "a", role: "review" }, review.id);
    await scheduleMission(s, mid);
    const l = (await view(t, mid)).live.get("a")!;
    assert.equal(l.status, "review", "a failed review approves nothing");
    assert.equal(l.review, "operator");
    const ev = (await recentEvents(t, { count: 100 })).find((e) =>
      e.type === "mission_review_failed"
    );
    assert.match(ev?.message ?? "", /the review of 'a' ended failed: the operator decides/);
    const { rejectItem } = await import("../../src/core/missions/ops.ts");
    await rejectItem(t, mid, "a", "redo it");
    assert.equal((await view(t, mid)).live.get("a")!.status, "ready");
  });
});

Deno.test("help requests repeat with back-off, replacing the old one (never two in the inbox)", async () => {
  await withTestTown(async (t) => {
    const mid = await mission(t, [item("a")]);
    const s = { ...(await lease(t)), helpRepeatMs: 10_000 };
    await scheduleMission(s, mid); // no agent at all
    const helps = async () =>
      (await t.redis.lrange(t.keys.inbox(SUPERVISOR_ID), 0, -1)).filter((m) =>
        m.includes("[Mission help]")
      );
    assert.equal((await helps()).length, 1);
    const first = (await view(t, mid)).mission;
    assert.equal(first.help_attempts, 1);
    await scheduleMission(s, mid); // not due yet: 10 s × 2^1
    assert.equal((await view(t, mid)).mission.help_at, first.help_at);
    // The request was sent 21 s ago (past its back-off): no sleep, the record says so.
    const ago = new Date(Date.parse(first.help_at!) - 21_000).toISOString();
    await t.redis.hset(t.keys.mission(mid), "help_at", ago);
    await scheduleMission(s, mid);
    const second = (await view(t, mid)).mission;
    assert.equal(second.help_attempts, 2);
    assert.ok(Date.parse(second.help_at!) >= Date.parse(first.help_at!), "sent again now");
    assert.equal((await helps()).length, 1, "the old request was retired");
    const evs = (await recentEvents(t, { count: 100 })).filter((e) =>
      e.type === "mission_help_needed"
    );
    assert.equal(evs.length, 2);
  });
});

Deno.test("a dispatcher stopped while it catches up (or takes the lease) ends: its event stream never outlives the stop", async () => {
  await withTestTown(async (t) => {
    const { startDispatcher } = await import("../../src/core/missions/dispatcher.ts");
    const logs: string[] = [];
    // A supervisor told to stop right after it started: the dispatcher's first lease was taken
    // before startDispatcher resolved, so the stop lands during its catch-up reads. Before the
    // fix its stream was linked to the stop only after those reads and blocked for ever.
    for (let i = 0; i < 5; i++) {
      const d = await startDispatcher(t, { host: "here", log: (l) => logs.push(l) });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        d.stop().then(() => "stopped"),
        new Promise((r) => timer = setTimeout(() => r("still running after 10 s"), 10_000)),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "stopped", logs.join("\n"));
    }
    assert.equal(await t.redis.get(t.keys.dispatcherLock), null, "the lease is given up");
  });
});
