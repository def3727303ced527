/** `tt usage` (tokens and cost by agent, task, mission, model, CLI or day) and `tt budget`. */
import { type Command, Option } from "@commander-js/extra-typings";
import { withTown } from "./context.ts";
import { color, output } from "./output.ts";
import type { UsageReport, UsageRow } from "../core/usage/report.ts";

const DIMS = ["agent", "task", "mission", "model", "cli", "day"] as const;

export function register(program: Command) {
  program.command("usage")
    .description("tokens and cost the agents' CLIs reported, by agent, task, model or day")
    .addOption(new Option("--by <dimension>", "group by").choices(DIMS).default("agent" as const))
    .option("--since <when>", 'a duration back from now ("7d", "12h") or a date ("2026-11-30")')
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { usageReport } = await import("../core/usage/report.ts");
        const { listAgents } = await import("../core/agents.ts");
        const r = await usageReport(t, { by: opts.by, since: opts.since });
        const names = new Map((await listAgents(t)).map((a) => [a.id, a.name]));
        const label = (k: string) =>
          r.by === "agent"
            ? names.get(k) ?? `${k.slice(0, 8)} (pruned)`
            : r.by === "task" || r.by === "mission"
            ? k.slice(0, 8)
            : k;
        output(g.json, {
          ...r,
          rows: r.rows.map((x) => r.by === "agent" ? { ...x, name: names.get(x.key) } : x),
        }, () => renderUsage(r, label));
      });
    });

  program.command("budget")
    .description("what is left of each agent's [budget] (tinytown.toml), and the town's today")
    .action(async (_opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { listAgents, agentLabel } = await import("../core/agents.ts");
        const { loadTownConfig } = await import("../core/config.ts");
        const { agentBudgets, budgetText, hasBudget } = await import("../core/usage/budget.ts");
        const { isTerminalAgent } = await import("../core/schemas.ts");
        const cfg = await loadTownConfig(t.root);
        const agents = (await listAgents(t)).filter((a) => !isTerminalAgent(a.state));
        const budgets = await agentBudgets(t, agents, cfg.budget);
        const rows = agents.map((a) => ({ agent: a.name, state: a.state, ...budgets.get(a.id)! }));
        output(g.json, { budget: cfg.budget, agents: rows }, () => {
          if (!agents.length) return "No running agents.";
          const lines = agents.map((a) => {
            const b = budgets.get(a.id)!;
            if (!hasBudget(b.limits)) return `${agentLabel(a)}: no budget`;
            const over = b.over ? color.red(` — OVER: ${b.over.text}`) : "";
            return `${agentLabel(a)}: ${budgetText(b)}${over}`;
          });
          if (![...budgets.values()].some((b) => hasBudget(b.limits))) {
            lines.push(
              color.dim('No [budget] in tinytown.toml: add e.g. agent_usd = 5.0, window = "1d"'),
            );
          }
          return lines;
        });
      });
    });
}

const usd = (n: number) => `$${n.toFixed(4)}`;

function renderUsage(r: UsageReport, label: (k: string) => string): string[] {
  const line = (name: string, x: UsageRow) =>
    `${name.padEnd(24)} ${String(x.input).padStart(10)} ${String(x.output).padStart(9)} ${
      String(x.cached).padStart(9)
    } ${usd(x.usd).padStart(10)} ${String(Math.round(x.rounds * 100) / 100).padStart(7)}`;
  const head = `${r.by.toUpperCase().padEnd(24)} ${"IN".padStart(10)} ${"OUT".padStart(9)} ${
    "CACHED".padStart(9)
  } ${"USD".padStart(10)} ${"ROUNDS".padStart(7)}`;
  if (!r.total.rounds) return [`No usage recorded from ${r.since} to ${r.until}.`];
  return [
    color.dim(`Usage from ${r.since} to ${r.until} (UTC days)`),
    color.bold(head),
    ...r.rows.map((x) => line(label(x.key), x)),
    line("total", r.total),
  ];
}
