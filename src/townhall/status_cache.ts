/**
 * `GET /v1/status` under load: one status read at a time, shared by every request that waits
 * for it, and reused (already serialized) while nothing happened in the town. A request gets a
 * status read after the town's newest event at the time it arrived, so whatever a client did
 * before asking (assign, complete, spawn: all emit events) is in the answer. State that changes
 * without an event (heartbeat times, a round taking its messages) may lag by MAX_AGE_MS plus one
 * read: a reused status older than that is still served, while a fresh read runs for the next
 * requests. So a thousand readers cost one status read per change, and memory holds one or two
 * statuses, never one per request in flight.
 */
import { townStatus } from "../core/status.ts";
import type { TownContext } from "../core/town.ts";

/** Age after which a reused status is refreshed in the background (changes without events). */
export const MAX_AGE_MS = 1000;

interface Read {
  /** Newest event id before the read started ('' for an empty stream). */
  after: string;
  /** When the read finished (ms), once it has. */
  done?: number;
  body: Promise<string>;
}

/** A function giving the status as JSON text (see the module comment for how fresh). */
export function statusSource(t: TownContext, maxAgeMs = MAX_AGE_MS): () => Promise<string> {
  let last: Read | undefined; // the newest finished read
  let running: Read | undefined; // the read in flight, if any
  let queued: Promise<string> | undefined; // one read to start after it, shared by its waiters

  const start = (after: string): Read => {
    const r: Read = { after, body: Promise.resolve("") };
    r.body = townStatus(t).then((s) => {
      r.done = Date.now();
      const body = JSON.stringify(s);
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
      if (Date.now() - last.done! >= maxAgeMs && !running) start(after).body.catch(() => {});
      return await last.body;
    }
    if (running?.after === after) return await running.body;
    if (!running) return await start(after).body;
    // A read of an older town is in flight: one more read after it serves everyone who came.
    queued ??= running.body.catch(() => "").then(() => {
      queued = undefined;
      return running?.body ?? start(after).body;
    });
    return await queued;
  };
}
