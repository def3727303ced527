/**
 * assign → complete through a real 3-master Redis Cluster (one replica per master) against a
 * single redis-server, both started here from Debian's redis-server on 127.0.0.1 TCP the same way
 * (bench/lib/topology.ts), in the same run. The work per task is the core library's:
 * `assignTask` then `completeTask` (two Lua scripts, each on the node that owns the town's slot).
 *
 * - sequential: one task at a time, latency per task (p50, p99);
 * - concurrency 10: ten workers sharing the connection (as a supervisor's agents do), tasks/s;
 * - the same on the cluster with `[redis] wait_replicas = 1` (every script followed by WAIT 1).
 *
 * The three setups alternate in blocks (the order rotating), so the machine's noise hits them
 * alike. The benchmark's own unix-socket Redis is not used: a cluster is TCP only.
 */
import { connectRedis, type Redis } from "../../src/redis/connection.ts";
import { townKeys } from "../../src/core/keys.ts";
import { createAgent, toRecipient } from "../../src/core/agents.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { completeTask } from "../../src/core/task_end.ts";
import { quantile, summarize } from "../lib/stats.ts";
import { cannotRun, startCluster, startSingle, type Topology } from "../lib/topology.ts";
import type { BenchContext, Row, Section, SectionResult } from "../lib/types.ts";

const WORKERS = 10;

type Setup = "single" | "cluster" | "wait";
const SETUPS: Setup[] = ["single", "cluster", "wait"];

interface Target {
  redis: Redis;
  t: { redis: Redis; keys: ReturnType<typeof townKeys> };
  agents: ReturnType<typeof toRecipient>[];
}

async function target(url: string, waitReplicas: number, town: string): Promise<Target> {
  const redis = await connectRedis(url, { name: "tt-bench", waitReplicas, waitTimeoutMs: 2000 });
  const t = { redis, keys: townKeys(town) };
  const agents = [];
  for (let i = 0; i < WORKERS; i++) {
    agents.push(toRecipient(await createAgent(t, { name: `w${i}`, cli: "true" })));
  }
  return { redis, t, agents };
}

/** One task's work: assign to an agent, complete it. */
async function cycle(x: Target, agent: number) {
  const task = await assignTask(x.t, x.agents[agent], { description: "bench" });
  const done = await completeTask(x.t, task.id, { result: "ok" });
  if (done.state !== "completed") throw new Error(`task ${task.id} ended ${done.state}`);
}

export const cluster: Section = {
  id: "cluster",
  title:
    "assign → complete: 3-master Redis Cluster vs a single Redis (TCP, same machine; in tasks/s, < 1× is slower)",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const missing = cannotRun();
    if (missing) throw new Error(`needs a Redis Cluster from redis-server/redis-cli: ${missing}`);
    const blocks = ctx.quick ? 5 : 20;
    const perBlock = ctx.quick ? 40 : 100; // sequential tasks per setup per block
    const concPerBlock = ctx.quick ? 100 : 300; // tasks per setup per block at concurrency 10
    const topologies: Topology[] = [];
    const targets: Target[] = [];
    try {
      const t0 = performance.now();
      const single = await startSingle();
      topologies.push(single);
      const c = await startCluster();
      topologies.push(c);
      const startSecs = (performance.now() - t0) / 1000;
      const seeds = c.servers.slice(0, 2).map((s) => `127.0.0.1:${s.port}`).join(",");
      const x: Record<Setup, Target> = {
        single: await target(`redis://127.0.0.1:${single.servers[0].port}`, 0, "bench-single"),
        cluster: await target(`redis+cluster://${seeds}`, 0, "bench-cluster"),
        wait: await target(`redis+cluster://${seeds}`, 1, "bench-cluster-wait"),
      };
      targets.push(...Object.values(x));
      for (const s of SETUPS) for (let i = 0; i < 20; i++) await cycle(x[s], i % WORKERS); // warm-up

      const seq: Record<Setup, number[]> = { single: [], cluster: [], wait: [] };
      const conc: Record<Setup, number> = { single: 0, cluster: 0, wait: 0 }; // ms in total
      for (let b = 0; b < blocks; b++) {
        const order = SETUPS.map((_, i) => SETUPS[(i + b) % SETUPS.length]);
        for (const s of order) {
          for (let i = 0; i < perBlock; i++) {
            const start = performance.now();
            await cycle(x[s], i % WORKERS);
            seq[s].push(performance.now() - start);
          }
        }
        for (const s of order) {
          let next = 0;
          const start = performance.now();
          await Promise.all(
            Array.from({ length: WORKERS }, async (_, w) => {
              while (next < concPerBlock) {
                next++;
                await cycle(x[s], w);
              }
            }),
          );
          conc[s] += performance.now() - start;
        }
      }
      const concTasks = blocks * concPerBlock;
      const rate = (s: Setup) => concTasks / (conc[s] / 1000);
      const label: Record<Setup, string> = {
        single: "single Redis",
        cluster: "3-master cluster",
        wait: "cluster, wait_replicas = 1",
      };
      const vs: Record<Setup, string | undefined> = {
        single: undefined,
        cluster: "single",
        wait: "cluster",
      };
      const rows: Row[] = [];
      for (const q of [0.5, 0.99]) {
        for (const s of SETUPS) {
          rows.push({
            id: `${s}-p${q * 100}`,
            label: `${label[s]}, one task at a time`,
            short: label[s],
            value: quantile(seq[s], q),
            stat: `p${q * 100}`,
            vs: vs[s] ? [`${vs[s]}-p${q * 100}`] : undefined,
          });
        }
      }
      for (const s of SETUPS) {
        rows.push({
          id: `${s}-c${WORKERS}`,
          label: `${label[s]}, ${WORKERS} at a time`,
          short: `${label[s]} ×${WORKERS}`,
          value: rate(s),
          unit: "tasks/s",
          stat: "run",
          vs: vs[s] ? [`${vs[s]}-c${WORKERS}`] : undefined,
        });
      }
      return {
        rows,
        notes: [
          `${blocks * perBlock} sequential and ${concTasks} concurrent tasks per setup, in ` +
          `${blocks} alternating blocks; per task assignTask + completeTask (src/core); every ` +
          `server on 127.0.0.1 TCP, no AOF; the cluster has one replica per master ` +
          `(topologies started in ${startSecs.toFixed(1)} s)`,
        ],
        raw: {
          blocks,
          per_block: perBlock,
          conc_per_block: concPerBlock,
          workers: WORKERS,
          sequential: Object.fromEntries(SETUPS.map((s) => [s, summarize(seq[s])])),
          concurrent_ms: conc,
          concurrent_tasks: concTasks,
        },
      };
    } finally {
      for (const t of targets) t.redis.disconnect();
      for (const t of topologies) await t.stop();
    }
  },
};
