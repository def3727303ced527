/**
 * Dashboard sessions and one-time login links, kept in Redis with a TTL. The browser holds only a
 * random id (cookie) or token (link); Redis holds them by SHA-256, with the key id and scopes —
 * never the API key itself.
 *
 * @example
 * ```ts
 * const { id, record } = await createSession(town, { key_id: k.id, name: k.name, scopes: k.scopes });
 * const again = await sessionOf(town, id); // → record, or undefined once expired or revoked
 * ```
 */
import { z } from "zod";
import { hashKey, listKeys, Scope } from "../../core/auth.ts";
import type { Ctx } from "../../core/agents.ts";

/** How long a dashboard login lasts. */
export const SESSION_TTL_SECS = 12 * 3600;
/** How long a `tt dashboard` link can be used (once). */
export const LOGIN_TOKEN_TTL_SECS = 120;
export const COOKIE = "tt_session";

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export const SessionRecord = z.object({
  /** The API key logged in with; `operator` for a `tt dashboard` link (no key). */
  key_id: z.string().min(1),
  name: z.string(),
  scopes: z.array(Scope).min(1),
  /** Sent back by every action (X-CSRF-Token), compared in constant time. */
  csrf: z.string().regex(TOKEN_RE),
  created_at: z.string(),
  operator: z.boolean().default(false),
  /** Made for a town served with `auth = "none"` (no key): void once a key is required. */
  open: z.boolean().default(false),
});
export type SessionRecord = z.infer<typeof SessionRecord>;

const LinkRecord = z.object({ created_at: z.string() });

export type Who = Pick<SessionRecord, "key_id" | "name" | "scopes"> & {
  operator?: boolean;
  open?: boolean;
};

/** 32 random bytes, base64url (43 characters). */
export function randomToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function createSession(
  t: Ctx,
  who: Who,
): Promise<{ id: string; record: SessionRecord }> {
  const id = randomToken();
  const record = SessionRecord.parse({
    ...who,
    csrf: randomToken(),
    created_at: new Date().toISOString(),
    operator: who.operator ?? false,
    open: who.open ?? false,
  });
  await t.redis.set(
    t.keys.dashSession(hashKey(id)),
    JSON.stringify(record),
    "EX",
    SESSION_TTL_SECS,
  );
  return { id, record };
}

/**
 * The live session for a cookie value: undefined when unknown, expired, or (for a key login) when
 * its key was revoked since. A key's scopes are read again, so narrowing a key narrows its
 * sessions at once.
 */
export async function sessionOf(
  t: Ctx,
  id: string | undefined,
): Promise<SessionRecord | undefined> {
  if (!id || !TOKEN_RE.test(id)) return undefined;
  const raw = await t.redis.get(t.keys.dashSession(hashKey(id)));
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = SessionRecord.safeParse(parsed);
  if (!r.success) return undefined;
  if (r.data.operator || r.data.open) return r.data;
  const key = (await listKeys(t)).find((k) => k.id === r.data.key_id);
  return key ? { ...r.data, name: key.name, scopes: key.scopes } : undefined;
}

export async function deleteSession(t: Ctx, id: string): Promise<void> {
  if (TOKEN_RE.test(id)) await t.redis.del(t.keys.dashSession(hashKey(id)));
}

/** A one-time login link token for the operator (`tt dashboard`): admin, valid 2 minutes. */
export async function createLoginToken(t: Ctx): Promise<string> {
  const token = randomToken();
  await t.redis.set(
    t.keys.dashLoginToken(hashKey(token)),
    JSON.stringify({ created_at: new Date().toISOString() }),
    "EX",
    LOGIN_TOKEN_TTL_SECS,
  );
  return token;
}

/** Uses a login token up (GETDEL: of two racing requests, one wins); true when it was valid. */
export async function consumeLoginToken(t: Ctx, token: string): Promise<boolean> {
  if (!TOKEN_RE.test(token)) return false;
  const raw = await t.redis.getdel(t.keys.dashLoginToken(hashKey(token)));
  if (!raw) return false;
  try {
    return LinkRecord.safeParse(JSON.parse(raw)).success;
  } catch {
    return false;
  }
}

/** Constant-time string comparison (CSRF tokens). */
export function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
