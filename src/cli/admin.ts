/** Town-wide commands: status, list, reset, save, restore. */
import type { Command } from "@commander-js/extra-typings";
import { withTown } from "./context.ts";
import { ago, clip, color, output } from "./output.ts";
import type { AgentStatus, MailboxStatus, TaskBrief, TownStatus } from "../core/status.ts";
import type { AgentState, TownEvent } from "../core/schemas.ts";
import type { WorktreeStatus } from "../supervisor/worktree.ts";

/** Agents `tt status` shows in full without --all (a big town's other agents are counted). */
const SHOWN_AGENTS = 50;

const TASK_ICONS: Record<string, string> = {
  pending: "⏳",
  assigned: "📌",
  running: "🔄",
  completed: "✅",
  failed: "❌",
  cancelled: "🚫",
};

export function register(program: Command) {
  program.command("status")
    .description("the town at a glance: agents, their mailboxes, tasks")
    .option("--deep", "per agent: role, parent, rounds, uptime, heartbeat, last events")
    .option("--tasks", "tasks grouped by agent")
    .option("--all", `every agent (the text view shows the oldest ${SHOWN_AGENTS}; --json all)`)
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { townStatus } = await import("../core/status.ts");
        const { isTerminalAgent } = await import("../core/schemas.ts");
        const s = await townStatus(t, {
          deep: opts.deep,
          tasks: opts.tasks,
          agentLimit: g.json || opts.all ? undefined : SHOWN_AGENTS,
        });
        const { withBudgets } = await import("../core/usage/budget.ts");
        await withBudgets(t, s.agents, t.config.budget);
        output(g.json, s, () => renderStatus(s, isTerminalAgent));
      });
    });

  program.command("list")
    .description("list the town's agents")
    .action(async (_opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { listAgents, agentLabel, shortId } = await import("../core/agents.ts");
        const { isTerminalAgent } = await import("../core/schemas.ts");
        const agents = await listAgents(t);
        const ended = agents.filter((a) => isTerminalAgent(a.state)).length;
        output(g.json, agents.map((a) => ({ ...a, label: agentLabel(a) })), () =>
          agents.length
            ? [
              ...agents.map((a) => `${agentLabel(a)} (${shortId(a.id)}) ${stateText(a.state)}`),
              ...(ended ? [color.dim(`${ended} stopped agent(s): 'tt prune' removes them`)] : []),
            ]
            : "No agents. Run 'tt spawn <name>' to create one.");
      });
    });

  program.command("reset")
    .description("delete the town's Redis state (shows what it would delete unless --force)")
    .option("--force", "really delete")
    .option("--agents-only", "only agents and mailboxes; keep tasks, backlog, plan and events")
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { previewReset, resetTown } = await import("../core/reset.ts");
        const scope = { agentsOnly: opts.agentsOnly };
        if (!opts.force) {
          const p = await previewReset(t, scope);
          output(g.json, { ...p, deleted: 0 }, () => [
            `Would delete ${p.keys} keys of town ${color.bold(t.name)}: ${p.agents} agent(s)${
              p.agents_only
                ? " and their mailboxes"
                : `, ${p.tasks} task(s), ${p.backlog} backlog entries, events`
            }`,
            `Nothing deleted. Run 'tt reset${
              p.agents_only ? " --agents-only" : ""
            } --force' to do it.`,
          ]);
          return;
        }
        const r = await resetTown(t, scope);
        output(
          g.json,
          { agents_only: !!opts.agentsOnly, ...r },
          () =>
            `Deleted ${r.deleted} keys of town ${color.bold(t.name)}${
              opts.agentsOnly ? " (agents and mailboxes; tasks and events kept)" : ""
            }`,
        );
      });
    });

  program.command("save")
    .description("write the town's whole Redis state to a snapshot file")
    .argument("[file]", "where (default: .tt/snapshots/<town>-<time>.json)")
    .action(async (file, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const snap = await import("../core/snapshot.ts");
        const s = await snap.takeSnapshot(t);
        const path = file ?? snap.defaultSnapshotPath(t.root, t.name);
        await snap.writeSnapshot(path, s, { mkdir: !file });
        output(
          g.json,
          { path, town: s.town, keys: s.keys.length, created_at: s.created_at },
          () => `Saved ${s.keys.length} keys of town ${color.bold(t.name)} to ${path}`,
        );
      });
    });

  program.command("restore")
    .description("replace the town's Redis state with a snapshot made by 'tt save'")
    .argument("<file>", "snapshot file")
    .option("--force", "restore a snapshot of another town into this one")
    .action(async (file, opts, cmd) => {
      const { readSnapshot, restoreSnapshot } = await import("../core/snapshot.ts");
      const s = await readSnapshot(file); // a bad file fails before Redis is touched
      await withTown(cmd, async (t, g) => {
        const r = await restoreSnapshot(t, s, { force: opts.force });
        output(
          g.json,
          { file, town: t.name, from_town: s.town, created_at: s.created_at, ...r },
          () => [
            `Restored ${r.restored} keys into town ${
              color.bold(t.name)
            } from ${file} (saved ${s.created_at}${
              s.town === t.name ? "" : ` from town '${s.town}'`
            })`,
            ...(r.skipped
              ? [`Left out ${r.skipped} liveness key(s) (heartbeats, locks, control queues)`]
              : []),
            ...(s.town !== t.name
              ? [
                `Townhall API keys: ${t.name}'s own were kept; those of '${s.town}' were not restored`,
              ]
              : []),
            ...(r.missing_workdirs.length
              ? [
                `No work directory here yet for ${
                  r.missing_workdirs.join(", ")
                } (a worktree of the saved town): create it, or 'tt prune' and 'tt spawn' the agent again`,
              ]
              : []),
            ...(r.active_agents
              ? [
                `${r.active_agents} agent(s) were active when saved and nothing runs them now: 'tt start' resumes them, 'tt recover' stops them and requeues their work`,
              ]
              : []),
          ],
        );
      });
    });
}

