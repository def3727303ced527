/** What every command action needs: global options and an open town. */
import type { TownContext } from "../core/town.ts";
import { currentScope } from "./sink.ts";

export interface GlobalOptions {
  town?: string;
  json?: boolean;
}

interface HasGlobals {
  optsWithGlobals(): unknown;
}

export function globals(cmd: HasGlobals): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export interface WithTownOptions {
  /**
   * The command delivers work to agents: if this host's supervisor died while agents should be
   * running, start it again first (it re-adopts them and requeues cut-off rounds).
   */
  supervisor?: boolean;
}

/** Who is calling, as `TINYTOWN_AGENT_ID`/`_NAME` used to say. */
export interface Caller {
  agentId?: string;
  agentName?: string;
}

/**
 * The calling agent: the one an agent channel request comes from (fixed by the supervisor, not
 * droppable), else the environment of this process (unset: a human).
 */
export function callerIdentity(): Caller {
  const scope = currentScope();
  if (scope) return { ...scope.caller };
  return {
    agentId: Deno.env.get("TINYTOWN_AGENT_ID"),
    agentName: Deno.env.get("TINYTOWN_AGENT_NAME"),
  };
}

/** Opens the town (starting its Redis if needed), runs `fn`, always closes the connection. */
export async function withTown<T>(
  cmd: HasGlobals,
  fn: (t: TownContext, g: GlobalOptions) => T | Promise<T>,
  opts: WithTownOptions = {},
) {
  const g = globals(cmd);
  const scope = currentScope(); // a request through a channel: the supervisor's open town
  const scoped = scope?.town;
  // The operator channel checked that --town names the supervisor's own town.
  if (scoped && g.town !== undefined && !scope?.operator) {
    const { UsageError } = await import("../core/errors.ts");
    throw new UsageError("--town is not available to agents: they act in their own town");
  }
  if (scoped) return await fn(scoped, g);
  const { openTown } = await import("../core/town.ts");
  const town = await openTown({ town: g.town });
  try {
    if (opts.supervisor) {
      const { reviveSupervisor } = await import("../supervisor/start.ts");
      await reviveSupervisor(town);
    }
    return await fn(town, g);
  } finally {
    await town.close();
  }
}
