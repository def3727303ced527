import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { emitEvent, followEvents, recentEvents } from "../../src/core/events.ts";
import type { TownEvent } from "../../src/core/schemas.ts";
import { withTestTown } from "../helpers.ts";

Deno.test("recentEvents: the most recent N, oldest first, optionally of one agent", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "a", cli: "claude" });
    for (let i = 0; i < 150; i++) {
      await emitEvent(t, { type: "tick", message: `t${i}`, agent_id: i % 50 ? undefined : a.id });
    }
    const last = await recentEvents(t, { count: 3 });
    assert.deepEqual(last.map((e) => e.message), ["t147", "t148", "t149"]);
    const mine = await recentEvents(t, { count: 10, agentId: a.id });
    assert.deepEqual(mine.map((e) => e.message), ["Agent a created", "t0", "t50", "t100"]);
  });
});

Deno.test("followEvents delivers events after the start id once each, in order, until aborted", async () => {
  await withTestTown(async (t) => {
    const first = await emitEvent(t, { type: "a", message: "before" });
    const seen: TownEvent[] = [];
    const stop = new AbortController();
    let arrived: () => void;
    const third = new Promise<void>((r) => arrived = r);
    const done = followEvents(t, first, (ev) => {
      seen.push(ev);
      if (seen.length === 3) arrived();
    }, stop.signal);
    for (const m of ["one", "two", "three"]) await emitEvent(t, { type: "b", message: m });
    await third;
    stop.abort();
    await done;
    assert.deepEqual(seen.map((e) => e.message), ["one", "two", "three"]);
    assert.ok(seen.every((e) => e.id > first));
  });
});

Deno.test("followEvents from '$' skips what is already there", async () => {
  await withTestTown(async (t) => {
    await emitEvent(t, { type: "a", message: "old" });
    const seen: string[] = [];
    const stop = new AbortController();
    const done = followEvents(t, "$", (ev) => {
      seen.push(ev.message);
    }, stop.signal);
    // Until the follower has resolved "$" events may be skipped, so emit until one arrives.
    for (let i = 0; !seen.length; i++) {
      await emitEvent(t, { type: "a", message: `new${i}` });
      await new Promise((r) => setTimeout(r, 10));
    }
    stop.abort();
    await done;
    assert.ok(!seen.includes("old"));
    assert.match(seen[0], /^new\d+$/);
  });
});
