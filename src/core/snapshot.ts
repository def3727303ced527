/**
 * `tt save` / `tt restore`: a town's Redis state as a JSON file of typed keys, and back. Works the
 * same on the managed server and on any external Redis (no AOF or RDB files involved). The file
 * format and the checks every key passes are in snapshot_format.ts.
 */
import { Buffer } from "node:buffer";
import { ConflictError, NotFoundError, TtError } from "./errors.ts";
import { restoreCheckKey } from "./keys.ts";
import { validate } from "./config_schema.ts";
import { townKeyBatches } from "./reset.ts";
import { isTerminalAgent } from "./schemas.ts";
import { parseSupervisorInfo } from "./control.ts";
import { localSupervisorRunning } from "./lifecycle.ts";
import {
  AnySnapshot,
  checkKey,
  isLivenessKey,
  MAX_SNAPSHOT_BYTES,
  rebaseWorkdir,
  relativeWorkdir,
  Snapshot,
  SNAPSHOT_VERSION,
  type SnapshotV1,
  TypedKey,
} from "./snapshot_format.ts";
import type { Ctx } from "./agents.ts";
import { recountTasks } from "./task_index.ts";
import { execDurably } from "../redis/script.ts";

export { MAX_SNAPSHOT_BYTES, Snapshot, SNAPSHOT_VERSION, type SnapshotV1, TypedKey };

/** A town as save and restore need it: keys, connection, name and root directory. */
export type SnapshotTown = Ctx & { name: string; root: string };

/**
 * Reads the given keys in one atomic step, without writing (so it also runs on a Redis that
 * cannot persist).
 * KEYS: the keys to read (all of one town, so they share its hash tag). ARGV: none.
 * Returns per key {type, pttl, value}: value is GET, HGETALL, LRANGE 0 -1, SMEMBERS,
 * ZRANGE 0 -1 WITHSCORES or XRANGE - +, by type; false for a key gone meanwhile.
 */
const READ_KEYS_LUA = `#!lua flags=no-writes
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  local value = false
  if kind == 'string' then value = redis.call('GET', key)
  elseif kind == 'hash' then value = redis.call('HGETALL', key)
  elseif kind == 'list' then value = redis.call('LRANGE', key, 0, -1)
  elseif kind == 'set' then value = redis.call('SMEMBERS', key)
  elseif kind == 'zset' then value = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  elseif kind == 'stream' then value = redis.call('XRANGE', key, '-', '+')
  end
  out[i] = {kind, redis.call('PTTL', key), value}
end
return out`;

type RawKey = [type: string, pttl: number, value: unknown];

async function readKeys(t: Ctx, keys: string[]): Promise<RawKey[]> {
  const out: RawKey[] = [];
  // Batches bound one script's reply; the snapshot is consistent per batch of 2000 keys.
  for (let i = 0; i < keys.length; i += 2000) {
    const batch = keys.slice(i, i + 2000);
    out.push(...(await t.redis.eval(READ_KEYS_LUA, batch.length, ...batch)) as RawKey[]);
  }
  return out;
}

const pairs = (flat: string[]) => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
};

/** A key as read by READ_KEYS_LUA, typed; undefined when it is gone or of a type tt never uses. */
function typed(rel: string, [type, pttl, value]: RawKey): TypedKey | undefined {
  const ttl_ms = Math.max(pttl, 0);
  if (value === null || value === undefined) return undefined;
  switch (type) {
    case "string":
      return { key: rel, ttl_ms, type, value: value as string };
    case "hash":
      return { key: rel, ttl_ms, type, value: Object.fromEntries(pairs(value as string[])) };
    case "list":
    case "set":
      return { key: rel, ttl_ms, type, value: value as string[] };
    case "zset":
      return { key: rel, ttl_ms, type, value: pairs(value as string[]) };
    case "stream":
      return { key: rel, ttl_ms, type, value: value as [string, string[]][] };
  }
  return undefined;
}

async function townKeyNames(t: Ctx): Promise<string[]> {
  const names = new Set<string>();
  for await (const batch of townKeyBatches(t)) for (const k of batch) names.add(k);
  return [...names].sort();
}

/**
 * Every key of the town except liveness keys, read atomically. Agents' work directories are
 * stored relative to the town root; process groups of running rounds are left out.
 */
export async function takeSnapshot(t: SnapshotTown): Promise<Snapshot> {
  const rel = (k: string) => k.slice(t.keys.prefix.length);
  const list = (await townKeyNames(t)).filter((k) => !isLivenessKey(rel(k)));
  const raw = await readKeys(t, list);
  const keys = list.flatMap((k, i) => {
    const key = typed(rel(k), raw[i]);
    if (!key) return [];
    if (key.type === "hash" && key.key.startsWith("agent:")) {
      delete key.value.round_pgid;
      if (key.value.workdir) key.value.workdir = relativeWorkdir(t.root, key.value.workdir);
    }
    return [key];
  });
  return Snapshot.parse({
    format: "tt-snapshot",
    version: SNAPSHOT_VERSION,
    town: t.name,
    created_at: new Date().toISOString(),
    keys,
  });
}

