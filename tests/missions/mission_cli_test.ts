/** Black-box: `tt mission` with fake agents, the dispatcher running in the supervisor. */
import assert from "node:assert/strict";
import { AgentTown, fakeCli, waitForEvent } from "../agent_helpers.ts";
import { getTasks } from "../../src/core/tasks.ts";
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
    await waitForEvent(at.t, completed(m.id));

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
