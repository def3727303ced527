/**
 * Live values for shell completion: agent names, task ids, CLI presets. Cheap and quiet: presets
 * need no Redis; names and ids are read only from a Redis that is already up (never started for
 * this), within a short bound, and any failure gives no values rather than an error.
 */
import { findTownRoot, loadTownConfig, type TownConfig } from "./config.ts";
import { CLI_PRESETS } from "./presets.ts";

/** A completion waits at most this long for Redis (it runs while the user waits on TAB). */
const TIMEOUT_MS = 800;

export const LIVE_KINDS = ["agents", "recipients", "tasks", "presets"] as const;

export async function liveValues(kind: string, opts: { town?: string } = {}): Promise<string[]> {
  try {
    let config: TownConfig | undefined;
    let root: string | undefined;
    try {
      root = await findTownRoot(opts.town);
      config = await loadTownConfig(root);
    } catch {
      // No town: presets still make sense.
    }
    if (kind === "presets") {
      return [...new Set([...Object.keys(CLI_PRESETS), ...Object.keys(config?.agent_clis ?? {})])];
    }
    if (!LIVE_KINDS.includes(kind as typeof LIVE_KINDS[number]) || !root || !config) return [];
    return await fromRedis(kind, root, config);
  } catch {
    return [];
  }
}

async function fromRedis(kind: string, root: string, config: TownConfig): Promise<string[]> {
  const { probeRedis } = await import("./doctor/probe.ts");
  const { within } = await import("./doctor/types.ts");
  const probe = await probeRedis(root, config, TIMEOUT_MS);
  if (!probe.redis) return [];
  const { townKeys } = await import("./keys.ts");
  const t = { redis: probe.redis, keys: townKeys(config.name) };
  try {
    if (kind === "tasks") {
      const { shortTaskId } = await import("./tasks.ts");
      const { listTasksIn } = await import("./counters.ts");
      const open = await within(listTasksIn(t, ["pending", "assigned", "running"]), TIMEOUT_MS);
      const short = open.map((x) => shortTaskId(x.id));
      // A short id shared by two tasks would be ambiguous: give those in full.
      return open.map((x, i) =>
        short.indexOf(short[i]) === short.lastIndexOf(short[i]) ? short[i] : x.id
      );
    }
    const { listAgents } = await import("./agents.ts");
    const names = (await within(listAgents(t), TIMEOUT_MS)).map((a) => a.name);
    return kind === "recipients" ? [...names, "conductor", "supervisor"] : names;
  } finally {
    probe.redis.disconnect();
  }
}
