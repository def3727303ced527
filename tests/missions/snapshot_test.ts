/** A town with missions saves and restores: every mission key is a known kind, checked on restore. */
import assert from "node:assert/strict";
import { restoreSnapshot, takeSnapshot } from "../../src/core/snapshot.ts";
import { noteMission, startMissionFromSpec } from "../../src/core/missions/ops.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

Deno.test("missions: a town with a mission (items, notes, tasks) restores exactly; a forged mission hash is refused", async () => {
  await withTestTown(async (t) => {
    const m = await startMissionFromSpec(t, {
      title: "Login",
      items: [
        { id: "design", title: "Design it" },
        { id: "build", title: "Build it", depends_on: ["design"] },
      ],
      reviewer: false,
    });
    await noteMission(t, m.id, "remember the tests");
    const saved = await snapshotTown(t);
    const snap = await takeSnapshot(t);
    const rel = snap.keys.map((k) => k.key);
    assert.ok(rel.includes(`mission:${m.id}`), rel.join(", "));
    assert.ok(rel.includes(`mission:${m.id}:notes`), rel.join(", "));
    assert.ok(!rel.some((k) => k.startsWith("dispatcher:")), "a dispatcher lease was saved");

    await t.redis.del(t.keys.mission(m.id), t.keys.missionNotes(m.id));
    await restoreSnapshot(t, snap);
    assert.deepEqual(await snapshotTown(t), saved);

    const forged = structuredClone(snap);
    const k = forged.keys.find((x) => x.key === `mission:${m.id}`)!;
    if (k.type === "hash") delete k.value.title;
    await assert.rejects(() => restoreSnapshot(t, forged), /not a mission record/);
    assert.deepEqual(await snapshotTown(t), saved, "a refused restore changed the town");
  });
});
