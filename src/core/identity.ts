/**
 * A town is one town: its id (top-level `id` in tinytown.toml) and the claim of its name on a
 * Redis (`tt:{<name>}:owner`). Two directories that pick one name on one shared Redis would
 * otherwise share, and reset, each other's state; with the claim the second one is refused.
 *
 * - `tt init` claims the name with `SET owner <record> NX GET` (one command: sets it only when
 *   missing, returns the holder otherwise). A name held by another id is refused, naming the
 *   holder's path and host.
 * - Every command that opens the town sends the same SET NX GET, pipelined with what it sends
 *   anyway: a missing owner (after a flushed or lost Redis) is claimed again, another id refuses.
 * - Towns made before ids existed (no `id` in tinytown.toml) are migrated on first open: a fresh
 *   id is claimed and written into tinytown.toml. If the name is already claimed from this same
 *   directory on this host, that claim's id is adopted instead.
 */
import { type Infer, pattern, record, string } from "./record.ts";
import { ConflictError, singleLine, TtError, UsageError } from "./errors.ts";
import { isValidTownName, sanitizeTownName, TOWN_NAME_RULE } from "./keys.ts";
import { exists, readTextIfExists, TOWN_FILE, writeFileAtomic } from "./config.ts";
import { thisHost } from "./control.ts";

/** zod 4's z.uuid(): RFC 9562 variants 1–8, and the nil and max uuids. */
export const UUID =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;

export const OwnerRecord = record({
  id: pattern(UUID),
  path: string(),
  host: string(),
  created_at: string(),
}, "owner record");
export type OwnerRecord = Infer<typeof OwnerRecord>;

export function newTownId(): string {
  return crypto.randomUUID();
}

/** The owner record this directory claims a name with. */
export function ownerRecord(id: string, root: string): OwnerRecord {
  return { id, path: root, host: thisHost(), created_at: new Date().toISOString() };
}

/** Parses the value of an owner key; garbage is refused rather than overwritten. */
export function parseOwner(raw: string, key: string): OwnerRecord {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    data = undefined;
  }
  const r = OwnerRecord.safeParse(data);
  if (!r.success) {
    throw new TtError(singleLine(
      `Redis key ${key} does not hold a tt owner record (${raw.slice(0, 80)}): ` +
        `delete it (redis-cli DEL ${key}) if no other town uses this name`,
    ));
  }
  return r.data;
}

export function describeOwner(o: OwnerRecord): string {
  return `${o.path} on ${o.host} (id ${o.id}, since ${o.created_at})`;
}

/** Is the claim `o` left over on this host: its directory no longer holds a town with its id? */
export async function isStaleClaim(o: OwnerRecord, name: string): Promise<boolean> {
  if (o.host !== thisHost()) return false; // another machine: cannot tell, so never stale
  const file = `${o.path}/${TOWN_FILE}`;
  if (!(await exists(file))) return true;
  try {
    const { parseTomlFile } = await import("./toml_file.ts");
    const data = parseTomlFile(await Deno.readTextFile(file), file) as Record<string, unknown>;
    return data.id !== o.id || data.name !== name;
  } catch {
    return false; // unreadable: assume it is still a town
  }
}

/**
 * The town name for `tt init`: an explicit `--name` verbatim (or a usage error suggesting a valid
 * one), else one derived from the directory (sanitised; may collide, which the claim shows).
 */
export function chooseTownName(explicit: string | undefined, derived: string): string {
  if (explicit === undefined) return sanitizeTownName(derived) ?? "tinytown";
  if (isValidTownName(explicit)) return explicit;
  const suggestion = sanitizeTownName(explicit) ?? sanitizeTownName(derived) ?? "tinytown";
  throw new UsageError(singleLine(
    `invalid town name '${explicit}': use ${TOWN_NAME_RULE} (e.g. --name ${suggestion})`,
  ));
}

/**
 * The error for a name held by another town: which town, and what to do. `stale`: the holder's
 * directory on this host no longer holds that town, so `tt init --force` may take the name over.
 */
export function heldByOther(name: string, holder: OwnerRecord, init: boolean, stale: boolean) {
  const what = init
    ? "choose another name with tt init --name <other-name>"
    : "give this town its own name with tt init --force --name <other-name>";
  const staleHint = stale
    ? `; that directory no longer holds that town, so tt init --force here takes the name over`
    : "";
  return new ConflictError(singleLine(
    `town name '${name}' is taken on this Redis by another town: ${describeOwner(holder)}: ` +
      `${what}${staleHint}`,
  ));
}

/** The error for a copy of a town's directory on the host where the town already is. */
export function copiedTown(name: string, holder: OwnerRecord, root: string) {
  return new ConflictError(singleLine(
    `town '${name}' (id ${holder.id}) already lives in ${holder.path} on this host; ${root} ` +
      `is a copy of it and cannot be a second one: make it its own town with ` +
      `tt init --force --name <other-name>`,
  ));
}

/**
 * Writes `id = "<id>"` into an existing tinytown.toml, keeping every other line and comment: after
 * the top-level `name = …` line, else at the top. The result must parse to the same settings.
 */
export async function writeTownId(root: string, id: string): Promise<void> {
  const file = `${root}/${TOWN_FILE}`;
  const text = await readTextIfExists(file);
  if (text === undefined) throw new TtError(`${file} disappeared`);
  const lines = text.split("\n");
  const firstTable = lines.findIndex((l) => /^\s*\[/.test(l));
  const top = firstTable === -1 ? lines.length : firstTable;
  const nameAt = lines.slice(0, top).findIndex((l) => /^\s*name\s*=/.test(l));
  const line = `id = ${JSON.stringify(id)}   # this town's identity on its Redis (tt init)`;
  lines.splice(nameAt === -1 ? 0 : nameAt + 1, 0, line);
  const next = lines.join("\n");
  const { parseTomlFile } = await import("./toml_file.ts");
  const before = parseTomlFile(text, file) as Record<string, unknown>;
  const after = parseTomlFile(next, file) as Record<string, unknown>;
  if (after.id !== id || JSON.stringify({ ...after, id: before.id }) !== JSON.stringify(before)) {
    throw new TtError(`could not add the town id to ${file}: add the line ${line} at its top`);
  }
  const mode = (await Deno.stat(file)).mode ?? undefined;
  await writeFileAtomic(file, next, mode === undefined ? undefined : mode & 0o777);
}
