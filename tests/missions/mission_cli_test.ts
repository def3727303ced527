/** Black-box: `tt mission` with fake agents, the dispatcher running in the supervisor. */
import assert from "node:assert/strict";
import { AgentTown, alive, fakeCli, waitForEvent, waitUntil } from "../agent_helpers.ts";
import { getTasks } from "../../src/core/tasks.ts";
import { recentEvents } from "../../src/core/events.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { report } from "../helpers.ts";
import type { TownEvent } from "../../src/core/schemas.ts";
import { holdCli, missionEvents, type MissionJson, writePlan } from "./helpers.ts";

const completed = (mid: string) => (e: TownEvent) =>
  e.type === "mission_completed" && e.mission_id === mid;
const of = (evs: TownEvent[], type: string, item?: string) =>
  evs.filter((e) => e.type === type && (item === undefined || e.item_id === item));
const idx = (evs: TownEvent[], e: TownEvent | undefined) => {
  assert.ok(e, "event missing");
  return evs.indexOf(e);
};

Deno.test("mission: a 3-item chain with max_parallel 2 completes in order", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["spawn", "w2", "--cli", fakeCli("complete")]);
    const plan = await writePlan(at, [
      { id: "design", title: "Design the API" },
      { id: "build", title: "Build it", depends_on: ["design"] },
      { id: "ship", title: "Ship it", depends_on: ["build"] },
    ]);
    const m = await at.sb.json<MissionJson>([
      "mission",
      "start",
      "--plan",
      plan,
      "--max-parallel",
      "2",
      "--no-reviewer",
    ]);
    assert.equal(m.state, "running");
    const waited = await at.sb.json<MissionJson>([
      "mission",
      "wait",
      m.id.slice(0, 8),
      "--timeout",
      "120",
    ]);
    assert.equal(waited.state, "completed");
    assert.equal(waited.counts.done, 3);

    const list = await at.sb.json<MissionJson[]>(["mission", "list", "--all"]);
    assert.deepEqual(list.map((x) => [x.id, x.state]), [[m.id, "completed"]]);
    assert.deepEqual(await at.sb.json<MissionJson[]>(["mission", "list"]), []);

    const evs = await missionEvents(at, m.id);
    // Each item assigned once, and only after the one before it was done.
    for (const id of ["design", "build", "ship"]) {
      assert.equal(of(evs, "mission_item_assigned", id).length, 1);
    }
    assert.ok(
      idx(evs, of(evs, "mission_item_done", "design")[0]) <
        idx(evs, of(evs, "mission_item_assigned", "build")[0]),
    );
    assert.ok(
      idx(evs, of(evs, "mission_item_done", "build")[0]) <
        idx(evs, of(evs, "mission_item_assigned", "ship")[0]),
    );
    assert.ok(
      idx(evs, of(evs, "mission_item_done", "ship")[0]) < idx(evs, of(evs, "mission_completed")[0]),
    );

    // Every mission task's description contains its item's title.
    const shown = await at.sb.json<MissionJson>(["mission", "show", m.id.slice(0, 8)]);
    const tasks = await getTasks(at.t, shown.items.map((i) => i.task!));
    assert.equal(tasks.length, 3);
    for (const [i, task] of tasks.entries()) {
      assert.ok(task.description.includes(shown.items[i].title), task.description);
      assert.equal(task.state, "completed");
    }
    const text = await at.sb.ok(["mission", "show", m.id.slice(0, 8)]);
    assert.match(
      text.stdout,
      /design \[done\] Design the API\n\s+└─ ✔ build \[done\] Build it {2}← design\n\s+└─ ✔ ship/,
    );
  } finally {
    await at.cleanup();
  }
});

