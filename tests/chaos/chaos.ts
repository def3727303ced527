/**
 * Chaos runs: N tasks pushed through several fake agents (tests/fixtures/fake-agent.sh `jitter`)
 * while a driver kills, at random moments chosen by a seeded PRNG, agent CLI process groups
 * (SIGKILL), the supervisor (SIGKILL) and the town's managed redis-server (SIGKILL; `tt` restarts
 * it from its AOF). Afterwards `checkInvariants` reads Redis through src/core and the fake agents'
 * own log, and lists every violation of:
 *
 * - every task ends `completed`, exactly once: one task_completed event, the assignee's
 *   tasks_completed counter matching, and at most one `tt task complete` reported successful to
 *   an agent (a second one means an acknowledged completion was lost and the work redone);
 * - no message left in a processing list, inbox or urgent list once the agents are idle;
 * - no agent in a live state without a live supervisor, nor with a round whose process is gone.
 *
 * The invariants are strict even across Redis kills, because the managed redis-server fsyncs its
 * AOF before it replies (appendfsync always, src/redis/server.ts): a write tt was told about is
 * never lost. With everysec, a kill during a slow fsync (busy disk) did lose acknowledged writes:
 * assigned tasks vanished and agents completed the same task twice. What a kill may still cost is
 * a write that happened but whose reply was lost; tt's scripts are written so that redoing the
 * work then is safe, and such tasks show up as re-run, not as duplicated.
 *
 * The seed fixes the driver's decisions (order and spacing of assignments and faults, which agent
 * or kind, when Redis and the supervisor come back); process scheduling is the OS's, so a replay
 * reproduces the fault schedule, not every interleaving.
 *
 * Used by tests/chaos/chaos_test.ts (a short run in scripts/test) and tests/chaos/main.ts
 * (scripts/chaos, long runs).
 */
import { verifyTaskIndexes } from "../../src/core/task_index.ts";
import { Sandbox } from "../helpers.ts";
import { FAKE_AGENT } from "../agent_helpers.ts";
import { openTown, type TownContext } from "../../src/core/town.ts";
import { listAgents } from "../../src/core/agents.ts";
import { listTasks } from "../../src/core/tasks.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { parseEntry } from "../../src/core/events.ts";
import type { Ctx } from "../../src/core/agents.ts";
import { isTerminalAgent } from "../../src/core/schemas.ts";
import { managedPid, processAlive } from "../../src/redis/server.ts";

// ---- a small seeded PRNG ----

/** mulberry32: a 32-bit seeded generator, plenty for choosing faults. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}

/** A fresh random seed (for runs that were not given one). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

// ---- the invariant checker ----

export interface AuditLine {
  kind: "start" | "done";
  taskId: string;
  agent: string;
}

/** Parses the fake agents' log (`start|done <task id> <agent name>` lines). */
export function parseAgentLog(text: string): AuditLine[] {
  const out: AuditLine[] = [];
  for (const line of text.split("\n")) {
    const m = /^(start|done) ([0-9a-f-]+) (\S+)$/.exec(line.trim());
    if (m) out.push({ kind: m[1] as "start" | "done", taskId: m[2], agent: m[3] });
  }
  return out;
}

export interface CheckOptions {
  /** Ids of the tasks the driver created (each must end completed exactly once). */
  expected: string[];
  /** The fake agents' audit log; without it, only Redis is checked. */
  agentLog?: AuditLine[];
  /** Is a process (group leader) alive? Default: ps. */
  alive?: (pid: number) => Promise<boolean>;
  /** Whether a supervisor serves the town (live agents need one); default: a live heartbeat pid. */
  supervisorAlive?: boolean;
}

export interface CheckResult {
  /** One line per broken invariant; empty when everything holds. */
  violations: string[];
  completed: number;
  /** Expected tasks that are missing or did not end completed. */
  lost: string[];
  /** Tasks completed more than once (events, or acknowledged twice to agents). */
  duplicated: string[];
  /** Tasks whose CLI work started more than once (a round cut off, failed or lost and re-run). */
  rerun: string[];
  /** Messages left in processing/inbox/urgent lists, as `agent: list n`. */
  stranded: string[];
  /** Agents in a state their processes contradict. */
  stuck: string[];
}

const short = (id: string) => id.slice(0, 8);

/** Every task_completed event per task id; throws if the stream was trimmed (counts unknown). */
async function completionEvents(t: Ctx): Promise<Map<string, { agent?: string }[]>> {
  const info = (await t.redis.call("XINFO", "STREAM", t.keys.events)) as unknown[];
  const field = (name: string) => info[info.indexOf(name) + 1];
  const length = Number(field("length"));
  const added = Number(field("entries-added"));
  if (added !== length) {
    throw new Error(
      `the event stream was trimmed (${added} added, ${length} kept): completions cannot be counted; run fewer tasks per town`,
    );
  }
  const out = new Map<string, { agent?: string }[]>();
  let start = "-";
  for (;;) {
    const batch = (await t.redis.xrange(t.keys.events, start, "+", "COUNT", 1000)) as [
      string,
      string[],
    ][];
    for (const entry of batch) {
      const ev = parseEntry(entry);
      if (ev.type !== "task_completed" || !ev.task_id) continue;
      const list = out.get(ev.task_id) ?? [];
      list.push({ agent: ev.agent_id });
      out.set(ev.task_id, list);
    }
    if (batch.length < 1000) return out;
    start = `(${batch[batch.length - 1][0]}`;
  }
}

