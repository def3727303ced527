/**
 * Starting the town's supervisor on this host when it is not running: re-execute this same tt,
 * detached, and block until it says it is ready. A file lock makes concurrent starts start one.
 */
import type { TownContext } from "../core/town.ts";
import { supervisorInfo, thisHost, waitReply } from "../core/control.ts";
import { TtError } from "../core/errors.ts";
import { withFileLock } from "../redis/server.ts";
import { selfCommand } from "./self.ts";

/** Returns "running" if a supervisor was already up, "started" if this call started one. */
export async function ensureSupervisor(t: TownContext): Promise<"running" | "started"> {
  if (await supervisorInfo(t)) return "running";
  await Deno.mkdir(`${t.root}/.tt/logs`, { recursive: true, mode: 0o700 });
  return await withFileLock(`${t.root}/.tt/supervisor.start.lock`, async () => {
    if (await supervisorInfo(t, thisHost())) return "running";
    const nonce = crypto.randomUUID();
    const [cmd, ...args] = selfCommand();
    const child = new Deno.Command(cmd, {
      args: [...args, "--town", t.root, "supervise", "--ready", nonce],
      cwd: t.root,
      detached: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
    const reply = await waitReply(t, nonce, 15);
    if (reply === undefined) {
      throw new TtError(
        `the supervisor did not start within 15 s: see ${t.root}/.tt/logs/supervisor.log`,
      );
    }
    return "started";
  });
}

/** Starts the supervisor if this host has agents that should be running and none serves them. */
export async function reviveSupervisor(
  t: TownContext,
): Promise<"running" | "started" | "not-needed"> {
  if (await supervisorInfo(t)) return "running";
  const { listAgents } = await import("../core/agents.ts");
  const { isTerminalAgent } = await import("../core/schemas.ts");
  const host = thisHost();
  const needed = (await listAgents(t)).some((a) =>
    (a.host ?? host) === host && !isTerminalAgent(a.state)
  );
  return needed ? await ensureSupervisor(t) : "not-needed";
}
