/**
 * Missions: the zod schemas of everything a mission stores or reads (plan files, the mission
 * record, its work items and their live state, the task → item index).
 */
import { z } from "zod";

export const ITEM_KINDS = [
  "design",
  "implement",
  "test",
  "review",
  "mergegate",
  "followup",
] as const;
export const ItemKind = z.enum(ITEM_KINDS);
export type ItemKind = z.infer<typeof ItemKind>;

/** Kinds whose finished work goes through the reviewer gate (when the mission has one). */
export const GATED_KINDS: readonly ItemKind[] = ["implement", "test"];

export const ITEM_ID_RE = /^[A-Za-z0-9][\w.-]{0,63}$/;
const nonEmpty = (what: string) =>
  z.string().refine((s) => s.trim() !== "", `${what} must not be empty`);

/** One work item as written in a plan file (or compiled from an issue). */
export const ItemDef = z.object({
  id: z.string().regex(ITEM_ID_RE, "use up to 64 letters, digits, '.', '_' or '-'"),
  title: nonEmpty("title").pipe(z.string().max(300)),
  body: z.string().max(32_000).default(""),
  kind: z.preprocess((v) => v === "merge_gate" ? "mergegate" : v, ItemKind).optional(),
  role: z.string().regex(/^[\w.-]{1,64}$/, "a role name: letters, digits, '.', '_' or '-'")
    .optional(),
  verify: nonEmpty("verify").pipe(z.string().max(8_000)).optional(),
  depends_on: z.array(z.string()).default([]),
  /** Where the item came from: `owner/repo#N`, a document path, or the plan file. */
  source: z.string().optional(),
}).strict();
export type ItemDef = z.input<typeof ItemDef>;
/** An item after the graph compiler: kind decided, dependencies checked. */
export type WorkItem = z.infer<typeof ItemDef> & { kind: ItemKind };

export const MAX_ITEMS = 1000;

export const PlanFile = z.object({
  title: z.string().max(300).optional(),
  max_parallel: z.number().int().min(1).max(100).optional(),
  reviewer: z.boolean().optional(),
  /** Seconds between two checks of a watched pull request (default 180). */
  watch_interval: z.number().min(0.05).max(86_400).optional(),
  items: z.array(ItemDef).min(1, "a plan needs at least one [[items]] entry").max(MAX_ITEMS),
}).strict();
export type PlanFile = z.infer<typeof PlanFile>;

export const MISSION_STATES = ["running", "paused", "blocked", "completed", "stopped"] as const;
export const MissionState = z.enum(MISSION_STATES);
export type MissionState = z.infer<typeof MissionState>;
export const ACTIVE_MISSION_STATES: readonly MissionState[] = ["running", "paused", "blocked"];

/**
 * pending → ready (dependencies done) → active (a task works on it) → review (reviewer gate)
 * → watch (its pull requests are watched until approved and mergeable; a failed check or a
 * change request sends it back to ready with a fix) → done; failed when its task fails (resume
 * makes it ready again); cancelled when stopped.
 */
export const ITEM_STATUSES = [
  "pending",
  "ready",
  "active",
  "review",
  "watch",
  "done",
  "failed",
  "cancelled",
] as const;
export const ItemStatus = z.enum(ITEM_STATUSES);
export type ItemStatus = z.infer<typeof ItemStatus>;

const jsonOf = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => {
    if (typeof v !== "string") return v;
    try {
      return JSON.parse(v);
    } catch {
      return undefined;
    }
  }, schema);

const optionalString = z.string().min(1).optional().catch(undefined);
const count = z.coerce.number().int().nonnegative().catch(0);

/** The mission hash. `items` is the compiled graph in topological order (written once). */
export const Mission = z.object({
  id: z.string(),
  title: z.string(),
  state: MissionState.catch("blocked"),
  created_at: z.string(),
  updated_at: z.string(),
  max_parallel: z.coerce.number().int().positive().catch(2),
  reviewer: z.preprocess((v) => v === "1" || v === true, z.boolean()),
  /** `plan:<path>`, `issues:<refs>`… */
  source: z.string().default(""),
  /** Why the mission is blocked or paused (or was stopped). */
  reason: optionalString,
  items: jsonOf(z.array(ItemDef.extend({ kind: ItemKind }))),
  help_reason: optionalString,
  help_at: optionalString,
  help_attempts: count,
  /** Seconds between two checks of a watched pull request. */
  watch_interval: z.coerce.number().positive().catch(180),
});
export type Mission = z.infer<typeof Mission>;

/** Live state of one item (fields `<wid>`, `<wid>:task`, … of the mission's items hash). */
export interface ItemLive {
  status: ItemStatus;
  /** The work (or fix) task now or last bound to the item. */
  task?: string;
  /** The open review task, while in review. */
  review?: string;
  agent?: string;
  /** Work tasks created for the item so far (1 + fixes + retries). */
  attempts: number;
  /** Latest reviewer or operator feedback (changes requested), shown in the next task. */
  feedback?: string;
  /** Pull requests (`owner/repo#N`) the item's work opened, watched once it is submitted. */
  prs: string[];
  /** The watch finding the last fix task was created for (one fix per cause). */
  fixcause?: string;
  /** When the watch checks the pull requests next (ms epoch). */
  nextCheck?: number;
  /** GitHub errors in a row while checking (the watch backs off). */
  watchFailures: number;
}

const STATUS_SET = new Set<string>(ITEM_STATUSES);

export function parseItemsHash(
  items: readonly WorkItem[],
  hash: Record<string, string>,
): Map<string, ItemLive> {
  const out = new Map<string, ItemLive>();
  for (const it of items) out.set(it.id, itemLive(it.id, hash));
  return out;
}

/** One item's live state from the fields `<id>`, `<id>:task`… of `hash`. */
export function itemLive(id: string, hash: Record<string, string>): ItemLive {
  const st = hash[id];
  return {
    status: STATUS_SET.has(st) ? st as ItemStatus : "pending",
    task: hash[`${id}:task`] || undefined,
    review: hash[`${id}:review`] || undefined,
    agent: hash[`${id}:agent`] || undefined,
    attempts: Number(hash[`${id}:attempts`] ?? 0) || 0,
    feedback: hash[`${id}:feedback`] || undefined,
    prs: prList(hash[`${id}:prs`]),
    fixcause: hash[`${id}:fixcause`] || undefined,
    nextCheck: Number(hash[`${id}:next_check`]) || undefined,
    watchFailures: Number(hash[`${id}:watch_failures`] ?? 0) || 0,
  };
}

function prList(raw: string | undefined): string[] {
  if (!raw) return [];
  try {
    const r = z.array(z.string()).safeParse(JSON.parse(raw));
    return r.success ? r.data : [];
  } catch {
    return [];
  }
}

/** Value of the town's task → mission item index. */
export const TaskBinding = z.object({
  mission: z.string(),
  item: z.string(),
  role: z.enum(["work", "review"]),
});
export type TaskBinding = z.infer<typeof TaskBinding>;

export const MissionNote = z.object({
  at: z.string(),
  from: z.string(),
  text: z.string(),
});
export type MissionNote = z.infer<typeof MissionNote>;
