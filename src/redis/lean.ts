/**
 * The lean Redis client of one-shot `tt` commands: RESP2 over `Deno.connect` (unix socket or
 * TCP) to a single node, speaking the part of the ioredis API the core uses, with ioredis's
 * reply shapes (lean_resp.ts). Loading ioredis through Node compatibility costs a short command
 * more than everything else it does (stack-notes.md §2); this costs nothing to load. Daemons,
 * TLS, Cluster and Sentinel keep ioredis (connection.ts decides).
 *
 * Every Redis command is a method (`get`, `hgetall`, `evalsha`, `call(name, …)`…), as on
 * ioredis; `pipeline()` and `multi()` queue commands and `exec()` sends them in one write and
 * answers `[error, result][]` like ioredis. Connection errors look like Node's (`connect ENOENT
 * /path`, with `code` and `address`), so ConnectError and diagnose.ts name them as before.
 */
import {
  concatBytes,
  encodeCommand,
  flattenArgs,
  hgetallObject,
  ReplyError,
  ReplyParser,
  transformArgs,
} from "./lean_resp.ts";

export { ReplyError };

/** Where and how to connect (from the URL, as connection.ts's clientOptions reads it). */
export interface LeanTarget {
  path?: string;
  host?: string;
  port?: number;
  db: number;
  username?: string;
  password?: string;
  connectionName?: string;
}

const CLOSED = "Connection is closed.";

/** Redis commands that are methods (lower case, as ioredis names them). */
const COMMANDS = new Set(
  (
    "append auth bitcount blmove blmpop blpop brpop brpoplpush bzpopmax bzpopmin client config " +
    "copy dbsize decr decrby del dump echo eval evalsha evalsha_ro eval_ro exists expire " +
    "expireat expiretime flushall flushdb function fcall get getdel getex getrange getset hdel " +
    "hello hexists hget hgetall hincrby hincrbyfloat hkeys hlen hmget hmset hrandfield hscan " +
    "hset hsetnx hstrlen hvals incr incrby incrbyfloat info keys lindex linsert llen lmove " +
    "lmpop lpop lpos lpush lpushx lrange lrem lset ltrim memory mget move mset msetnx object " +
    "persist pexpire pexpireat pexpiretime ping psetex pttl publish randomkey rename renamenx " +
    "restore role rpop rpoplpush rpush rpushx sadd scan scard script sdiff sdiffstore select " +
    "set setex setnx setrange sinter sintercard sinterstore sismember smembers smismember smove " +
    "sort spop srandmember srem sscan strlen sunion sunionstore time touch ttl type unlink " +
    "wait xack xadd xautoclaim xclaim xdel xgroup xinfo xlen xpending xrange xread xreadgroup " +
    "xrevrange xtrim zadd zcard zcount zincrby zinter zinterstore zlexcount zmpop zmscore " +
    "zpopmax zpopmin zrandmember zrange zrangebylex zrangebyscore zrangestore zrank zrem " +
    "zremrangebylex zremrangebyrank zremrangebyscore zrevrange zrevrangebylex zrevrangebyscore " +
    "zrevrank zscan zscore zunion zunionstore"
  ).split(/\s+/),
);

type Reply = { resolve(v: unknown): void; reject(e: Error): void };
type Queued = { name: string; args: unknown[] };

/** Node's shape for a failed connect (`connect ENOENT /path`), from Deno's error. */
function connectError(e: unknown, where: string, address: string, port?: number): Error {
  const code = (e as { code?: string }).code ??
    (/lookup address|Name or service not known|nodename nor servname/i.test(String(e))
      ? "ENOTFOUND"
      : undefined);
  const err = code === "ENOTFOUND"
    ? new Error(`getaddrinfo ENOTFOUND ${address}`)
    : new Error(code ? `connect ${code} ${where}` : `connect ${(e as Error).message} ${where}`);
  Object.assign(err, { code, syscall: code === "ENOTFOUND" ? "getaddrinfo" : "connect", address });
  if (port !== undefined) Object.assign(err, { port });
  return err;
}

class Connection {
  #conn?: Deno.Conn;
  #parser = new ReplyParser();
  #pending: Reply[] = [];
  #closed = false;
  #listeners = new Map<string, ((...a: unknown[]) => void)[]>();
  status = "wait";

