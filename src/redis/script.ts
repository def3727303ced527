/**
 * Named Lua scripts (the BullMQ pattern): each atomic operation is one script with a fixed number
 * of keys, loaded on first use and called as a Redis function (FCALL, functions.ts), or with
 * EVALSHA where the server or the user refuses functions. Every state transition of tt is one of
 * these scripts, so this is also where `[redis] wait_replicas` makes each one durable: the script
 * and a `WAIT n timeout` go in one pipeline on the same connection (on a cluster, to the node
 * owning the town's slot), and tt reports success only when n replicas acknowledged the write.
 */
import type { Redis } from "ioredis";
import { TtError } from "../core/errors.ts";
import { nodeFor } from "./topology.ts";
import {
  copyFunctionsChoice,
  functionName,
  functionsRefused,
  isFunctionMissing,
  isRefusal,
  libraryOf,
  NO_FUNCTIONS,
  withLibrary,
} from "./functions.ts";

interface Durability {
  replicas: number;
  timeoutMs: number;
  /**
   * A daemon (supervisor, townhall) keeps waiting, WAIT after WAIT, while too few replicas are
   * connected (after a failover, before the old master is back as a replica): it pauses rather
   * than failing work it is in the middle of. A one-shot command fails at once.
   */
  persistent: boolean;
}

/** How long a daemon keeps re-waiting for replicas before the state change fails after all. */
const PERSISTENT_WAIT_MS = 2 * 60_000;

const durability = new WeakMap<object, Durability>();

/** Makes every script run on `redis` wait for `replicas` replicas (0: no WAIT, the default). */
export function requireReplicas(
  redis: object,
  replicas: number,
  timeoutMs: number,
  persistent = false,
): void {
  if (replicas > 0) durability.set(redis, { replicas, timeoutMs, persistent });
  else durability.delete(redis);
}

/** A duplicate() connection keeps how the one it was made from runs scripts (durability too). */
export function copyScriptSettings(from: object, to: object): void {
  const d = durability.get(from);
  if (d) durability.set(to, d);
  copyFunctionsChoice(from, to);
}

/** Raised when fewer replicas than `[redis] wait_replicas` acknowledged a state change. */
export class ReplicationError extends TtError {
  override name = "ReplicationError";
  constructor(readonly acked: number, readonly wanted: number, timeoutMs: number) {
    super(
      `only ${acked} of ${wanted} Redis replica(s) acknowledged the change within ${timeoutMs} ms ` +
        `([redis] wait_replicas = ${wanted}): it is on the master but a failover now may lose it; ` +
        `check the replicas (INFO replication) and verify before retrying`,
    );
  }
}

export interface LuaScript {
  readonly name: string;
  readonly numberOfKeys: number;
  /** The script as EVAL runs it: `#!lua flags=no-writes` for a read-only one, prelude, body. */
  readonly lua: string;
  /** Definitions only (functions, constant tables): run once when loaded as a library. */
  readonly prelude: string;
  /** What each call runs. */
  readonly body: string;
  readonly readOnly: boolean;
}

/**
 * A script: its body alone, or the shared definitions it uses (a prelude: functions and
 * constant tables only, see functions.ts) and its body. A read-only script starts with
 * `#!lua flags=no-writes`.
 */
export function defineScript(
  name: string,
  numberOfKeys: number,
  ...parts: [body: string] | [prelude: string, body: string]
): LuaScript {
  let [prelude, body] = parts.length === 1 ? ["", parts[0]] : parts;
  const readOnly = (prelude || body).startsWith(READ_ONLY);
  if (readOnly) {
    if (prelude) prelude = prelude.slice(READ_ONLY.length);
    else body = body.slice(READ_ONLY.length);
  }
  const lua = (readOnly ? READ_ONLY : "") + prelude + body;
  const script = { name, numberOfKeys, lua, prelude, body, readOnly };
  defined.push(script);
  return script;
}

const defined: LuaScript[] = [];

/** Every script defined so far (by the modules loaded): for the test that loads them all. */
export const definedScripts = (): readonly LuaScript[] => defined;

/** SHA-1 by script text: bulk.ts runs one script under many key counts, each a new object. */
const shas = new Map<string, string>();

/**
 * The script's SHA-1 for EVALSHA, computed on first use with Web Crypto (node:crypto would load
 * Node compatibility into every command that defines a script, for a few hashes). A digest is an
 * asynchronous op (0.3–0.7 ms measured here): once per script text per process.
 */
export async function scriptSha(script: LuaScript): Promise<string> {
  let sha = shas.get(script.lua);
  if (!sha) {
    const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(script.lua));
    sha = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    shas.set(script.lua, sha);
  }
  return sha;
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
  const tag = hashTag(keys[0]);
  if (keys.some((k) => hashTag(k) !== tag)) {
    // One script is one hash slot on a cluster (CROSSSLOT otherwise): refuse it everywhere.
    throw new Error(`script ${script.name}: keys of different hash tags: ${keys.join(", ")}`);
  }
  const d = durability.get(redis);
  // A read-only script (`#!lua flags=no-writes`) changes nothing a replica must acknowledge.
  if (d && !script.readOnly) return await runDurably(redis, script, keys, args, d);
  return await evalScript(redis, script, keys, args);
}

const READ_ONLY = "#!lua flags=no-writes";

