/** What a doctor check is and what it reports. The core never prints: the CLI renders these. */
import type { Redis } from "../../redis/connection.ts";
import type { TownConfig } from "../config.ts";
import type { Keys } from "../keys.ts";
import type { Agent } from "../schemas.ts";

/** `skip`: the check could not run because something it needs failed (named in the message). */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface CheckResult {
  name: string;
  status: CheckStatus;
  message: string;
  /** What to do about a `fail` or `warn`; null when there is nothing to do. */
  fix: string | null;
}

/** What the checks share, gathered once before they run. */
export interface DoctorContext {
  host: string;
  /** The town, when one was found and its tinytown.toml is valid. */
  town?: { root: string; config: TownConfig; keys: Keys };
  /** Why there is no town (no tinytown.toml, or an invalid one). */
  townError?: string;
  /** The town's Redis, when it answered within the bound. */
  redis?: Redis;
  /** The outcome of reaching the town's Redis (reported by the `redis` check). */
  redisProbe?: CheckResult;
  /** The town's agents (when Redis answered). */
  agents?: Agent[];
}

export interface Check {
  name: string;
  /** Upper bound of the check's run time; past it the check fails instead of hanging. */
  timeoutMs?: number;
  run(ctx: DoctorContext): Promise<CheckResult | CheckResult[]>;
}

export const ok = (name: string, message: string): CheckResult => ({
  name,
  status: "ok",
  message,
  fix: null,
});
export const warn = (name: string, message: string, fix: string): CheckResult => ({
  name,
  status: "warn",
  message,
  fix,
});
export const fail = (name: string, message: string, fix: string): CheckResult => ({
  name,
  status: "fail",
  message,
  fix,
});
export const skip = (name: string, message: string): CheckResult => ({
  name,
  status: "skip",
  message,
  fix: null,
});

/** The result of a check that needs Redis when Redis is not there. */
export function needsRedis(name: string, ctx: DoctorContext): CheckResult | undefined {
  if (!ctx.town) return skip(name, "not checked: no town");
  if (!ctx.redis) return skip(name, "not checked: the town's Redis is unreachable");
  return undefined;
}

/** Thrown by `within` when its bound passes. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** `p`, or a TimeoutError after `ms`; `onLate` gets a value that arrives after the bound. */
export async function within<T>(p: Promise<T>, ms: number, onLate?: (v: T) => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new TimeoutError(`no answer within ${ms / 1000} s`));
    }, ms);
  });
  p.then((v) => late && onLate?.(v), () => {});
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}