/** Where `tt save` writes when no file is given. */
export function defaultSnapshotPath(root: string, town: string, now = new Date()): string {
  return `${root}/.tt/snapshots/${town}-${now.toISOString().replace(/[:.]/g, "-")}.json`;
}

const isDiskFull = (e: unknown) => /No space left on device|os error 28|quota/i.test(String(e));

/**
 * Writes a snapshot atomically (temp file, then rename), readable by the owner only (it holds
 * every message). On failure the temp file is removed and nothing is left behind.
 */
export async function writeSnapshot(
  path: string,
  snap: Snapshot,
  opts: { mkdir?: boolean } = {},
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    if (opts.mkdir) await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(tmp, JSON.stringify(snap, null, 1) + "\n", { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`cannot write ${path}: its directory does not exist`);
    }
    if (isDiskFull(e)) {
      throw new TtError(`cannot write ${path}: the disk is full; nothing was saved`);
    }
    throw new TtError(`cannot write ${path}: ${(e as Error).message}; nothing was saved`);
  }
}

const mib = (n: number) => `${Math.round(n / 1024 / 1024)} MiB`;

/** The file's bytes, refusing anything larger than `limit` before and while reading it. */
async function readBounded(path: string, limit: number): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`no such file: ${path}`);
    if (e instanceof Deno.errors.IsADirectory) throw new TtError(`${path} is a directory`);
    // An empty path, a NUL byte, a file used as a directory, no permission…
    throw new TtError(`cannot read '${path}': ${(e as Error).message}`);
  }
  const tooBig = () =>
    new TtError(
      `${path} is larger than ${mib(limit)}, the most 'tt restore' reads: not a snapshot`,
    );
  try {
    const st = await file.stat();
    if (st.isDirectory) throw new TtError(`${path} is a directory`);
    if (!st.isFile && !st.isFifo) {
      throw new TtError(`${path} is not a regular file (a device?): not a snapshot`);
    }
    if (st.size > limit) throw tooBig();
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      total += n;
      if (total > limit) throw tooBig();
      chunks.push(buf.slice(0, n));
    }
    return Buffer.concat(chunks);
  } catch (e) {
    if (e instanceof TtError) throw e;
    throw new TtError(`cannot read '${path}': ${(e as Error).message}`);
  } finally {
    file.close();
  }
}

/** Reads and fully validates a snapshot file; throws a one-line error naming what is wrong. */
export async function readSnapshot(
  path: string,
  limit = MAX_SNAPSHOT_BYTES,
): Promise<Snapshot | SnapshotV1> {
  const bytes = await readBounded(path, limit);
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new TtError(`${path}: not a tt snapshot (invalid JSON: ${(e as Error).message})`);
  }
  if ((data as { format?: unknown })?.format !== "tt-snapshot") {
    throw new TtError(`${path}: not a tt snapshot (those are written by 'tt save')`);
  }
  return validate(AnySnapshot, data, path);
}

export interface RestoreOptions {
  /** Restore a snapshot taken of another town. */
  force?: boolean;
}

export interface RestoreResult {
  restored: number;
  deleted: number;
  /** Liveness keys found in the file (version 1) and left out. */
  skipped: number;
  /** A snapshot of another town: this town kept its own townhall API keys (not the file's). */
  kept_api_keys: boolean;
  /** Agents that were active when saved: nothing runs them now (`tt recover` / `tt start`). */
  active_agents: number;
  /** Agents whose (rebased) work directory does not exist in this town (yet). */
  missing_workdirs: string[];
}

/**
 * Replaces the town's keys with the snapshot's. Refused while a supervisor of this town runs.
 * Every key is checked (kind, type, shape) before anything is written; then one MULTI/EXEC
 * deletes the current keys (liveness keys stay) and writes the saved ones with their TTLs.
 */
