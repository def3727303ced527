/**
 * The chaos invariant checker: after a chaos run (tests/chaos/chaos.ts), `checkInvariants` reads
 * Redis through src/core and the fake agents' own log, and lists every violation of:
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
 */
import { verifyTaskIndexes } from "../../src/core/task_index.ts";
import { listAgents } from "../../src/core/agents.ts";
import { listTasks } from "../../src/core/tasks.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { parseEntry } from "../../src/core/events.ts";
import type { Ctx } from "../../src/core/agents.ts";
import { isTerminalAgent } from "../../src/core/schemas.ts";
import { processAlive } from "../../src/redis/server.ts";

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
