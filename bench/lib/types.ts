/** What a benchmark section gets, and what it gives back. */

export interface BenchContext {
  /** Repository root (absolute). */
  root: string;
  /** A private temp dir for this run, removed at the end. */
  tmp: string;
  /** The private redis-server of this run (unix socket only, never the system one). */
  redis: { socket: string; url: string };
  /** hyperfine's path, or null: then commands are timed with an internal loop. */
  hyperfine: string | null;
  /** Fewer runs/iterations (for a smoke run). */
  quick: boolean;
}

/** One line of the report: a figure, and its ratios against baselines from the same run. */
export interface Row {
  id: string;
  label: string;
  /** How ratio texts name this row when it is a baseline ("hello", "raw PING"). */
  short?: string;
  /** Milliseconds, unless `unit` says otherwise. */
  value: number;
  /** Unit of `value` when it is not a time ("MiB"). */
  unit?: string;
  /** Which statistic `value` is: "median" (start-up) or "p50"/"p99" (latency). */
  stat: string;
  /** Ids of the rows this one is compared with. */
  vs?: string[];
  /** Filled by withRatios: value / baseline value. */
  ratios?: { vs: string; ratio: number }[];
}

export interface SectionResult {
  rows: Row[];
  /** Everything measured (per-run times, settings), written to the JSON results. */
  raw: Record<string, unknown>;
  notes: string[];
}

/**
 * A benchmark section: one module in bench/sections/. Each measures its own baselines in the
 * same run, because these machines are noisy and only ratios compare across runs.
 */
export interface Section {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<SectionResult>;
}

/** Fills `ratios` (value / baseline value) of the rows that name baselines. */
export function withRatios(rows: Row[]): Row[] {
  return rows.map((r) => {
    if (!r.vs?.length) return r;
    const ratios = r.vs.flatMap((id) => {
      const b = rows.find((x) => x.id === id);
      // A zero baseline (no CPU used while idle, say) gives no ratio.
      return b && b.value > 0 ? [{ vs: b.short ?? b.label, ratio: r.value / b.value }] : [];
    });
    return { ...r, ratios };
  });
}

/** `deno run` arguments for a script of this repository, with the permissions of its deno.json. */
export function denoArgs(ctx: BenchContext, script: string): string[] {
  return [
    "run",
    "-q",
    "-P",
    "--no-prompt",
    "--config",
    `${ctx.root}/deno.json`,
    `${ctx.root}/${script}`,
  ];
}

/** A script that only loads ioredis, connects and PINGs: the floor of any Redis command. */
export function ioredisPingArgv(ctx: BenchContext): string[] {
  return [
    Deno.execPath(),
    "run",
    "-q",
    "--no-prompt",
    "--config",
    `${ctx.root}/deno.json`,
    "--allow-read",
    "--allow-write",
    "--allow-net",
    "--allow-env",
    `${ctx.root}/bench/fixtures/ping_ioredis.ts`,
  ];
}
