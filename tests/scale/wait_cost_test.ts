/**
 * What `[redis] wait_replicas = 1` costs: assign → complete through a real 3-master cluster (one
 * replica each), with and without WAIT, interleaved in blocks in the same run. Also the attacker's
 * side: a WAIT that cannot be met (more replicas than exist) fails the command with one line
 * naming how many acknowledged, after the change was made (so tt does not report it as durable).
 */
import assert from "node:assert/strict";
import { report, Sandbox, uniqueName } from "../helpers.ts";
import { connectRedis, type Redis } from "../../src/redis/connection.ts";
import { defineScript, ReplicationError, runScript } from "../../src/redis/script.ts";
import { townKeyBatches } from "../../src/core/reset.ts";
import { townKeys } from "../../src/core/keys.ts";
import { createAgent, toRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask, getTask } from "../../src/core/tasks.ts";
import { cannotRun, startCluster } from "../../bench/lib/topology.ts";

const skip = cannotRun();
if (skip) report(`skipped the wait_replicas cost test: ${skip}`);

Deno.test({
  name:
    "wait_replicas: cost of assign → complete on a cluster, and an unmet WAIT fails in one line",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const c = await startCluster();
  const clients: Redis[] = [];
  try {
    const url = `redis+cluster://127.0.0.1:${c.servers[0].port}`;
    const open = async (waitReplicas: number) => {
      const r = await connectRedis(url, { waitReplicas, waitTimeoutMs: 1000 });
      clients.push(r);
      return r;
    };
    const keys = townKeys(uniqueName("cost"));
    const plain = { redis: await open(0), keys };
    const durable = { redis: await open(1), keys };
    const agent = toRecipient(await createAgent(plain, { name: "w1", cli: "claude" }));
    const cycle = async (t: typeof plain) => {
      const task = await assignTask(t, agent, { description: "x" });
      await completeTask(t, task.id, { result: "ok" });
    };
    for (let i = 0; i < 20; i++) await cycle(i % 2 ? plain : durable); // warm-up
    const ms = { plain: 0, durable: 0 };
    const N = 10;
    for (let block = 0; block < 10; block++) {
      for (const [label, t] of [["plain", plain], ["durable", durable]] as const) {
        const start = performance.now();
        for (let i = 0; i < N; i++) await cycle(t);
        ms[label] += performance.now() - start;
      }
    }
    const per = (x: number) => (x / (10 * N)).toFixed(2);
    report(
      `wait_replicas cost (3-master cluster, assign+complete): ${per(ms.plain)} ms without, ` +
        `${per(ms.durable)} ms with wait_replicas=1 (${(ms.durable / ms.plain).toFixed(2)}×)`,
    );
    assert.ok(ms.durable > 0 && ms.plain > 0);

    // Two replicas are asked for, one exists: the change is made, then refused as not durable.
    const strict = {
      redis: await connectRedis(url, { waitReplicas: 2, waitTimeoutMs: 200 }),
      keys,
    };
    clients.push(strict.redis);
    const task = await assignTask(plain, agent, { description: "unmet" });
    await assert.rejects(() => completeTask(strict, task.id), (e: unknown) => {
      assert.ok(e instanceof ReplicationError);
      assert.equal(e.acked, 1);
      assert.match(e.message, /^only 1 of 2 Redis replica\(s\) acknowledged/);
      assert.equal(e.message.split("\n").length, 1);
      return true;
    });
    assert.equal((await getTask(plain, task.id))?.state, "completed");

    // reset/save find the town's keys on the node owning its slot (SCAN sees one node).
    const found = [];
    for await (const batch of townKeyBatches(plain)) found.push(...batch);
    assert.ok(found.includes(keys.task(task.id)), `task key not found by SCAN: ${found.length}`);
    assert.ok(found.every((k) => k.startsWith(keys.prefix)));

    // A plain redis:// URL at one node of the cluster: one line saying to use redis+cluster://
    // (not "internal error: MOVED …"), for whichever node the town's slot is not on.
    let redirected = 0;
    for (const node of c.servers) {
      const sb = new Sandbox(`redis://127.0.0.1:${node.port}`);
      try {
        const r = await sb.tt(["init", "--name", uniqueName("moved")]);
        if (r.code === 0) continue; // this node owns the slot: no redirect
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(
          r.stderr,
          /is a node of a Redis Cluster \(MOVED \d+ .*use redis\+cluster:\/\//,
        );
        redirected++;
      } finally {
        sb.cleanup();
      }
    }
    assert.ok(redirected >= 2, `only ${redirected} of ${c.servers.length} nodes redirected`);

    // A script whose keys span two towns (two slots) is refused before it is sent.
    await assert.rejects(
      () =>
        runScript(plain.redis, defineScript("two", 2, "return 1"), [keys.tasks, "tt:{y}:a"], []),
      /keys of different hash tags/,
    );
  } finally {
    for (const r of clients) r.disconnect();
    await c.stop();
  }
});
