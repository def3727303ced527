/**
 * `tt stop` after the supervisor was SIGKILLed: its heartbeat outlives it for up to its TTL, and
 * `tt stop` used to queue a shutdown and wait up to 2 hours for a reply nobody would send.
 */
import assert from "node:assert/strict";
import { AgentTown, fakeCli } from "../agent_helpers.ts";

Deno.test("tt stop: a SIGKILLed supervisor's leftover heartbeat is cleared at once, and no shutdown waits in its queue", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const { sup, key } = await at.killSupervisorKeepingHeartbeat();
    const r = await at.sb.ok(["stop", "--json"]);
    assert.equal(JSON.parse(r.stdout).supervisor, "not running");
    assert.equal(await at.t.redis.get(key), null, "the stale heartbeat is still there");
    assert.equal(await at.t.redis.llen(at.t.keys.control(sup.host)), 0);
  } finally {
    await at.cleanup();
  }
});