/**
 * Runs the script (FCALL, else EVALSHA), loading it when Redis does not know it, never waiting
 * for replicas: for liveness writes (heartbeats) that must not wait out a failover. State
 * changes use runScript.
 */
export async function evalScript(
  redis: Redis,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  const sha = await scriptSha(script);
  if (!script.readOnly && !functionsRefused(redis)) {
    const name = functionName(sha);
    const r = await withLibrary(
      redis,
      keys[0],
      () => libraryOf(script, name),
      () => redis.fcall(name, keys.length, ...keys, ...args),
    );
    if (r !== NO_FUNCTIONS) return r;
  }
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!isNoScript(e)) throw e;
    return await redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}

/** The `{tag}` part of a key that decides its cluster slot (the whole key when it has none). */
function hashTag(key: string | undefined): string | undefined {
  const m = key === undefined ? undefined : /\{([^}]+)\}/.exec(key);
  return m ? m[1] : key;
}

const isNoScript = (e: unknown) => String((e as Error)?.message).startsWith("NOSCRIPT");
/** A cluster's answer that the command did not run on this node. */
const isRedirect = (e: unknown) =>
  /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(String((e as Error)?.message));

async function runDurably(
  redis: Redis,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
  d: Durability,
): Promise<unknown> {
  const sha = await scriptSha(script);
  // The script, as `run` queues it, and WAIT in one pipeline: their two replies.
  const withWait = async (run: (p: ReturnType<Redis["pipeline"]>) => unknown) => {
    const p = redis.pipeline();
    run(p);
    p.wait(d.replicas, d.timeoutMs);
    const res = (await p.exec()) ?? [];
    if (res.length !== 2) throw new Error(`script ${script.name}: the pipeline was not run`);
    return res as [Error | null, unknown][];
  };
  if (!functionsRefused(redis)) {
    // The FCALL's own refusal or absence is thrown, so withLibrary falls back or loads it.
    const name = functionName(sha);
    const r = await withLibrary(redis, keys[0], () => libraryOf(script, name), async () => {
      const res = await withWait((p) => p.fcall(name, keys.length, ...keys, ...args));
      const err = res[0][0];
      if (err && (isFunctionMissing(err) || isRefusal(err))) throw err;
      return res;
    });
    if (r !== NO_FUNCTIONS) return await afterDurable(redis, script, keys, args, d, r);
  }
  const once = (load: boolean) =>
    withWait((p) =>
      load
        ? p.eval(script.lua, keys.length, ...keys, ...args)
        : p.evalsha(sha, keys.length, ...keys, ...args)
    );
  let res = await once(false);
  if (res[0][0] && isNoScript(res[0][0])) res = await once(true);
  return await afterDurable(redis, script, keys, args, d, res);
}

/** The script's reply once WAIT's answer reaches the replicas wanted (see runDurably). */
async function afterDurable(
  redis: Redis,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
  d: Durability,
  res: [Error | null, unknown][],
): Promise<unknown> {
  let [[err, value], [waitErr, acked]] = res;
  if (err && isRedirect(err)) {
    // A cluster in a failover: the script was not run there (MOVED, TRYAGAIN, CLUSTERDOWN), and
    // ioredis does not follow a redirect in a pipeline whose other reply (WAIT's) is not one
    // (the error reached the agent loops and the dispatcher). Run the script alone, which the
    // client redirects and retries like any command, then WAIT on the node that ran it.
    value = await evalScript(redis, script, keys, args);
    acked = await nodeFor(redis, keys[0]).wait(d.replicas, d.timeoutMs);
    err = waitErr = null;
  }
  if (err) throw err;
  if (waitErr) throw waitErr;
  await enoughReplicas(redis, keys[0], d, Number(acked));
  return value;
}

/**
 * Throws ReplicationError unless `acked` (WAIT's answer) reaches the replicas wanted; a
 * long-lived process WAITs again first, on the node holding `key`'s slot (the one that wrote).
 */
async function enoughReplicas(redis: Redis, key: string, d: Durability, acked: number) {
  let got = acked;
  if (got < d.replicas && d.persistent) {
    const node = nodeFor(redis, key);
    const deadline = Date.now() + PERSISTENT_WAIT_MS;
    while (got < d.replicas && Date.now() < deadline) {
      got = Number(await node.wait(d.replicas, d.timeoutMs));
    }
  }
  if (got < d.replicas) throw new ReplicationError(got, d.replicas, d.timeoutMs);
}

/**
 * EXEC of a MULTI that changes state, keeping to `[redis] wait_replicas` as runScript does: then
 * WAIT on the node holding `key`'s slot (every key of a town's transaction shares it). Returns
 * EXEC's replies.
 */
export async function execDurably(
  redis: Redis,
  tx: ReturnType<Redis["multi"]>,
  key: string,
): Promise<[Error | null, unknown][]> {
  const res = (await tx.exec()) ?? [];
  const d = durability.get(redis);
  if (d) {
    await enoughReplicas(
      redis,
      key,
      d,
      Number(await nodeFor(redis, key).wait(d.replicas, d.timeoutMs)),
    );
  }
  return res;
}

/**
 * Lua fragment shared by scripts: append an event to the town stream (KEYS[1] by convention).
 * `emit({type=…, message=…, …})`; the timestamp comes from ARGV[1] (ISO time of the caller).
 */
export const LUA_EMIT = `
local function emit(ev)
  ev.ts = ARGV[1]
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', '10000', '*', 'e', cjson.encode(ev))
end
`;
