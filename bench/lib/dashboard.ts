/**
 * The dashboard page against `/v1/status` on a town of 100 agents and 10,000 tasks, as server
 * time: the functions each request runs (the page: renderDashboard; /v1/status: townStatus plus
 * its JSON), called in turn in this process on the same town. The page must cost less: it reads a
 * bounded page of tasks, the status reads every task.
 *
 * In-process rather than over HTTP: at this size townhall's Redis gate answers /v1/status with 503
 * on these machines (its PING waits behind the status's 10,000 reads for more than 700 ms).
 */
import { renderDashboard } from "../../src/townhall/dashboard/mod.ts";
import { townStatus } from "../../src/core/status.ts";
import { benchTown, dropTown, populate } from "./town.ts";
import type { BenchContext, Row } from "./types.ts";

export const PAGE_AGENTS = 100;
export const PAGE_TASKS = 10_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function pageVsStatus(
  ctx: BenchContext,
): Promise<{ rows: Row[]; raw: Record<string, unknown>; note: string }> {
  const { t } = await benchTown(ctx, "bench-dashboard");
  try {
    await populate(t, { agents: PAGE_AGENTS, tasks: PAGE_TASKS, prefix: "w" });
    const who = { name: "bench", scopes: ["admin" as const] };
    const page = () => renderDashboard(t, who, "x".repeat(43));
    const status = async () => JSON.stringify(await townStatus(t));
    const n = ctx.quick ? 10 : 30;
    const pageMs: number[] = [];
    const statusMs: number[] = [];
    for (let i = 0; i < 2; i++) await Promise.all([page(), status()]); // warm-up
    for (let i = 0; i < n; i++) {
      pageMs.push(await timed(page));
      statusMs.push(await timed(status));
    }
    const size = `${PAGE_AGENTS} agents, ${PAGE_TASKS.toLocaleString("en")} tasks`;
    return {
      rows: [
        {
          id: "status-big-p50",
          label: `/v1/status server time (${size})`,
          short: "status",
          value: median(statusMs),
          stat: "p50",
        },
        {
          id: "page-big-p50",
          label: `dashboard page server time (${size})`,
          value: median(pageMs),
          stat: "p50",
          vs: ["status-big-p50"],
        },
      ],
      raw: { runs: n, page_ms: pageMs, status_ms: statusMs },
      note: `dashboard page vs /v1/status: the handlers' work in-process, ${n} runs each in ` +
        `turn, ${size}`,
    };
  } finally {
    await dropTown(t);
    await t.close();
  }
}
