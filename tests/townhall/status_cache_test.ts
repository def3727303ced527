/**
 * townhall's status source (status_cache.ts): shared by concurrent readers, read again after any
 * event, refreshed in the background past its age limit.
 */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { statusSource } from "../../src/townhall/status_cache.ts";
import { type TownStatus, townStatus } from "../../src/core/status.ts";
import { withTestTown } from "../helpers.ts";
import { countingTown } from "../redis_calls.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("status source: concurrent readers share one read; an event or age makes it read again", async () => {
  await withTestTown(async (t) => {
    const counted = countingTown(t, "pipeline"); // every townStatus starts pipelines
    const town = counted.town;
    const names = (body: Uint8Array) =>
      (JSON.parse(dec(body)) as TownStatus).agents.map((a) => a.agent.name).sort();

    await createAgent(t, { name: "first", cli: "x" });
    const cached = statusSource(town, { maxAgeMs: 60_000, read: townStatus });
    const bodies = await Promise.all(Array.from({ length: 20 }, () => cached()));
    const perStatus = counted.calls;
    assert.ok(perStatus > 0);
    assert.ok(bodies.every((b) => b === bodies[0]), "readers got different answers");
    assert.deepEqual(names(bodies[0]), ["first"]);
    await cached();
    assert.equal(counted.calls, perStatus, "nothing happened: the status is reused");

    // A change that leaves no event is not seen until the age limit…
    await t.redis.hset(
      t.keys.agent((JSON.parse(dec(bodies[0])) as TownStatus).agents[0].id),
      "role",
      "x",
    );
    assert.equal(JSON.parse(dec(await cached())).agents[0].agent.role, undefined);
    // …but an event (every task and agent change emits one) is seen at once.
    await createAgent(t, { name: "second", cli: "x" });
    assert.deepEqual(names(await cached()), ["first", "second"]);
    assert.equal(counted.calls, 2 * perStatus);

    const fresh = statusSource(town, { maxAgeMs: 0, read: townStatus });
    await fresh();
    await t.redis.hset(
      t.keys.agent((JSON.parse(dec(bodies[0])) as TownStatus).agents[0].id),
      "role",
      "y",
    );
    // Past the age limit the reused status is still served, and refreshed for the next reader.
    const roleOf = async () =>
      (JSON.parse(dec(await fresh())) as TownStatus).agents.find((a) => a.agent.name === "first")!
        .agent.role;
    // The refresh runs in the background: ask again until it has landed (each answer served at
    // once), within a generous bound, yielding to it between asks.
    let role = await roleOf();
    for (let i = 0; i < 500 && role !== "y"; i++) {
      await new Promise((r) => setTimeout(r, 10));
      role = await roleOf();
    }
    assert.equal(role, "y");

    // A reader that comes after an event gets a status read after it, even while an older
    // read is in flight (it waits for one more read, shared with the others who came).
    for (let i = 0; i < 5; i++) {
      const early = cached();
      await createAgent(t, { name: `late${i}`, cli: "x" });
      const [, ...after] = await Promise.all([early, cached(), cached()]);
      for (const b of after) assert.ok(names(b).includes(`late${i}`), `late${i} missing`);
    }
  });
});
