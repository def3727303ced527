/**
 * Where a mission's work items come from: a plan file, documents, GitHub issues. All are
 * gathered and compiled into one graph before anything is written.
 */
import { UsageError } from "../errors.ts";
import { compileGraph } from "./graph.ts";
import { readMissionPlan } from "./plan.ts";
import type { ItemDef } from "./schemas.ts";
import type { NewMission } from "./store.ts";

export interface SourceSpec {
  plan?: string;
  issues?: string[];
  docs?: string[];
  /** Directory whose git remote names the repository of plain issue numbers. */
  cwd?: string;
}

/** Everything the sources give, as a mission to create (store.ts createMission). */
export async function collectSources(spec: SourceSpec): Promise<NewMission> {
  const defs: ItemDef[] = [];
  const sources: string[] = [];
  let title: string | undefined;
  let maxParallel: number | undefined;
  let reviewer: boolean | undefined;
  let watchInterval: number | undefined;
  if (spec.plan) {
    const plan = await readMissionPlan(spec.plan);
    defs.push(...plan.items);
    title = plan.title;
    maxParallel = plan.maxParallel;
    reviewer = plan.reviewer;
    watchInterval = plan.watchInterval;
    sources.push(`plan:${spec.plan}`);
  }
  for (const [i, path] of (spec.docs ?? []).entries()) {
    try {
      await Deno.stat(path);
    } catch {
      throw new UsageError(`document ${path} does not exist`);
    }
    defs.push({
      id: `doc-${i + 1}`,
      title: `Design from ${path}`,
      body: `Read ${path} and turn it into a design the following work can rely on.`,
      kind: "design",
      depends_on: [],
      source: path,
    });
    sources.push(`doc:${path}`);
  }
  if (spec.issues?.length) {
    const { issueItems } = await import("./issues.ts");
    const { items, refs } = await issueItems(spec.issues, { cwd: spec.cwd ?? Deno.cwd() });
    defs.push(...items);
    sources.push(`issues:${refs.join(",")}`);
  }
  const items = compileGraph(defs, { origin: spec.plan });
  return { title, source: sources.join(" "), items, maxParallel, reviewer, watchInterval };
}