Deno.test("mission: a diamond runs its two middle items in parallel", async () => {
  const at = await AgentTown.create();
  try {
    const state = await Deno.makeTempDir({ dir: at.sb.dir });
    await at.sb.ok(["spawn", "w1", "--cli", holdCli(state)]);
    await at.sb.ok(["spawn", "w2", "--cli", holdCli(state)]);
    const plan = await writePlan(at, [
      { id: "top", title: "Plan the work" },
      { id: "left", title: "Left side", body: "[hold]", depends_on: ["top"] },
      { id: "right", title: "Right side", body: "[hold]", depends_on: ["top"] },
      { id: "bottom", title: "Join both", depends_on: ["left", "right"] },
    ]);
    const m = await at.sb.json<MissionJson>(["mission", "start", "--plan", plan, "--no-reviewer"]);
    const assigned = (item: string) => (e: TownEvent) =>
      e.type === "mission_item_assigned" && e.mission_id === m.id && e.item_id === item;
    const left = await waitForEvent(at.t, assigned("left"));
    const right = await waitForEvent(at.t, assigned("right"));
    // Both middle items are in progress at once, on the two agents, caused by the same event.
    const now = await at.sb.json<MissionJson>(["mission", "show", m.id]);
    const st = Object.fromEntries(now.items.map((i) => [i.id, i]));
    assert.equal(st.left.status, "active");
    assert.equal(st.right.status, "active");
    assert.notEqual(st.left.agent, st.right.agent);
    assert.equal(left.cause, right.cause);
    await Deno.writeTextFile(`${state}/open`, "");
    await waitForEvent(at.t, completed(m.id));
    const evs = await missionEvents(at, m.id);
    const bottom = of(evs, "mission_item_assigned", "bottom")[0];
    assert.ok(idx(evs, of(evs, "mission_item_done", "left")[0]) < idx(evs, bottom));
    assert.ok(idx(evs, of(evs, "mission_item_done", "right")[0]) < idx(evs, bottom));
  } finally {
    await at.cleanup();
  }
});

