/** Helpers for the mission tests: plan files, mission events, the hold agent. */
import { ROOT } from "../helpers.ts";
import type { AgentTown } from "../agent_helpers.ts";
import { recentEvents } from "../../src/core/events.ts";
import type { TownEvent } from "../../src/core/schemas.ts";

export const HOLD_AGENT = `${ROOT}/tests/missions/fixtures/hold-agent.sh`;

/** --cli of the hold agent (see the fixture) with a private state dir. */
export function holdCli(state: string, mode = "work"): string {
  return `FAKE_STATE='${state}' sh '${HOLD_AGENT}' ${mode}`;
}

export interface PlanItem {
  id: string;
  title?: string;
  body?: string;
  depends_on?: string[];
  kind?: string;
  role?: string;
  verify?: string;
}

/** Writes a plan file into the town dir; returns its path. */
export async function writePlan(at: AgentTown, items: PlanItem[], name = "mission.toml") {
  const q = (s: string) => JSON.stringify(s);
  const text = items.map((i) =>
    [
      "[[items]]",
      `id = ${q(i.id)}`,
      `title = ${q(i.title ?? `Item ${i.id}`)}`,
      ...(i.body ? [`body = ${q(i.body)}`] : []),
      ...(i.kind ? [`kind = ${q(i.kind)}`] : []),
      ...(i.role ? [`role = ${q(i.role)}`] : []),
      ...(i.verify ? [`verify = ${q(i.verify)}`] : []),
      `depends_on = [${(i.depends_on ?? []).map(q).join(", ")}]`,
    ].join("\n")
  ).join("\n\n");
  const path = `${at.sb.dir}/${name}`;
  await Deno.writeTextFile(path, text + "\n");
  return path;
}

/** Every event of one mission, oldest first. */
export async function missionEvents(at: AgentTown, missionId: string): Promise<TownEvent[]> {
  return (await recentEvents(at.t, { count: 100_000 })).filter((e) => e.mission_id === missionId);
}

export interface MissionJson {
  id: string;
  state: string;
  counts: { total: number; done: number; active: number };
  items: {
    id: string;
    title: string;
    status: string;
    task?: string;
    agent?: string;
    attempts: number;
    depends_on: string[];
    prs: string[];
  }[];
}
