/**
 * `[redis] wait_replicas` covers the state changes made with MULTI too (src/redis/script.ts
 * execDurably), not only the Lua scripts: pruning agents, mission notes and restores WAIT for the
 * replicas and fail in one line when too few acknowledge. The test Redis has no replica, so a
 * connection asking for one must see every such change refused as not durable (made on the master,
 * reported), and the same change on a plain connection succeed.
 */
import assert from "node:assert/strict";
import { connectRedis } from "../../src/redis/connection.ts";
import { execDurably, ReplicationError } from "../../src/redis/script.ts";
import { createAgent, setAgentState } from "../../src/core/agents.ts";
import { pruneAgents } from "../../src/core/lifecycle.ts";
import { noteMission, startMissionFromSpec } from "../../src/core/missions/ops.ts";
import { restoreSnapshot, takeSnapshot } from "../../src/core/snapshot.ts";
import { testRedisUrl, withTestTown } from "../helpers.ts";
import type { TownContext } from "../../src/core/town.ts";

/** `t` on a connection that wants one replica (there is none), briefly. */
async function wantingAReplica(t: TownContext): Promise<TownContext> {
  const redis = await connectRedis(testRedisUrl(), { waitReplicas: 1, waitTimeoutMs: 50 });
  return { ...t, redis, close: () => Promise.resolve(redis.disconnect()) };
}

Deno.test("execDurably: EXEC, then WAIT; too few replicas is a ReplicationError after the write", async () => {
  await withTestTown(async (t) => {
    const d = await wantingAReplica(t);
    try {
      const key = t.keys.prefix + "durable-probe";
      await assert.rejects(
        execDurably(d.redis, d.redis.multi().set(key, "1"), key),
        (e) => e instanceof ReplicationError && /only 0 of 1 Redis replica/.test(e.message),
      );
      assert.equal(await t.redis.get(key), "1", "the write is on the master");
      // Without wait_replicas: no WAIT, no error.
      const res = await execDurably(t.redis, t.redis.multi().set(key, "2"), key);
      assert.deepEqual(res, [[null, "OK"]]);
      await t.redis.del(key);
    } finally {
      await d.close();
    }
  });
});

Deno.test("wait_replicas: prune, mission notes and restore (MULTI) wait for replicas too", async () => {
  await withTestTown(async (t) => {
    const d = await wantingAReplica(t);
    try {
      const gone = await createAgent(t, { name: "gone", cli: "true" });
      await setAgentState(t, gone.id, "stopped");
      await assert.rejects(pruneAgents(d), ReplicationError);

      const m = await startMissionFromSpec(t, { title: "M", items: [{ id: "a", title: "A" }] });
      await assert.rejects(noteMission(d, m.id, "a note"), ReplicationError);

      const snap = await takeSnapshot(t);
      await assert.rejects(restoreSnapshot(d, snap, { force: true }), ReplicationError);
    } finally {
      await d.close();
    }
  });
});