Deno.test("mission: a cycle is refused, naming it, with nothing written", async () => {
  const at = await AgentTown.create();
  try {
    const plan = await writePlan(at, [
      { id: "a", title: "First" },
      { id: "b", title: "Second", depends_on: ["a", "d"] },
      { id: "c", title: "Third", depends_on: ["b"] },
      { id: "d", title: "Fourth", depends_on: ["c"] },
    ]);
    const r = await at.sb.tt(["mission", "start", "--plan", plan, "--no-reviewer"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /cycle: (b → c → d → b|c → d → b → c|d → b → c → d)/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
    const [, keys] = await at.t.redis.scan(
      "0",
      "MATCH",
      `${at.t.keys.prefix}*mission*`,
      "COUNT",
      10_000,
    );
    assert.deepEqual(keys, []);
    assert.deepEqual(await at.sb.json(["mission", "list", "--all"]), []);
    // Unknown dependencies and duplicate ids are refused the same way.
    const bad = await writePlan(at, [{ id: "a" }, { id: "b", depends_on: ["zz"] }], "bad.toml");
    const r2 = await at.sb.tt(["mission", "start", "--plan", bad]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /item 'b' depends on 'zz', which is not an item of this mission/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("mission: a dependant is assigned by its dependency's completion event, not a tick", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    const plan = await writePlan(at, [
      { id: "first", title: "Do the first thing" },
      { id: "second", title: "Then the second", depends_on: ["first"] },
    ]);
    const m = await at.sb.json<MissionJson>(["mission", "start", "--plan", plan, "--no-reviewer"]);
    await waitForEvent(at.t, completed(m.id));
    const all = await recentEvents(at.t, { count: 100_000 });
    const first = all.find((e) => e.type === "mission_item_assigned" && e.item_id === "first")!;
    const done = all.find((e) => e.type === "task_completed" && e.task_id === first.task_id)!;
    const second = all.find((e) => e.type === "mission_item_assigned" && e.item_id === "second")!;
    // The completion event itself caused the item's promotion and its assignment.
    assert.equal(second.cause, done.id);
    const ready = all.find((e) => e.type === "mission_item_ready" && e.item_id === "second")!;
    assert.equal(ready.cause, done.id);
    assert.ok(all.indexOf(done) < all.indexOf(ready) && all.indexOf(ready) < all.indexOf(second));
    // Nothing but the reaction to that event happened in between (no tick, no other trigger).
    const between = all.slice(all.indexOf(done) + 1, all.indexOf(second));
    assert.deepEqual(
      between.map((e) => e.type).filter((t) => t.startsWith("mission_")),
      ["mission_item_done", "mission_item_ready"],
    );
    const ms = Number(second.id.split("-")[0]) - Number(done.id.split("-")[0]);
    report(`missions: dependency completed → dependant assigned: ${ms} ms (stream ids)`);
  } finally {
    await at.cleanup();
  }
});

Deno.test("mission: the supervisor SIGKILLed mid-mission loses no item and assigns none twice", async () => {
  const at = await AgentTown.create();
  try {
    const state = await Deno.makeTempDir({ dir: at.sb.dir });
    for (const n of ["w1", "w2", "w3"]) {
      await at.sb.ok(["spawn", n, "--cli", fakeCli("jitter", state)]);
    }
    const plan = await writePlan(at, [
      { id: "a" },
      { id: "b" },
      { id: "c" },
      { id: "d", depends_on: ["a", "b"] },
      { id: "e", depends_on: ["c"] },
      { id: "f", depends_on: ["d", "e"] },
      { id: "g", depends_on: ["f"] },
    ]);
    const m = await at.sb.json<MissionJson>([
      "mission",
      "start",
      "--plan",
      plan,
      "--max-parallel",
      "3",
      "--no-reviewer",
    ]);
    // Kill it once some work is done and more is in flight.
    await waitForEvent(at.t, (e) => e.type === "mission_item_done" && e.mission_id === m.id);
    const info = (await supervisorInfo(at.t))!;
    Deno.kill(info.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(info.pid)));
    await at.t.redis.del(at.t.keys.supervisor(info.host)); // its heartbeat would expire in ≤10 s
    await at.sb.ok(["start"]); // revives the supervisor, whose dispatcher takes the lease over
    await waitForEvent(at.t, completed(m.id), 120_000);

    const evs = await missionEvents(at, m.id);
    const shown = await at.sb.json<MissionJson>(["mission", "show", m.id]);
    for (const it of shown.items) {
      assert.equal(it.status, "done", it.id);
      assert.equal(
        of(evs, "mission_item_assigned", it.id).length,
        1,
        `item ${it.id} assigned once`,
      );
      assert.equal(of(evs, "mission_item_done", it.id).length, 1, `item ${it.id} done once`);
      assert.equal(it.attempts, 1);
    }
    const tasks = await getTasks(at.t, shown.items.map((i) => i.task!));
    assert.deepEqual(tasks.map((x) => x.state), Array(7).fill("completed"));
    // Dependencies were respected across the restart.
    for (
      const [item, deps] of [["d", ["a", "b"]], ["e", ["c"]], ["f", ["d", "e"]], ["g", [
        "f",
      ]]] as const
    ) {
      for (const d of deps) {
        assert.ok(
          idx(evs, of(evs, "mission_item_done", d)[0]) <
            idx(evs, of(evs, "mission_item_assigned", item)[0]),
        );
      }
    }
    assert.equal(
      new Set(evs.filter((e) => e.type === "mission_item_assigned").map((e) => e.task_id)).size,
      7,
    );
  } finally {
    await at.cleanup();
  }
});

Deno.test("mission: the reviewer gate sends rejected work back, then completes once approved", async () => {
  const at = await AgentTown.create();
  try {
    const state = await Deno.makeTempDir({ dir: at.sb.dir });
    await at.sb.ok(["spawn", "dev", "--cli", holdCli(state)]);
    await at.sb.ok(["spawn", "rev", "--role", "reviewer", "--cli", holdCli(state, "reject")]);
    const plan = await writePlan(at, [
      { id: "api", title: "Write the API", kind: "implement" },
      { id: "doc", title: "Document it", kind: "design", depends_on: ["api"] },
    ]);
    const m = await at.sb.json<MissionJson>(["mission", "start", "--plan", plan]);
    await waitForEvent(at.t, completed(m.id));
    const evs = await missionEvents(at, m.id);
    assert.deepEqual(
      evs.filter((e) => e.item_id === "api").map((e) => e.type),
      [
        "mission_item_ready",
        "mission_item_assigned",
        "mission_item_review",
        "mission_review_assigned",
        "mission_changes_requested",
        "mission_item_assigned",
        "mission_item_review",
        "mission_review_assigned",
        "mission_item_done",
      ],
    );
    const shown = await at.sb.json<MissionJson>(["mission", "show", m.id]);
    const api = shown.items.find((i) => i.id === "api")!;
    assert.equal(api.attempts, 2);
    const [fix] = await getTasks(at.t, [api.task!]);
    assert.match(
      fix.description,
      /Changes requested on the last attempt:\nrejected: please add the tests/,
    );
    // The work went to the worker, the reviews to the reviewer; design work skips the gate.
    const agents = await at.sb.json<{ id: string; name: string }[]>(["list"]);
    const name = (id?: string) => agents.find((a) => a.id === id)?.name;
    for (const e of of(evs, "mission_item_assigned")) assert.equal(name(e.agent_id), "dev");
    for (const e of of(evs, "mission_review_assigned")) assert.equal(name(e.agent_id), "rev");
    assert.equal(of(evs, "mission_item_review", "doc").length, 0);
  } finally {
    await at.cleanup();
  }
});

Deno.test("mission: pause, resume, note and stop from the CLI; tt status lists active missions", async () => {
  const at = await AgentTown.create();
  try {
    const plan = await writePlan(at, [{ id: "only", title: "The only item" }]);
    const start = await at.sb.ok(["mission", "start", "--plan", plan, "--title", "Lonely"]);
    assert.match(
      start.stdout,
      /^Started mission ([0-9a-f]{8}): Lonely \(1 items, max 2 in parallel, reviewer gate on\)/,
    );
    assert.match(start.stderr, /No agent is running yet/);
    const id = start.stdout.match(/mission ([0-9a-f]{8})/)![1];
    const status = await at.sb.json<{ missions: { id: string; state: string; total: number }[] }>([
      "status",
    ]);
    assert.deepEqual(status.missions.map((m) => [m.id.slice(0, 8), m.state, m.total]), [[
      id,
      "running",
      1,
    ]]);
    assert.match(
      (await at.sb.ok(["status"])).stdout,
      new RegExp(`Missions: 1 active\\n  ${id} running 0/1 done, 0 active: Lonely`),
    );

    assert.equal((await at.sb.json<MissionJson>(["mission", "pause", id])).state, "paused");
    const again = await at.sb.tt(["mission", "pause", id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^tt: mission [0-9a-f]{8} is paused: cannot pause it\n$/);
    assert.equal((await at.sb.json<MissionJson>(["mission", "resume", id])).state, "running");
    await at.sb.ok(["mission", "note", id, "mind the edge cases"]);
    const shown = await at.sb.ok(["mission", "show", id]);
    assert.match(shown.stdout, /Notes:\n {2}\d+s ago: mind the edge cases/);
    const approve = await at.sb.tt(["mission", "approve", id, "only"]);
    assert.equal(approve.code, 1);
    assert.match(approve.stderr, /item 'only' is pending, not waiting for review/);
    const byAgent = await at.sb.tt(["mission", "approve", id, "only"], {
      env: { TINYTOWN_AGENT_ID: "11111111-1111-1111-1111-111111111111" },
    });
    assert.equal(byAgent.code, 1);
    assert.match(byAgent.stderr, /^tt: an agent cannot approve mission work/);
    const unknown = await at.sb.tt(["mission", "approve", id, "nope"]);
    assert.match(unknown.stderr, /has no item 'nope': its items are only/);
    assert.equal((await at.sb.json<MissionJson>(["mission", "stop", id])).state, "stopped");
    assert.deepEqual(await at.sb.json(["mission", "list"]), []);
    const all = await at.sb.json<MissionJson[]>(["mission", "list", "--all"]);
    assert.deepEqual(all.map((m) => m.state), ["stopped"]);
    assert.deepEqual((await at.sb.json<{ missions: unknown[] }>(["status"])).missions, []);
    const evs = await missionEvents(at, all[0].id);
    assert.deepEqual(evs.map((e) => e.type).filter((t) => !t.startsWith("mission_item")), [
      "mission_started",
      "mission_paused",
      "mission_resumed",
      "mission_note",
      "mission_stopped",
    ]);
    // Bad input: one line, usage exit code.
    for (
      const args of [["mission", "start"], ["mission", "start", "--plan", "nope.toml"], [
        "mission",
        "show",
        "ab",
      ]]
    ) {
      const r = await at.sb.tt(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  } finally {
    await at.cleanup();
  }
});
