/**
 * What the scheduling modules share: the dispatcher's context (its lease token) and the check
 * that stops everything at once when the lease has passed to another dispatcher.
 */
import type { Ctx } from "../agents.ts";
import type { Reply } from "../tasks.ts";

export class LeaseLost extends Error {
  override name = "LeaseLost";
}

export interface SchedCtx {
  t: Ctx;
  /** Fencing token of the lease this dispatcher holds. */
  token: string;
  /** Help requests repeat after base × min(2^attempts, 8) while the reason stays the same. */
  helpRepeatMs: number;
}

export function check(res: Reply): Reply {
  if (res.error === "stale") throw new LeaseLost("the dispatcher lease is held by another");
  return res;
}

export const ACTOR = "dispatcher";
