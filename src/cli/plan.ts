/** tasks.toml commands: plan (no Redis) and sync push|pull. */
import type { Command } from "@commander-js/extra-typings";
import { callerIdentity, globals, withTown } from "./context.ts";
import { color, output } from "./output.ts";
import { DELIVERS, TASK_ICON } from "./task.ts";
import { TtError, UsageError } from "../core/errors.ts";

export function register(program: Command) {
  program.command("plan")
    .description("show the task plan in tasks.toml (no Redis needed)")
    .option("-i, --init", "write a template tasks.toml")
    .option("-f, --force", "with --init: overwrite an existing tasks.toml")
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      const { findTownRoot } = await import("../core/config.ts");
      const { initPlan, loadPlan, planPath } = await import("../core/plan.ts");
      const root = await findTownRoot(g.town);
      if (opts.init) {
        const path = await initPlan(root, opts.force);
        output(g.json, { path }, () => `Wrote ${path}: edit it, then run 'tt sync push'`);
        return;
      }
      const plan = await loadPlan(root);
      const path = planPath(root);
      output(
        g.json,
        { path, ...(plan ?? { meta: null, tasks: [] }) },
        () =>
          !plan ? `No tasks.toml in ${root}: 'tt plan --init' writes a template` : [
            ...(plan.meta.description ? [color.bold(plan.meta.description)] : []),
            ...plan.tasks.map((e) =>
              `  ${TASK_ICON[e.status]} [${e.agent ?? "unassigned"}] ${e.id} - ${e.description}`
            ),
            ...(plan.tasks.length ? [] : ["  (no tasks)"]),
          ],
      );
    });

  program.command("sync")
    .description("push tasks.toml into the town (idempotent), or pull task states back into it")
    .argument("[direction]", "push | pull", "push")
    .action(async (direction, _opts, cmd) => {
      if (direction !== "push" && direction !== "pull") {
        throw new UsageError(`unknown sync direction '${direction}': use push or pull`);
      }
      await withTown(cmd, async (t, g) => {
        const plan = await import("../core/plan.ts");
        if (direction === "pull") {
          const r = await plan.pullPlan(t, t.root);
          output(g.json, r, () => [
            r.updated.length
              ? `Updated ${r.updated.length} entr${
                r.updated.length === 1 ? "y" : "ies"
              } in ${r.path}: ${r.updated.join(", ")}`
              : `${r.path} is up to date`,
            ...(r.notPushed.length
              ? [`Not pushed yet (tt sync push): ${r.notPushed.join(", ")}`]
              : []),
          ]);
          return;
        }
        const loaded = await plan.loadPlan(t.root);
        if (!loaded) {
          throw new TtError(`no tasks.toml in ${t.root}: 'tt plan --init' writes a template`);
        }
        const { resolveSender } = await import("../core/messages.ts");
        const from = await resolveSender(t, undefined, callerIdentity());
        const r = await plan.pushPlan(t, loaded, from.id);
        const count = (s: string) => r.created.filter((x) => x.state === s).length;
        output(
          g.json,
          r,
          () =>
            `Pushed tasks.toml: ${r.created.length} created (${count("assigned")} assigned, ${
              count("pending")
            } to the backlog, ${
              r.created.length - count("assigned") - count("pending")
            } already finished), ${r.updated.length} updated, ${r.unchanged} unchanged`,
        );
      }, DELIVERS);
    });
}
