/**
 * `GET /v1/status` under load: one status read at a time, shared by every request that waits
 * for it, and reused (already serialized) while nothing happened in the town. A request gets a
 * status read after the town's newest event at the time it arrived, so whatever a client did
 * before asking (assign, complete, spawn: all emit events) is in the answer. State that changes
 * without an event (heartbeat times, a round taking its messages) may lag by MAX_AGE_MS (or four
 * times a read's duration, if more) plus one read: a reused status older than that is still
 * served, while a fresh read runs in the background for the next requests. So a thousand readers cost one status read per change, and memory holds one or two
 * statuses, never one per request in flight.
 */
import type { StatusOptions, TownStatus } from "../core/status.ts";
import { status } from "./ops.ts";
import type { TownContext } from "../core/town.ts";

/** Age after which a reused status is refreshed in the background (changes without events). */
export const MAX_AGE_MS = 1000;
/**
 * A background refresh waits at least this many times the last read's duration, so refreshing
 * a big town's status takes at most a fifth of the server's time, the rest serving it.
 */
const REFRESH_SPACING = 4;

interface Read {
  /** Newest event id before the read started ('' for an empty stream). */
  after: string;
  started: number;
  /** When the read finished (ms), once it has. */
  done?: number;
  /** The status as UTF-8 JSON, encoded once for every request that gets it. */
  body: Promise<Uint8Array<ArrayBuffer>>;
}

/** A function giving the status as UTF-8 JSON (see the module comment for how fresh). */
export function statusSource(
  t: TownContext,
  opts: {
    agentLimit?: number;
    maxAgeMs?: number;
    /** How one status is read (default: ops.status, which adds the budgets). */
    read?: (t: TownContext, o: StatusOptions) => Promise<TownStatus>;
  } = {},
): () => Promise<Uint8Array<ArrayBuffer>> {
  const maxAgeMs = opts.maxAgeMs ?? MAX_AGE_MS;
  const read = opts.read ?? status;
  let last: Read | undefined; // the newest finished read
  let running: Read | undefined; // the read in flight, if any
  let queued: Promise<Uint8Array<ArrayBuffer>> | undefined; // one read after it, shared by its waiters

  const start = (after: string): Read => {
    const r: Read = { after, started: Date.now(), body: Promise.resolve(new Uint8Array(0)) };
    r.body = read(t, { agentLimit: opts.agentLimit }).then((s) => {
      r.done = Date.now();
      const body = new TextEncoder().encode(JSON.stringify(s));
      last = r;
      return body;
    }).finally(() => {
      if (running === r) running = undefined;
    });
    running = r;
    return r;
  };

  return async () => {
    const newest = await t.redis.xrevrange(t.keys.events, "+", "-", "COUNT", 1);
    const after = newest[0]?.[0] ?? "";
    if (last && last.after === after) {
      // Nothing happened since: reuse it, refreshing in the background once it is old.
      const age = Date.now() - last.done!;
      const took = last.done! - last.started;
      if (age >= Math.max(maxAgeMs, REFRESH_SPACING * took) && !running) {
        start(after).body.catch(() => {});
      }
      return await last.body;
    }
    if (running?.after === after) return await running.body;
    if (!running) return await start(after).body;
    // A read of an older town is in flight: one more read after it serves everyone who came.
    queued ??= running.body.catch(() => undefined).then(() => {
      queued = undefined;
      return running?.body ?? start(after).body;
    });
    return await queued;
  };
}
