/**
 * tasks.toml: a plan of tasks kept with the project. `tt plan` reads it (no Redis), `tt sync push`
 * creates its tasks (idempotent by entry id, via the `plan` hash), `tt sync pull` writes their
 * states and assignees back.
 */
import { z } from "zod";
import { isTerminalTask, type Task, TASK_STATES } from "./schemas.ts";
import { exists, readTextIfExists, writeFileAtomic } from "./config.ts";
import { parseTomlFile, stringifyToml } from "./toml_file.ts";
import { ConflictError, singleLine, TtError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { type Ctx, listAgents, type Recipient, resolveRecipient } from "./agents.ts";
import { checkDescription, createTask, getTasks, updateTask } from "./tasks.ts";

export const PLAN_FILE = "tasks.toml";

const PlanEntry = z.object({
  id: z.string().regex(/^[\w.-]{1,100}$/, "use up to 100 letters, digits, '.', '_' or '-'"),
  description: z.string().refine((s) => s.trim() !== "", "must not be empty"),
  agent: z.string().min(1).optional(),
  status: z.enum(TASK_STATES).default("pending"),
  tags: z.array(z.string()).default([]),
  /** The id of an earlier entry. */
  parent: z.string().optional(),
  /** Shell command that must pass before the task counts as done (like `tt assign --verify`). */
  verify: z.string().refine((s) => s.trim() !== "", "must not be empty").optional(),
}).strict();
export type PlanEntry = z.infer<typeof PlanEntry>;

export const Plan = z.object({
  meta: z.object({
    description: z.string().default(""),
    /** Where pending entries without `agent` go instead of the backlog. */
    default_agent: z.string().min(1).optional(),
  }).strict().default({ description: "" }),
  tasks: z.array(PlanEntry).default([]),
}).strict().superRefine((plan, ctx) => {
  const seen = new Set<string>();
  plan.tasks.forEach((e, i) => {
    if (seen.has(e.id)) {
      ctx.addIssue({ code: "custom", path: ["tasks", i, "id"], message: `duplicate id '${e.id}'` });
    }
    if (e.parent !== undefined && !seen.has(e.parent)) {
      ctx.addIssue({
        code: "custom",
        path: ["tasks", i, "parent"],
        message: `'${e.parent}' is not the id of an earlier entry`,
      });
    }
    seen.add(e.id);
  });
});
export type Plan = z.infer<typeof Plan>;

export const planPath = (root: string) => `${root}/${PLAN_FILE}`;

/** Parses tasks.toml text; errors read `<path>:<line>:<col>: <field>: <problem>`. */
export function parsePlan(text: string, path: string): Plan {
  const r = Plan.safeParse(parseTomlFile(text, path));
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const key = "keys" in issue ? String(issue.keys[0]) : undefined;
  const where = [...issue.path, ...(key ? [key] : [])].join(".") || "(top level)";
  const at = locate(text, issue.path, key);
  throw new TtError(
    singleLine(`${path}${at ? `:${at.line}:${at.col}` : ""}: ${where}: ${issue.message}`),
  );
}

/** Best-effort line/column of a field, for `[meta]` / `[[tasks]]` tables written one per header. */
function locate(
  text: string,
  path: PropertyKey[],
  extraKey?: string,
): { line: number; col: number } | undefined {
  const lines = text.split("\n");
  const headers = lines.flatMap((l, i) => /^\s*\[/.test(l) ? [i] : []);
  let start = -1;
  let key = [...path, ...(extraKey ? [extraKey] : [])];
  if (path[0] === "tasks" && typeof path[1] === "number") {
    start = lines.map((l, i) => /^\s*\[\[\s*tasks\s*\]\]/.test(l) ? i : -1).filter((i) => i >= 0)[
      path[1]
    ] ?? -2;
    key = key.slice(2);
  } else if (path[0] === "meta") {
    start = lines.findIndex((l) => /^\s*\[\s*meta\s*\]/.test(l));
    key = key.slice(1);
  }
  if (start === -2) return undefined;
  const end = headers.find((h) => h > start) ?? lines.length;
  if (typeof key[0] === "string") {
    const re = new RegExp(`^\\s*"?${key[0].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"?\\s*=`);
    for (let i = start + 1; i < end; i++) {
      if (re.test(lines[i])) return { line: i + 1, col: lines[i].search(/\S/) + 1 };
    }
  }
  return start >= 0 ? { line: start + 1, col: 1 } : undefined;
}

/** The plan in `<root>/tasks.toml`, or undefined when there is none. */
export async function loadPlan(root: string): Promise<Plan | undefined> {
  const path = planPath(root);
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : parsePlan(text, path);
}

export const PLAN_TEMPLATE = `# Task plan. Edit it, then:
#   tt sync push   create these tasks in the town (pushing again updates them, never duplicates)
#   tt sync pull   write their current states and assignees back here
[meta]
description = "Task plan for this project"
# default_agent = "backend"   # pending tasks without an agent go to it instead of the backlog

[[tasks]]
id = "example-1"              # stable id: sync push recognises the task by it
description = "Replace this with a real task"
status = "pending"            # pending | assigned | running | completed | failed | cancelled
tags = ["example"]
# agent = "backend"           # assign to this agent; without one the task goes to the backlog
# parent = "other-id"         # the id of an earlier entry
# verify = "deno task test"   # done only when this command passes in the agent's directory
`;

/** Writes the template tasks.toml; refuses to overwrite one without `force`. */
export async function initPlan(root: string, force = false): Promise<string> {
  const path = planPath(root);
  if (!force && await exists(path)) {
    throw new ConflictError(`${path} already exists: use --force to overwrite it`);
  }
  await writeFileAtomic(path, PLAN_TEMPLATE);
  return path;
}

export interface PushResult {
  created: Task[];
  updated: Task[];
  unchanged: number;
}

const planTags = (e: PlanEntry) => [...new Set([...e.tags, `plan:${e.id}`])];
const SYNC_RESULT = {
  completed: "Completed via sync",
  failed: "Failed via sync",
  cancelled: "Cancelled via sync",
};

/**
 * Creates the tasks of entries not pushed before: finished entries in their state, pending ones
 * assigned to their agent (or meta.default_agent), else queued in the backlog. Entries pushed
 * before get their description and tags updated if they changed. Every agent is resolved before
 * anything is written, so an unknown agent changes nothing.
 */
export async function pushPlan(t: Ctx, plan: Plan, from = SUPERVISOR_ID): Promise<PushResult> {
  const mapping = await t.redis.hgetall(t.keys.plan);
  const known = new Map((await getTasks(t, Object.values(mapping))).map((x) => [x.id, x]));
  const existing = (e: PlanEntry) => known.get(mapping[e.id]);
  const targets = new Map<string, Recipient>();
  for (const e of plan.tasks) {
    checkDescription(e.description);
    const ref = e.agent ?? plan.meta.default_agent;
    if (!existing(e) && ref && !isTerminalTask(e.status) && !targets.has(ref)) {
      targets.set(ref, await resolveRecipient(t, ref));
    }
  }
  const result: PushResult = { created: [], updated: [], unchanged: 0 };
  for (const e of plan.tasks) {
    const tags = planTags(e);
    const old = existing(e);
    if (old) {
      if (
        old.description === e.description && JSON.stringify(old.tags) === JSON.stringify(tags) &&
        old.verify === e.verify
      ) {
        result.unchanged++;
      } else {
        result.updated.push(
          await updateTask(t, old.id, { description: e.description, tags, verify: e.verify }),
        );
      }
      continue;
    }
    const ref = e.agent ?? plan.meta.default_agent;
    const terminal = isTerminalTask(e.status) ? e.status as keyof typeof SYNC_RESULT : undefined;
    try {
      const task = await createTask(
        t,
        {
          description: e.description,
          tags,
          from,
          planId: e.id,
          verify: e.verify,
          parentId: e.parent === undefined ? undefined : mapping[e.parent],
          state: terminal,
          result: terminal && SYNC_RESULT[terminal],
        },
        terminal
          ? { kind: "none" }
          : ref
          ? { kind: "assign", to: targets.get(ref)! }
          : { kind: "backlog" },
      );
      mapping[e.id] = task.id;
      result.created.push(task);
    } catch (err) {
      // Another push created it meanwhile.
      if (!(err instanceof ConflictError)) throw err;
      mapping[e.id] = (await t.redis.hget(t.keys.plan, e.id))!;
      result.unchanged++;
    }
  }
  return result;
}

export interface PullResult {
  path: string;
  /** Entry ids whose status or agent changed in the file. */
  updated: string[];
  /** Entry ids never pushed (no task in the town). */
  notPushed: string[];
}

/** Writes each pushed entry's task state and assignee name back into tasks.toml (atomically). */
export async function pullPlan(t: Ctx, root: string): Promise<PullResult> {
  const path = planPath(root);
  const plan = await loadPlan(root);
  if (!plan) throw new TtError(`no ${PLAN_FILE} in ${root}: 'tt plan --init' writes one`);
  const mapping = await t.redis.hgetall(t.keys.plan);
  const tasks = new Map((await getTasks(t, Object.values(mapping))).map((x) => [x.id, x]));
  const names = new Map((await listAgents(t)).map((a) => [a.id, a.name]));
  names.set(SUPERVISOR_ID, "supervisor");
  const result: PullResult = { path, updated: [], notPushed: [] };
  for (const e of plan.tasks) {
    const task = tasks.get(mapping[e.id]);
    if (!task) {
      result.notPushed.push(e.id);
      continue;
    }
    // A pruned assignee, or a finished task pushed without one, keeps the name the file has.
    const agent = task.assigned_to
      ? names.get(task.assigned_to) ?? e.agent
      : isTerminalTask(task.state)
      ? e.agent
      : undefined;
    if (task.state !== e.status || agent !== e.agent) {
      e.status = task.state;
      e.agent = agent;
      result.updated.push(e.id);
    }
  }
  if (result.updated.length) await writeFileAtomic(path, renderPlan(plan));
  return result;
}

/** tasks.toml text for a plan (comments of the original file are not kept). */
export function renderPlan(plan: Plan): string {
  return `# Task plan; 'tt sync pull' rewrote this file with the town's current states.\n${
    stringifyToml(JSON.parse(JSON.stringify(plan)))
  }\n`;
}
