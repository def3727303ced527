/**
 * Townhall API keys: generated once, shown once, stored only as a SHA-256 digest in the town's
 * hash `auth:keys` (id → JSON record). Shared by `tt auth …` and the townhall server.
 *
 * @example
 * ```ts
 * const { key, record } = await generateKey(town, { name: "ci", scopes: ["town.read"] });
 * const who = await verifyKey(town, key); // → record (or undefined)
 * ```
 */
import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { NotFoundError, UsageError } from "./errors.ts";
import type { Ctx } from "./agents.ts";
import { defineScript, runScript } from "../redis/script.ts";
import { cmp } from "./order.ts";

/**
 * `exec` (running a command on the host: a raw agent command, a task's `verify`) is its own scope,
 * on top of `agent.manage` / `town.write`; `admin` implies every scope.
 */
export const SCOPES = ["town.read", "town.write", "agent.manage", "exec", "admin"] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

export const ApiKey = z.object({
  id: z.string(),
  name: z.string(),
  /** Hex SHA-256 of the key text. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  scopes: z.array(Scope).min(1),
  created_at: z.string(),
});
export type ApiKey = z.infer<typeof ApiKey>;

/** Prefix of every key, so leaked keys are easy to recognise (and to grep for). */
export const KEY_PREFIX = "tt_";
const KEY_RE = /^tt_[A-Za-z0-9_-]{43}$/;
const ID_RE = /^[0-9a-f]{12}$/;

/** `admin` implies every scope. */
export function hasScope(granted: readonly Scope[], needed: Scope): boolean {
  return granted.includes("admin") || granted.includes(needed);
}

/** Accepts `town.read` and `town:read`; names the bad value otherwise. */
export function parseScope(raw: string): Scope {
  const s = raw.trim().toLowerCase().replace(":", ".");
  const r = Scope.safeParse(s);
  if (!r.success) {
    throw new UsageError(`unknown scope '${raw}': use one of ${SCOPES.join(", ")}`);
  }
  return r.data;
}

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

export interface NewKey {
  name?: string;
  /** Default: admin. */
  scopes?: readonly Scope[];
}

/** A new key and its record (not stored yet). */
function newKey(input: NewKey): { key: string; record: ApiKey } {
  const key = KEY_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
  const id = randomHex(6);
  const name = input.name?.trim() || `key-${id}`;
  if (name.length > 100) throw new UsageError("key name is too long (100 characters at most)");
  const scopes = [...new Set(input.scopes?.length ? input.scopes : ["admin" as const])];
  const record = ApiKey.parse({
    id,
    name,
    hash: hashKey(key),
    scopes,
    created_at: new Date().toISOString(),
  });
  return { key, record };
}

/** Creates a key: 32 random bytes, base64url, `tt_` prefix. The text is returned once, never stored. */
export async function generateKey(
  t: Ctx,
  input: NewKey = {},
): Promise<{ key: string; record: ApiKey }> {
  const made = newKey(input);
  await t.redis.hset(t.keys.authKeys, made.record.id, JSON.stringify(made.record));
  return made;
}

const ADD_IF_NONE = defineScript(
  "addFirstKey",
  1,
  `
-- Stores a key only when the town has none (two townhalls starting at once make one key).
-- KEYS[1]: the auth:keys hash. ARGV[1]: key id, ARGV[2]: the key record (JSON).
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`,
);

/**
 * The town's first key (admin), created atomically when it has none; undefined when it already
 * has one. `tt townhall` calls this at start so the API is never served without a key.
 */
export async function ensureFirstKey(
  t: Ctx,
  name = "townhall-first",
): Promise<{ key: string; record: ApiKey } | undefined> {
  const made = newKey({ name, scopes: ["admin"] });
  const added = await runScript(t.redis, ADD_IF_NONE, [t.keys.authKeys], [
    made.record.id,
    JSON.stringify(made.record),
  ]);
  return added === 1 ? made : undefined;
}

/** Every stored key record (never the key text, which is not stored), oldest first. */
export async function listKeys(t: Ctx): Promise<ApiKey[]> {
  const all = await t.redis.hgetall(t.keys.authKeys);
  return Object.values(all)
    .map((raw) => {
      try {
        const r = ApiKey.safeParse(JSON.parse(raw));
        return r.success ? r.data : undefined;
      } catch {
        return undefined;
      }
    })
    .filter((k): k is ApiKey => !!k)
    .sort((a, b) => cmp(a.created_at, b.created_at));
}

/** How many keys the town has. */
export async function countKeys(t: Ctx): Promise<number> {
  return await t.redis.hlen(t.keys.authKeys);
}

/** Deletes a key by id. */
export async function revokeKey(t: Ctx, id: string): Promise<ApiKey> {
  const k = id.trim().toLowerCase();
  if (!ID_RE.test(k)) {
    throw new UsageError(`invalid key id '${id}': ids are 12 hex characters ('tt auth list')`);
  }
  const raw = await t.redis.hget(t.keys.authKeys, k);
  if (raw === null || (await t.redis.hdel(t.keys.authKeys, k)) === 0) {
    throw new NotFoundError(`no key with id ${k}: 'tt auth list' shows the keys`);
  }
  return ApiKey.parse(JSON.parse(raw));
}

/**
 * The record of a presented key, or undefined. Compares the digest against every stored key in
 * constant time, so neither the position nor the prefix of a match leaks through timing.
 */
export async function verifyKey(t: Ctx, presented: string): Promise<ApiKey | undefined> {
  const keys = await listKeys(t);
  return matchKey(keys, presented);
}

/** The pure half of verifyKey, for callers that already hold the records. */
export function matchKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const digest = Buffer.from(hashKey(presented), "hex");
  const wellFormed = KEY_RE.test(presented);
  let found: ApiKey | undefined;
  for (const k of keys) {
    const same = timingSafeEqual(digest, Buffer.from(k.hash, "hex"));
    if (same && wellFormed && !found) found = k;
  }
  return found;
}
