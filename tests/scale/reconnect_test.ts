/**
 * A daemon's connection (supervisor, townhall: `persistent`) to a Redis Cluster rides out a
 * failover: a command sent while the master of its slot is dead waits for the replica to take
 * over instead of failing, and a blocking read in flight at the crash is sent again to the new
 * master. The cluster's node timeout is 6 s, so the failover takes longer than ioredis's default
 * retry budget (16 redirections 200 ms apart): before the fix, the supervisor's agent loops died
 * in the failover runs with "Too many Cluster redirections" and their work was never done.
 */
import assert from "node:assert/strict";
import { report, uniqueName } from "../helpers.ts";
import { connectRedis, duplicateConnection, type Redis } from "../../src/redis/connection.ts";
import { keySlot } from "../../src/redis/topology.ts";
import { townKeys } from "../../src/core/keys.ts";
import { cannotRun, cli, slotOwner, startCluster, waitFor } from "../../bench/lib/topology.ts";

const skip = cannotRun();
if (skip) report(`skipped the Redis Cluster reconnect test: ${skip}`);

Deno.test({
  name: "cluster: a daemon's connection waits out a failover longer than ioredis's retry budget",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const c = await startCluster({ nodeTimeoutMs: 6000 });
  const clients: Redis[] = [];
  try {
    const ports = c.servers.map((s) => s.port);
    const url = `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
    const redis = await connectRedis(url, { name: "tt-test", persistent: true });
    clients.push(redis);
    const keys = townKeys(uniqueName("rc"));
    const key = `${keys.prefix}probe`;
    const list = `${keys.prefix}wake`;
    await redis.set(key, "before");
    const master = await slotOwner(ports[0], keySlot(key));
    assert.ok(master, "no master serves the town's slot");

    // A blocking read held at the master when it dies.
    const blocker = await duplicateConnection(redis);
    clients.push(blocker);
    const popped = blocker.blpop(list, 0).then((v) => v, (e: Error) => e);
    await waitFor(
      "the BLPOP blocked at the master",
      async () => /blocked_clients:1\b/.test(await cli(master, "INFO", "clients")),
    );

    await c.kill(master);
    // Sent while the slot has no live master: it waits for the failover (≥ 6 s), then succeeds.
    await redis.set(key, "after");
    // The write is on the new master (once the node asked has heard of the promotion).
    const other = ports.find((p) => p !== master)!;
    let owner: number | undefined;
    await waitFor("a live master for the slot", async () => {
      owner = await slotOwner(other, keySlot(key));
      return owner !== undefined && owner !== master;
    });
    assert.equal(await cli(owner!, "GET", key), "after");
    assert.equal(await redis.get(key), "after");

    await redis.rpush(list, "wake");
    assert.deepEqual(await popped, [list, "wake"]);
  } finally {
    for (const r of clients) r.disconnect();
    await c.stop();
  }
});
