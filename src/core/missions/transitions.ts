/**
 * The small atomic transitions of missions every other module goes through: a mission's state,
 * an item's status, each one Lua script (scripts.ts) that also writes its event.
 */
import { SUPERVISOR_ID } from "../keys.ts";
import type { Ctx } from "../agents.ts";
import { callScript, type Reply } from "../tasks.ts";
import type { ItemStatus, MissionState } from "./schemas.ts";
import { SET_ITEM, SET_MISSION_STATE } from "./scripts.ts";
import { helpMarker } from "./store.ts";

export interface StateChange {
  from: readonly MissionState[];
  to: MissionState;
  reason?: string;
  event: string;
  message: string;
  /** Dispatcher lease token ('' or unset: the operator). */
  token?: string;
  cause?: string;
  retireHelp?: boolean;
  allDone?: boolean;
  resetFailed?: boolean;
}

/** One mission state transition (and its event); refused unless the mission is in `from`. */
export async function changeMissionState(t: Ctx, id: string, c: StateChange): Promise<Reply> {
  return await callScript(
    t,
    SET_MISSION_STATE,
    [
      t.keys.events,
      t.keys.dispatcherLock,
      t.keys.mission(id),
      t.keys.missionsActive,
      t.keys.missionItems(id),
      t.keys.inbox(SUPERVISOR_ID),
    ],
    [
      new Date().toISOString(),
      JSON.stringify({
        mission: id,
        token: c.token ?? "",
        from: c.from,
        to: c.to,
        reason: c.reason ?? "",
        active: !["completed", "stopped"].includes(c.to),
        event: c.event,
        message: c.message,
        cause: c.cause ?? "",
        retire_help: c.retireHelp ? helpMarker(id) : "",
        all_done: !!c.allDone,
        reset_failed: !!c.resetFailed,
        actor: c.token ? "dispatcher" : "",
      }),
    ],
  );
}

export interface ItemChange {
  from: readonly ItemStatus[];
  to: ItemStatus;
  /** Only if this task is bound to the item (as its work or review task). */
  task?: string;
  /** …and is in this state now. */
  taskState?: string;
  set?: Record<string, string | number>;
  del?: string[];
  event: {
    type: string;
    message: string;
    task_id?: string;
    agent_id?: string;
    reason?: string;
    actor?: string;
  };
  token?: string;
  cause?: string;
  /** Only while the mission is running. */
  running?: boolean;
}

/** One item transition (and its event); `ok: false` when its status or task do not match. */
export async function changeItem(
  t: Ctx,
  missionId: string,
  item: string,
  c: ItemChange,
): Promise<Reply> {
  return await callScript(
    t,
    SET_ITEM,
    [
      t.keys.events,
      t.keys.dispatcherLock,
      t.keys.mission(missionId),
      t.keys.missionItems(missionId),
      t.keys.task(c.task ?? "none"),
    ],
    [
      new Date().toISOString(),
      JSON.stringify({
        mission: missionId,
        item,
        token: c.token ?? "",
        from: c.from,
        task: c.task ?? "",
        task_state: c.taskState ?? "",
        to: c.to,
        set: c.set ?? {},
        del: c.del ?? [],
        event: c.event,
        cause: c.cause ?? "",
        running: !!c.running,
      }),
    ],
  );
}
