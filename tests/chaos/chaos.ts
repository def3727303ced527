/**
 * Chaos runs: N tasks pushed through several fake agents (tests/fixtures/fake-agent.sh `jitter`)
 * while a driver kills, at random moments chosen by a seeded PRNG (rng.ts), agent CLI process
 * groups (SIGKILL), the supervisor (SIGKILL) and the town's managed redis-server (SIGKILL; `tt`
 * restarts it from its AOF). Afterwards `checkInvariants` (invariants.ts, which lists the
 * invariants and why they hold even across Redis kills) reads Redis through src/core and the fake
 * agents' own log, and lists every violation.
 *
 * The seed fixes the driver's decisions (order and spacing of assignments and faults, which agent
 * or kind, when Redis and the supervisor come back); process scheduling is the OS's, so a replay
 * reproduces the fault schedule, not every interleaving.
 *
 * Used by tests/chaos/chaos_test.ts (a short run in scripts/test) and tests/chaos/main.ts
 * (scripts/chaos, long runs).
 */
import { Sandbox } from "../helpers.ts";
import { FAKE_AGENT } from "../agent_helpers.ts";
import { openTown, type TownContext } from "../../src/core/town.ts";
import { listAgents } from "../../src/core/agents.ts";
import { listTasks } from "../../src/core/tasks.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { managedPid, processAlive } from "../../src/redis/server.ts";
import { checkInvariants, parseAgentLog } from "./invariants.ts";
import { Rng } from "./rng.ts";

export type FaultKind = "agent" | "supervisor" | "redis";
export const FAULT_KINDS: readonly FaultKind[] = ["agent", "supervisor", "redis"];

export interface ChaosOptions {
  seed: number;
  tasks: number;
  agents: number;
  /** Faults to inject (default: a third of the tasks, at least one of each kind). */
  faults?: number;
  kinds?: readonly FaultKind[];
  /** Longest random pause (ms) of a fake agent before it completes a task (default 800). */
  jitterMs?: number;
  /** Pause (ms) before an assignment, drawn uniformly from [0, max] (default 250). */
  assignGapMs?: number;
  /** Pause (ms) before a fault, drawn uniformly from [min, max] (default 100 to 800). */
  faultGapMs?: [number, number];
  /** How long to wait (ms) for the work to finish after the last fault. */
  settleMs?: number;
  /** Progress lines (faults, phases); default: none. */
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  tasks: number;
  agents: number;
  faults: Record<FaultKind, number>;
  /** Faults that found no target (no round running for an agent kill). */
  skipped: number;
  rerun: number;
  lost: number;
  duplicated: number;
  violations: string[];
  elapsedMs: number;
  /** Where the town was (a failed run's is kept, processes stopped, when TT_CHAOS_KEEP is set). */
  dir: string;
}

