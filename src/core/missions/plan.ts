/**
 * The plan-file source: a TOML file of `[[items]]` (id, title, body, kind, role, verify,
 * depends_on), so a mission needs no GitHub at all.
 */
import { parseTomlFile } from "../toml_file.ts";
import { TtError, UsageError } from "../errors.ts";
import { compileGraph } from "./graph.ts";
import { PlanFile, type WorkItem } from "./schemas.ts";

export interface MissionPlan {
  title?: string;
  maxParallel?: number;
  reviewer?: boolean;
  watchInterval?: number;
  items: WorkItem[];
}

/** Parses and compiles a plan file's text; errors name the file and the field. */
export function parseMissionPlan(text: string, path: string): MissionPlan {
  const raw = parseTomlFile(text, path);
  const r = PlanFile.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = "keys" in issue ? `.${String(issue.keys[0])}` : "";
    const where = issue.path.length || key ? `${issue.path.join(".")}${key}` : "(top level)";
    throw new UsageError(`${path}: ${where}: ${issue.message}`);
  }
  const items = compileGraph(
    r.data.items.map((i) => ({ ...i, source: i.source ?? `${path}#${i.id}` })),
    { origin: path },
  );
  return {
    title: r.data.title,
    maxParallel: r.data.max_parallel,
    reviewer: r.data.reviewer,
    watchInterval: r.data.watch_interval,
    items,
  };
}

export async function readMissionPlan(path: string): Promise<MissionPlan> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`plan file ${path} does not exist`);
    }
    throw new TtError(`cannot read plan file ${path}: ${(e as Error).message}`);
  }
  return parseMissionPlan(text, path);
}
