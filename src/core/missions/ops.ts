/**
 * What the operator does to a mission: start it, pause, resume, stop, approve or reject an item
 * under review, leave a note. The dispatcher reacts to the events these write.
 */
import { ConflictError, NotFoundError, UsageError } from "../errors.ts";
import type { Ctx } from "../agents.ts";
import { cancelTask, getTasks, oneLine, type Reply } from "../tasks.ts";
import { isTerminalTask } from "../schemas.ts";
import { xaddArgs } from "../events.ts";
import { execDurably } from "../../redis/script.ts";
import type { MissionState } from "./schemas.ts";
import {
  createMission,
  type MissionView,
  type NewMission,
  resolveMission,
  shortMissionId,
} from "./store.ts";
import { changeItem, changeMissionState } from "./transitions.ts";
import { MissionNote } from "./schemas.ts";

export { createMission as startMission };
export type { NewMission };

function refused(v: MissionView, res: Reply, what: string): never {
  if (res.error === "not_found") throw new NotFoundError(`no mission '${v.mission.id}'`);
  throw new ConflictError(
    `mission ${shortMissionId(v.mission.id)} is ${res.state}: cannot ${what} it`,
  );
}

async function transition(
  t: Ctx,
  ref: string,
  what: string,
  from: MissionState[],
  to: MissionState,
  event: string,
  extra: { reason?: string; resetFailed?: boolean } = {},
): Promise<MissionView> {
  const v = await resolveMission(t, ref);
  const res = await changeMissionState(t, v.mission.id, {
    from,
    to,
    event,
    reason: extra.reason,
    resetFailed: extra.resetFailed,
    retireHelp: true,
    message: `mission ${shortMissionId(v.mission.id)} ${to}${
      extra.reason ? `: ${oneLine(extra.reason)}` : ""
    }`,
  });
  if (!res.ok) refused(v, res, what);
  return (await resolveMission(t, v.mission.id));
}

/** No new work is assigned; work in progress carries on. */
export async function pauseMission(t: Ctx, ref: string, reason = "paused by the operator") {
  return await transition(t, ref, "pause", ["running", "blocked"], "paused", "mission_paused", {
    reason,
  });
}

/** Running again; failed items are retried (ready again). */
export async function resumeMission(t: Ctx, ref: string) {
  return await transition(t, ref, "resume", ["paused", "blocked"], "running", "mission_resumed", {
    resetFailed: true,
  });
}

/** Stops the mission for good: its open tasks are cancelled, unfinished items cancelled. */
export async function stopMission(t: Ctx, ref: string, reason = "stopped by the operator") {
  const v = await transition(
    t,
    ref,
    "stop",
    ["running", "paused", "blocked"],
    "stopped",
    "mission_stopped",
    {
      reason,
    },
  );
  const open = [...v.live.values()].flatMap((l) => [l.task, l.review]).filter((x): x is string =>
    !!x
  );
  for (const task of await getTasks(t, open)) {
    if (!isTerminalTask(task.state)) {
      await cancelTask(t, task.id, { result: `mission ${shortMissionId(v.mission.id)} stopped` })
        .catch(() => {});
    }
  }
  for (const [item, l] of v.live) {
    if (l.status === "done" || l.status === "cancelled") continue;
    await changeItem(t, v.mission.id, item, {
      from: [l.status],
      to: "cancelled",
      event: {
        type: "mission_item_cancelled",
        message: `item '${item}' cancelled: mission stopped`,
        actor: "operator",
      },
    });
  }
  return await resolveMission(t, v.mission.id);
}

function itemOf(v: MissionView, item: string) {
  const it = v.mission.items.find((i) => i.id === item);
  if (!it) {
    throw new NotFoundError(
      `mission ${shortMissionId(v.mission.id)} has no item '${item}': its items are ${
        v.mission.items.map((i) => i.id).join(", ")
      }`,
    );
  }
  const live = v.live.get(item)!;
  if (live.status !== "review") {
    throw new ConflictError(`item '${item}' is ${live.status}, not waiting for review`);
  }
  return live;
}