  constructor(readonly target: LeanTarget) {}

  on(event: string, fn: (...a: unknown[]) => void) {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), fn]);
    return this;
  }

  #emit(event: string, ...a: unknown[]) {
    for (const fn of this.#listeners.get(event) ?? []) fn(...a);
  }

  /** Connects, then authenticates, names the connection and selects the db in one write. */
  async connect(): Promise<void> {
    const t = this.target;
    this.status = "connecting";
    try {
      this.#conn = t.path !== undefined
        ? await Deno.connect({ transport: "unix", path: t.path })
        : await Deno.connect({ hostname: t.host ?? "127.0.0.1", port: t.port ?? 6379 });
    } catch (e) {
      const err = t.path !== undefined
        ? connectError(e, t.path, t.path)
        : connectError(e, `${t.host}:${t.port}`, t.host ?? "127.0.0.1", t.port);
      this.status = "end";
      this.#closed = true;
      this.#emit("error", err);
      throw err;
    }
    this.status = "connect";
    this.#readLoop();
    const setup: Queued[] = [];
    // As ioredis 6 does (with protocol 3): HELLO, carrying AUTH, so a refusal reads the same.
    setup.push({
      name: "hello",
      args: t.password !== undefined ? [2, "AUTH", t.username ?? "default", t.password] : [2],
    });
    if (t.connectionName) setup.push({ name: "client", args: ["SETNAME", t.connectionName] });
    if (t.db) setup.push({ name: "select", args: [t.db] });
    const res = await this.send([...setup, { name: "ping", args: [] }]);
    for (const [i, r] of res.entries()) {
      if (!(r instanceof ReplyError)) continue;
      if (i === setup.length && /^LOADING/.test(r.message)) {
        await this.#whileLoading();
        continue;
      }
      if (i === setup.length) continue; // PING's own refusals (MISCONF…) are the caller's
      this.#emit("error", r);
      this.disconnect();
      throw r;
    }
    this.status = "ready";
    this.#emit("ready");
  }

  /** Like ioredis's ready check: a server loading its data set is waited for. */
  async #whileLoading() {
    while (true) {
      await new Promise((r) => setTimeout(r, 100));
      const [r] = await this.send([{ name: "ping", args: [] }]);
      if (!(r instanceof ReplyError && /^LOADING/.test(r.message))) return;
    }
  }

  async #readLoop() {
    const conn = this.#conn!;
    const buf = new Uint8Array(64 * 1024);
    let failure: Error | undefined;
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        this.#parser.push(buf.slice(0, n));
        while (this.#pending.length) {
          const v = this.#parser.next();
          if (v === ReplyParser.INCOMPLETE) break;
          this.#pending.shift()!.resolve(v);
        }
      }
    } catch (e) {
      if (!this.#closed) failure = e as Error;
    }
    this.#end(failure);
  }

  #end(cause?: Error) {
    const wasOpen = !this.#closed;
    this.#closed = true;
    this.status = "end";
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    const pending = this.#pending.splice(0);
    for (const p of pending) p.reject(new Error(CLOSED));
    if (wasOpen && cause) this.#emit("error", cause);
    if (wasOpen) this.#emit("end");
  }

  /** Sends commands in one write; resolves with each raw reply (errors as ReplyError values). */
  async send(cmds: Queued[]): Promise<unknown[]> {
    if (this.#closed || !this.#conn) throw new Error(CLOSED);
    const replies = cmds.map(() => {
      let r!: Reply;
      const p = new Promise<unknown>((resolve, reject) => (r = { resolve, reject }));
      return { r, p };
    });
    for (const { r } of replies) this.#pending.push(r);
    const bytes = concatBytes(cmds.map((c) => encodeCommand(c.name, c.args)));
    try {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    } catch (e) {
      this.#end(e as Error);
    }
    return await Promise.all(replies.map((x) => x.p));
  }

  disconnect() {
    this.#end();
  }

  async quit(): Promise<string> {
    const [r] = await this.send([{ name: "quit", args: [] }]).catch(() => ["OK"]);
    this.#end();
    return r as string;
  }
}

