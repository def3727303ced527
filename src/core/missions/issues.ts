/** GitHub issues as a mission source (see github.ts). */
import { TtError } from "../errors.ts";
import type { ItemDef } from "./schemas.ts";

export function issueItems(
  _refs: string[],
  _opts: { cwd: string },
): Promise<{ items: ItemDef[]; refs: string[] }> {
  return Promise.reject(
    new TtError("--issue is not implemented yet: use --plan <file> (a TOML plan of [[items]])"),
  );
}
