import assert from "node:assert/strict";
import { Town, waitForIdle } from "../../src/mod.ts";
import { AgentTown, fakeCli } from "../agent_helpers.ts";

Deno.test("library: the designer → backend + frontend flow from the README", async () => {
  const at = await AgentTown.create();
  const town = await Town.connect(await at.pinRedis());
  try {
    assert.equal(town.name, at.name);
    const designer = await town.spawnAgent("designer", fakeCli("complete"));
    const backend = await town.spawnAgent("backend", fakeCli("complete"), { role: "backend" });
    const frontend = await town.spawnAgent("frontend", fakeCli("complete"), { role: "frontend" });
    const design = await designer.assign("Design auth API schema");
    await waitForIdle(designer, { timeout: 60_000 });
    assert.equal((await town.task(design.id))?.state, "completed");
    const api = await backend.assign("Implement auth endpoints");
    const ui = await frontend.assign("Build login/signup UI");
    await waitForIdle([backend, frontend], { timeout: 60_000 });
    assert.equal((await town.task(api.id))?.result, "done by backend");
    assert.equal((await town.task(ui.id))?.result, "done by frontend");
    assert.deepEqual((await backend.tasks()).map((t) => t.id), [api.id]);
    assert.equal((await town.agents()).length, 3);
    const types = (await town.recentEvents(500)).map((e) => e.type);
    assert.ok(types.includes("task_completed"));
  } finally {
    await town.close();
    await at.cleanup();
  }
});

Deno.test("library: waitForIdle rejects on timeout; onEvent delivers new events", async () => {
  const at = await AgentTown.create();
  const town = await Town.connect(await at.pinRedis());
  try {
    const w = await town.spawnAgent("slow", fakeCli("hang"));
    const seen: string[] = [];
    const sub = await town.onEvent((ev) => {
      seen.push(ev.type);
      if (ev.type === "task_assigned") sub.stop();
    });
    await w.assign("never finishes");
    await sub.done;
    assert.ok(seen.includes("task_assigned"));
    await assert.rejects(waitForIdle(w, { timeout: 500 }), /timed out/);
    await w.kill();
    assert.equal((await w.info()).state, "stopped");
  } finally {
    await town.close();
    await at.cleanup();
  }
});