const transform = (name: string, v: unknown) =>
  name.toLowerCase() === "hgetall" ? hgetallObject(v) : v;
/** A command as ioredis sends it: the name as given, its arguments flattened and transformed. */
const command = (name: string, args: unknown[]): Queued => ({
  name,
  args: transformArgs(name.toLowerCase(), flattenArgs(args)),
});

/** A queue of commands (pipeline or MULTI) whose command methods chain, as in ioredis. */
class Batch {
  readonly queue: Queued[] = [];
  constructor(private readonly conn: Connection, private readonly atomic: boolean) {}

  call(name: string, ...args: unknown[]) {
    this.queue.push(command(name, args));
    return this;
  }

  get length() {
    return this.queue.length;
  }

  async exec(): Promise<[Error | null, unknown][] | null> {
    if (!this.atomic) {
      const res = await this.conn.send(this.queue);
      return res.map((v, i) =>
        v instanceof ReplyError ? [v] as unknown as [Error, unknown] : [
          null,
          transform(this.queue[i].name, v),
        ]
      );
    }
    const res = await this.conn.send([
      { name: "multi", args: [] },
      ...this.queue,
      { name: "exec", args: [] },
    ]);
    const exec = res[res.length - 1];
    if (exec instanceof ReplyError) {
      exec.previousErrors = res.slice(1, -1).filter((v) => v instanceof ReplyError);
      throw exec;
    }
    if (exec === null) return null;
    return (exec as unknown[]).map((v, i) =>
      v instanceof ReplyError ? [v] as unknown as [Error, unknown] : [
        null,
        transform(this.queue[i].name, v),
      ]
    );
  }
}

/** Gives an object Redis command methods (ioredis's names) that go to `run`. */
function withCommands<T extends object>(
  target: T,
  run: (name: string, args: unknown[]) => unknown,
) {
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (typeof prop === "string" && !(prop in t) && COMMANDS.has(prop)) {
        return (...args: unknown[]) => run(prop, args);
      }
      return Reflect.get(t, prop, receiver);
    },
  });
}

/** A pipeline or MULTI whose command methods (and `call`) chain on the same object. */
function batch(conn: Connection, atomic: boolean): Batch {
  const b = new Batch(conn, atomic);
  const chained: Batch = withCommands(b, (name, args) => {
    b.call(name, ...args);
    return chained;
  });
  return chained;
}

function queued(b: Batch, commands: unknown[][] | undefined): Batch {
  for (const [name, ...args] of commands ?? []) b.call(String(name), ...args);
  return b;
}

/** The client object handed to the core in place of an ioredis `Redis`. */
class LeanClient {
  constructor(readonly connection: Connection) {}

  get status() {
    return this.connection.status;
  }

  get isLean() {
    return true;
  }

  connect() {
    return this.connection.connect();
  }

  on(event: string, fn: (...a: unknown[]) => void) {
    this.connection.on(event, fn);
    return this;
  }

  async call(name: string, ...args: unknown[]): Promise<unknown> {
    const c = command(name, args);
    const [v] = await this.connection.send([c]);
    if (v instanceof ReplyError) throw v;
    return transform(c.name, v);
  }

  /** ioredis also takes the commands up front: `pipeline([["hget", key, field], …])`. */
  pipeline(commands?: unknown[][]) {
    return queued(batch(this.connection, false), commands);
  }

  multi(commands?: unknown[][]) {
    return queued(batch(this.connection, true), commands);
  }

  /** A new lean connection with the same settings, not yet connected (like ioredis's). */
  duplicate() {
    return leanClient(this.connection.target);
  }

  quit() {
    return this.connection.quit();
  }

  disconnect() {
    this.connection.disconnect();
  }
}

/** A lean client for `target`, not yet connected: call `connect()`. */
export function leanClient(target: LeanTarget): LeanClient {
  const client: LeanClient = withCommands(
    new LeanClient(new Connection(target)),
    (name, args) => client.call(name, ...args),
  );
  return client;
}

export type { LeanClient };

/** Is this client a lean one (not ioredis)? */
export function isLean(redis: unknown): boolean {
  return (redis as { isLean?: boolean })?.isLean === true;
}
