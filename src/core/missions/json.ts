/**
 * The shapes a mission is shown in: its JSON (CLI --json, REST, MCP, the dashboard), its items
 * counted by status, and the one-line briefs of `tt status`.
 */
import type { Ctx } from "../agents.ts";
import type { MissionState } from "./schemas.ts";
import { loadMissions, type MissionView } from "./store.ts";
import { cmp } from "../order.ts";

export interface Counts {
  total: number;
  done: number;
  watch: number;
  active: number;
  ready: number;
  review: number;
  failed: number;
}

export function countItems(v: MissionView): Counts {
  const c: Counts = { total: 0, done: 0, watch: 0, active: 0, ready: 0, review: 0, failed: 0 };
  for (const l of v.live.values()) {
    c.total++;
    if (l.status === "done") c.done++;
    else if (l.status === "active") c.active++;
    else if (l.status === "ready") c.ready++;
    else if (l.status === "review") c.review++;
    else if (l.status === "watch") c.watch++;
    else if (l.status === "failed") c.failed++;
  }
  return c;
}

/** The JSON shape of a mission (CLI --json, REST, MCP). */
export function missionJson(v: MissionView) {
  const m = v.mission;
  return {
    id: m.id,
    title: m.title,
    state: m.state,
    reason: m.reason,
    source: m.source,
    max_parallel: m.max_parallel,
    reviewer: m.reviewer,
    created_at: m.created_at,
    updated_at: m.updated_at,
    help_reason: m.help_reason,
    watch_interval: m.watch_interval,
    counts: countItems(v),
    items: m.items.map((it) => {
      const l = v.live.get(it.id)!;
      return {
        id: it.id,
        title: it.title,
        kind: it.kind,
        role: it.role,
        depends_on: it.depends_on,
        verify: it.verify,
        source: it.source,
        status: l.status,
        task: l.task,
        review_task: l.review,
        agent: l.agent,
        attempts: l.attempts,
        feedback: l.feedback,
        prs: l.prs,
      };
    }),
  };
}
export type MissionJson = ReturnType<typeof missionJson>;

/** One line's worth of an active mission, for `tt status`. */
export interface MissionBrief {
  id: string;
  title: string;
  state: MissionState;
  done: number;
  total: number;
  active: number;
  reason?: string;
}

/** Briefs of the given missions (one pipelined round trip), oldest first. */
export async function missionBriefs(t: Ctx, ids: string[]): Promise<MissionBrief[]> {
  const views = (await loadMissions(t, ids)).sort((a, b) =>
    cmp(a.mission.created_at, b.mission.created_at)
  );
  return views.map((v) => {
    const c = countItems(v);
    const m = v.mission;
    return {
      id: m.id,
      title: m.title,
      state: m.state,
      done: c.done,
      total: c.total,
      active: c.active,
      reason: m.reason,
    };
  });
}