function stateText(state: string): string {
  const paint = state === "error"
    ? color.red
    : state === "rate_limited" || state === "over_budget"
    ? color.yellow
    : state === "working"
    ? color.green
    : state === "stopped"
    ? color.dim
    : (s: string) => s;
  return paint(state);
}

const mailboxText = (m: MailboxStatus) => {
  const c = m.categories;
  const total = m.urgent + m.inbox + m.processing;
  if (!total) return "inbox empty";
  return `inbox ${total}${m.urgent ? color.red(` (${m.urgent} urgent)`) : ""}${
    m.processing ? ` (${m.processing} in progress)` : ""
  } [T] ${c.task} [Q] ${c.query} [I] ${c.info} [C] ${c.confirmation}`;
};

const secs = (n: number) =>
  n < 60
    ? `${n}s`
    : n < 3600
    ? `${Math.floor(n / 60)}m`
    : n < 86400
    ? `${Math.floor(n / 3600)}h${Math.floor((n % 3600) / 60)}m`
    : `${Math.floor(n / 86400)}d${Math.floor((n % 86400) / 3600)}h`;

const taskLine = (x: TaskBrief) =>
  `${TASK_ICONS[x.state] ?? "•"} ${x.id.slice(0, 8)} ${clip(x.description, 50)}`;

function agentLines(a: AgentStatus, wt?: WorktreeStatus): string[] {
  const lines = [
    `  ${color.bold(a.label)} (${a.id.slice(0, 4)}) ${stateText(a.agent.state)} — ${
      mailboxText(a.mailbox)
    }`,
  ];
  const st = a.agent.state;
  if (st === "rate_limited" && a.agent.resume_at) {
    const at = new Date(a.agent.resume_at);
    const hhmm = `${String(at.getHours()).padStart(2, "0")}:${
      String(at.getMinutes()).padStart(2, "0")
    }`;
    lines.push(color.yellow(`    rate limited until ${hhmm} (${clip(a.agent.cli, 30)})`));
  }
  if (a.budget?.line) lines.push(`    Spent: ${a.budget.line}`);
  if (a.agent.reason) {
    const until = st === "rate_limited" && a.agent.resume_at
      ? ` (until ${a.agent.resume_at.replace("T", " ").slice(0, 19)} UTC)`
      : "";
    lines.push(`    Why: ${clip(a.agent.reason, 160)}${until}`);
  }
  if (a.current_task) {
    const idle = ["stopped", "error", "rate_limited", "over_budget"].includes(st);
    lines.push(
      `    ${idle ? "Task (not running)" : "Working"}: ${clip(a.current_task.description, 80)}`,
    );
  }
  if (wt) {
    lines.push(
      `    Branch ${wt.branch}: ${wt.ahead} ahead, ${wt.behind} behind${
        wt.dirty ? `, ${wt.dirty} uncommitted` : ""
      }`,
    );
  }
  if (a.deep) {
    const d = a.deep;
    lines.push(
      `    role ${a.agent.role ?? "-"}, parent ${
        d.parent_label ?? "-"
      }, rounds ${a.agent.rounds_completed}, tasks done ${a.agent.tasks_completed}, up ${
        secs(d.uptime_secs)
      }, heartbeat ${secs(d.heartbeat_age_secs)} ago`,
      ...d.events.map((ev: TownEvent) =>
        color.dim(`    ${ago(ev.ts)}: [${ev.type}] ${clip(ev.message, 80)}`)
      ),
      `    cli ${clip(a.agent.cli, 40)}, session ${
        a.agent.session_id ?? "none (the next round starts one)"
      }, tokens ${a.agent.tokens_in} in / ${a.agent.tokens_out} out${
        a.agent.cost_usd ? `, $${a.agent.cost_usd.toFixed(4)}` : ""
      }, ${
        a.agent.sandboxed === undefined
          ? "no round yet"
          : a.agent.sandboxed
          ? "sandboxed"
          : "NOT sandboxed"
      }`,
    );
  }
  return lines;
}

