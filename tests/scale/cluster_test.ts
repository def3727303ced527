/**
 * tt on a real 3-master Redis Cluster (one replica each), one town served by two hosts: init,
 * spawn, assign, complete, backlog claims, and the master holding the town's slot SIGKILLed while
 * both agents are mid-round and assigns keep coming (scenario.ts). With `wait_replicas = 1`
 * nothing acknowledged is lost or completed twice (run by default); without it, the test reports
 * what was lost (TT_TEST_SCALE=1).
 */
import assert from "node:assert/strict";
import { report } from "../helpers.ts";
import { keySlot } from "../../src/redis/topology.ts";
import { townKeys } from "../../src/core/keys.ts";
import {
  cannotRun,
  cli,
  slotOwner,
  startCluster,
  type Topology,
  waitFor,
} from "../../bench/lib/topology.ts";
import { failoverRun } from "./scenario.ts";

// The run with wait_replicas = 1 proves the guarantee and runs by default. Beside a whole test
// suite it first left work undone after the failover in 2 runs of 3; three causes were fixed
// (unscoped net for cluster URLs, MOVED in the script+WAIT pipeline, channel slots shared by two
// supervisors), and 8 runs of 8 then passed under load (TT_SCALE_DEBUG=<prefix> keeps each run's
// logs). The one without (it only reports what was lost) runs with TT_TEST_SCALE=1.
const skip = cannotRun();
const notAsked = Deno.env.get("TT_TEST_SCALE") ? undefined : "TT_TEST_SCALE unset";
const skipLossReport = skip ?? notAsked;
if (skip) report(`skipped the Redis Cluster failover tests: ${skip}`);

async function clusterRun(waitReplicas: number) {
  const c: Topology = await startCluster();
  try {
    const ports = c.servers.map((s) => s.port);
    const url = `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
    let killed = 0;
    return await failoverRun(url, {
      waitReplicas,
      failover: async (town) => {
        const slot = keySlot(townKeys(town).owner);
        const master = await slotOwner(ports[0], slot);
        assert.ok(master, "no master for the town's slot");
        killed = master;
        await c.kill(master);
        const alive = ports.filter((p) => p !== master);
        // A replica takes over the slot (cluster-node-timeout 1 s).
        await waitFor("a replica promoted", async () => {
          const owner = await slotOwner(alive[0], slot);
          return owner !== undefined && owner !== master &&
            (await cli(alive[0], "CLUSTER", "INFO")).includes("cluster_state:ok");
        });
      },
      recover: async () => {
        c.restart(killed);
        await waitFor(
          "the killed master back as a replica",
          async () => (await cli(killed, "INFO", "replication")).includes("master_link_status:up"),
        );
      },
    });
  } finally {
    await c.stop();
  }
}

Deno.test({
  name: "cluster: with wait_replicas = 1 a master killed mid-run loses no acknowledged task",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const o = await clusterRun(1);
  report(
    `cluster, wait_replicas=1: ${o.acked} acknowledged, ${o.refused} refused during failover, ` +
      `${o.lost.length} lost, ${o.twice.length} completed twice, ${o.inFlight} in flight at the kill`,
  );
  assert.deepEqual(o.lost, []);
  assert.deepEqual(o.twice, []);
  assert.deepEqual(o.notCompleted, []);
});

Deno.test({
  name: "cluster: without wait_replicas the test reports what a failover lost",
  ignore: !!skipLossReport,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const o = await clusterRun(0);
  report(
    `cluster, wait_replicas=0: ${o.acked} acknowledged, ${o.refused} refused during failover, ` +
      `${o.lost.length} lost, ${o.twice.length} completed twice, ` +
      `${o.notCompleted.length} not completed, ${o.inFlight} in flight at the kill`,
  );
  assert.deepEqual(o.twice, []);
});
