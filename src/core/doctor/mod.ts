/**
 * `tt doctor`: why a town does not work, one check at a time. Each check is one small object in
 * CHECKS (add a new one there); they share a context gathered once (the town, its Redis reached
 * without starting it, its agents), run concurrently, and each is bounded in time, so a stalled
 * Redis or a hung program turns into a failed check instead of a hung doctor.
 */
import { findTownRoot, loadTownConfig } from "../config.ts";
import { thisHost } from "../control.ts";
import { townKeys } from "../keys.ts";
import { agentClisCheck, worktreesCheck } from "./agents.ts";
import { denoCheck, diskCheck, redisServerCheck, sandboxCheck } from "./host.ts";
import { probeRedis, type RedisProbe } from "./probe.ts";
import { supervisorCheck } from "./supervisor.ts";
import {
  identityCheck,
  redisCheck,
  secretsCheck,
  taskIndexCheck,
  townCheck,
  townhallKeysCheck,
} from "./town.ts";
import {
  type Check,
  type CheckResult,
  type DoctorContext,
  fail,
  ok,
  TimeoutError,
  within,
} from "./types.ts";

export type { CheckResult, CheckStatus } from "./types.ts";

/** Every check, in the order they are shown. */
export const CHECKS: readonly Check[] = [
  denoCheck,
  redisServerCheck,
  townCheck,
  redisCheck,
  identityCheck,
  supervisorCheck,
  agentClisCheck,
  sandboxCheck,
  townhallKeysCheck,
  taskIndexCheck,
  secretsCheck,
  worktreesCheck,
  diskCheck,
];

const DEFAULT_TIMEOUT_MS = 5000;
/** Bound of every Redis round trip of the doctor. */
export const REDIS_TIMEOUT_MS = 2000;

export interface DoctorOptions {
  /** Town directory (`--town`); default: TT_TOWN, then the nearest tinytown.toml upward. */
  town?: string;
}

export async function runDoctor(opts: DoctorOptions = {}): Promise<CheckResult[]> {
  const ctx = await gather(opts);
  try {
    const results = await Promise.all(CHECKS.map((c) => runCheck(c, ctx)));
    return results.flat();
  } finally {
    ctx.redis?.disconnect();
  }
}

async function runCheck(c: Check, ctx: DoctorContext): Promise<CheckResult[]> {
  const ms = c.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const r = await within(c.run(ctx), ms);
    return Array.isArray(r) ? r : [r];
  } catch (e) {
    return [
      e instanceof TimeoutError
        ? fail(
          c.name,
          `did not finish within ${ms / 1000} s`,
          "see the redis check; run 'tt doctor' again",
        )
        : fail(
          c.name,
          `the check itself failed: ${(e as Error).message}`,
          "run 'tt doctor' again with TT_DEBUG=1 and report it",
        ),
    ];
  }
}

async function gather(opts: DoctorOptions): Promise<DoctorContext> {
  const ctx: DoctorContext = { host: thisHost() };
  try {
    const root = await findTownRoot(opts.town);
    const config = await loadTownConfig(root);
    ctx.town = { root, config, keys: townKeys(config.name) };
  } catch (e) {
    ctx.townError = (e as Error).message;
    return ctx;
  }
  const probe = await probeRedis(ctx.town.root, ctx.town.config, REDIS_TIMEOUT_MS);
  ctx.redisProbe = redisResult(probe, ctx.town.root);
  if (probe.redis && ctx.redisProbe.status !== "fail") {
    ctx.redis = probe.redis;
    try {
      const { listAgents } = await import("../agents.ts");
      ctx.agents = await within(
        listAgents({ redis: probe.redis, keys: ctx.town.keys }),
        REDIS_TIMEOUT_MS,
      );
    } catch (e) {
      ctx.redisProbe = fail(
        "redis",
        `${probe.url} answered PING but not a read: ${(e as Error).message}`,
        `see the server's log${probe.managed ? ` (${ctx.town.root}/.tt/redis.log)` : ""}`,
      );
      ctx.redis = undefined;
      probe.redis.disconnect();
    }
  } else {
    probe.redis?.disconnect();
  }
  return ctx;
}

function redisResult(p: RedisProbe, root: string): CheckResult {
  const where = p.managed
    ? `the town's managed redis-server on ${p.url}`
    : `Redis at ${p.url} (from ${p.source})`;
  if (p.error) {
    if (p.managed) {
      return p.silentPid === undefined
        ? fail("redis", `${where} is not running`, "'tt start' starts it")
        : fail(
          "redis",
          `${where} (pid ${p.silentPid}) runs but does not answer`,
          `see ${root}/.tt/redis.log; stop it (kill ${p.silentPid}) and run 'tt start'`,
        );
    }
    return fail(
      "redis",
      `cannot reach ${where}: ${p.error}`,
      p.source === "REDIS_URL"
        ? "start that Redis or correct REDIS_URL (unset it to have tt run the town's own server)"
        : "start that Redis or correct [redis] url in tinytown.toml (remove it to have tt run the town's own server)",
    );
  }
  const major = Number(p.version?.split(".")[0]);
  if (major < 7) {
    return fail(
      "redis",
      `${where} is Redis ${p.version}: tt needs 7.0 or newer`,
      "upgrade that Redis, or point REDIS_URL at a 7.0+ one",
    );
  }
  return ok("redis", `${where}: Redis ${p.version ?? "(version unknown)"}`);
}
