/**
 * scripts/chaos: long chaos runs (see tests/chaos/chaos.ts). Each town gets `--tasks` tasks and
 * about a third as many faults; with `--duration`, towns run one after another (seed, seed+1, …)
 * until that many seconds have passed. Exit 1 if any invariant broke; the failing seed is printed.
 */
import { parseArgs } from "node:util";
import { FAULT_KINDS, type FaultKind, runChaos, summary } from "./chaos.ts";
import { randomSeed } from "./rng.ts";

const USAGE = `usage: scripts/chaos [--seed N] [--tasks N] [--agents N] [--faults N]
                     [--duration SECS] [--kinds agent,supervisor,redis] [--jitter MS] [--verbose]

  --seed      seed of the first town (default: random; printed)
  --tasks     tasks per town (default 200)
  --agents    fake agents per town (default 5)
  --faults    faults per town (default: tasks / 3)
  --duration  keep starting towns (seed, seed+1, …) until SECS have passed (default: one town)
  --kinds     fault kinds to inject (default: all three)
  --jitter    longest pause of a fake agent before completing a task, ms (default 800)
  --verbose   print every fault as it is injected
`;

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`scripts/chaos: --${name} wants a non-negative integer, got '${v}'\n${USAGE}`);
    Deno.exit(2);
  }
  return n;
}

let args;
try {
  args = parseArgs({
    args: Deno.args,
    options: {
      seed: { type: "string" },
      tasks: { type: "string" },
      agents: { type: "string" },
      faults: { type: "string" },
      duration: { type: "string" },
      kinds: { type: "string" },
      jitter: { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (e) {
  console.error(`scripts/chaos: ${(e as Error).message}\n${USAGE}`);
  Deno.exit(2);
}
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const kinds = (args.kinds ?? FAULT_KINDS.join(",")).split(",").map((k) => k.trim());
for (const k of kinds) {
  if (!FAULT_KINDS.includes(k as FaultKind)) {
    console.error(`scripts/chaos: unknown fault kind '${k}'\n${USAGE}`);
    Deno.exit(2);
  }
}
const tasks = Math.max(1, positive("tasks", args.tasks, 200));
const first = positive("seed", args.seed, randomSeed());
const durationMs = positive("duration", args.duration, 0) * 1000;
const start = Date.now();
const totals = { towns: 0, tasks: 0, agent: 0, supervisor: 0, redis: 0, rerun: 0, lost: 0, dup: 0 };
let failed: number | undefined;
for (let seed = first;; seed++) {
  console.log(
    `chaos: town ${
      totals.towns + 1
    }, seed ${seed} (replay: scripts/chaos --seed ${seed} --tasks ${tasks}${
      args.agents ? ` --agents ${args.agents}` : ""
    }${args.faults ? ` --faults ${args.faults}` : ""}${
      args.kinds ? ` --kinds ${args.kinds}` : ""
    })`,
  );
  const r = await runChaos({
    seed,
    tasks,
    agents: Math.max(1, positive("agents", args.agents, 5)),
    faults: args.faults === undefined ? undefined : positive("faults", args.faults, 0),
    kinds: kinds as FaultKind[],
    jitterMs: Math.max(1, positive("jitter", args.jitter, 800)),
    log: args.verbose ? (l) => console.log(`  ${l}`) : undefined,
  });
  console.log(summary(r));
  totals.towns++;
  totals.tasks += r.tasks;
  totals.agent += r.faults.agent;
  totals.supervisor += r.faults.supervisor;
  totals.redis += r.faults.redis;
  totals.rerun += r.rerun;
  totals.lost += r.lost;
  totals.dup += r.duplicated;
  if (r.violations.length) {
    for (const v of r.violations) console.log(`  violation: ${v}`);
    if (Deno.env.get("TT_CHAOS_KEEP")) console.log(`  town kept in ${r.dir}`);
    failed = seed;
    break;
  }
  if (Date.now() - start >= durationMs) break;
}
const secs = ((Date.now() - start) / 1000).toFixed(1);
console.log(
  `chaos total: ${totals.towns} town(s), ${totals.tasks} tasks; faults: agent ${totals.agent}, supervisor ${totals.supervisor}, redis ${totals.redis}; re-run ${totals.rerun}; lost ${totals.lost}; duplicated ${totals.dup}; ${secs} s`,
);
if (failed !== undefined) {
  console.log(
    `chaos FAILED with seed ${failed}: replay with scripts/chaos --seed ${failed} --tasks ${tasks}`,
  );
  Deno.exit(1);
}