export function summary(r: ChaosReport): string {
  const f = r.faults;
  return `chaos seed ${r.seed}: ${r.tasks} tasks, ${r.agents} agents; faults: agent ${f.agent}, supervisor ${f.supervisor}, redis ${f.redis}${
    r.skipped ? ` (${r.skipped} without a target)` : ""
  }; re-run ${r.rerun}; lost ${r.lost}; duplicated ${r.duplicated}; ${
    (r.elapsedMs / 1000).toFixed(1)
  } s${r.violations.length ? `; ${r.violations.length} violation(s)` : ""}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean>, limitMs: number, stepMs = 50) {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(stepMs);
  }
  return await cond();
}

/** A town with its own managed Redis (killable), in a temp dir; cleans up every process. */
class ChaosTown {
  readonly sb = new Sandbox(null);
  readonly state: string;

  constructor() {
    // Inside the town dir, so every process started for it names the dir (see cleanup).
    this.state = `${this.sb.dir}/.chaos`;
    Deno.mkdirSync(this.state);
  }

  get root() {
    return this.sb.dir;
  }

  async tt(args: string[]) {
    return await this.sb.tt(args);
  }

  async ok(args: string[]) {
    return await this.sb.ok(args);
  }

  /** A connection for observing; starts the managed Redis if it is down (as any tt would). */
  async open(): Promise<TownContext> {
    return await openTown({ town: this.root, clientName: "tt-chaos" });
  }

  async with<T>(fn: (t: TownContext) => Promise<T>): Promise<T> {
    const t = await this.open();
    try {
      return await fn(t);
    } finally {
      await t.close();
    }
  }

  /** Pids of every process whose command line names the town dir (supervisor, rounds, redis). */
  async processes(): Promise<number[]> {
    const out = await new Deno.Command("pgrep", {
      args: ["-f", `${this.root}([/ ]|$)`],
      stdout: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).split("\n").map(Number)
      .filter((p) => p > 0 && p !== Deno.pid);
  }

  /**
   * Stops everything started for this town: the supervisor gently (it ends its rounds), then any
   * process still naming the town dir (orphaned rounds, with their process group; the Redis
   * server), by pid, until none is left.
   */
  async cleanup(keep: boolean) {
    try {
      const t = await this.open().catch(() => undefined);
      const sup = t && await supervisorInfo(t).catch(() => undefined);
      await t?.close();
      if (sup) {
        try {
          Deno.kill(sup.pid, "SIGTERM");
        } catch { /* gone */ }
        await until(async () => !(await processAlive(sup.pid)), 10_000);
      }
      for (let i = 0; i < 50; i++) {
        const pids = await this.processes();
        if (!pids.length) break;
        for (const pid of pids) {
          for (const target of [-pid, pid]) {
            try {
              Deno.kill(target, "SIGKILL");
            } catch { /* not a group leader, or gone */ }
          }
        }
        await sleep(100);
      }
    } finally {
      if (!keep) this.sb.cleanup();
    }
  }
}

/** Runs one chaos town; never throws for a broken invariant (see `violations`). */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = (line: string) =>
    opts.log?.(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${line}`);
  const rng = new Rng(opts.seed);
  const kinds = opts.kinds ?? FAULT_KINDS;
  const nFaults = opts.faults ?? Math.max(kinds.length, Math.round(opts.tasks / 3));
  const assignGap = opts.assignGapMs ?? 250;
  const [faultGapMin, faultGapMax] = opts.faultGapMs ?? [100, 800];
  const town = new ChaosTown();
  const report: ChaosReport = {
    seed: opts.seed,
    tasks: opts.tasks,
    agents: opts.agents,
    faults: { agent: 0, supervisor: 0, redis: 0 },
    skipped: 0,
    rerun: 0,
    lost: 0,
    duplicated: 0,
    violations: [],
    elapsedMs: 0,
    dir: town.root,
  };
  try {
    await town.ok(["init", "--name", `chaos-${opts.seed}`]);
    const toml = `${town.root}/tinytown.toml`;
    await Deno.writeTextFile(
      toml,
      (await Deno.readTextFile(toml))
        .replace(/^idle_timeout_secs = .*$/m, "idle_timeout_secs = 0")
        .replace(/^round_timeout_secs = .*$/m, "round_timeout_secs = 120")
        .replace(/^\[agent\]$/m, "[agent]\nkill_grace_secs = 1"),
    );
    const cli = `FAKE_STATE='${town.state}' FAKE_JITTER_MS=${
      opts.jitterMs ?? 800
    } sh '${FAKE_AGENT}' jitter`;
    const names = Array.from({ length: opts.agents }, (_, i) => `w${i + 1}`);
    for (const n of names) await town.ok(["spawn", n, "--rounds", "100000", "--cli", cli]);
    log(`town ${town.root} ready: ${names.length} agents`);

    // The schedule: every assignment and every fault, in a seeded order (the first step is an
    // assignment); kinds round-robin before the shuffle, so a short run has each kind.
    const faultKinds = Array.from({ length: nFaults }, (_, i) => kinds[i % kinds.length]);
    const steps: ("assign" | FaultKind)[] = [
      "assign",
      ...rng.shuffle([...Array(opts.tasks - 1).fill("assign"), ...faultKinds]),
    ];
    const expected: string[] = [];
    for (const step of steps) {
      await sleep(step === "assign" ? rng.int(0, assignGap) : rng.int(faultGapMin, faultGapMax));
      if (step === "assign") {
        const agent = rng.pick(names);
        const r = await town.ok(["assign", agent, `chaos task ${expected.length}`, "--json"]);
        expected.push((JSON.parse(r.stdout) as { id: string }).id);
      } else if (await injectFault(town, step, rng, log)) {
        report.faults[step]++;
      } else {
        report.skipped++;
      }
    }

    // Heal: Redis up and a supervisor serving (the next tt would do this anyway), then wait.
    log("faults done: healing and waiting for the work to finish");
    // A killed supervisor's heartbeat may still be there: tt revives it once that expires.
    const healed = await until(
      async () => {
        await town.ok(["start"]);
        const sup = await town.with((t) => supervisorInfo(t));
        return !!sup && await processAlive(sup.pid);
      },
      20_000,
      500,
    );
    if (!healed) log("no live supervisor after healing");
    const settle = opts.settleMs ?? 30_000 + 1000 * opts.tasks;
    const done = await until(
      () =>
        town.with(async (t) =>
          (await listTasks(t)).filter((x) => x.state === "completed").length >= expected.length
        ).catch(() => false),
      settle,
      250,
    );
    log(done ? "all tasks completed" : `work not finished after ${settle} ms`);
    const idle = await town.tt(["wait", "--timeout", done ? "30" : "1"]);
    if (idle.code !== 0) log(`agents not idle: ${idle.stdout.trim()} ${idle.stderr.trim()}`);

    log("agents idle; checking");
    const agentLog = parseAgentLog(
      await Deno.readTextFile(`${town.state}/log`).catch(() => ""),
    );
    const result = await town.with((t) => checkInvariants(t, { expected, agentLog }));
    report.violations = result.violations;
    report.rerun = result.rerun.length;
    report.lost = result.lost.length;
    report.duplicated = result.duplicated.length;
  } catch (e) {
    report.violations.push(`the run itself failed: ${(e as Error).stack ?? e}`);
  } finally {
    report.elapsedMs = Date.now() - started;
    await town.cleanup(!!Deno.env.get("TT_CHAOS_KEEP") && report.violations.length > 0);
  }
  return report;
}

