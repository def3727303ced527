/**
 * A task's check (`tt assign --verify "<command>"`): the command runs in the agent's working
 * directory like a round (own process group, timeout, output appended to a log); only exit 0
 * passes. The end of its output goes back to the agent when it fails.
 */
import { type RunOptions, runRoundProcess } from "./process.ts";
import type { Ctx } from "../core/agents.ts";
import { isTerminalTask, type Message, type Task } from "../core/schemas.ts";
import { completeTask, failTask, getTask, returnTaskToAssigned } from "../core/tasks.ts";
import { ignoreConflict } from "../core/errors.ts";
import { execDurably } from "../redis/script.ts";

export interface CheckResult {
  passed: boolean;
  /** "exit code 1", "timed out after 1800 s", … */
  detail: string;
  /** The last lines of the check's output (for the agent's next prompt and the human). */
  tail: string;
}

/** Verifications that may fail before the task fails for good. */
export const MAX_VERIFY_FAILURES = 3;

const TAIL_LINES = 40;
const TAIL_BYTES = 4096;

export async function runCheck(
  { shown, ...opts }: Omit<RunOptions, "stdin"> & { shown?: string },
): Promise<CheckResult> {
  const header = new TextEncoder().encode(`\n== tt: verifying with: ${shown ?? opts.command}\n`);
  await Deno.writeFile(opts.logFile, header, { append: true, create: true, mode: 0o600 });
  const from = (await Deno.stat(opts.logFile)).size;
  const r = await runRoundProcess(opts);
  return {
    passed: r.kind === "exited" && r.code === 0,
    detail: r.detail,
    tail: await readTail(opts.logFile, from),
  };
}

/** The last lines written to `path` after byte `from` (at most TAIL_BYTES of them). */
async function readTail(path: string, from: number): Promise<string> {
  const file = await Deno.open(path);
  try {
    const size = (await file.stat()).size;
    const start = Math.max(from, size - TAIL_BYTES);
    await file.seek(start, Deno.SeekMode.Start);
    const buf = new Uint8Array(size - start);
    let read = 0;
    while (read < buf.length) {
      const n = await file.read(buf.subarray(read));
      if (n === null) break;
      read += n;
    }
    const text = new TextDecoder().decode(buf.subarray(0, read)).trimEnd();
    return text.split("\n").slice(-TAIL_LINES).join("\n");
  } finally {
    file.close();
  }
}

/** Whether verifyReports runs the task's check: it has one, and an agent reported it done. */
export const needsCheck = (task: Task) =>
  !!task.verify && task.claimed_result !== undefined && !isTerminalTask(task.state);

export interface VerifyInput {
  town: Ctx;
  agentId: string;
  /** The round's task assignments. */
  assigns: Message[];
  /** Their tasks as just read (missing: read one by one); read again once a check has run. */
  tasks?: Map<string, Task>;
  where: { cwd: string; env: Record<string, string>; logFile: string };
  /** The check's command as the round's CLI ran (in the agent sandbox, or not). */
  wrap: (
    command: string,
  ) => Promise<{ command: string; env: Record<string, string>; release: () => void }>;
  /** A fresh timeout/abort for each check (AgentLoop#killable), and its clean-up. */
  killable: () => Omit<RunOptions, "command" | "cwd" | "env" | "logFile">;
  done: () => void;
  /** True once the agent is being killed: the rest of the checks are skipped. */
  killed: () => boolean;
}

/**
 * Runs the check of each of the round's tasks that the agent reported done and that has a
 * `verify` command. A pass completes the task with the reported result; a failure puts it back
 * to assigned with the end of the output (for the next prompt), and fails it after a few.
 * Returns the ids of the tasks sent back.
 */
export async function verifyReports(input: VerifyInput): Promise<Set<string>> {
  const { town, agentId } = input;
  const sentBack = new Set<string>();
  let stale = !input.tasks; // a check ran since the tasks were read
  for (const m of input.assigns) {
    const task = stale ? await getTask(town, m.task_id!) : input.tasks!.get(m.task_id!);
    if (!task || !needsCheck(task)) continue;
    stale = true;
    const w = await input.wrap(task.verify!);
    const check = await runCheck({
      ...input.where,
      command: w.command,
      env: w.env,
      shown: task.verify,
      ...input.killable(),
    }).finally(() => {
      w.release();
      input.done();
    });
    if (input.killed()) break; // killed meanwhile: the round's work is requeued as a whole
    if (check.passed) {
      await completeTask(town, task.id, {
        by: agentId,
        force: true,
        verified: true,
        result: task.claimed_result,
      }).catch(ignoreConflict);
      continue;
    }
    const key = town.keys.task(task.id);
    const tx = town.redis.multi().hincrby(key, "verify_failures", 1)
      .hset(key, "verify_output", check.tail).hdel(key, "claimed_result");
    const [[, failures]] = (await execDurably(town.redis, tx, key)) as [[unknown, number]];
    const why = `check failed (${check.detail}): ${task.verify}`;
    if (failures >= MAX_VERIFY_FAILURES) {
      await failTask(town, task.id, {
        by: agentId,
        force: true,
        result: `${why}, ${failures} times; output ends with:\n${check.tail}`,
      }).catch(ignoreConflict);
      continue;
    }
    await returnTaskToAssigned(town, task.id, why);
    sentBack.add(task.id);
  }
  return sentBack;
}
