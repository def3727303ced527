/**
 * Where a town is: its tinytown.toml and `.tt/` runtime dir, found upward from the working
 * directory. No imports beyond errors.ts: the operator channel's client (src/cli/operator_client.ts)
 * finds the town with it before anything heavy is loaded.
 */
import { TtError } from "./errors.ts";

export const TOWN_FILE = "tinytown.toml";
export const RUNTIME_DIR = ".tt";

/** Finds the town: explicit dir, then TT_TOWN, then the nearest tinytown.toml upward from cwd. */
export async function findTownRoot(explicit?: string): Promise<string> {
  const given = explicit ?? Deno.env.get("TT_TOWN");
  if (given) {
    const root = await realPath(given);
    if (!(await exists(`${root}/${TOWN_FILE}`))) {
      throw new TtError(`no ${TOWN_FILE} in ${root}: run 'tt init' there first`);
    }
    return root;
  }
  let dir = Deno.cwd();
  for (;;) {
    if (await exists(`${dir}/${TOWN_FILE}`)) return dir;
    const parent = dir.replace(/\/[^/]*$/, "") || "/";
    if (parent === dir) break;
    dir = parent;
  }
  throw new TtError(
    `no town here: no ${TOWN_FILE} in ${Deno.cwd()} or above. Run 'tt init', or pass --town <dir>`,
  );
}

export async function realPath(p: string): Promise<string> {
  try {
    return await Deno.realPath(p);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      throw new TtError(`no such directory: ${p}`);
    }
    // No permission, or a path Deno only opens with --allow-all (/dev, /proc…).
    throw new TtError(`cannot use ${p}: ${(e as Error).message}`);
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw new TtError(`cannot access ${p}: ${(e as Error).message}`);
  }
}
