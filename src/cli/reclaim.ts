/** `tt reclaim`: the queued work of stopped agents, and tasks left assigned to missing agents. */
import type { Command } from "@commander-js/extra-typings";
import { withTown } from "./context.ts";
import { output } from "./output.ts";
import { UsageError } from "../core/errors.ts";

/** Registered by agent.ts, in its place among the agent commands (lean.ts: LEAN_GROUPS). */
export function registerReclaim(program: Command) {
  program.command("reclaim")
    .description(
      "move the queued work of stopped agents to another agent or the backlog (lists it without a destination)",
    )
    .option("--to <agent>", "a live agent to receive the messages")
    .option("--to-backlog", "turn the work into backlog tasks")
    .option("--from <agent>", "only this stopped agent")
    .option("--orphan-tasks", "instead: tasks still assigned to missing or stopped agents")
    .option("--cancel", "with --orphan-tasks: cancel them")
    .option("--delete", "with --orphan-tasks: delete them")
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveAgent, agentLabel } = await import("../core/agents.ts");
        const rc = await import("../core/reclaim.ts");
        if (opts.orphanTasks) {
          if ([opts.toBacklog, opts.cancel, opts.delete].filter(Boolean).length > 1) {
            throw new UsageError("choose one of --to-backlog, --cancel, --delete");
          }
          if (opts.to || opts.from) {
            throw new UsageError("--to and --from do not apply to --orphan-tasks");
          }
          const action = opts.toBacklog
            ? "backlog"
            : opts.cancel
            ? "cancel"
            : opts.delete
            ? "delete"
            : "list";
          const orphans = await rc.reclaimOrphanTasks(t, action);
          output(
            g.json,
            { action, orphans: orphans.map((o) => ({ ...o.task, reason: o.reason })) },
            () =>
              orphans.length
                ? orphans.map((o) =>
                  `${o.task.id.slice(0, 8)} ${o.task.state} (${o.reason}) ${
                    o.task.description.slice(0, 60)
                  }`
                )
                  .concat(
                    action === "list"
                      ? ["Use --to-backlog, --cancel or --delete to act on them."]
                      : [`${action}: done`],
                  )
                : "No orphan tasks.",
          );
          return;
        }
        if (opts.cancel || opts.delete) {
          throw new UsageError("--cancel and --delete need --orphan-tasks");
        }
        const r = await rc.reclaimWork(t, {
          to: opts.to ? await resolveAgent(t, opts.to) : undefined,
          toBacklog: opts.toBacklog,
          from: opts.from ? await resolveAgent(t, opts.from) : undefined,
        });
        output(
          g.json,
          {
            destination: r.destination,
            moved: r.moved,
            agents: r.agents.map((x) => ({ name: x.agent.name, messages: x.messages })),
          },
          () => {
            if (!r.agents.length) return "No queued work on stopped agents.";
            const lines = r.agents.flatMap((x) => [
              `${agentLabel(x.agent)}: ${x.messages.length} message(s)`,
              ...x.messages.map((m) =>
                `  [${m.type}] ${m.task_id ? m.task_id.slice(0, 8) + " " : ""}${
                  m.body.slice(0, 60)
                }`
              ),
            ]);
            return r.destination === "listed"
              ? [...lines, "Nothing moved: use --to <agent> or --to-backlog."]
              : [...lines, `Moved ${r.moved} message(s) to ${r.destination}.`];
          },
        );
      });
    });
}
