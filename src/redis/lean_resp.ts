/**
 * RESP2, the Redis wire protocol, for the lean client (lean.ts): encoding commands the way
 * ioredis does (arrays flattened one level, numbers and null/undefined as ioredis's toArg turns
 * them into strings, byte arrays as they are) and an incremental reply parser whose values are
 * what ioredis returns over RESP2: strings (UTF-8), integers as numbers, null for a nil bulk or
 * array, nested arrays, and `ReplyError` objects for error replies.
 * Imports nothing: it is on the hot path of every one-shot `tt` command.
 */

/** An error reply from the server (same name and message as ioredis's ReplyError). */
export class ReplyError extends Error {
  override name = "ReplyError";
  /** For EXECABORT: the errors of the commands the server refused to queue. */
  previousErrors?: ReplyError[];
  constructor(message: string) {
    super(message);
  }
}

export type Arg = string | number | bigint | Uint8Array | null | undefined | boolean;

const enc = new TextEncoder();

/** ioredis's toArg: null/undefined are empty strings, unsafe integers go through BigInt. */
function argBytes(a: unknown): Uint8Array {
  if (a instanceof Uint8Array) return a;
  if (typeof a === "string") return enc.encode(a);
  if (a === null || a === undefined) return new Uint8Array(0);
  if (typeof a === "number" && Number.isInteger(a) && !Number.isSafeInteger(a)) {
    return enc.encode(BigInt(a).toString());
  }
  return enc.encode(String(a));
}

/** Arguments as ioredis flattens them: arrays one level deep. */
export function flattenArgs(args: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const a of args) {
    if (Array.isArray(a)) out.push(...a);
    else out.push(a);
  }
  return out;
}

/** One command as a RESP array of bulk strings. */
export function encodeCommand(name: string, args: readonly unknown[]): Uint8Array {
  const parts = [enc.encode(name), ...args.map(argBytes)];
  const head = enc.encode(`*${parts.length}\r\n`);
  let size = head.length;
  const lens = parts.map((p) => {
    const l = enc.encode(`$${p.length}\r\n`);
    size += l.length + p.length + 2;
    return l;
  });
  const out = new Uint8Array(size);
  let off = 0;
  out.set(head, off);
  off += head.length;
  parts.forEach((p, i) => {
    out.set(lens[i], off);
    off += lens[i].length;
    out.set(p, off);
    off += p.length;
    out[off++] = 13;
    out[off++] = 10;
  });
  return out;
}

/** Concatenates byte arrays (a pipeline's commands, written at once). */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

const INCOMPLETE = Symbol("incomplete");
const dec = new TextDecoder();

/**
 * Parses replies from a byte stream fed chunk by chunk. A reply is decoded once, when all of it
 * has arrived: until then each chunk only runs a scan of its framing (no strings made), which
 * also says how many bytes are needed before scanning again. A 340 KB script reply comes in six
 * or more reads; decoding it from the start on each was most of its cost.
 */
export class ReplyParser {
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /** The buffer length below which the next reply cannot be complete (from the last scan). */
  #need = 0;

  push(chunk: Uint8Array) {
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = rest.length ? concatBytes([rest, chunk]) : chunk;
    this.#need -= this.#pos;
    this.#pos = 0;
  }

  /** The next complete reply, or INCOMPLETE when more bytes are needed. */
  next(): unknown | typeof INCOMPLETE {
    if (this.#buf.length < this.#need || this.#skip(this.#pos) < 0) return INCOMPLETE;
    this.#need = 0;
    return this.#value();
  }

  static readonly INCOMPLETE = INCOMPLETE;

  /** The index of the CR of the first CRLF at or after `from`, or -1. */
  #eol(from: number): number {
    const buf = this.#buf;
    for (let i = from; i + 1 < buf.length; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10) return i;
    }
    return -1;
  }

  /** Where the reply at `p` ends, or -1 (and #need set) when it has not all arrived. */
  #skip(p: number): number {
    const buf = this.#buf;
    const eol = p < buf.length ? this.#eol(p + 1) : -1;
    if (eol < 0) return this.#short(buf.length + 1);
    const type = buf[p];
    if (type !== 36 && type !== 42) return eol + 2; // + - : and anything #value will refuse
    let n = 0;
    for (let i = buf[p + 1] === 45 ? p + 2 : p + 1; i < eol; i++) n = n * 10 + buf[i] - 48;
    if (buf[p + 1] === 45) return eol + 2; // a nil bulk string or array
    if (type === 36) {
      const end = eol + 2 + n + 2;
      return end <= buf.length ? end : this.#short(end);
    }
    let q = eol + 2;
    for (let i = 0; i < n && q >= 0; i++) q = this.#skip(q);
    return q;
  }

  #short(need: number): number {
    this.#need = need;
    return -1;
  }

  // #line and #value read a reply #skip found complete: they never run out of bytes.
  #line(): string {
    const i = this.#eol(this.#pos);
    const s = dec.decode(this.#buf.subarray(this.#pos, i));
    this.#pos = i + 2;
    return s;
  }

  #value(): unknown {
    const type = this.#buf[this.#pos++];
    const line = this.#line();
    switch (type) {
      case 43: // +
        return line;
      case 45: // -
        return new ReplyError(line);
      case 58: // :
        return Number(line);
      case 36: { // $
        const n = Number(line);
        if (n < 0) return null;
        const s = dec.decode(this.#buf.subarray(this.#pos, this.#pos + n));
        this.#pos += n + 2;
        return s;
      }
      case 42: { // *
        const n = Number(line);
        if (n < 0) return null;
        const arr: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) arr[i] = this.#value();
        return arr;
      }
      default:
        throw new Error(`Protocol error, got ${JSON.stringify(String.fromCharCode(type))}`);
    }
  }
}

/** ioredis's reply transformer for HGETALL: field/value pairs as an object. */
export function hgetallObject(result: unknown): unknown {
  if (!Array.isArray(result)) return result;
  const obj: Record<string, unknown> = {};
  for (let i = 0; i < result.length; i += 2) {
    const key = String(result[i]);
    if (key in obj) {
      Object.defineProperty(obj, key, {
        value: result[i + 1],
        configurable: true,
        enumerable: true,
        writable: true,
      });
    } else obj[key] = result[i + 1];
  }
  return obj;
}

/** ioredis's argument transformers: HSET/HMSET key {obj}, MSET/MSETNX {obj}. */
export function transformArgs(name: string, args: unknown[]): unknown[] {
  const pairs = (o: unknown): unknown[] =>
    o instanceof Map ? [...o].flat() : Object.entries(o as object).flat();
  const isObj = (o: unknown) => typeof o === "object" && o !== null && !(o instanceof Uint8Array);
  if ((name === "hset" || name === "hmset") && args.length === 2 && isObj(args[1])) {
    return [args[0], ...pairs(args[1])];
  }
  if ((name === "mset" || name === "msetnx") && args.length === 1 && isObj(args[0])) {
    return pairs(args[0]);
  }
  return args;
}
