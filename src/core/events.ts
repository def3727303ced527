/**
 * The town event stream: every state change is appended (by the Lua script that makes it, or by
 * `emitEvent`), and read back by `tt history`, `tt events`, `tt wait` and townhall.
 */
import { duplicateConnection } from "../redis/connection.ts";
import { TownEvent } from "./schemas.ts";
import type { Ctx } from "./agents.ts";

/** Approximate bound of the stream (XADD MAXLEN ~). */
export const EVENTS_MAXLEN = 10_000;

export type NewEvent = Omit<TownEvent, "id" | "ts">;

export async function emitEvent(t: Ctx, ev: NewEvent): Promise<string> {
  return (await t.redis.xadd(t.keys.events, ...xaddArgs(ev)))!;
}

/**
 * The XADD arguments after the key for one event (bounded stream, `ts` now unless given): for
 * callers that append the event inside their own MULTI.
 */
export function xaddArgs(
  ev: NewEvent,
  ts = new Date().toISOString(),
): ["MAXLEN", "~", number, "*", "e", string] {
  return ["MAXLEN", "~", EVENTS_MAXLEN, "*", "e", JSON.stringify({ ...ev, ts })];
}

type RawEntry = [id: string, fields: string[]];

export function parseEntry([id, fields]: RawEntry): TownEvent {
  const i = fields.indexOf("e");
  let data: unknown = {};
  try {
    data = JSON.parse(fields[i + 1] ?? "{}");
  } catch { /* a hand-written garbage entry: shown as unparseable below */ }
  const r = TownEvent.safeParse({ ...(data as object), id });
  // An id written by hand (XADD 99999999999999999-1) can be past the largest Date.
  const at = new Date(Number(id.split("-")[0]));
  return r.success ? r.data : {
    id,
    type: "unparseable",
    ts: (Number.isNaN(at.getTime()) ? new Date(0) : at).toISOString(),
    message: String(fields),
  };
}

export interface ReadOptions {
  /** How many events (the most recent ones). */
  count: number;
  /** Only events about this agent id. */
  agentId?: string;
  /** Only events with id greater than this one. */
  after?: string;
}

/** The most recent matching events, oldest first. Reads backwards in pages until enough match. */
export async function recentEvents(t: Ctx, opts: ReadOptions): Promise<TownEvent[]> {
  const out: TownEvent[] = [];
  let end = "+";
  const start = opts.after ? `(${opts.after}` : "-";
  const page = Math.max(opts.count, 100);
  for (;;) {
    const batch = (await t.redis.xrevrange(t.keys.events, end, start, "COUNT", page)) as RawEntry[];
    for (const entry of batch) {
      const ev = parseEntry(entry);
      if (!opts.agentId || ev.agent_id === opts.agentId) out.push(ev);
      if (out.length >= opts.count) return out.reverse();
    }
    if (batch.length < page) return out.reverse();
    end = `(${batch[batch.length - 1][0]}`;
  }
}

/**
 * The id of the newest event ("0-0" when the stream is empty). A reader that starts from it
 * misses nothing appended afterwards, unlike "$", which is only resolved when XREAD runs.
 */
export async function lastEventId(t: Ctx): Promise<string> {
  const tail = (await t.redis.xrevrange(t.keys.events, "+", "-", "COUNT", 1)) as RawEntry[];
  return tail[0]?.[0] ?? "0-0";
}

/**
 * Blocks on the stream and calls `onEvent` for each new event after `fromId` ("$" = only new
 * ones) until `signal` aborts. Uses its own connection, since XREAD BLOCK holds it.
 */
export async function followEvents(
  t: Ctx,
  fromId: string,
  onEvent: (ev: TownEvent) => void | Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const conn = await duplicateConnection(t.redis);
  // CLI connections are lazy and queue nothing offline: connect before the first command.
  if (conn.status === "wait") await conn.connect();
  const stop = () => conn.disconnect();
  signal.addEventListener("abort", stop, { once: true });
  let last = fromId;
  try {
    if (last === "$") {
      const tail = (await conn.xrevrange(t.keys.events, "+", "-", "COUNT", 1)) as RawEntry[];
      last = tail[0]?.[0] ?? "0-0";
    }
    while (!signal.aborted) {
      const res = (await conn.xread("COUNT", 100, "BLOCK", 0, "STREAMS", t.keys.events, last)) as
        | [string, RawEntry[]][]
        | null;
      for (const entry of res?.[0]?.[1] ?? []) {
        last = entry[0];
        await onEvent(parseEntry(entry));
      }
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  } finally {
    signal.removeEventListener("abort", stop);
    conn.disconnect();
  }
}
