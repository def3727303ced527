/**
 * `tt save` / `tt restore`: a town's whole Redis state as a JSON file of DUMP payloads, and back.
 * Works the same on the managed server and on any external Redis (no AOF or RDB files involved).
 */
import { Buffer } from "node:buffer";
import { z } from "zod";
import { ConflictError, NotFoundError, TtError } from "./errors.ts";
import { restoreCheckKey } from "./keys.ts";
import { validate, writeFileAtomic } from "./config.ts";
import { townKeyBatches } from "./reset.ts";
import type { Ctx } from "./agents.ts";

export const SNAPSHOT_VERSION = 1;

const SnapshotKey = z.object({
  /** Key name without the town prefix (`agent:<id>`, `events`…), so it can move between towns. */
  key: z.string().min(1),
  /** Time to live left when saved (ms); 0 = none. */
  ttl_ms: z.number().int().nonnegative(),
  /** DUMP payload, base64. */
  dump: z.base64(),
}).strict();

export const Snapshot = z.object({
  format: z.literal("tt-snapshot"),
  version: z.literal(SNAPSHOT_VERSION),
  town: z.string().min(1),
  created_at: z.iso.datetime(),
  keys: z.array(SnapshotKey).superRefine((keys, ctx) => {
    const seen = new Set<string>();
    for (const [i, k] of keys.entries()) {
      if (seen.has(k.key)) {
        ctx.addIssue({ code: "custom", path: [i, "key"], message: `duplicate key '${k.key}'` });
      }
      seen.add(k.key);
    }
  }),
}).strict();
export type Snapshot = z.infer<typeof Snapshot>;

const values = (res: [Error | null, unknown][] | null) =>
  (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v;
  });

/** Every key of the town, dumped in one MULTI so that the keys agree with each other. */
export async function takeSnapshot(t: Ctx & { name: string }): Promise<Snapshot> {
  const names = new Set<string>();
  for await (const batch of townKeyBatches(t)) for (const k of batch) names.add(k);
  const list = [...names].sort();
  const tx = t.redis.multi();
  for (const k of list) tx.dumpBuffer(k).pttl(k);
  const res = list.length ? values(await tx.exec()) : [];
  return Snapshot.parse({
    format: "tt-snapshot",
    version: SNAPSHOT_VERSION,
    town: t.name,
    created_at: new Date().toISOString(),
    keys: list.flatMap((k, i) => {
      const dump = res[2 * i] as Buffer | null;
      const pttl = res[2 * i + 1] as number;
      if (!dump) return []; // deleted between SCAN and MULTI
      return [{
        key: k.slice(t.keys.prefix.length),
        ttl_ms: Math.max(pttl, 0),
        dump: dump.toString("base64"),
      }];
    }),
  });
}

/** Where `tt save` writes when no file is given. */
export function defaultSnapshotPath(root: string, town: string, now = new Date()): string {
  return `${root}/.tt/snapshots/${town}-${now.toISOString().replace(/[:.]/g, "-")}.json`;
}

/** Writes a snapshot atomically, readable by the owner only (it holds every message). */
export async function writeSnapshot(path: string, snap: Snapshot): Promise<void> {
  try {
    await writeFileAtomic(path, JSON.stringify(snap, null, 1) + "\n", 0o600);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`cannot write ${path}: its directory does not exist`);
    }
    throw e;
  }
}

/** Reads and fully validates a snapshot file; throws a one-line error naming what is wrong. */
export async function readSnapshot(path: string): Promise<Snapshot> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`no such file: ${path}`);
    if (e instanceof Deno.errors.IsADirectory) throw new TtError(`${path} is a directory`);
    // An empty path, a NUL byte, a file used as a directory, no permission…
    throw new TtError(`cannot read '${path}': ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new TtError(`${path}: not a tt snapshot (invalid JSON: ${(e as Error).message})`);
  }
  if ((data as { format?: unknown })?.format !== "tt-snapshot") {
    throw new TtError(`${path}: not a tt snapshot (those are written by 'tt save')`);
  }
  return validate(Snapshot, data, path);
}

export interface RestoreOptions {
  /** Restore a snapshot taken of another town. */
  force?: boolean;
}

/**
 * Replaces the town's keys with the snapshot's. Redis first checks every payload on a scratch
 * key (a MULTI does not roll back a RESTORE that fails), then one MULTI/EXEC deletes the current
 * keys and restores the saved ones with their TTLs.
 */
export async function restoreSnapshot(
  t: Ctx & { name: string },
  snap: Snapshot,
  opts: RestoreOptions = {},
): Promise<{ restored: number; deleted: number }> {
  if (snap.town !== t.name && !opts.force) {
    throw new ConflictError(
      `the snapshot is of town '${snap.town}', this is '${t.name}': pass --force to restore it here`,
    );
  }
  const payloads = snap.keys.map((k) => Buffer.from(k.dump, "base64"));
  await checkPayloads(t, snap, payloads);

  const current = new Set<string>();
  for await (const batch of townKeyBatches(t)) for (const k of batch) current.add(k);
  const doomed = [...current];
  const tx = t.redis.multi();
  for (let i = 0; i < doomed.length; i += 500) tx.unlink(...doomed.slice(i, i + 500));
  snap.keys.forEach((k, i) => tx.restore(t.keys.prefix + k.key, k.ttl_ms, payloads[i], "REPLACE"));
  const res = (await tx.exec()) ?? [];
  const failed = res.find(([err]) => err);
  if (failed) {
    throw new TtError(`restore failed part-way (${failed[0]!.message}): run 'tt restore' again`);
  }
  return { restored: snap.keys.length, deleted: current.size };
}

async function checkPayloads(t: Ctx, snap: Snapshot, payloads: Buffer[]) {
  if (!payloads.length) return;
  const scratch = restoreCheckKey(t.keys);
  const pipe = t.redis.pipeline();
  for (const p of payloads) pipe.restore(scratch, 0, p, "REPLACE");
  pipe.unlink(scratch);
  const res = (await pipe.exec()) ?? [];
  const bad = res.findIndex(([err]) => err);
  if (bad >= 0) {
    throw new TtError(
      `snapshot key '${snap.keys[bad].key}' was refused by Redis (${
        res[bad][0]!.message
      }): the file is damaged or comes from a newer Redis; nothing was changed`,
    );
  }
}