/**
 * Agents grouped by host, each group under a line saying whether its supervisor is up or lost;
 * one group without a heading when every agent is on this host and no other host is known.
 */
function byHost(s: TownStatus): [string | undefined, AgentStatus[]][] {
  const hosts = s.hosts ?? [];
  const names = [...new Set([...hosts.map((h) => h.host), ...s.agents.map((a) => a.host)])];
  const single = names.length <= 1 && (hosts[0]?.this_host ?? true);
  if (single) return [[undefined, s.agents]];
  return names.map((name) => {
    const h = hosts.find((x) => x.host === name);
    const agents = s.agents.filter((a) => a.host === name);
    const since = h?.since ? ` since ${h.since.replace("T", " ").slice(0, 19)} UTC` : "";
    const state = !h || h.state === "down"
      ? color.dim(`no supervisor${since}`)
      : h.state === "lost"
      ? color.red(`LOST${since} (supervisor heartbeat expired)`)
      : `up, supervisor pid ${h.pid}${since}`;
    return [
      `Host ${color.bold(name)}${
        h?.this_host ? " (this host)" : ""
      }: ${state} — ${agents.length} agent(s)`,
      agents,
    ];
  });
}

function renderStatus(s: TownStatus, ended: (state: AgentState) => boolean): string[] {
  const b = s.tasks.by_state;
  const stopped = Object.entries(s.agents_by_state)
    .filter(([st]) => ended(st as AgentState)).reduce((n, [, k]) => n + k, 0);
  const hidden = s.agents_total - s.agents.length;
  const byState = Object.entries(s.agents_by_state).filter(([, n]) => n).map(([st, n]) =>
    `${n} ${st}`
  ).join(", ");
  return [
    `Town ${color.bold(s.town)} at ${s.root}`,
    `Redis: ${s.redis}${s.managed ? " (managed)" : ""}`,
    ...(s.supervisor
      ? [
        `Supervisor: ${s.supervisor.summary}${
          s.service?.installed ? ` (service ${s.service.unit} installed)` : ""
        }`,
      ]
      : []),
    `Agents: ${s.agents_total}${hidden > 0 ? ` (${byState})` : ""}`,
    ...byHost(s).flatMap(([head, agents]) => [
      ...(head ? [head] : []),
      ...agents.flatMap((a) => agentLines(a, s.worktrees?.[a.id])),
    ]),
    ...(hidden > 0
      ? [`  … and ${hidden} more agent(s): 'tt status --all' shows every one, 'tt list' lists them`]
      : []),
    ...(stopped ? [color.dim(`  ${stopped} stopped agent(s): 'tt prune' removes them`)] : []),
    `Conductor mailbox: ${mailboxText(s.conductor)}`,
    ...(s.missions?.length ? [`Missions: ${s.missions.length} active`] : []),
    ...(s.missions ?? []).map((m) =>
      `  ${
        color.bold(m.id.slice(0, 8))
      } ${m.state} ${m.done}/${m.total} done, ${m.active} active: ${m.title}${
        m.reason ? color.dim(` (${m.reason})`) : ""
      }`
    ),
    `Tasks: ${s.tasks.total} (${b.pending} pending, ${b.assigned} assigned, ${b.running} running, ${b.completed} completed, ${b.failed} failed, ${b.cancelled} cancelled); backlog ${s.tasks.backlog}`,
    ...(s.task_groups ?? []).flatMap((grp) => [
      `  ${color.bold(grp.label)}: ${grp.active} active, ${grp.done} done`,
      ...grp.tasks.slice(0, 5).map((x) => `    ${taskLine(x)}`),
      ...(grp.active + grp.done > Math.min(5, grp.tasks.length)
        ? [`    … plus ${grp.active + grp.done - Math.min(5, grp.tasks.length)} more`]
        : []),
    ]),
  ];
}
