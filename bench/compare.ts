/**
 * Puts the ratios of several saved runs side by side (ratios only: absolute figures from
 * different runs are not comparable on these machines), with each row's spread (max / min).
 *
 *   deno run -R bench/compare.ts bench/results/A.json bench/results/B.json …
 */
import type { Row } from "./lib/types.ts";

interface Saved {
  started_at: string;
  sections: Record<string, { rows?: Row[] }>;
}

if (Deno.args.length < 2) {
  console.error("usage: deno run -R bench/compare.ts <results.json> <results.json> …");
  Deno.exit(2);
}
const runs = await Promise.all(
  Deno.args.map(async (f) => JSON.parse(await Deno.readTextFile(f)) as Saved),
);
console.log(`runs: ${runs.map((r) => r.started_at).join(", ")}`);
const sections = [...new Set(runs.flatMap((r) => Object.keys(r.sections)))];
for (const s of sections) {
  console.log(`\n${s}`);
  const rows = runs[0].sections[s]?.rows ?? [];
  for (const row of rows) {
    for (const [i, ratio] of (row.ratios ?? []).entries()) {
      const values = runs.map((r) =>
        r.sections[s]?.rows?.find((x) => x.id === row.id)?.ratios?.[i]?.ratio
      );
      const known = values.filter((v): v is number => v !== undefined && v > 0);
      const spread = known.length > 1 ? Math.max(...known) / Math.min(...known) : NaN;
      const name = /^p\d+$/.test(row.stat) ? `${row.label} ${row.stat}` : row.label;
      console.log(
        `  ${`${name} vs ${ratio.vs}`.padEnd(72)} ${
          values.map((v) => v === undefined ? "-" : v.toPrecision(3)).join("  ")
        }   spread ${Number.isNaN(spread) ? "-" : spread.toFixed(2)}`,
      );
    }
  }
}
