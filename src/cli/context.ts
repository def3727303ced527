/** What every command action needs: global options and an open town. */
import type { TownContext } from "../core/town.ts";

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

/** Opens the town (starting its Redis if needed), runs `fn`, always closes the connection. */
export async function withTown<T>(
  cmd: HasGlobals,
  fn: (t: TownContext, g: GlobalOptions) => T | Promise<T>,
  opts: WithTownOptions = {},
) {
  const g = globals(cmd);
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
