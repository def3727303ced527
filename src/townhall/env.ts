/** What townhall's middleware and routes share: the town, settings, and the caller's identity. */
import type { Scope } from "../core/auth.ts";
import type { TownContext } from "../core/town.ts";
import type { TokenBuckets } from "./ratelimit.ts";
import type { HttpError } from "./errors.ts";
import type { RequestGuard } from "./guard.ts";
import type { RedisHealth } from "./redis_gate.ts";

/**
 * As configured: `auto` (a key is required; the first start creates one), `api_key` (a key is
 * required; none is created) or `none` (no key: loopback only). Served: `api_key` or `none`.
 */
export type AuthMode = "auto" | "none" | "api_key";

/** Who is calling: an API key, or anyone (`auth = "none"`, or `tt mcp` on stdio). */
export interface Principal {
  /** Key id, or `local` when no key is needed. */
  id: string;
  name: string;
  scopes: readonly Scope[];
  via: "key" | "open";
}

export interface TownhallDeps {
  town: TownContext;
  /** `api_key` or `none` (decided at start; `auto` is never served as such). */
  auth: AuthMode;
  /** Host/Origin allow-lists (its port is set once the server listens). */
  guard: RequestGuard;
  /** Is Redis answering (every route but /health answers 503 when not). */
  health: RedisHealth;
  limits: { read: TokenBuckets; write: TokenBuckets };
  maxBodyBytes: number;
  /** Aborted when the server shuts down (ends event streams). */
  shutdown: AbortSignal;
  startedAt: number;
  /** Where genuine bugs (500s) are reported; default stderr. */
  logError?: (e: unknown) => void;
}

export type AppEnv = {
  Bindings: { remoteAddr?: Deno.Addr };
  Variables: {
    principal?: Principal;
    authError?: HttpError;
    /** A dashboard login session (cookie), when the request came with one. */
    session?: { id: string; csrf: string };
  };
};
