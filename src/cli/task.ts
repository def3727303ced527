/** Task commands: assign, and task list/show/current/complete/fail/cancel. */
import type { Command } from "@commander-js/extra-typings";
import { wholeNumber } from "./args.ts";
import { callerIdentity, type GlobalOptions, withTown } from "./context.ts";
import { clip, color, note, output } from "./output.ts";
import { ConflictError, UsageError } from "../core/errors.ts";
import type { Task, TaskState } from "../core/schemas.ts";
import type { TownContext } from "../core/town.ts";

export const TASK_ICON: Record<TaskState, string> = {
  pending: "⏳",
  assigned: "📋",
  running: "⚡",
  completed: "✅",
  failed: "❌",
  cancelled: "🚫",
};

/** `<icon> <id8> <state> <description> [<assignee>|unassigned]` */
export function taskLine(task: Task, who: (id: string) => string): string {
  return `${TASK_ICON[task.state]} ${task.id.slice(0, 8)} ${task.state.padEnd(9)} ${
    clip(task.description, 60)
  } ${color.dim(`[${task.assigned_to ? who(task.assigned_to) : "unassigned"}]`)}`;
}

/** Labels of every agent (and the supervisor) by id, for task lines: one pipelined read. */
export async function agentLabels(t: TownContext): Promise<(id: string) => string> {
  const { listAgents, agentLabel, SUPERVISOR } = await import("../core/agents.ts");
  const labels = new Map<string, string>([[SUPERVISOR.id, SUPERVISOR.label]]);
  for (const a of await listAgents(t)) labels.set(a.id, agentLabel(a));
  return (id) => labels.get(id) ?? id.slice(0, 8);
}

/** Terminal states (schemas.ts has them too, but importing it here would load zod for --help). */
const ENDED: TaskState[] = ["completed", "failed", "cancelled"];

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Options of commands that hand work to agents: revive a dead supervisor first. */
export const DELIVERS = { supervisor: true };
const callerId = () => callerIdentity().agentId?.trim().toLowerCase() || undefined;

