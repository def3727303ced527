/**
 * Reaching a town's Redis the way a diagnosis needs: never starting the managed server (that would
 * hide the problem), and bounded, so an unreachable or stalled server cannot hang the caller.
 * Used by `tt doctor` and by the shell completion's live values.
 */
import { ConnectError, connectRedis, type Redis } from "../../redis/connection.ts";
import { managedPaths, managedPid, pingSocket } from "../../redis/server.ts";
import { redactUrl } from "../../redis/url.ts";
import type { TownConfig } from "../config.ts";
import { redisTarget } from "../town.ts";
import { within } from "./types.ts";

export interface RedisProbe {
  /** Connected client (the caller closes it), when the server answered. */
  redis?: Redis;
  managed: boolean;
  /** Where the URL came from, for messages: "managed", "REDIS_URL" or "[redis] url". */
  source: "managed" | "REDIS_URL" | "[redis] url";
  /** The URL with any password masked. */
  url: string;
  /** redis_version from INFO, when connected. */
  version?: string;
  /** Why it could not be reached. */
  error?: string;
  /** For a managed server that is not answering: the pid of a live but silent server. */
  silentPid?: number;
}

export async function probeRedis(
  root: string,
  config: TownConfig,
  timeoutMs = 2000,
): Promise<RedisProbe> {
  const { url, managed } = redisTarget(root, config);
  const source = managed ? "managed" : Deno.env.get("REDIS_URL") ? "REDIS_URL" : "[redis] url";
  const base = { managed, source, url: redactUrl(url) } as const;
  if (managed && !(await pingSocket(managedPaths(root).socket, Math.min(timeoutMs, 1000)))) {
    const pid = await managedPid(root);
    return {
      ...base,
      silentPid: pid,
      error: pid === undefined ? "not running" : `pid ${pid} runs but does not answer`,
    };
  }
  let redis: Redis;
  try {
    redis = await within(
      connectRedis(url, { name: "tt-doctor", connectTimeoutMs: timeoutMs }),
      timeoutMs,
      (late) => late.disconnect(),
    );
  } catch (e) {
    // ConnectError's message repeats the URL, which the caller names already.
    return { ...base, error: e instanceof ConnectError ? e.cause.message : (e as Error).message };
  }
  try {
    const info = await within(redis.info("server"), timeoutMs);
    const version = /redis_version:([\d.]+)/.exec(info)?.[1];
    return { ...base, redis, version };
  } catch (e) {
    redis.disconnect();
    return { ...base, error: `connected, but INFO failed: ${(e as Error).message}` };
  }
}
