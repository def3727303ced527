/**
 * `GET /v1/status` under load: a town's status is computed by one request at a time (the others
 * share it) and reused, already serialized, while nothing happened in the town — the event
 * stream's newest entry is the one it was computed after — and for at most MAX_AGE_MS (state
 * that changes without an event: heartbeats, a round taking its messages). So a thousand
 * readers cost one status read per change, and the server's memory holds one status, not one
 * per request in flight.
 */
import { townStatus } from "../core/status.ts";
import type { TownContext } from "../core/town.ts";

/** Longest a served status may be older than the request (for changes without an event). */
export const MAX_AGE_MS = 1000;

interface Computed {
  /** Newest event id before the status was read ('' for an empty stream). */
  after: string;
  at: number;
  body: Promise<string>;
}

/** A function giving the status as JSON text, fresh as of the newest event and MAX_AGE_MS. */
export function statusSource(t: TownContext, maxAgeMs = MAX_AGE_MS): () => Promise<string> {
  let last: Computed | undefined;
  return async () => {
    const newest = await t.redis.xrevrange(t.keys.events, "+", "-", "COUNT", 1);
    const after = newest[0]?.[0] ?? "";
    if (last && last.after === after && Date.now() - last.at < maxAgeMs) return await last.body;
    const at = Date.now();
    const body = townStatus(t).then((s) => JSON.stringify(s));
    const mine: Computed = { after, at, body };
    last = mine;
    // A failed read is not kept: the next request tries again.
    body.catch(() => {
      if (last === mine) last = undefined;
    });
    return await body;
  };
}
