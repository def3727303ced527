/** `tt mission …`: a dependency graph of work items that the agents work through. */
import type { Command } from "@commander-js/extra-typings";
import { InvalidArgumentError } from "commander";
import { withTown } from "./context.ts";
import { ago, clip, color, note, output } from "./output.ts";
import type { MissionJson } from "../core/missions/json.ts";

const STATE_MARK: Record<string, string> = {
  running: "▶",
  paused: "⏸",
  blocked: "⚠",
  completed: "✔",
  stopped: "■",
};
const ITEM_MARK: Record<string, string> = {
  pending: "·",
  ready: "○",
  active: "▶",
  review: "?",
  watch: "◎",
  done: "✔",
  failed: "✘",
  cancelled: "■",
};

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100) {
    throw new InvalidArgumentError("give a whole number from 1 to 100");
  }
  return n;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** Review decisions are the operator's (or a reviewer's, through its review task), never a worker's. */
async function refuseAgents(what: string) {
  if (!Deno.env.get("TINYTOWN_AGENT_ID")) return;
  const { TtError } = await import("../core/errors.ts");
  throw new TtError(
    `an agent cannot ${what} mission work: a reviewer completes its review task with --result "approved: …" or "rejected: …"`,
  );
}

function summaryLine(m: MissionJson): string {
  const c = m.counts;
  const extra = m.reason ? color.dim(` — ${clip(m.reason, 70)}`) : "";
  return `${STATE_MARK[m.state] ?? "?"} ${color.bold(m.id.slice(0, 8))} ${
    m.state.padEnd(9)
  } ${c.done}/${c.total} done, ${c.active} active  ${clip(m.title, 50)}  ${
    color.dim(ago(m.updated_at))
  }${extra}`;
}

async function view(t: Parameters<Parameters<typeof withTown>[1]>[0], ref: string) {
  const { resolveMission } = await import("../core/missions/store.ts");
  const { missionJson } = await import("../core/missions/json.ts");
  return missionJson(await resolveMission(t, ref));
}

