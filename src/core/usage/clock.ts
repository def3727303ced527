/**
 * The clock budgets and usage buckets read: the real time plus `TT_CLOCK_OFFSET_MS` (a test moves
 * a whole town, supervisor included, into the future to roll a budget window without waiting).
 */

/** Milliseconds since the epoch, as the usage code sees them. */
export function usageNow(): number {
  let raw: string | undefined;
  try {
    raw = Deno.env.get("TT_CLOCK_OFFSET_MS");
  } catch { /* a process without env access (narrowed permissions): the real time */ }
  const offset = raw && /^-?\d+$/.test(raw) ? Number(raw) : 0;
  return Date.now() + offset;
}

/** The UTC day of `ms`, as used in usage keys: "2026-12-01". */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The epoch minute of `ms` (per-minute slots of the rolling windows). */
export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}

/** The UTC days from `fromMs` to `toMs`, both included, oldest first (at most `max`). */
export function daysBetween(fromMs: number, toMs: number, max = 400): string[] {
  const out: string[] = [];
  const start = Date.parse(`${dayOf(fromMs)}T00:00:00Z`);
  for (let d = start; d <= toMs && out.length < max; d += 86_400_000) out.push(dayOf(d));
  return out;
}
