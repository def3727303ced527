/** Prometheus metrics and scaling signals, both from one `townStatus` read (pipelined). */
import { AGENT_STATES, isTerminalAgent, TASK_STATES } from "../core/schemas.ts";
import { townStatus } from "../core/status.ts";
import type { TownContext } from "../core/town.ts";
import { usageCounters } from "../core/usage/report.ts";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export async function metricsText(t: TownContext, startedAt: number): Promise<string> {
  const t0 = performance.now();
  const s = await townStatus(t);
  const latency = (performance.now() - t0) / 1000;
  const out: string[] = [];
  const metric = (name: string, help: string, type: string, rows: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${v}`);
  };
  const byState = Object.fromEntries(AGENT_STATES.map((st) => [st, 0])) as Record<string, number>;
  for (const a of s.agents) byState[a.agent.state] = (byState[a.agent.state] ?? 0) + 1;
  metric("tinytown_up", "1 when townhall can read the town", "gauge", [["", 1]]);
  metric("tinytown_townhall_uptime_seconds", "Seconds since townhall started", "gauge", [[
    "",
    Math.round((performance.now() - startedAt) / 1000),
  ]]);
  metric(
    "tinytown_agents",
    "Agents by state",
    "gauge",
    Object.entries(byState).map(([st, n]) => [`{state="${esc(st)}"}`, n]),
  );
  metric(
    "tinytown_tasks",
    "Tasks by state",
    "gauge",
    TASK_STATES.map((st) => [`{state="${st}"}`, s.tasks.by_state[st]]),
  );
  metric("tinytown_backlog_tasks", "Tasks waiting in the backlog", "gauge", [[
    "",
    s.tasks.backlog,
  ]]);
  const depth: [string, number][] = [];
  for (
    const a of [...s.agents.map((x) => ({ name: x.agent.name, m: x.mailbox })), {
      name: "supervisor",
      m: s.conductor,
    }]
  ) {
    for (const list of ["urgent", "inbox", "processing"] as const) {
      depth.push([`{agent="${esc(a.name)}",list="${list}"}`, a.m[list]]);
    }
  }
  metric("tinytown_inbox_messages", "Messages per agent mailbox list", "gauge", depth);
  const u = await usageCounters(t);
  const names = new Map(s.agents.map((a) => [a.id, a.agent.name]));
  const who = (id: string) => esc(names.get(id) ?? id);
  metric(
    "tinytown_tokens_total",
    "Tokens the agents' CLIs reported, by agent, model and kind (input, output, cached)",
    "counter",
    u.tokens.map((
      x,
    ) => [`{agent="${who(x.agent)}",model="${esc(x.model)}",kind="${x.kind}"}`, x.value]),
  );
  metric(
    "tinytown_cost_usd_total",
    "USD the agents' CLIs reported (or [pricing] computed), by agent",
    "counter",
    u.usd.map((x) => [`{agent="${who(x.agent)}"}`, x.value]),
  );
  metric("tinytown_scrape_seconds", "Time to read the town from Redis", "gauge", [[
    "",
    Number(latency.toFixed(6)),
  ]]);
  return out.join("\n") + "\n";
}

export type Recommendation = "scale_up" | "steady" | "scale_down" | "scale_to_zero";

export async function scaling(t: TownContext) {
  const s = await townStatus(t);
  const pending = s.tasks.backlog + s.tasks.by_state.assigned;
  const inFlight = s.tasks.by_state.running;
  const active = s.agents.filter((a) => !isTerminalAgent(a.agent.state));
  const idle = active.filter((a) => a.agent.state === "idle").length;
  const desired = pending + inFlight;
  const recommendation: Recommendation = desired === 0 && idle === active.length
    ? (active.length ? "scale_to_zero" : "steady")
    : desired > active.length
    ? "scale_up"
    : desired < active.length && pending === 0
    ? "scale_down"
    : "steady";
  return {
    town: t.name,
    timestamp: new Date().toISOString(),
    queue_depth: pending + inFlight,
    pending_tasks: pending,
    in_flight_tasks: inFlight,
    active_agents: active.length,
    idle_agents: idle,
    desired_agents: desired,
    scaling_recommendation: recommendation,
  };
}
