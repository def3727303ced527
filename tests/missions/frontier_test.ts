/**
 * The status indexes the mission scripts keep in the items hash ('#n:<status>' counts,
 * '#in:<status>' lists, '#total') and the dispatcher's frontier view built from them: they
 * agree with the items' own statuses through every kind of transition, a hash from before them
 * is read whole and indexed on its first change, and the frontier reads details only of the
 * items in play.
 */
import assert from "node:assert/strict";
import { withTestTown } from "../helpers.ts";
import { createAgent, type Ctx, setAgentState } from "../../src/core/agents.ts";
import type { TownContext } from "../../src/core/town.ts";
import { completeTask, failTask } from "../../src/core/tasks.ts";
import { compileGraph } from "../../src/core/missions/graph.ts";
import { createMission, loadMission, type MissionView } from "../../src/core/missions/store.ts";
import { changeItem } from "../../src/core/missions/transitions.ts";
import { loadFrontier } from "../../src/core/missions/frontier.ts";
import { onTaskEnded, type SchedCtx, scheduleMission } from "../../src/core/missions/scheduler.ts";
import {
  approveItem,
  rejectItem,
  resumeMission,
  stopMission,
} from "../../src/core/missions/ops.ts";
import { ITEM_STATUSES } from "../../src/core/missions/schemas.ts";
import { idleAgent, lease } from "./helpers.ts";

async function setup(t: TownContext, n: number, reviewer = false, agents = true) {
  for (const name of agents ? ["w1", "w2", "w3"] : []) await idleAgent(t, name);
  // Without agents: a second mission, scheduled under the lease the first setup took.
  const s: SchedCtx = agents
    ? await lease(t)
    : { t, token: await t.redis.get(t.keys.dispatcherLock) ?? "", helpRepeatMs: 3_600_000 };
  // A diamond-ish lattice: item i depends on i-3 and i-2.
  const items = Array.from({ length: n }, (_, i) => ({
    id: `i${i}`,
    title: `Item ${i}`,
    depends_on: [i - 3, i - 2].filter((d) => d >= 0).map((d) => `i${d}`),
  }));
  const m = await createMission(t, {
    source: "test",
    items: compileGraph(items),
    reviewer,
    maxParallel: 3,
  });
  return { s, mid: m.id };
}

const full = async (t: Ctx, id: string) => (await loadMission(t, id)) as MissionView;

/** The indexes agree with the statuses, and the frontier with the whole view. */
async function assertIndexes(t: Ctx, mid: string, where: string) {
  const v = await full(t, mid);
  const hash = await t.redis.hgetall(t.keys.missionItems(mid));
  assert.equal(Number(hash["#total"]), v.mission.items.length, `${where}: #total`);
  for (const st of ITEM_STATUSES) {
    const ids = v.mission.items.filter((it) => v.live.get(it.id)!.status === st).map((it) => it.id);
    const listed = (hash[`#in:${st}`] ?? "").split(" ").filter(Boolean);
    assert.deepEqual(listed.sort(), [...ids].sort(), `${where}: #in:${st}`);
    assert.equal(Number(hash[`#n:${st}`] ?? 0), ids.length, `${where}: #n:${st}`);
  }
  const f = (await loadFrontier(t, mid))!;
  assert.deepEqual(f.mission, v.mission, `${where}: the frontier's mission record`);
  for (const [id, l] of v.live) {
    const fl = f.live.get(id)!;
    assert.equal(fl.status, l.status, `${where}: status of ${id}`);
    if (["ready", "active", "review", "watch", "failed"].includes(l.status)) {
      assert.deepEqual(fl, l, `${where}: details of ${id} (${l.status})`);
    }
  }
}