export function register(program: Command) {
  const mission = program.command("mission")
    .description(
      "missions: a dependency graph of work items (plan file, GitHub issues) worked through by the agents",
    );

  mission.command("start")
    .description("start a mission from a plan file (or GitHub issues, documents)")
    .option(
      "-p, --plan <file>",
      "TOML plan file of [[items]] (id, title, body, kind, role, verify, depends_on)",
    )
    .option(
      "-i, --issue <ref>",
      "GitHub issue: N, owner/repo#N or its URL (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "-d, --doc <path>",
      "a document to turn into a design item (repeatable)",
      collect,
      [] as string[],
    )
    .option("--title <text>", "the mission's title (default: the plan's, else its first item's)")
    .option("--max-parallel <n>", "work items in progress at once (default 2)", positiveInt)
    .option("--no-reviewer", "finished implement/test items need no reviewer's approval")
    .action(async (opts, cmd) => {
      if (!opts.plan && !opts.issue.length && !opts.doc.length) {
        const { UsageError } = await import("../core/errors.ts");
        throw new UsageError("give --plan <file>, --issue <ref> or --doc <path>");
      }
      const { collectSources } = await import("../core/missions/sources.ts");
      // The graph is compiled (and a cycle refused) before the town is even opened.
      const src = await collectSources({ plan: opts.plan, issues: opts.issue, docs: opts.doc });
      await withTown(cmd, async (t, g) => {
        const { startMission } = await import("../core/missions/ops.ts");
        const { loadMission } = await import("../core/missions/store.ts");
        const { missionJson } = await import("../core/missions/json.ts");
        const m = await startMission(t, {
          title: opts.title ?? src.title,
          source: src.source,
          items: src.items,
          maxParallel: opts.maxParallel ?? src.maxParallel,
          reviewer: opts.reviewer === false ? false : src.reviewer,
          watchInterval: src.watchInterval,
        });
        const { reviveSupervisor } = await import("../supervisor/start.ts");
        const sup = await reviveSupervisor(t);
        const v = missionJson((await loadMission(t, m.id))!);
        output(g.json, v, () => [
          `Started mission ${
            color.bold(m.id.slice(0, 8))
          }: ${m.title} (${src.items.length} items, ` +
          `max ${m.max_parallel} in parallel${m.reviewer ? ", reviewer gate on" : ""})`,
          `Follow it with: tt mission show ${m.id.slice(0, 8)}`,
        ]);
        if (sup === "not-needed") {
          note("No agent is running yet: the mission waits until you spawn one (tt spawn <name>).");
        }
      });
    });

  mission.command("list")
    .description("active missions (with --all: every mission)")
    .option("-a, --all", "include completed and stopped missions")
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { listMissions } = await import("../core/missions/store.ts");
        const { missionJson } = await import("../core/missions/json.ts");
        const all = (await listMissions(t, { all: !!opts.all })).map(missionJson);
        output(
          g.json,
          all,
          () =>
            all.length
              ? all.map(summaryLine)
              : "No missions. Start one with: tt mission start --plan mission.toml",
        );
      });
    });

  mission.command("show")
    .description("a mission's work graph, drawn as text")
    .argument("<mission>", "mission id or a unique prefix (4+ characters)")
    .action(async (ref, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const m = await view(t, ref);
        const { drawGraph } = await import("../core/missions/graph.ts");
        const { listNotes } = await import("../core/missions/store.ts");
        const notes = await listNotes(t, m.id);
        const byId = new Map(m.items.map((i) => [i.id, i]));
        const { agentLabels } = await import("./task.ts");
        const who = await agentLabels(t);
        output(g.json, { ...m, notes }, () => [
          summaryLine(m),
          "",
          ...drawGraph(
            m.items.map((i) => ({ ...i, body: "" })),
            (it) => {
              const i = byId.get(it.id)!;
              return `${ITEM_MARK[i.status]} ${it.id} [${i.status}] ${clip(i.title, 50)}${
                i.agent && ["active", "review"].includes(i.status)
                  ? color.dim(` — ${who(i.agent)}`)
                  : i.status === "watch"
                  ? color.dim(` — watching ${i.prs.join(", ")}`)
                  : ""
              }`;
            },
          ),
          ...(notes.length
            ? ["", "Notes:", ...notes.map((n) => `  ${ago(n.at)}: ${clip(n.text, 90)}`)]
            : []),
        ]);
      });
    });

  mission.command("status")
    .description("active missions in short, or one mission's progress")
    .argument("[mission]", "mission id or a unique prefix")
    .action(async (ref, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        if (ref) {
          const m = await view(t, ref);
          const c = m.counts;
          return output(g.json, m, () => [
            summaryLine(m),
            `  items: ${c.done} done, ${c.active} active, ${c.review} in review, ${c.watch} watching PRs, ${c.ready} ready, ${c.failed} failed, ${
              c.total - c.done - c.active - c.review - c.watch - c.ready - c.failed
            } other`,
            ...(m.help_reason ? [`  asked the conductor: ${m.help_reason}`] : []),
          ]);
        }
        const { listMissions } = await import("../core/missions/store.ts");
        const { missionJson } = await import("../core/missions/json.ts");
        const all = (await listMissions(t)).map(missionJson);
        output(g.json, all, () => all.length ? all.map(summaryLine) : "No active missions.");
      });
    });

  const simple = (
    name: string,
    description: string,
    run: (t: Parameters<Parameters<typeof withTown>[1]>[0], ref: string) => Promise<unknown>,
    done: string,
  ) =>
    mission.command(name)
      .description(description)
      .argument("<mission>", "mission id or a unique prefix (4+ characters)")
      .action(async (ref, _opts, cmd) => {
        await withTown(cmd, async (t, g) => {
          await run(t, ref);
          const m = await view(t, ref);
          output(g.json, m, () => `${done} mission ${m.id.slice(0, 8)} (${m.state})`);
        }, { supervisor: true });
      });
  simple("pause", "assign no new work (work in progress carries on)", async (t, ref) => {
    const { pauseMission } = await import("../core/missions/ops.ts");
    await pauseMission(t, ref);
  }, "Paused");
  simple(
    "resume",
    "run a paused or blocked mission again (failed items are retried)",
    async (t, ref) => {
      const { resumeMission } = await import("../core/missions/ops.ts");
      await resumeMission(t, ref);
    },
    "Resumed",
  );
  simple("stop", "stop a mission for good (its open tasks are cancelled)", async (t, ref) => {
    const { stopMission } = await import("../core/missions/ops.ts");
    await stopMission(t, ref);
  }, "Stopped");

  mission.command("wait")
    .description("block until a mission is completed or stopped (no polling)")
    .argument("<mission>", "mission id or a unique prefix")
    .option("--timeout <secs>", "give up after this many seconds (exit 1)", (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("give a number of seconds");
      return n;
    })
    .action(async (ref, opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveMission } = await import("../core/missions/store.ts");
        const { missionJson } = await import("../core/missions/json.ts");
        const { waitForMission } = await import("../core/missions/wait.ts");
        const { mission: m } = await resolveMission(t, ref);
        const v = missionJson(
          await waitForMission(t, m.id, {
            timeout: opts.timeout === undefined ? undefined : opts.timeout * 1000,
          }),
        );
        output(g.json, v, () => summaryLine(v));
      });
    });

  mission.command("note")
    .description("leave a note for the mission (shown to the agents of its next tasks)")
    .argument("<mission>", "mission id or a unique prefix")
    .argument("<text>", "the note")
    .action(async (ref, text, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { noteMission } = await import("../core/missions/ops.ts");
        const n = await noteMission(t, ref, text);
        output(g.json, n, () => "Noted.");
      });
    });

  mission.command("approve")
    .description("accept an item waiting for review")
    .argument("<mission>", "mission id or a unique prefix")
    .argument("<item>", "the work item's id")
    .option("--reason <text>", "why (recorded in the events)")
    .action(async (ref, item, opts, cmd) => {
      await refuseAgents("approve");
      await withTown(cmd, async (t, g) => {
        const { approveItem } = await import("../core/missions/ops.ts");
        const { missionJson } = await import("../core/missions/json.ts");
        const m = missionJson(await approveItem(t, ref, item, opts.reason ?? ""));
        output(g.json, m, () => `Approved '${item}' of mission ${m.id.slice(0, 8)}`);
      }, { supervisor: true });
    });

  mission.command("reject")
    .description("send an item under review back to work, saying what to change")
    .argument("<mission>", "mission id or a unique prefix")
    .argument("<item>", "the work item's id")
    .requiredOption("--reason <text>", "what to change (given to the next task)")
    .action(async (ref, item, opts, cmd) => {
      await refuseAgents("reject");
      await withTown(cmd, async (t, g) => {
        const { rejectItem } = await import("../core/missions/ops.ts");
        const { missionJson } = await import("../core/missions/json.ts");
        const m = missionJson(await rejectItem(t, ref, item, opts.reason));
        output(g.json, m, () => `Sent '${item}' of mission ${m.id.slice(0, 8)} back to work`);
      }, { supervisor: true });
    });
}
