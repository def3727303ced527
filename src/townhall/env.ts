/** What townhall's middleware and routes share: the town, settings, and the caller's identity. */
import type { Scope } from "../core/auth.ts";
import type { TownContext } from "../core/town.ts";
import type { TokenBuckets } from "./ratelimit.ts";
import type { HttpError } from "./errors.ts";

/** `auto`: require a key once the town has one; `api_key`: always; `none`: never. */
export type AuthMode = "auto" | "none" | "api_key";

/** Who is calling: an API key, or anyone (auth off, or auto mode with no keys yet). */
export interface Principal {
  /** Key id, or `local` when no key is needed. */
  id: string;
  name: string;
  scopes: readonly Scope[];
  via: "key" | "open";
}

export interface TownhallDeps {
  town: TownContext;
  auth: AuthMode;
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
  Variables: { principal?: Principal; authError?: HttpError };
};
