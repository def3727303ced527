/**
 * The end of a round whose CLI exited 0: the reported tasks' checks, then the tasks it did not
 * report. Those get a few more rounds, then fail, unless the CLI ended its round asking the
 * operator (a permission it was denied, or a question as its final message): then the agent
 * waits in `needs_input` for `tt reply`, and nothing counts against the task.
 */
import type { Ctx } from "../core/agents.ts";
import { isTerminalTask, type Message } from "../core/schemas.ts";
import { endRoundAndLook, type RoundEnd } from "../core/rounds.ts";
import { failTask, getTasks, returnTaskToAssigned } from "../core/tasks.ts";
import { needsCheck, verifyReports } from "./verify.ts";
import type { RoundRun } from "./round.ts";
import type { RunOptions } from "./process.ts";
import { type CliOutcome, oneLine } from "./clis/types.ts";

/** Clean rounds that may end without reporting a task before the task is failed. */
export const MAX_UNREPORTED_ROUNDS = 3;

/** The message of the agent's move back to idle after a round. */
export const roundEnded = (round: number) => `round ${round} ended`;

export interface CleanRoundInput {
  town: Ctx;
  agentId: string;
  round: number;
  assigns: Message[];
  /** What the round's CLI did, and how to run a task's check the way it ran. */
  run: Pick<RoundRun, "outcome" | "cwd" | "env" | "logFile" | "wrap">;
  killable: () => Omit<RunOptions, "command" | "cwd" | "env" | "logFile">;
  done: () => void;
  killed: () => boolean;
}

/** The question a round ended with, if it ended asking the operator. */
export function questionOf(o: CliOutcome): string | undefined {
  const last = o.text.trim().split(/\n\s*\n/).at(-1)?.trim() ?? "";
  if (o.permissionDenials.length) {
    return oneLine(
      `permission denied for ${o.permissionDenials.join("; ")}${last ? `: ${last}` : ""}`,
      400,
    );
  }
  if (/\?\s*$/.test(last)) return oneLine(last, 400);
  return undefined;
}

/**
 * Ends a clean round: the checks, the unreported tasks, endRound. `idle` when the agent went
 * back to idle in endRound's script (no question for the operator: the loop has nothing left to
 * do for this round); `after`: what then waited for the agent (endRoundAndLook).
 */
export async function endCleanRound(
  input: CleanRoundInput,
): Promise<{ clean: boolean; question?: string; idle: boolean; after: RoundEnd }> {
  const { town, agentId, round, assigns, run } = input;
  const usage = run.outcome.usage
    ? `; ${run.outcome.usage.input} in / ${run.outcome.usage.output} out tokens`
    : "";
  // The common case in one script: every task reported (ended, or no longer the agent's), no
  // check to run. Else nothing was written, and the tasks are read and dealt with below.
  const done = await endRoundAndLook(
    town,
    agentId,
    { kind: "ok" },
    `round ${round} completed${usage}`,
    { idle: roundEnded(round), ifReported: assigns.map((m) => m.task_id!) },
  );
  if (done.back >= 0) return { clean: true, idle: true, after: done };
  // The round's tasks in one pipelined read, for the checks and for what is still open.
  const read = async () =>
    new Map((await getTasks(town, assigns.map((m) => m.task_id!))).map((x) => [x.id, x]));
  let tasks = await read();
  const checks = [...tasks.values()].some(needsCheck);
  const sentBack = await verifyReports({
    town,
    agentId,
    assigns,
    tasks,
    where: { cwd: run.cwd, env: run.env, logFile: run.logFile },
    wrap: run.wrap,
    killable: input.killable,
    done: input.done,
    killed: input.killed,
  });
  if (checks) tasks = await read(); // the checks ran (for minutes, maybe): read again
  const open: Message[] = [];
  for (const m of assigns) {
    if (sentBack.has(m.task_id!)) continue;
    const task = tasks.get(m.task_id!);
    if (task && !isTerminalTask(task.state) && task.assigned_to === agentId) open.push(m);
  }
  const question = open.length ? questionOf(run.outcome) : undefined;
  // Sent back by its check: the same agent gets it again, with the output.
  const unfinished = assigns.filter((m) => sentBack.has(m.task_id!)).map((m) => m.id);
  for (const m of open) {
    if (question !== undefined) {
      unfinished.push(m.id);
      continue;
    }
    // A round that exits 0 without reporting its task gets a few more tries, then it fails.
    const tries = await town.redis.hincrby(town.keys.task(m.task_id!), "attempts", 1);
    if (tries >= MAX_UNREPORTED_ROUNDS) {
      await failTask(town, m.task_id!, {
        by: agentId,
        result: `${tries} rounds ended without 'tt task complete' or 'tt task fail'${
          run.outcome.text ? `; the CLI said: ${run.outcome.text.slice(0, 500)}` : ""
        }`,
      });
    } else {
      unfinished.push(m.id);
    }
  }
  for (const m of assigns.filter((m) => unfinished.includes(m.id))) {
    await returnTaskToAssigned(
      town,
      m.task_id!,
      question !== undefined
        ? `round ${round} ended asking the operator`
        : `round ${round} ended without 'tt task complete'`,
    );
  }
  const note = question !== undefined
    ? "; it asks the operator, waiting for 'tt reply'"
    : unfinished.length
    ? `; ${unfinished.length} task(s) unreported, requeued`
    : "";
  const idle = question === undefined;
  const after = await endRoundAndLook(
    town,
    agentId,
    { kind: "ok", requeue: unfinished },
    `round ${round} completed${note}${usage}`,
    idle ? { idle: roundEnded(round) } : {},
  );
  return { clean: unfinished.length === 0, question, idle, after };
}