/** The process group of a round running now, waiting up to `limitMs` for one to start. */
async function runningRound(town: ChaosTown, rng: Rng, limitMs: number) {
  let pgid: number | undefined;
  await until(
    () =>
      town.with(async (t) => {
        const running = (await listAgents(t)).filter((a) => a.round_pgid);
        pgid = running.length ? rng.pick(running).round_pgid : undefined;
        return !!pgid && await processAlive(pgid);
      }),
    limitMs,
    100,
  );
  return pgid && await processAlive(pgid) ? pgid : undefined;
}

/**
 * Injects one fault; false if it found nothing to hit. Half of the supervisor and Redis kills
 * first wait (briefly) for a round to be running, so that kills land mid-round often.
 */
async function injectFault(
  town: ChaosTown,
  kind: FaultKind,
  rng: Rng,
  log: (l: string) => void,
): Promise<boolean> {
  switch (kind) {
    case "agent": {
      const pgid = await runningRound(town, rng, 4000);
      if (!pgid) {
        log("agent fault: no round running");
        return false;
      }
      // Mostly the whole group (a crash); sometimes only the CLI's shell, leaving its children
      // (a `tt task complete` in flight) to the supervisor, which kills the group after it.
      const whole = rng.chance(0.7);
      log(`SIGKILL agent round (${whole ? "process group" : "leader"} ${pgid})`);
      try {
        Deno.kill(whole ? -pgid : pgid, "SIGKILL");
      } catch {
        return false; // it ended meanwhile
      }
      return true;
    }
    case "supervisor": {
      if (rng.chance(0.5)) await runningRound(town, rng, 3000);
      const sup = await town.with((t) => supervisorInfo(t));
      if (!sup || !(await processAlive(sup.pid))) {
        log("supervisor fault: none running");
        return false;
      }
      Deno.kill(sup.pid, "SIGKILL");
      await until(async () => !(await processAlive(sup.pid)), 10_000);
      // Its heartbeat outlives it by up to SUPERVISOR_TTL_SECS, during which tt thinks it runs.
      // Mostly drop it (as if that time had passed); sometimes leave it to expire.
      const how = rng.pick(["start now", "next tt", "heartbeat expires"] as const);
      log(`SIGKILL supervisor ${sup.pid}; revival: ${how}`);
      if (how !== "heartbeat expires") {
        await town.with((t) => t.redis.del(t.keys.supervisor(sup.host)));
      }
      if (how === "start now") await town.ok(["start"]);
      return true;
    }
    case "redis": {
      if (rng.chance(0.5)) await runningRound(town, rng, 3000);
      const pid = await managedPid(town.root);
      if (!pid) {
        log("redis fault: not running");
        return false;
      }
      Deno.kill(pid, "SIGKILL");
      await until(async () => !(await processAlive(pid)), 10_000);
      // Back now, or at the next tt (an agent's `tt task complete`, the next assignment).
      const now = rng.chance(0.5);
      log(`SIGKILL redis-server ${pid}; restart: ${now ? "now" : "next tt"}`);
      if (now) await town.ok(["start"]);
      return true;
    }
  }
}
