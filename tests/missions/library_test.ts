/** The library: town.startMission(…) and mission.wait(). */
import assert from "node:assert/strict";
import { Town } from "../../src/mod.ts";
import { AgentTown, fakeCli } from "../agent_helpers.ts";

Deno.test("library: startMission runs a graph with the town's agents; wait() resolves when done", async () => {
  const at = await AgentTown.create();
  const town = await Town.connect(await at.pinRedis());
  try {
    await town.spawnAgent("w1", fakeCli("complete"));
    const mission = await town.startMission({
      title: "From the library",
      reviewer: false,
      items: [
        { id: "schema", title: "Design the schema" },
        { id: "api", title: "Build the API", depends_on: ["schema"] },
      ],
    });
    // Not done yet: a short wait for the same state times out with a clear error.
    await assert.rejects(
      mission.wait({ timeout: 1, until: ["stopped"] }),
      /is not stopped after 1 ms/,
    );
    const done = await mission.wait({ timeout: 60_000 });
    assert.equal(done.state, "completed");
    assert.deepEqual(done.items.map((i) => i.status), ["done", "done"]);
    const again = await town.mission(mission.id.slice(0, 6));
    assert.equal((await again.info()).title, "From the library");
    for (const i of done.items) assert.equal((await town.task(i.task!))?.state, "completed");
  } finally {
    await town.close();
    await at.cleanup();
  }
});
