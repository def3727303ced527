/** Backlog commands: add, list, claim, assign-all, remove. */
import type { Command } from "@commander-js/extra-typings";
import { callerIdentity, withTown } from "./context.ts";
import { clip, color, output } from "./output.ts";
import { agentLabels, DELIVERS, taskLine } from "./task.ts";
import type { Task } from "../core/schemas.ts";
import type { TownContext } from "../core/town.ts";

const backlogLine = (x: Task) =>
  `${x.id.slice(0, 8)} ${clip(x.description, 60)}${
    x.tags.length ? color.dim(` [${x.tags.join(", ")}]`) : ""
  }`;

/** Sender of assignment messages: the calling agent, else the supervisor. */
async function sender(t: TownContext): Promise<string> {
  const { resolveSender } = await import("../core/messages.ts");
  return (await resolveSender(t, undefined, callerIdentity())).id;
}

export function register(program: Command) {
  const backlog = program.command("backlog")
    .description("tasks waiting for an agent: add, list, claim, assign-all, remove");

  backlog.command("add")
    .description("queue a new task for any agent to claim")
    .argument("<description>", "what to do (up to 64 KiB)")
    .option("--tags <tags>", "comma-separated tags")
    .option("--verify <command>", "done only when this shell command passes (see tt assign)")
    .action(async (description, opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { addToBacklog } = await import("../core/backlog.ts");
        const { parseTags } = await import("../core/tasks.ts");
        const task = await addToBacklog(t, {
          description,
          tags: parseTags(opts.tags ? [opts.tags] : []),
          from: await sender(t),
          verify: opts.verify,
        });
        output(g.json, task, () => `Added task ${color.bold(task.id.slice(0, 8))} to the backlog`);
      }, DELIVERS);
    });

  backlog.command("list")
    .description("the backlog in claim order")
    .action(async (_opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { listBacklog } = await import("../core/backlog.ts");
        const tasks = await listBacklog(t);
        output(
          g.json,
          tasks,
          () =>
            tasks.length
              ? tasks.map(backlogLine)
              : 'The backlog is empty. Add work with: tt backlog add "<task>"',
        );
      });
    });

  backlog.command("claim")
    .description("take a task out of the backlog and assign it to an agent")
    .argument("<task>", "task id or a unique prefix (4+ characters)")
    .argument("<agent>", "agent name, nickname, 'Nick [role]' or short id")
    .action(async (ref, agentRef, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveAgent, agentLabel } = await import("../core/agents.ts");
        const { claimTask } = await import("../core/backlog.ts");
        const { resolveTask } = await import("../core/tasks.ts");
        const { id } = await resolveTask(t, ref);
        const agent = await resolveAgent(t, agentRef);
        const task = await claimTask(t, id, agent, await sender(t));
        output(
          g.json,
          task,
          () => `Assigned task ${color.bold(task.id.slice(0, 8))} to ${agentLabel(agent)}`,
        );
      }, DELIVERS);
    });

  backlog.command("assign-all")
    .description("assign every backlog task, in order, to one agent")
    .argument("<agent>", "agent name, nickname, 'Nick [role]' or short id")
    .action(async (agentRef, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveAgent } = await import("../core/agents.ts");
        const { assignAll } = await import("../core/backlog.ts");
        const agent = await resolveAgent(t, agentRef);
        const tasks = await assignAll(t, agent, await sender(t));
        const who = await agentLabels(t);
        output(g.json, tasks, () => [
          ...tasks.map((x) => taskLine(x, who)),
          `Assigned ${tasks.length} task(s) to ${who(agent.id)}`,
        ]);
      }, DELIVERS);
    });

  backlog.command("remove")
    .description("delete a task that is waiting in the backlog")
    .argument("<task>", "task id or a unique prefix (4+ characters)")
    .action(async (ref, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { removeFromBacklog } = await import("../core/backlog.ts");
        const { resolveTask } = await import("../core/tasks.ts");
        const task = await removeFromBacklog(t, (await resolveTask(t, ref)).id);
        output(
          g.json,
          task,
          () => `Removed task ${task.id.slice(0, 8)}: ${clip(task.description, 60)}`,
        );
      });
    });
}
