/** Waiting for a mission to finish: blocks on the event stream (no polling). */
import { followEvents, lastEventId } from "../events.ts";
import type { Ctx } from "../agents.ts";
import { TtError } from "../errors.ts";
import { loadMission, type MissionView, shortMissionId } from "./store.ts";
import type { MissionState } from "./schemas.ts";

export interface MissionWaitOptions {
  /** Milliseconds; rejects with a TtError when reached. */
  timeout?: number;
  /** States to wait for (default: completed or stopped). */
  until?: readonly MissionState[];
  signal?: AbortSignal;
}

/** Resolves with the mission once it is in one of `until`'s states. */
export async function waitForMission(
  t: Ctx,
  id: string,
  opts: MissionWaitOptions = {},
): Promise<MissionView> {
  const until = opts.until ?? ["completed", "stopped"];
  // The start point is fixed before the state is read, so no transition can slip in between.
  const from = await lastEventId(t);
  const check = async () => {
    const v = await loadMission(t, id);
    if (!v) throw new TtError(`mission ${shortMissionId(id)} no longer exists`);
    return until.includes(v.mission.state) ? v : undefined;
  };
  const now = await check();
  if (now) return now;
  const ac = new AbortController();
  const timer = opts.timeout !== undefined ? setTimeout(() => ac.abort(), opts.timeout) : undefined;
  opts.signal?.addEventListener("abort", () => ac.abort(), { once: true });
  let found: MissionView | undefined;
  try {
    await followEvents(t, from, async (ev) => {
      if (found || ev.mission_id !== id || !ev.new_state) return;
      found = await check();
      if (found) ac.abort();
    }, ac.signal);
  } finally {
    clearTimeout(timer);
  }
  if (!found) {
    throw new TtError(
      `mission ${shortMissionId(id)} is not ${until.join(" or ")} after ${opts.timeout ?? 0} ms`,
    );
  }
  return found;
}