Deno.test("frontier: the status indexes follow every transition (assign, done, fail, resume, review, stop)", async () => {
  await withTestTown(async (t) => {
    const { s, mid } = await setup(t, 12, true);
    const reviewer = await createAgent(t, { name: "rita", cli: "true", role: "reviewer" });
    await setAgentState(t, reviewer.id, "idle");
    await scheduleMission(s, mid);
    await assertIndexes(t, mid, "start");
    let failedOnce = false;
    let rejectedOnce = false;
    for (let round = 0; round < 40; round++) {
      const v = await full(t, mid);
      if (v.mission.state === "completed") break;
      if (v.mission.state === "blocked") {
        await resumeMission(t, mid);
        await scheduleMission(s, mid);
        await assertIndexes(t, mid, `round ${round}: resumed`);
        continue;
      }
      for (const [id, l] of v.live) {
        if (l.status === "active" && l.task) {
          if (!failedOnce && id === "i4") {
            failedOnce = true;
            await failTask(t, l.task, { result: "red" });
          } else await completeTask(t, l.task, { result: `did ${id}` });
          await onTaskEnded(s, { mission: mid, item: id, role: "work" }, l.task);
        } else if (l.status === "review") {
          if (!rejectedOnce) {
            rejectedOnce = true;
            await rejectItem(t, mid, id, "add a test");
          } else await approveItem(t, mid, id, "fine");
        }
        await assertIndexes(t, mid, `round ${round}: ${id}`);
      }
      await scheduleMission(s, mid);
      await assertIndexes(t, mid, `round ${round}: scheduled`);
    }
    assert.ok(failedOnce && rejectedOnce);
    assert.equal((await full(t, mid)).mission.state, "completed");

    const other = await setup(t, 6, false, false);
    await scheduleMission(other.s, other.mid);
    await stopMission(t, other.mid);
    await assertIndexes(t, other.mid, "stopped");
    const stopped = await full(t, other.mid);
    assert.ok([...stopped.live.values()].every((l) => l.status === "cancelled"));
  });
});

Deno.test("frontier: a hash without the indexes (written before them) is read whole and indexed on its first change", async () => {
  await withTestTown(async (t) => {
    const { s, mid } = await setup(t, 8);
    await scheduleMission(s, mid);
    const key = t.keys.missionItems(mid);
    const fields = Object.keys(await t.redis.hgetall(key)).filter((f) => f.startsWith("#"));
    await t.redis.hdel(key, ...fields);
    const before = await full(t, mid);
    const f = (await loadFrontier(t, mid))!;
    assert.deepEqual([...f.live], [...before.live], "read whole");
    const [id, l] = [...before.live].find(([, x]) => x.status === "active")!;
    await completeTask(t, l.task!, { result: "done" });
    await onTaskEnded(s, { mission: mid, item: id, role: "work" }, l.task!);
    await assertIndexes(t, mid, "indexed on the first change");
    await scheduleMission(s, mid);
    await assertIndexes(t, mid, "after scheduling");
  });
});

Deno.test("frontier: details only for items in play; the indexes cannot be addressed as items", async () => {
  await withTestTown(async (t) => {
    const { s, mid } = await setup(t, 8);
    await scheduleMission(s, mid);
    const v = await full(t, mid);
    const [id, l] = [...v.live].find(([, x]) => x.status === "active")!;
    await completeTask(t, l.task!, { result: "done" });
    await onTaskEnded(s, { mission: mid, item: id, role: "work" }, l.task!);
    const f = (await loadFrontier(t, mid))!;
    assert.equal(f.live.get(id)!.status, "done");
    assert.equal(f.live.get(id)!.task, undefined, "a done item's details are not read");
    assert.equal((await loadFrontier(t, mid, [id]))!.live.get(id)!.task, l.task, "unless asked");
    for (const field of ["#counted", "#n:active", "#in:ready", "#total"]) {
      const r = await changeItem(t, mid, field, {
        from: [...ITEM_STATUSES],
        to: "done",
        event: { type: "mission_item_done", message: "forged" },
      });
      assert.equal(r.error, "not_found", field);
    }
    await assertIndexes(t, mid, "after the forged changes");
  });
});
