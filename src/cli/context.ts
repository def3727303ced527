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

/** Opens the town (starting its Redis if needed), runs `fn`, always closes the connection. */
export async function withTown<T>(
  cmd: HasGlobals,
  fn: (t: TownContext, g: GlobalOptions) => T | Promise<T>,
) {
  const g = globals(cmd);
  const { openTown } = await import("../core/town.ts");
  const town = await openTown({ town: g.town });
  try {
    return await fn(town, g);
  } finally {
    await town.close();
  }
}
