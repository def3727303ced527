/**
 * Reading many keys of one town in a few commands: a read-only script per batch of keys instead
 * of one command per key. For a thousand agents the per-command cost of the client (not Redis)
 * dominates a pipeline of thousands of HGETALLs or LRANGEs; one script call per BATCH keys
 * returns the same data as one reply. Batches are pipelined together; all keys must share the
 * town's hash tag (runScript checks).
 */
import type { Redis } from "ioredis";
import { defineScript, type LuaScript, runScript } from "./script.ts";

/** Keys per script call (bounds how long one call holds Redis). */
const BATCH = 500;

const HASHES = defineScript(
  "readHashes",
  -1,
  `#!lua flags=no-writes
-- Reads many hashes. KEYS: the hashes. Returns one flat field/value list per key.
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end
return out
`,
);

const FIELDS = defineScript(
  "readFields",
  -1,
  `#!lua flags=no-writes
-- Reads a few fields of many hashes. KEYS: the hashes. ARGV: the fields.
-- Returns per key the HMGET reply (false for a missing field).
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HMGET', k, unpack(ARGV)) end
return out
`,
);

const LISTS = defineScript(
  "readLists",
  -1,
  `#!lua flags=no-writes
-- Reads the head of many lists. KEYS: the lists. ARGV[1] most entries per list.
-- Returns per key {length, {its first ARGV[1] entries}}.
local out = {}
local n = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do out[i] = {redis.call('LLEN', k), redis.call('LRANGE', k, 0, n - 1)} end
return out
`,
);

/** Runs `script` once per BATCH of `keys` (pipelined), with the same `args`; replies in key order. */
export async function batched<T>(
  redis: Redis,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
): Promise<T[]> {
  const parts: Promise<T[]>[] = [];
  for (let i = 0; i < keys.length; i += BATCH) {
    const chunk = keys.slice(i, i + BATCH);
    parts.push(
      runScript(redis, { ...script, numberOfKeys: chunk.length }, chunk, args) as Promise<T[]>,
    );
  }
  return (await Promise.all(parts)).flat();
}

/** HGETALL of every key, in order ({} for a missing key). */
export async function readHashes(redis: Redis, keys: string[]): Promise<Record<string, string>[]> {
  if (!keys.length) return [];
  const flat = await batched<string[]>(redis, HASHES, keys, []);
  return flat.map((f) => {
    const h: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) h[f[i]] = f[i + 1];
    return h;
  });
}

/** LLEN and the first `limit` entries of every list, in order. */
export async function readLists(
  redis: Redis,
  keys: string[],
  limit: number,
): Promise<{ length: number; head: string[] }[]> {
  if (!keys.length) return [];
  const res = await batched<[number, string[]]>(redis, LISTS, keys, [limit]);
  return res.map(([length, head]) => ({ length, head }));
}

/** HMGET of `fields` on every key, in order (null for a missing field or hash). */
export async function readFields(
  redis: Redis,
  keys: string[],
  fields: string[],
): Promise<(string | null)[][]> {
  if (!keys.length) return [];
  return await batched<(string | null)[]>(redis, FIELDS, keys, fields);
}
