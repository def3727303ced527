/** A 500-item mission: every item done exactly once, and what scheduling costs per event. */
import assert from "node:assert/strict";
import { report, withTestTown } from "../helpers.ts";
import { completeTask } from "../../src/core/tasks.ts";
import { compileGraph } from "../../src/core/missions/graph.ts";
import { createMission, loadMission } from "../../src/core/missions/store.ts";
import { onTaskEnded, scheduleMission } from "../../src/core/missions/scheduler.ts";
import { recentEvents } from "../../src/core/events.ts";
import { idleAgent, lease } from "./helpers.ts";

Deno.test("scale: a 500-item mission (10 chains of 50) completes with each item assigned once", async () => {
  await withTestTown(async (t) => {
    for (let i = 0; i < 10; i++) await idleAgent(t, `w${i}`);
    const items = Array.from({ length: 500 }, (_, i) => ({
      id: `i${i}`,
      title: `Item ${i}`,
      depends_on: i >= 10 ? [`i${i - 10}`] : [],
    }));
    const started = performance.now();
    const m = await createMission(t, {
      source: "scale",
      items: compileGraph(items),
      maxParallel: 10,
      reviewer: false,
    });
    const compileMs = performance.now() - started;
    const s = await lease(t, "h:1", 600_000);
    await scheduleMission(s, m.id);
    const costs: number[] = [];
    for (let round = 0; round < 600; round++) {
      const v = (await loadMission(t, m.id))!;
      if (v.mission.state === "completed") break;
      const active = [...v.live].filter(([, l]) => l.status === "active");
      assert.ok(
        active.length > 0 && active.length <= 10,
        `round ${round}: ${active.length} active`,
      );
      for (const [item, l] of active) {
        await completeTask(t, l.task!, { result: `did ${item}` });
        const t0 = performance.now();
        await onTaskEnded(s, { mission: m.id, item, role: "work" }, l.task!);
        await scheduleMission(s, m.id);
        costs.push(performance.now() - t0);
      }
    }
    const v = (await loadMission(t, m.id))!;
    assert.equal(v.mission.state, "completed");
    assert.equal(costs.length, 500);
    const assigned = (await recentEvents(t, { count: 100_000 })).filter((e) =>
      e.type === "mission_item_assigned"
    );
    assert.equal(assigned.length, 500);
    assert.equal(new Set(assigned.map((e) => e.item_id)).size, 500);
    costs.sort((a, b) => a - b);
    const q = (p: number) =>
      costs[Math.min(costs.length - 1, Math.floor(p * costs.length))].toFixed(1);
    report(
      `missions: 500-item mission, scheduling per completion event: p50 ${q(0.5)} ms, p95 ${
        q(0.95)
      } ms, ` +
        `max ${q(1)} ms (create+compile ${compileMs.toFixed(0)} ms)`,
    );
  });
});
