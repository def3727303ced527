/**
 * Starting the town's supervisor on this host when it is not running: re-execute this same tt,
 * detached, and block until it says it is ready. A file lock makes concurrent starts start one.
 */
import type { TownContext } from "../core/town.ts";
import { parseSupervisorInfo, type SupervisorInfo, thisHost, waitReply } from "../core/control.ts";
import { processAlive, withFileLock } from "../redis/server.ts";
import { defineScript, runScript } from "../redis/script.ts";
import { supervisorFiles } from "../core/hosts.ts";
import { startDetachedTt } from "./detached.ts";

const DROP_IF_SAME = defineScript(
  "dropDeadSupervisor",
  1,
  `
-- KEYS[1]: the host's supervisor heartbeat. ARGV[1]: the value found naming a dead process.
-- Deletes it only if unchanged (a new supervisor may have written its own meanwhile).
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * This host's supervisor, from its heartbeat. A heartbeat that names a process no longer alive on
 * this host (kill -9, crash, OOM) is removed at once instead of waiting for its TTL, so the caller
 * starts a new supervisor right away.
 */
async function liveSupervisor(t: TownContext): Promise<SupervisorInfo | undefined> {
  const key = t.keys.supervisor(thisHost());
  const raw = await t.redis.get(key);
  const info = parseSupervisorInfo(raw);
  if (!info) return undefined;
  if (info.host !== thisHost() || info.pid === Deno.pid || await processAlive(info.pid)) {
    return info;
  }
  await runScript(t.redis, DROP_IF_SAME, [key], [raw!]);
  return undefined;
}

/** Returns "running" if a supervisor was already up, "started" if this call started one. */
export async function ensureSupervisor(t: TownContext): Promise<"running" | "started"> {
  if (await liveSupervisor(t)) return "running";
  await Deno.mkdir(`${t.root}/.tt`, { recursive: true, mode: 0o700 });
  return await withFileLock(`${t.root}/.tt/supervisor.start.lock`, async () => {
    if (await liveSupervisor(t)) return "running";
    const nonce = crypto.randomUUID();
    const { supervisorFlags } = await import("./permissions.ts");
    await startDetachedTt({
      root: t.root,
      args: ["supervise", "--ready", nonce],
      permissions: await supervisorFlags(t),
      // Its own lines go there too; this catches what it cannot write itself (a crash's error).
      log: supervisorFiles(t.root).log,
      ready: async () => (await waitReply(t, nonce, 15)) !== undefined,
      notReady: `the supervisor did not start within 15 s: see ${supervisorFiles(t.root).log}`,
    });
    return "started";
  });
}

/** Starts the supervisor if this host has agents that should be running and none serves them. */
export async function reviveSupervisor(
  t: TownContext,
): Promise<"running" | "started" | "not-needed"> {
  if (await liveSupervisor(t)) return "running";
  const { listAgents } = await import("../core/agents.ts");
  const { isTerminalAgent } = await import("../core/schemas.ts");
  const host = thisHost();
  const needed = (await listAgents(t)).some((a) =>
    (a.host ?? host) === host && !isTerminalAgent(a.state)
  );
  return needed ? await ensureSupervisor(t) : "not-needed";
}
