/**
 * A daemon's connection through Redis Sentinel (`persistent`) survives a failover:
 *
 * 1. The master crashes while the client is asking a sentinel where the master is (reconnecting):
 *    ioredis's failover detector, hearing +switch-master then, closed the connector under the
 *    running lookup, which ended the client for good ("Connection is closed." for every command
 *    after: both supervisors' agent loops died in a failover run and their work waited on a
 *    lost host). A proxy in front of one sentinel holds new connections until the sentinels have
 *    switched, so the lookup is always in flight when the switch is announced.
 * 2. A manual failover (SENTINEL FAILOVER), where the old master stays up as a replica: with no
 *    failover detector, the client must still move to the new master (the sentinels disconnect
 *    the demoted master's clients), and a BLPOP blocked there is sent again.
 */
import assert from "node:assert/strict";
import { report } from "../helpers.ts";
import { connectRedis, duplicateConnection, type Redis } from "../../src/redis/connection.ts";
import { cannotRun, cli, startSentinel, waitFor } from "../../bench/lib/topology.ts";

const skip = cannotRun();
if (skip) report(`skipped the Redis Sentinel reconnect tests: ${skip}`);

/** A TCP proxy to `target` whose new connections can be held (not forwarded) until released. */
function gatedProxy(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let gate: Promise<void> = Promise.resolve();
  let release = () => {};
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of listener) {
      conns.push(c);
      (async () => {
        await gate;
        const up = await Deno.connect({ hostname: "127.0.0.1", port: target });
        conns.push(up);
        c.readable.pipeTo(up.writable).catch(() => {});
        up.readable.pipeTo(c.writable).catch(() => {});
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    hold() {
      gate = new Promise((r) => release = r);
    },
    release: () => release(),
    stop() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

const masterAt = async (sentinel: number) =>
  Number((await cli(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")).split("\n")[1]);

/** Clients subscribed (sub=1) at a sentinel: ioredis's failover detectors. */
const subscribers = async (sentinel: number) =>
  (await cli(sentinel, "CLIENT", "LIST")).split("\n").filter((l) => / sub=[1-9]/.test(l)).length;

Deno.test({
  name: "sentinel: a master crash during the client's sentinel lookup does not end the client",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const s = await startSentinel();
  const proxy = gatedProxy(s.sentinels[0]);
  const clients: Redis[] = [];
  try {
    const url = `redis+sentinel://127.0.0.1:${proxy.port}/mymaster`;
    const redis = await connectRedis(url, { name: "tt-test", persistent: true });
    clients.push(redis);
    await redis.set("k", "before");
    if ((redis.options as { failoverDetector?: boolean }).failoverDetector) {
      await waitFor(
        "the failover detector subscribed",
        async () => (await subscribers(s.sentinels[0])) > 0,
      );
    }
    proxy.hold();
    await s.kill(s.master);
    // Sent while the client reconnects: its sentinel lookup waits at the proxy.
    const write = redis.set("k", "after").then(() => "ok", (e: Error) => e.message);
    await waitFor(
      "the sentinels switch",
      async () => (await masterAt(s.sentinels[1])) !== s.master,
    );
    // The switch is announced: every failover detector (if any) has heard it and disconnected.
    await waitFor("no failover detector left", async () => {
      const n = await Promise.all(s.sentinels.map(subscribers));
      return n.every((x) => x === 0);
    });
    proxy.release();
    assert.equal(await write, "ok");
    const now = await masterAt(s.sentinels[1]);
    assert.equal(await cli(now, "GET", "k"), "after");
    assert.equal(await redis.get("k"), "after");
  } finally {
    for (const r of clients) r.disconnect();
    proxy.stop();
    await s.stop();
  }
});

Deno.test({
  name: "sentinel: after a manual failover, writes and a blocked BLPOP go to the new master",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const s = await startSentinel();
  const clients: Redis[] = [];
  try {
    const url = `redis+sentinel://${s.sentinels.map((p) => `127.0.0.1:${p}`).join(",")}/mymaster`;
    const redis = await connectRedis(url, { name: "tt-test", persistent: true });
    clients.push(redis);
    const blocker = await duplicateConnection(redis);
    clients.push(blocker);
    const popped = blocker.blpop("wake", 0).then((v) => v, (e: Error) => e.message);
    await waitFor(
      "the BLPOP blocked at the master",
      async () => /blocked_clients:1\b/.test(await cli(s.master, "INFO", "clients")),
    );
    assert.equal(await cli(s.sentinels[0], "SENTINEL", "FAILOVER", "mymaster"), "OK");
    await waitFor(
      "the old master is a replica",
      async () => /role:slave/.test(await cli(s.master, "INFO", "replication")),
    );
    await redis.set("k", "after the failover");
    const now = await masterAt(s.sentinels[0]);
    assert.notEqual(now, s.master);
    assert.equal(await cli(now, "GET", "k"), "after the failover");
    await redis.rpush("wake", "1");
    assert.deepEqual(await popped, ["wake", "1"]);
  } finally {
    for (const r of clients) r.disconnect();
    await s.stop();
  }
});