export function register(program: Command) {
  program.command("assign")
    .description("create a task and assign it to an agent (it lands in the agent's inbox)")
    .argument("<agent>", "agent name, nickname, 'Nick [role]', short id, or supervisor")
    .argument("<description>", "what to do (up to 64 KiB)")
    .option("--tag <tag>", "tag the task (repeatable; a,b also works)", collect)
    .option(
      "--verify <command>",
      "done only when this shell command passes in the agent's directory (run after it reports)",
    )
    .action(async (ref, description, opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveRecipient } = await import("../core/agents.ts");
        const { resolveSender } = await import("../core/messages.ts");
        const { assignTask, checkDescription, checkVerify, parseTags } = await import(
          "../core/tasks.ts"
        );
        checkDescription(description);
        checkVerify(opts.verify);
        const to = await resolveRecipient(t, ref);
        const from = await resolveSender(t, undefined, {
          agentId: callerId(),
          agentName: callerIdentity().agentName,
        });
        const task = await assignTask(t, to, {
          description,
          tags: parseTags(opts.tag),
          from: from.id,
          verify: opts.verify,
        });
        output(
          g.json,
          task,
          () =>
            `Assigned task ${color.bold(task.id.slice(0, 8))} to ${to.label}${
              task.verify ? ` (done when \`${clip(task.verify, 50)}\` passes)` : ""
            }`,
        );
      }, DELIVERS);
    });

  const task = program.command("task").description("list, inspect and finish tasks");

  task.command("list")
    .description("list tasks, oldest first (all of them, or one page with --limit/--after)")
    .option("-s, --state <state>", "pending|assigned|running|completed|failed|cancelled")
    .option("-a, --agent <agent>", "only tasks assigned to this agent")
    .option(
      "-n, --limit <n>",
      "one page of at most n tasks (1-1000); prints the next cursor",
      pageSize,
    )
    .option("--after <cursor>", "the page after this cursor (printed by the previous page)")
    .action(async (opts, cmd) => {
      const state = parseState(opts.state);
      await withTown(cmd, async (t, g) => {
        const { resolveRecipient } = await import("../core/agents.ts");
        const { listTaskPage, MAX_PAGE } = await import("../core/counters.ts");
        const agentId = opts.agent ? (await resolveRecipient(t, opts.agent)).id : undefined;
        const paged = opts.limit !== undefined || opts.after !== undefined;
        const limit = opts.limit ?? (paged ? 100 : MAX_PAGE);
        let page = await listTaskPage(t, { state, agentId, limit, after: opts.after });
        const tasks = [...page.tasks];
        // Without --limit/--after: every task, fetched page by page (each page O(page)).
        while (!paged && page.next_cursor) {
          page = await listTaskPage(t, { state, agentId, limit, after: page.next_cursor });
          tasks.push(...page.tasks);
        }
        const who = await agentLabels(t);
        const next = paged ? page.next_cursor : undefined;
        output(
          g.json,
          paged ? { tasks, count: tasks.length, next_cursor: next } : tasks,
          () => [
            ...(tasks.length ? tasks.map((x) => taskLine(x, who)) : [
              `No ${opts.after ? "more " : ""}tasks${
                state || agentId || opts.after ? " match" : ' yet: tt assign <agent> "<task>"'
              }`,
            ]),
            ...(next ? [color.dim(`Next page: --after ${next}`)] : []),
          ],
        );
      });
    });

  task.command("recount")
    .description("rebuild the task counters and indexes from the tasks (after hand edits)")
    .action(async (_opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { recountTasks } = await import("../core/task_index.ts");
        const n = await recountTasks(t);
        output(g.json, { tasks: n }, () => `Recounted ${n} task(s): counters and indexes rebuilt`);
      });
    });

  task.command("show")
    .description("show one task in full")
    .argument("<task>", "task id or a unique prefix (4+ characters)")
    .action(async (ref, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveTask } = await import("../core/tasks.ts");
        const { taskUsage } = await import("../core/usage/report.ts");
        const x = await resolveTask(t, ref);
        const who = await agentLabels(t);
        const usage = await taskUsage(t, x.id);
        output(g.json, { ...x, usage: usage ?? null }, () => [
          ...showLines(x, who),
          ...(usage
            ? [
              `Usage: ${usage.input} in / ${usage.output} out tokens, $${
                usage.usd.toFixed(4)
              } over ${Math.round(usage.rounds * 100) / 100} round(s)`,
            ]
            : []),
        ]);
      });
    });

  task.command("current")
    .description("the task an agent is working on, and the command that completes it")
    .argument("[agent]", "agent (default: $TINYTOWN_AGENT_ID, else $TINYTOWN_AGENT_NAME)")
    .action(async (ref, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { agentLabel } = await import("../core/agents.ts");
        const { currentTask } = await import("../core/tasks.ts");
        const agent = await currentAgent(t, ref);
        const { task: cur, open } = await currentTask(t, agent.id);
        const command = cur && `tt task complete ${cur.id} --result "..."`;
        output(
          g.json,
          { agent: agent.id, name: agent.name, task: cur ?? null, open: open.length, command },
          () =>
            cur
              ? [
                `${TASK_ICON[cur.state]} ${cur.id.slice(0, 8)} ${cur.state}: ${cur.description}`,
                `When done: ${command}`,
              ]
              : open.length
              ? `${
                agentLabel(agent)
              } has ${open.length} open tasks and no current one: tt task list --agent ${agent.name}`
              : `${agentLabel(agent)} has no current task`,
        );
      });
    });

  task.command("complete")
    .description("mark a task completed")
    .argument("<task>", "task id or a unique prefix (4+ characters)")
    .option("-r, --result <text>", "what was done", "Completed")
    .option("-f, --force", "complete a task assigned to another agent")
    .option("--no-verify", "complete without running the task's --verify check (humans only)")
    .action(async (ref, opts, cmd) => {
      await finishCommand(cmd, ref, "complete", opts.result, opts.force, opts.verify);
    });

  task.command("fail")
    .description("mark a task failed")
    .argument("<task>", "task id or a unique prefix (4+ characters)")
    .option("-r, --reason <text>", "why it failed", "Failed")
    .option("-f, --force", "fail a task assigned to another agent")
    .action(async (ref, opts, cmd) => {
      await finishCommand(cmd, ref, "fail", opts.reason, opts.force);
    });

  task.command("cancel")
    .description("cancel a task (it is dropped from the backlog if queued there)")
    .argument("<task>", "task id or a unique prefix (4+ characters)")
    .option("-r, --reason <text>", "why", "Cancelled")
    .action(async (ref, opts, cmd) => {
      await finishCommand(cmd, ref, "cancel", opts.reason, false);
    });
}

const pageSize = wholeNumber(1, 1000);

function parseState(s: string | undefined): TaskState | undefined {
  if (s === undefined) return undefined;
  const v = s.trim().toLowerCase();
  if (v in TASK_ICON) return v as TaskState;
  throw new UsageError(`unknown task state '${s}': use ${Object.keys(TASK_ICON).join(", ")}`);
}

async function currentAgent(t: TownContext, ref: string | undefined) {
  const { getAgent, resolveAgent } = await import("../core/agents.ts");
  if (ref !== undefined) return await resolveAgent(t, ref);
  const id = callerId();
  const byId = id && await getAgent(t, id);
  if (byId) return byId;
  const name = callerIdentity().agentName;
  if (name) return await resolveAgent(t, name);
  throw new UsageError(
    "no current agent: name one (tt task current <agent>) or set TINYTOWN_AGENT_ID",
  );
}

async function finishCommand(
  cmd: { optsWithGlobals(): unknown },
  ref: string,
  verb: "complete" | "fail" | "cancel",
  text: string,
  force: boolean | undefined,
  runCheck = true,
) {
  await withTown(cmd, async (t, g: GlobalOptions) => {
    const tasks = await import("../core/tasks.ts");
    const by = callerId();
    if (by && !runCheck) {
      throw new UsageError("--no-verify is for humans: agents' reports are checked by tt");
    }
    const state = ({ complete: "completed", fail: "failed", cancel: "cancelled" } as const)[verb];
    if (by && !g.json && tasks.isTaskId(ref)) {
      // An agent's report by whole id, printed as one line: nothing to read first (the script
      // checks the task and the caller), and only the state comes back.
      const id = ref.trim().toLowerCase();
      const ended = await tasks.endTaskBriefly(t, id, state, { result: text, by, force });
      output(false, ended, () => finishedLine(ended, verb, text));
      return;
    }
    const task = await tasks.resolveTask(t, ref);
    // An agent's report is checked by the supervisor after its round; a human's right here.
    const verified = !runCheck || (verb === "complete" && !by && !!task.verify &&
      !ENDED.includes(task.state) && await humanCheck(t, task));
    const opts = { result: text, by, force, verified };
    const done = verb === "complete"
      ? await tasks.completeTask(t, task.id, opts)
      : verb === "fail"
      ? await tasks.failTask(t, task.id, opts)
      : await tasks.cancelTask(t, task.id, opts);
    output(g.json, done, () => finishedLine(done, verb, text));
  });
}

/** The line `tt task complete|fail|cancel` prints: the task's state now, or its check to come. */
function finishedLine(
  done: Pick<Task, "id" | "state" | "verify">,
  verb: "complete" | "fail" | "cancel",
  text: string,
): string {
  return done.state !== "completed" && verb === "complete"
    ? `${TASK_ICON[done.state]} Task ${done.id.slice(0, 8)} reported: ` +
      `tt checks \`${clip(done.verify ?? "", 50)}\` after this round; only a pass completes it`
    : `${TASK_ICON[done.state]} Task ${done.id.slice(0, 8)} ${done.state}: ${clip(text, 80)}`;
}

/** Runs a task's check for a human completing it; its output goes to stderr. Throws on failure. */
async function humanCheck(t: TownContext, task: Task): Promise<true> {
  const { getAgent } = await import("../core/agents.ts");
  const { runCheck } = await import("../supervisor/verify.ts");
  const agent = task.assigned_to ? await getAgent(t, task.assigned_to) : undefined;
  const cwd = agent?.workdir ?? t.root;
  const logFile = `${t.root}/.tt/logs/check_${task.id.slice(0, 8)}.log`;
  await Deno.mkdir(`${t.root}/.tt/logs`, { recursive: true, mode: 0o700 });
  note(`Checking task ${task.id.slice(0, 8)} in ${cwd}: ${task.verify}`);
  const check = await runCheck({
    command: task.verify!,
    cwd,
    env: Deno.env.toObject(),
    logFile,
    timeoutMs: t.config.agent.round_timeout_secs * 1000,
  });
  if (check.passed) return true;
  if (check.tail) note(check.tail);
  throw new ConflictError(
    `task ${task.id.slice(0, 8)} not completed: its check failed (${check.detail}); ` +
      `full output in ${logFile}, or pass --no-verify to complete it anyway`,
  );
}

function showLines(x: Task, who: (id: string) => string): string[] {
  const rows: [string, string | undefined][] = [
    ["id", x.id],
    ["state", `${TASK_ICON[x.state]} ${x.state}`],
    ["assigned to", x.assigned_to ? who(x.assigned_to) : "unassigned"],
    ["created by", x.created_by && who(x.created_by)],
    ["created", x.created_at],
    ["updated", x.updated_at],
    ["started", x.started_at],
    ["finished", x.completed_at],
    ["result", x.result],
    ["check", x.verify],
    [
      "reported",
      x.claimed_result !== undefined ? `${x.claimed_result} (being checked)` : undefined,
    ],
    ["checks failed", x.verify_failures ? String(x.verify_failures) : undefined],
    ["tags", x.tags.length ? x.tags.join(", ") : undefined],
    ["plan entry", x.plan_id],
    ["parent", x.parent_id],
  ];
  return [
    color.bold(x.description),
    ...rows.filter(([, v]) => v !== undefined).map(([k, v]) => `  ${k.padEnd(12)} ${v}`),
  ];
}
