/**
 * scripts/bench: runs the benchmark sections against a private redis-server and prints ratios
 * against baselines measured in the same run. Raw figures go to bench/results/<timestamp>.json.
 *
 *   scripts/bench [--only startup,roundtrip] [--quick] [--no-save]
 *
 * Each section is one module in bench/sections/ exporting a `Section`; add new ones to SECTIONS.
 * Node-side peers (BullMQ, autocannon) live in bench/node/ and are installed with npm on first use.
 */
import { parseArgs } from "node:util";
import { findHyperfine } from "./lib/commands.ts";
import { startPrivateRedis } from "./lib/redis.ts";
import { type BenchContext, type Row, type Section, withRatios } from "./lib/types.ts";
import { startup } from "./sections/startup.ts";
import { roundtrip } from "./sections/roundtrip.ts";
import { delivery } from "./sections/delivery.ts";
import { agents } from "./sections/agents.ts";
import { throughput } from "./sections/throughput.ts";
import { scale } from "./sections/scale.ts";
import { townhall } from "./sections/townhall.ts";
import { agentreport } from "./sections/agentreport.ts";
import { missions } from "./sections/missions.ts";
import { fleet } from "./sections/fleet.ts";
import { cluster } from "./sections/cluster.ts";

const SECTIONS: Section[] = [
  startup,
  roundtrip,
  delivery,
  throughput,
  agents,
  agentreport,
  fleet,
  scale,
  townhall,
  missions,
  cluster,
];

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    "no-save": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    `usage: scripts/bench [--only ${SECTIONS.map((s) => s.id).join(",")}] [--quick] [--no-save]`,
  );
  Deno.exit(0);
}
const wanted = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
const unknown = wanted?.filter((w) => !SECTIONS.some((s) => s.id === w)) ?? [];
if (unknown.length) {
  console.error(`bench: unknown section ${unknown.join(", ")}`);
  Deno.exit(2);
}
const sections = SECTIONS.filter((s) => !wanted || wanted.includes(s.id));

const tmp = await Deno.makeTempDir({ prefix: "tt-bench-" });
const redis = await startPrivateRedis(tmp);
let cleaned = false;
const cleanup = async () => {
  if (cleaned) return;
  cleaned = true;
  await redis.stop();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
};
Deno.addSignalListener("SIGINT", async () => {
  await cleanup();
  Deno.exit(130);
});

const hyperfine = await findHyperfine();
const ctx: BenchContext = { root: ROOT, tmp, redis, hyperfine, quick: values.quick };
const started = new Date();
const startedAt = performance.now();
const results: Record<string, unknown> = {};
let failed = false;
console.log(
  `tt bench: Deno ${Deno.version.deno}, redis-server ${redis.version} (private, unix socket), ` +
    `${navigator.hardwareConcurrency} CPUs, timing with ${
      hyperfine ? "hyperfine" : "an internal loop (install hyperfine for steadier figures)"
    }`,
);
try {
  for (const s of sections) {
    const t0 = performance.now();
    try {
      const r = await s.run(ctx);
      const rows = withRatios(r.rows);
      printSection(s.title, rows, r.notes);
      results[s.id] = { rows, notes: r.notes, raw: r.raw, seconds: elapsed(t0) };
    } catch (e) {
      failed = true;
      const msg = e instanceof Error ? e.message : String(e);
      console.log(`\n${s.title}\n  FAILED: ${msg}`);
      results[s.id] = { error: msg, seconds: elapsed(t0) };
    }
  }
} finally {
  await cleanup();
}

const doc = {
  started_at: started.toISOString(),
  seconds: elapsed(startedAt),
  git: await git(),
  machine: {
    cpus: navigator.hardwareConcurrency,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    redis: redis.version,
    timing: hyperfine ? await version(hyperfine) : "internal loop",
  },
  sections: results,
};
if (!values["no-save"]) {
  const file = `${ROOT}/bench/results/${started.toISOString().replace(/[:.]/g, "-")}.json`;
  await Deno.mkdir(`${ROOT}/bench/results`, { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(doc, null, 2) + "\n");
  console.log(`\nraw figures: ${file.slice(ROOT.length + 1)} (${doc.seconds} s)`);
}
Deno.exit(failed ? 1 : 0);

function elapsed(t0: number): number {
  return Math.round((performance.now() - t0) / 100) / 10;
}

/** Two decimals, or two significant digits below 0.1 (0.0031×). */
function fmtRatio(x: number): string {
  return x >= 0.1 ? x.toFixed(2) : x.toPrecision(2);
}

function fmtValue(r: Row): string {
  if (r.unit) return `${r.value.toFixed(r.value >= 100 ? 0 : r.value >= 10 ? 1 : 2)} ${r.unit}`;
  return r.value >= 10 ? `${r.value.toFixed(1)} ms` : `${r.value.toFixed(3)} ms`;
}

function printSection(title: string, rows: Row[], notes: string[]) {
  console.log(`\n${title}`);
  const name = (r: Row) => /^p\d+$/.test(r.stat) ? `${r.label} ${r.stat}` : r.label;
  const w = Math.max(...rows.map((r) => name(r).length));
  for (const r of rows) {
    const ratios = r.ratios?.length
      ? r.ratios.map((x) => `${fmtRatio(x.ratio)}× ${x.vs}`).join(" · ")
      : r.vs?.length
      ? "-"
      : "baseline";
    console.log(
      `  ${name(r).padEnd(w)}  ${fmtValue(r).padStart(13)}   ${ratios}`,
    );
  }
  for (const n of notes) console.log(`  note: ${n}`);
}

async function git(): Promise<{ commit: string; dirty: boolean } | null> {
  try {
    const run = async (...args: string[]) =>
      new TextDecoder().decode(
        (await new Deno.Command("git", { args, cwd: ROOT, stdout: "piped", stderr: "null" })
          .output()).stdout,
      ).trim();
    return {
      commit: await run("rev-parse", "HEAD"),
      dirty: (await run("status", "--porcelain")).length > 0,
    };
  } catch {
    return null;
  }
}

async function version(bin: string): Promise<string> {
  const out = await new Deno.Command(bin, { args: ["--version"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}
