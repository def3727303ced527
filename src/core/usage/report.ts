/**
 * `tt usage`, `GET /v1/usage`, MCP `usage_get` and `town.usage()`: usage summed from the per-day
 * buckets (one pipeline over the days asked for), by agent, task, mission, model, CLI or day.
 */
import type { Ctx } from "../agents.ts";
import { UsageError } from "../errors.ts";
import { daysBetween, usageNow } from "./clock.ts";
import { USAGE_DAYS_KEPT } from "./record.ts";
import { parseWindow } from "./schema.ts";
import { cmp } from "../order.ts";

export const USAGE_DIMENSIONS = ["agent", "task", "mission", "model", "cli", "day"] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

export interface UsageRow {
  /** Agent id, task id, mission id, model, CLI name, or day (YYYY-MM-DD). */
  key: string;
  input: number;
  output: number;
  cached: number;
  /** Summed over the rounds that had a cost (reported, or from [pricing]). */
  usd: number;
  rounds: number;
  ms: number;
}

export interface UsageReport {
  by: UsageDimension;
  /** First day included (UTC). */
  since: string;
  until: string;
  rows: UsageRow[];
  total: UsageRow;
}

/** "7d", "12h" (back from now) or a date/time ("2026-11-30") → ms; undefined = all days kept. */
export function parseSince(since: string | undefined, nowMs = usageNow()): number {
  if (!since) return nowMs - (USAGE_DAYS_KEPT - 1) * 86_400_000;
  const back = parseWindow(since);
  if (back !== undefined) return nowMs - back * 1000;
  const at = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(since) ? `${since}T00:00:00Z` : since);
  if (Number.isNaN(at)) {
    throw new UsageError(
      `--since '${since}' is neither a duration ("7d", "12h") nor a date ("2026-11-30")`,
    );
  }
  return at;
}

const empty = (key: string): UsageRow => ({
  key,
  input: 0,
  output: 0,
  cached: 0,
  usd: 0,
  rounds: 0,
  ms: 0,
});

const METRIC: Record<string, keyof Omit<UsageRow, "key">> = {
  in: "input",
  out: "output",
  cached: "cached",
  usd: "usd",
  rounds: "rounds",
  ms: "ms",
};

export interface UsageQuery {
  by?: UsageDimension;
  /** See parseSince. */
  since?: string;
  nowMs?: number;
}

export async function usageReport(t: Ctx, q: UsageQuery = {}): Promise<UsageReport> {
  const by = q.by ?? "agent";
  if (!USAGE_DIMENSIONS.includes(by)) {
    throw new UsageError(`--by '${by}': use one of ${USAGE_DIMENSIONS.join(", ")}`);
  }
  const now = q.nowMs ?? usageNow();
  const days = daysBetween(parseSince(q.since, now), now, USAGE_DAYS_KEPT);
  const pipe = t.redis.pipeline();
  for (const d of days) pipe.hgetall(t.keys.usageDay(d));
  const hashes = ((await pipe.exec()) ?? []).map((r) => (r[1] ?? {}) as Record<string, string>);
  const rows = new Map<string, UsageRow>();
  const total = empty("total");
  hashes.forEach((h, i) => {
    for (const [field, v] of Object.entries(h)) {
      const [dim, id, metric] = field.split("|");
      const m = METRIC[metric];
      if (!m) continue;
      const n = Number(v) || 0;
      if (dim === "town") {
        total[m] += n;
        if (by === "day") {
          const row = rows.get(days[i]) ?? empty(days[i]);
          row[m] += n;
          rows.set(days[i], row);
        }
      } else if (dim === by) {
        const row = rows.get(id) ?? empty(id);
        row[m] += n;
        rows.set(id, row);
      }
    }
  });
  const list = [...rows.values()];
  list.sort((a, b) =>
    by === "day" ? cmp(a.key, b.key) : b.usd - a.usd || b.input + b.output - (a.input + a.output)
  );
  return { by, since: days[0], until: days.at(-1)!, rows: list, total };
}

/** A task's usage, as recorded on its hash (`tt task show`). */
export async function taskUsage(
  t: Ctx,
  taskId: string,
): Promise<{ input: number; output: number; usd: number; rounds: number } | undefined> {
  const [i, o, usd, rounds] = await t.redis.hmget(
    t.keys.task(taskId),
    "usage_in",
    "usage_out",
    "usage_usd",
    "usage_rounds",
  );
  if (i === null && o === null) return undefined;
  return {
    input: Number(i) || 0,
    output: Number(o) || 0,
    usd: Number(usd) || 0,
    rounds: Number(rounds) || 0,
  };
}

/** All-time counters for Prometheus: tokens by agent, model and kind; USD by agent. */
export async function usageCounters(t: Ctx): Promise<{
  tokens: { agent: string; model: string; kind: string; value: number }[];
  usd: { agent: string; value: number }[];
}> {
  const h = await t.redis.hgetall(t.keys.usageTotals);
  const tokens: { agent: string; model: string; kind: string; value: number }[] = [];
  const usd: { agent: string; value: number }[] = [];
  for (const [field, v] of Object.entries(h)) {
    const [agent, model, kind] = field.split("|");
    if (kind === "usd" && !model) usd.push({ agent, value: Number(v) || 0 });
    else if (["input", "output", "cached"].includes(kind)) {
      tokens.push({ agent, model, kind, value: Number(v) || 0 });
    }
  }
  return { tokens, usd };
}
