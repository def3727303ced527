/** The library's handle on one mission (`town.startMission(…)`, `town.mission(ref)`). */
import type { Ctx } from "../agents.ts";
import { resolveMission } from "./store.ts";
import { type MissionJson, missionJson } from "./json.ts";
import { pauseMission, resumeMission, stopMission } from "./ops.ts";
import { type MissionWaitOptions, waitForMission } from "./wait.ts";

export class MissionHandle {
  constructor(private readonly ctx: Ctx, readonly id: string) {}

  /** The mission now: state, counts, every item's status, task and agent. */
  async info(): Promise<MissionJson> {
    return missionJson(await resolveMission(this.ctx, this.id));
  }

  /** Resolves once the mission is completed or stopped (or `until`'s states); blocks, no polling. */
  async wait(opts: MissionWaitOptions = {}): Promise<MissionJson> {
    return missionJson(await waitForMission(this.ctx, this.id, opts));
  }

  async pause(): Promise<void> {
    await pauseMission(this.ctx, this.id);
  }

  async resume(): Promise<void> {
    await resumeMission(this.ctx, this.id);
  }

  async stop(): Promise<void> {
    await stopMission(this.ctx, this.id);
  }
}
