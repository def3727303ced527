/**
 * Named Lua scripts (the BullMQ pattern): each atomic operation is one script with a fixed number
 * of keys, called with EVALSHA and loaded on first use.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export interface LuaScript {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
  readonly sha: string;
}

export function defineScript(name: string, numberOfKeys: number, lua: string): LuaScript {
  return { name, numberOfKeys, lua, sha: createHash("sha1").update(lua).digest("hex") };
}

export async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  if (keys.length !== script.numberOfKeys) {
    throw new Error(`script ${script.name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!String((e as Error).message).startsWith("NOSCRIPT")) throw e;
    return await redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}

/**
 * Lua fragment shared by scripts: append an event to the town stream (KEYS[1] by convention).
 * `emit({type=…, message=…, …})`; the timestamp comes from ARGV[1] (ISO time of the caller).
 */
export const LUA_EMIT = `
local function emit(ev)
  ev.ts = ARGV[1]
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', 10000, '*', 'e', cjson.encode(ev))
end
`;