async function review(t: Ctx, ref: string, item: string, approve: boolean, reason: string) {
  const v = await resolveMission(t, ref);
  if (["completed", "stopped"].includes(v.mission.state)) {
    throw new ConflictError(`mission ${shortMissionId(v.mission.id)} is ${v.mission.state}`);
  }
  const live = itemOf(v, item);
  const watch = approve && live.prs.length > 0;
  const res = await changeItem(t, v.mission.id, item, {
    from: ["review"],
    to: watch ? "watch" : approve ? "done" : "ready",
    set: watch ? { [`${item}:next_check`]: 0 } : approve ? {} : { [`${item}:feedback`]: reason },
    del: [`${item}:review`],
    event: {
      type: watch
        ? "mission_item_watching"
        : approve
        ? "mission_item_done"
        : "mission_changes_requested",
      message: `mission ${shortMissionId(v.mission.id)}: item '${item}' ${
        approve ? "approved" : "sent back"
      } by the operator${reason ? `: ${oneLine(reason)}` : ""}`,
      reason: reason || undefined,
      actor: "operator",
    },
  });
  if (!res.ok) {
    throw new ConflictError(
      `item '${item}' changed meanwhile (${res.status ?? res.error}); try again`,
    );
  }
  if (live.review && live.review !== "operator") {
    await cancelTask(t, live.review, { result: `review decided by the operator` }).catch(() => {});
  }
  return await resolveMission(t, v.mission.id);
}

export async function approveItem(t: Ctx, ref: string, item: string, reason = "") {
  return await review(t, ref, item, true, reason);
}

export async function rejectItem(t: Ctx, ref: string, item: string, reason: string) {
  if (!reason.trim()) {
    throw new UsageError("say what to change: tt mission reject <id> <item> --reason '…'");
  }
  return await review(t, ref, item, false, reason);
}

/** A note for the mission: shown by `tt mission show` and given to the next tasks. */
export async function noteMission(t: Ctx, ref: string, text: string, from = "conductor") {
  if (!text.trim()) throw new UsageError("the note must not be empty");
  const v = await resolveMission(t, ref);
  const note = MissionNote.parse({ at: new Date().toISOString(), from, text });
  const tx = t.redis.multi()
    .rpush(t.keys.missionNotes(v.mission.id), JSON.stringify(note))
    .xadd(
      t.keys.events,
      ...xaddArgs({
        type: "mission_note",
        mission_id: v.mission.id,
        actor: from,
        message: `mission ${shortMissionId(v.mission.id)} note: ${oneLine(text)}`,
      }, note.at),
    );
  await execDurably(t.redis, tx, t.keys.events);
  return note;
}

export interface MissionSpec {
  title?: string;
  /** Work items as a plan file's [[items]] would give them. */
  items?: import("./schemas.ts").ItemDef[];
  /** GitHub issues (owner/repo#N or URLs; plain numbers need the town's git remote). */
  issues?: string[];
  maxParallel?: number;
  reviewer?: boolean;
  watchInterval?: number;
}

/**
 * Starts a mission from items and/or issues (REST, MCP, the library): the graph is compiled, and
 * a cycle refused, before anything is written. Files on the host are not read from here.
 */
export async function startMissionFromSpec(t: Ctx & { root?: string }, spec: MissionSpec) {
  const { compileGraph } = await import("./graph.ts");
  const defs = [...(spec.items ?? [])];
  const sources: string[] = defs.length ? ["items"] : [];
  if (spec.issues?.length) {
    const { issueItems } = await import("./issues.ts");
    const got = await issueItems(spec.issues, { cwd: t.root ?? Deno.cwd() });
    defs.push(...got.items);
    sources.push(`issues:${got.refs.join(",")}`);
  }
  if (!defs.length) throw new UsageError("a mission needs items or issues");
  const items = compileGraph(defs);
  return await createMission(t, {
    title: spec.title,
    source: sources.join(" "),
    items,
    maxParallel: spec.maxParallel,
    reviewer: spec.reviewer,
    watchInterval: spec.watchInterval,
  });
}