export async function restoreSnapshot(
  t: SnapshotTown,
  snap: Snapshot | SnapshotV1,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  if (snap.town !== t.name && !opts.force) {
    throw new ConflictError(
      `the snapshot is of town '${snap.town}', this is '${t.name}': pass --force to restore it here`,
    );
  }
  const current = await townKeyNames(t);
  await refuseWhileSupervised(t, current);
  const all = snap.version === 1 ? await decodeV1(t, snap) : snap.keys;
  // Another town's API keys would open this town's townhall to whoever holds them: this town
  // keeps its own.
  const foreign = snap.town !== t.name;
  const authKeys = t.keys.authKeys.slice(t.keys.prefix.length);
  const kept = (rel: string) => isLivenessKey(rel) || (foreign && rel === authKeys);
  const keys = all.filter((k) => !kept(k.key));
  for (const k of keys) {
    const bad = checkKey(k);
    if (bad) throw new TtError(`snapshot key ${bad}: nothing was changed`);
  }
  let active = 0;
  const missing: string[] = [];
  for (const k of keys) {
    if (k.type !== "hash" || !k.key.startsWith("agent:")) continue;
    // A process group of the saving time is never this town's (a later kill must not hit it).
    delete k.value.round_pgid;
    if (!isTerminalAgent(k.value.state as never)) active++;
    if (k.value.workdir === undefined) continue;
    const dir = rebaseWorkdir(t.root, k.value.workdir);
    if (!dir) {
      throw new TtError(
        `snapshot key '${k.key}' has work directory '${k.value.workdir}', outside any tt town: nothing was changed`,
      );
    }
    k.value.workdir = dir;
    if (!(await Deno.stat(dir).then((st) => st.isDirectory, () => false))) {
      missing.push(k.value.name);
    }
  }
  const doomed = current.filter((k) => !kept(k.slice(t.keys.prefix.length)));
  const tx = t.redis.multi();
  for (let i = 0; i < doomed.length; i += 500) tx.unlink(...doomed.slice(i, i + 500));
  for (const k of keys) writeKey(tx, t.keys.prefix + k.key, k);
  const res = await execDurably(t.redis, tx, t.keys.agents);
  const failed = res.find(([err]) => err);
  if (failed) {
    throw new TtError(`restore failed part-way (${failed[0]!.message}): run 'tt restore' again`);
  }
  // The saved indexes may be older than the saved tasks (SCAN is not a point in time): rebuilt.
  await recountTasks(t);
  return {
    restored: keys.length,
    deleted: doomed.length,
    skipped: all.filter((k) => isLivenessKey(k.key)).length,
    kept_api_keys: foreign && current.includes(t.keys.authKeys),
    active_agents: active,
    missing_workdirs: missing,
  };
}

type Multi = ReturnType<Ctx["redis"]["multi"]>;

function writeKey(tx: Multi, key: string, k: TypedKey) {
  const chunks = <T>(xs: T[]) => {
    const out: T[][] = [];
    for (let i = 0; i < xs.length; i += 1000) out.push(xs.slice(i, i + 1000));
    return out;
  };
  switch (k.type) {
    case "string":
      tx.set(key, k.value);
      break;
    case "hash":
      tx.hset(key, k.value);
      break;
    case "list":
      for (const c of chunks(k.value)) tx.rpush(key, ...c);
      break;
    case "set":
      for (const c of chunks(k.value)) tx.sadd(key, ...c);
      break;
    case "zset":
      for (const c of chunks(k.value)) tx.zadd(key, ...c.flatMap(([m, s]) => [s, m]));
      break;
    case "stream":
      for (const [id, fields] of k.value) tx.xadd(key, id, ...fields);
      break;
  }
  if (k.ttl_ms > 0 && !(k.type === "stream" && k.value.length === 0)) tx.pexpire(key, k.ttl_ms);
}

/** Refuses while a supervisor of this town runs (its heartbeat is fresh, or it holds its lock). */
async function refuseWhileSupervised(t: SnapshotTown, current: string[]) {
  const beats = current.filter((k) => k.startsWith(t.keys.prefix + "supervisor:"));
  const infos = beats.length ? await t.redis.mget(...beats) : [];
  const live = infos.map(parseSupervisorInfo).find((x) => x);
  const here = live ? undefined : await localSupervisorRunning(t.root);
  if (!live && !here) return;
  throw new ConflictError(
    `the supervisor of town '${t.name}' is running (${
      live ? `pid ${live.pid} on ${live.host}` : `it holds ${t.root}/.tt/supervisor.lock`
    }): stop it first ('tt stop'), then restore; nothing was changed`,
  );
}

/** A version 1 file's DUMP payloads, decoded by Redis on a scratch key into typed keys. */
async function decodeV1(t: Ctx, snap: SnapshotV1): Promise<TypedKey[]> {
  if (!snap.keys.length) return [];
  const scratch = restoreCheckKey(t.keys);
  const pipe = t.redis.pipeline();
  for (const k of snap.keys) {
    pipe.restore(scratch, 0, Buffer.from(k.dump, "base64"), "REPLACE");
    pipe.eval(READ_KEYS_LUA, 1, scratch);
  }
  pipe.unlink(scratch);
  const res = (await pipe.exec()) ?? [];
  return snap.keys.map((k, i) => {
    const err = res[2 * i][0] ?? res[2 * i + 1][0];
    if (err) {
      throw new TtError(
        `snapshot key '${k.key}' was refused by Redis (${err.message}): the file is damaged or comes from a newer Redis; nothing was changed`,
      );
    }
    const [[type, , value]] = res[2 * i + 1][1] as RawKey[];
    const key = typed(k.key, [type, -1, value]);
    if (!key) throw new TtError(`snapshot key '${k.key}' is a ${type}: nothing was changed`);
    return { ...key, ttl_ms: k.ttl_ms } as TypedKey;
  });
}
