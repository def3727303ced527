/** Event commands: history (a readable story), events (raw lines, and --follow). */
import type { Command } from "@commander-js/extra-typings";
import { wholeNumber } from "./args.ts";
import { withTown } from "./context.ts";
import { clip, color, inline, output, print as printLine, printJson } from "./output.ts";
import type { TownContext } from "../core/town.ts";
import type { TownEvent } from "../core/schemas.ts";

const ICONS: Record<string, string> = {
  agent_spawned: "🐣",
  agent_stopped: "🏁",
  agent_completed: "🏁",
  agent_state_changed: "🔄",
  agent_interrupted: "⏸️",
  agent_resumed: "▶️",
  agent_failed: "💥",
  agent_recovered: "🩹",
  message_sent: "✉️",
  task_created: "🆕",
  task_assigned: "📌",
  task_started: "🏃",
  task_completed: "✅",
  task_failed: "❌",
  task_cancelled: "🚫",
  task_requeued: "↩️",
  task_delegated: "🤝",
  reviewer_handoff: "👀",
  conductor_escalation: "🚨",
  town_reset: "🧹",
};

const clock = (ts: string) => {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? "??:??:??" : d.toTimeString().slice(0, 8);
};

/** Names agents by label; learns agents spawned later with one HGETALL each. */
async function namer(t: TownContext) {
  const { listAgents, agentLabel, getAgent, SUPERVISOR } = await import("../core/agents.ts");
  const labels = new Map<string, string>([[SUPERVISOR.id, SUPERVISOR.label]]);
  for (const a of await listAgents(t)) labels.set(a.id, agentLabel(a));
  const learn = async (ev: TownEvent) => {
    for (const id of [ev.agent_id, ev.actor]) {
      if (id && !labels.has(id) && /^[0-9a-f-]{36}$/.test(id)) {
        const a = await getAgent(t, id);
        labels.set(id, a ? agentLabel(a) : id.slice(0, 8));
      }
    }
  };
  return { name: (id: string) => labels.get(id) ?? id, learn };
}

/** The agent id to filter on (`--agent`), resolved like every other agent reference. */
async function agentFilter(t: TownContext, ref: string | undefined) {
  if (ref === undefined) return undefined;
  const { resolveAgent } = await import("../core/agents.ts");
  return (await resolveAgent(t, ref)).id;
}

export function register(program: Command) {
  program.command("history")
    .description("what happened in the town, oldest first")
    .option("-n, --limit <n>", "how many recent events", wholeNumber(1), 30)
    .option("-a, --agent <agent>", "only events about this agent")
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { recentEvents } = await import("../core/events.ts");
        const agentId = await agentFilter(t, opts.agent);
        const evs = await recentEvents(t, { count: opts.limit, agentId });
        const { name, learn } = await namer(t);
        for (const ev of evs) await learn(ev);
        const who = (ev: TownEvent) => {
          if (!ev.agent_id) return ev.actor ? name(ev.actor) : "system";
          return ev.actor && ev.actor !== ev.agent_id
            ? `${name(ev.actor)} → ${name(ev.agent_id)}`
            : name(ev.agent_id);
        };
        output(
          g.json,
          evs,
          () =>
            evs.length
              ? evs.map((ev) =>
                `${color.dim(clock(ev.ts))} ${ICONS[ev.type] ?? "•"} ${color.bold(who(ev))} ${
                  clip(ev.message, 100)
                }`
              )
              : "No events recorded yet.",
        );
      });
    });

  program.command("events")
    .description("the town's event stream: recent events, then (with -f) new ones as they happen")
    .option("-c, --count <n>", "how many recent events to show first", wholeNumber(0), 20)
    .option("--agent <agent>", "only events about this agent")
    .option("-f, --follow", "keep printing new events until Ctrl-C")
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { recentEvents, followEvents } = await import("../core/events.ts");
        const agentId = await agentFilter(t, opts.agent);
        const evs = opts.count ? await recentEvents(t, { count: opts.count, agentId }) : [];
        const { name, learn } = await namer(t);
        const line = (ev: TownEvent) => {
          const scope = ev.agent_id
            ? `agent:${name(ev.agent_id)}`
            : ev.task_id
            ? `task:${ev.task_id.slice(0, 8)}`
            : "town";
          return `${clock(ev.ts)} ${color.cyan(`[${ev.type}]`)} ${scope} — ${inline(ev.message)}`;
        };
        const print = async (ev: TownEvent) => {
          if (agentId && ev.agent_id !== agentId) return;
          await learn(ev);
          g.json ? printJson(ev) : printLine(line(ev));
        };
        if (!opts.follow) {
          for (const ev of evs) await learn(ev);
          output(
            g.json,
            evs,
            () =>
              evs.length
                ? evs.map(line)
                : "No events found. Events are written on every state change.",
          );
          return;
        }
        for (const ev of evs) await print(ev);
        const stop = new AbortController();
        const abort = () => stop.abort();
        Deno.addSignalListener("SIGINT", abort);
        Deno.addSignalListener("SIGTERM", abort);
        try {
          // From the last event shown (or the tail when none were asked for): nothing is missed
          // between the two reads and nothing is printed twice.
          await followEvents(t, evs.at(-1)?.id ?? (opts.count ? "0-0" : "$"), print, stop.signal);
        } finally {
          Deno.removeSignalListener("SIGINT", abort);
          Deno.removeSignalListener("SIGTERM", abort);
        }
      });
    });
}
