/**
 * tt's scripts as Redis functions (Redis 7.0 and later), the way script.ts runs them when the
 * server allows: each script is one function library, loaded once (FUNCTION LOAD), whose
 * prelude (the Lua definitions scripts share: emit, the task indexes, …) runs when the library
 * loads, not on every call as an EVAL script's does; FCALL runs only the body. Measured under
 * callgrind on Redis 7.0.15, per call: createTask 254k → 220k instructions, completeTask 281k →
 * 246k (the prelude's ~40 closures and tables, and the garbage they leave).
 *
 * A server without functions (Redis 6) or an ACL user refused FCALL or FUNCTION gets EVALSHA
 * instead, decided per connection on the first refusal (nothing ran then, so nothing runs twice).
 * So does a connection that logs in as a named ACL user (connection.ts): functions are
 * server-wide and called by name, so on a Redis shared by several principals, any of them
 * allowed FUNCTION LOAD could replace tt's library with code that then runs with tt's rights on
 * tt's keys; an EVALSHA script is addressed by its content and cannot be swapped.
 *
 * Read-only scripts (`#!lua flags=no-writes`) stay EVAL scripts: loading a library is a write,
 * which a server refusing writes (a full disk, a read-only replica) refuses, where such a script
 * still runs (`tt status` and `tt save` then still work).
 *
 * What a library may do when it loads: Redis runs its top level with only `redis` in scope (no
 * `string`, `ipairs`, `cjson`…), so a prelude's top level only defines functions and constant
 * tables (tests/redis/functions_test.ts loads every script of tt).
 */
import type { Redis } from "ioredis";
import { nodeFor } from "./topology.ts";

/** A script as a library: its shared definitions and its body. */
export interface LibraryParts {
  readonly prelude: string;
  readonly body: string;
}

/** Name of a script's library and its one function, from the script's SHA-1 (a new text, a new name). */
export const functionName = (sha: string) => `tt_${sha.slice(0, 24)}`;

/**
 * The library's source. The body becomes the function's callback; KEYS and ARGV are locals of
 * the library that each call sets first, so the prelude and body read them as they do in EVAL.
 * A library-level table the prelude defines is shared by every call: only constants go there.
 */
export function libraryOf(script: LibraryParts, name: string): string {
  return `#!lua name=${name}
local KEYS, ARGV
${script.prelude}
redis.register_function{function_name='${name}', callback=function(keys, args)
KEYS, ARGV = keys, args
${script.body}
end}
`;
}

/** Connections whose server or user refuses functions: they run scripts with EVALSHA. */
const refused = new WeakSet<object>();

export const functionsRefused = (redis: object) => refused.has(redis);

/** Scripts on this connection use EVALSHA (see the header: a named ACL user). */
export const avoidFunctions = (redis: object) => void refused.add(redis);

/** A duplicate connection runs scripts as the one it was made from. */
export function copyFunctionsChoice(from: object, to: object): void {
  if (refused.has(from)) refused.add(to);
}

/**
 * An error saying the command itself may not run (not a failure inside the script): FCALL or
 * FUNCTION unknown to this server, or not allowed to this user.
 */
export function isRefusal(e: unknown): boolean {
  const m = String((e as Error)?.message);
  return /unknown command .?(fcall|function)\b/i.test(m) ||
    /^NOPERM .*'(fcall|function)/i.test(m);
}

/** FCALL of a library this server does not hold (never loaded, flushed, or a new node). */
export const isFunctionMissing = (e: unknown) =>
  String((e as Error)?.message).includes("Function not found");

/** Loads the library on the node that serves `key` (on a cluster, the town's slot). */
export async function loadLibrary(redis: Redis, key: string, source: string): Promise<void> {
  await nodeFor(redis, key).call("FUNCTION", "LOAD", "REPLACE", source);
}

/** Marker: this connection cannot use functions (the caller runs the script with EVALSHA). */
export const NO_FUNCTIONS = Symbol("no functions");

/**
 * Runs `f` (an FCALL, alone or with a WAIT behind it, which throws the FCALL's error); loads the
 * library once if the server does not hold it. NO_FUNCTIONS, remembered for the connection, when
 * functions are refused.
 */
export async function withLibrary<T>(
  redis: Redis,
  key: string,
  source: () => string,
  f: () => Promise<T>,
): Promise<T | typeof NO_FUNCTIONS> {
  try {
    return await f();
  } catch (e) {
    if (isRefusal(e)) return refuse(redis);
    if (!isFunctionMissing(e)) throw e;
  }
  try {
    await loadLibrary(redis, key, source());
  } catch (e) {
    if (isRefusal(e)) return refuse(redis);
    throw e;
  }
  return await f();
}

function refuse(redis: object): typeof NO_FUNCTIONS {
  refused.add(redis);
  return NO_FUNCTIONS;
}