/** Checks the chaos invariants against Redis (and the agents' log); see the module comment. */
export async function checkInvariants(t: Ctx, opts: CheckOptions): Promise<CheckResult> {
  const alive = opts.alive ?? processAlive;
  const violations: string[] = [];
  const lost = new Set<string>();
  const duplicated = new Set<string>();
  const stranded: string[] = [];
  const stuck: string[] = [];

  const tasks = new Map((await listTasks(t)).map((x) => [x.id, x]));
  const agents = await listAgents(t);
  const agentById = new Map(agents.map((a) => [a.id, a]));
  const events = await completionEvents(t);

  for (const id of opts.expected) {
    const task = tasks.get(id);
    if (!task) {
      lost.add(id);
      violations.push(`task ${short(id)} is missing`);
    } else if (task.state !== "completed") {
      lost.add(id);
      violations.push(`task ${short(id)} ended ${task.state}, not completed`);
    }
  }
  for (const id of new Set(opts.expected)) {
    if (opts.expected.indexOf(id) !== opts.expected.lastIndexOf(id)) {
      violations.push(`task id ${short(id)} was handed out twice`);
    }
  }
  // Every task in the town, expected or not, counts: none may be completed twice.
  const counted = new Map<string, number>();
  for (const task of tasks.values()) {
    const evs = events.get(task.id) ?? [];
    if (task.state === "completed" && evs.length === 0) {
      violations.push(`task ${short(task.id)} is completed but has no task_completed event`);
    }
    if (task.state !== "completed" && evs.length > 0) {
      violations.push(
        `task ${short(task.id)} is ${task.state} but has ${evs.length} task_completed event(s)`,
      );
    }
    if (evs.length > 1) {
      duplicated.add(task.id);
      violations.push(`task ${short(task.id)} has ${evs.length} task_completed events`);
    }
    for (const ev of evs) {
      if (ev.agent) counted.set(ev.agent, (counted.get(ev.agent) ?? 0) + 1);
      if (ev.agent !== task.assigned_to) {
        violations.push(
          `task ${short(task.id)}: completion event names ${ev.agent ?? "nobody"}, the task ${
            task.assigned_to ?? "nobody"
          }`,
        );
      }
    }
  }
  for (const id of events.keys()) {
    if (!tasks.has(id)) violations.push(`task_completed event for unknown task ${short(id)}`);
  }
  for (const a of agents) {
    const n = counted.get(a.id) ?? 0;
    if (a.tasks_completed !== n) {
      violations.push(
        `agent ${a.name}: tasks_completed is ${a.tasks_completed}, but ${n} completion event(s) name it`,
      );
    }
  }
  for (const id of counted.keys()) {
    if (!agentById.has(id)) violations.push(`completion events name unknown agent ${short(id)}`);
  }
  // The counters and indexes status and task lists read (task_index.ts) match the tasks.
  const index = await verifyTaskIndexes(t);
  if (index.wrong) {
    violations.push(
      `task counters: ${index.wrong} entr(ies) disagree with the ${index.tasks} tasks`,
    );
  }

  // The agents' own view: what `tt task complete` told them, and how often work started.
  const rerun: string[] = [];
  if (opts.agentLog) {
    const starts = new Map<string, number>();
    const dones = new Map<string, number>();
    for (const l of opts.agentLog) {
      const m = l.kind === "start" ? starts : dones;
      m.set(l.taskId, (m.get(l.taskId) ?? 0) + 1);
    }
    for (const [id, n] of starts) if (n > 1) rerun.push(id);
    for (const [id, n] of dones) {
      if (n > 1) {
        duplicated.add(id);
        violations.push(`task ${short(id)}: 'tt task complete' succeeded ${n} times`);
      }
      if (tasks.get(id)?.state !== "completed") {
        lost.add(id);
        violations.push(
          `task ${short(id)}: 'tt task complete' succeeded, but the task is ${
            tasks.get(id)?.state ?? "missing"
          } (an acknowledged write was lost)`,
        );
      }
    }
  }

  // Nothing stranded once the agents are idle.
  for (const a of agents) {
    const [p, i, u] = await Promise.all([
      t.redis.llen(t.keys.processing(a.id)),
      t.redis.llen(t.keys.inbox(a.id)),
      t.redis.llen(t.keys.urgent(a.id)),
    ]);
    for (const [list, n] of [["processing", p], ["inbox", i], ["urgent", u]] as const) {
      if (n > 0) {
        stranded.push(`${a.name}: ${list} ${n}`);
        violations.push(`agent ${a.name}: ${n} message(s) left in its ${list} list`);
      }
    }
  }

  // No agent in a state its processes contradict.
  const sup = opts.supervisorAlive === undefined ? await supervisorInfo(t) : undefined;
  const supervised = opts.supervisorAlive ?? (!!sup && await alive(sup.pid));
  for (const a of agents) {
    if (isTerminalAgent(a.state)) {
      stuck.push(`${a.name}: ${a.state}`);
      violations.push(`agent ${a.name} ended ${a.state}`);
      continue;
    }
    if (!supervised) {
      stuck.push(`${a.name}: ${a.state} without a supervisor`);
      violations.push(`agent ${a.name} is ${a.state} but no supervisor runs`);
    }
    if (a.round_pgid && !(await alive(a.round_pgid))) {
      stuck.push(`${a.name}: round process ${a.round_pgid} gone`);
      violations.push(
        `agent ${a.name} is ${a.state} with round process group ${a.round_pgid}, which does not exist`,
      );
    } else if (a.state === "working" && !a.round_pgid) {
      stuck.push(`${a.name}: working without a round process`);
      violations.push(`agent ${a.name} is working but has no round process`);
    }
  }

  const completed = [...tasks.values()].filter((x) => x.state === "completed").length;
  return {
    violations,
    completed,
    lost: [...lost],
    duplicated: [...duplicated],
    rerun,
    stranded,
    stuck,
  };
}

// ---- the driver ----

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
