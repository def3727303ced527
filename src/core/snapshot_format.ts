/**
 * The `tt save` file format (version 2) and the checks a snapshot passes before `tt restore`
 * writes anything: every key is one tt knows, of the Redis type tt reads it as, with the fields tt
 * expects; liveness keys (supervisor heartbeats, control queues, ready replies, locks, the town's
 * owner claim) are never part of a snapshot; agents' work directories are stored relative to the
 * town root, so a snapshot carries no absolute path of the town it was taken from.
 */
import { Mission } from "./missions/schemas.ts";
import { UsageLimit } from "./usage/schema.ts";
import type { RecordSchema } from "./record.ts";
import { z } from "zod";
import { AGENT_STATES, Message, TASK_STATES } from "./schemas.ts";
import { ApiKey } from "./auth.ts";

export const SNAPSHOT_VERSION = 2;

/** Largest snapshot file `tt restore` reads (bytes); checked before and while reading. */
export const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;

/** Redis key name without the town prefix (`agent:<id>`, `events`…). */
const RelKey = z.string().min(1).max(512);
const Ttl = z.number().int().nonnegative();
/** Stream entry id `<ms>-<seq>`. */
const StreamId = z.string().regex(/^\d{1,20}-\d{1,20}$/);
/** A zset score as Redis prints it. */
const Score = z.string().regex(/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^[-+]?inf$/);

/** One key, typed (version 2): the value as tt reads it, so zod can check it before Redis does. */
export const TypedKey = z.discriminatedUnion("type", [
  z.object({ key: RelKey, ttl_ms: Ttl, type: z.literal("string"), value: z.string() }).strict(),
  z.object({
    key: RelKey,
    ttl_ms: Ttl,
    type: z.literal("hash"),
    value: z.record(z.string(), z.string()).refine((v) => Object.keys(v).length > 0, "empty hash"),
  }).strict(),
  z.object({ key: RelKey, ttl_ms: Ttl, type: z.literal("list"), value: z.array(z.string()).min(1) })
    .strict(),
  z.object({ key: RelKey, ttl_ms: Ttl, type: z.literal("set"), value: z.array(z.string()).min(1) })
    .strict(),
  z.object({
    key: RelKey,
    ttl_ms: Ttl,
    type: z.literal("zset"),
    /** [member, score] pairs. */
    value: z.array(z.tuple([z.string(), Score])).min(1),
  }).strict(),
  z.object({
    key: RelKey,
    ttl_ms: Ttl,
    type: z.literal("stream"),
    /** [id, [field, value, …]] entries, ids strictly increasing. */
    value: z.array(z.tuple([StreamId, z.array(z.string())])),
  }).strict(),
]);
export type TypedKey = z.infer<typeof TypedKey>;

/** One key of a version 1 file (tt before 0.2): a Redis DUMP payload, decoded on restore. */
export const DumpKey = z.object({ key: RelKey, ttl_ms: Ttl, dump: z.base64() }).strict();
export type DumpKey = z.infer<typeof DumpKey>;

function uniqueKeys(keys: { key: string }[], ctx: z.RefinementCtx) {
  const seen = new Set<string>();
  for (const [i, k] of keys.entries()) {
    if (seen.has(k.key)) {
      ctx.addIssue({ code: "custom", path: [i, "key"], message: `duplicate key '${k.key}'` });
    }
    seen.add(k.key);
  }
}

const header = {
  format: z.literal("tt-snapshot"),
  town: z.string().min(1),
  created_at: z.iso.datetime(),
};

export const Snapshot = z.object({
  ...header,
  version: z.literal(SNAPSHOT_VERSION),
  keys: z.array(TypedKey).superRefine(uniqueKeys),
}).strict();
export type Snapshot = z.infer<typeof Snapshot>;

export const SnapshotV1 = z.object({
  ...header,
  version: z.literal(1),
  keys: z.array(DumpKey).superRefine(uniqueKeys),
}).strict();
export type SnapshotV1 = z.infer<typeof SnapshotV1>;

export const AnySnapshot = z.discriminatedUnion("version", [Snapshot, SnapshotV1]);

// ---- what a town's keys are ----

/**
 * Keys that say something is alive or in flight on this machine right now: never saved, never
 * restored, and kept (not deleted) by a restore. `owner` is the town's claim on a shared Redis;
 * `dash:` keys are dashboard sessions and login links (credentials, never written to a file).
 */
export function isLivenessKey(rel: string): boolean {
  return /^(supervisor|control|ready|dash):/.test(rel) || rel === "restore-check" ||
    rel === "hosts" || rel === "owner" || rel === "dispatcher:fence" ||
    /(^|[:-])locks?($|:)/.test(rel);
}

const Id = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "not an id");
const Count = z.string().regex(/^\d{1,15}$/, "not a whole number");
const jsonOf = <T extends z.ZodType>(schema: T) =>
  z.string().transform((s, ctx) => {
    try {
      return JSON.parse(s);
    } catch {
      ctx.addIssue({ code: "custom", message: "not JSON" });
      return z.NEVER;
    }
  }).pipe(schema);

const AgentHash = z.object({
  id: Id,
  name: z.string().min(1),
  nickname: z.string().optional(),
  cli: z.string().min(1),
  state: z.enum(AGENT_STATES),
  created_at: z.string().min(1),
  round: Count.optional(),
  max_rounds: Count.optional(),
  rounds_completed: Count.optional(),
  tasks_completed: Count.optional(),
  round_pgid: Count.optional(),
  /** Relative to the town root in a version 2 snapshot. */
  workdir: z.string().optional(),
}).catchall(z.string());

const TaskHash = z.object({
  id: Id,
  description: z.string(),
  state: z.enum(TASK_STATES),
  created_at: z.string().min(1),
  updated_at: z.string().min(1),
  attempts: Count.optional(),
  verify_failures: Count.optional(),
  tags: jsonOf(z.array(z.string())).optional(),
}).catchall(z.string());

/** A record as the town reads it back (its reader in schemas.ts, record.ts). */
const readBy = <T>(reader: RecordSchema<T>) =>
  z.unknown().transform((v, ctx) => {
    const r = reader.safeParse(v);
    if (r.success) return r.data;
    ctx.addIssue({ code: "custom", message: r.error.message });
    return z.NEVER;
  });
const Messages = z.array(jsonOf(readBy(Message)));
const NumberHash = z.record(z.string(), z.string().regex(/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i));
const Strings = z.array(z.string());

interface Kind {
  /** Matches the key name without the town prefix; group 1 is the id when there is one. */
  match: RegExp;
  type: TypedKey["type"];
  /** Shape of the value (of `TypedKey.value` for that type). */
  value: z.ZodType;
  /** The hash's `id` field must equal the id in its key name. */
  idField?: boolean;
}

/** Every key kind of src/core/keys.ts that a snapshot may hold, with its type and shape. */
/** A mission's hash, as src/core/missions/schemas.ts reads it. */
const MissionHash = z.record(z.string(), z.string()).refine(
  (v) => Mission.safeParse(v).success,
  "not a mission record",
);

const KINDS: Kind[] = [
  { match: /^agents$/, type: "set", value: z.array(Id) },
  { match: /^agent-names$/, type: "hash", value: z.record(z.string(), Id) },
  { match: /^auth:keys$/, type: "hash", value: z.record(z.string(), jsonOf(ApiKey)) },
  { match: /^agent:(.+)$/, type: "hash", value: AgentHash, idField: true },
  { match: /^(inbox|urgent|processing|notes):.+$/, type: "list", value: Messages },
  { match: /^(wake|activity):.+$/, type: "list", value: Strings },
  { match: /^tasks$/, type: "zset", value: z.array(z.tuple([Id, Score])) },
  { match: /^task:(.+)$/, type: "hash", value: TaskHash, idField: true },
  // Task indexes and counters (task_index.ts): checked here, rebuilt from the tasks on restore.
  { match: /^tasks:state:[a-z]+$/, type: "zset", value: z.array(z.tuple([Id, Score])) },
  { match: /^tasks:agent$/, type: "zset", value: z.array(z.tuple([z.string(), Score])) },
  { match: /^task-counts$/, type: "hash", value: z.record(z.string(), Count) },
  { match: /^task-index$/, type: "string", value: z.string().max(16) },
  { match: /^backlog$/, type: "list", value: z.array(Id) },
  { match: /^plan$/, type: "hash", value: z.record(z.string(), Id) },
  { match: /^events$/, type: "stream", value: z.array(z.tuple([StreamId, z.array(z.string())])) },
  { match: /^missions$/, type: "zset", value: z.array(z.tuple([Id, Score])) },
  { match: /^missions:active$/, type: "set", value: z.array(Id) },
  { match: /^mission:([^:]+)$/, type: "hash", value: MissionHash, idField: true },
  { match: /^mission:[^:]+:items$/, type: "hash", value: z.record(z.string(), z.string()) },
  { match: /^mission:[^:]+:notes$/, type: "list", value: Strings },
  { match: /^mission-tasks$/, type: "hash", value: z.record(Id, z.string()) },
  // Usage (src/core/usage/): numeric hashes, and a usage limit's JSON until its reset.
  { match: /^usage:day:\d{4}-\d{2}-\d{2}$/, type: "hash", value: NumberHash },
  { match: /^usage:totals$/, type: "hash", value: NumberHash },
  { match: /^usage:slots:[^:]+$/, type: "hash", value: NumberHash },
  { match: /^usage:limit:[0-9a-f]{16}$/, type: "string", value: jsonOf(readBy(UsageLimit)) },
];

const streamIdLess = (a: string, b: string) => {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am < bm || (am === bm && as < bs);
};

/**
 * Checks one typed key against its kind; returns what is wrong (one phrase) or undefined.
 * Run on every key before a restore writes anything.
 */
export function checkKey(k: TypedKey): string | undefined {
  const kind = KINDS.find((x) => x.match.test(k.key));
  if (!kind) return `'${k.key}' is not a key of a tt town`;
  if (k.type !== kind.type) return `'${k.key}' is a ${k.type}; tt keeps it as a ${kind.type}`;
  const r = kind.value.safeParse(k.value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
    return `'${k.key}' has a bad value${where}: ${issue.message}`;
  }
  if (kind.idField && k.type === "hash") {
    const id = kind.match.exec(k.key)![1];
    if (k.value.id !== id) return `'${k.key}' holds id '${k.value.id}', not '${id}'`;
  }
  if (k.type === "stream") {
    for (let i = 0; i < k.value.length; i++) {
      const [id, fields] = k.value[i];
      if (fields.length === 0 || fields.length % 2) return `'${k.key}' entry ${id} has odd fields`;
      if (i > 0 && !streamIdLess(k.value[i - 1][0], id)) {
        return `'${k.key}' entry ids are not increasing at ${id}`;
      }
    }
  }
  return undefined;
}

/** Agents' work directories as saved: relative to the town root when they lie inside it. */
export function relativeWorkdir(root: string, workdir: string): string {
  if (workdir === root) return ".";
  return workdir.startsWith(root + "/") ? workdir.slice(root.length + 1) : workdir;
}

/**
 * Where a saved work directory lies in the restoring town: relative ones under its root;
 * absolute ones (version 1 files) only when they are a tt worktree (`…/.tt/worktrees/<agent>`),
 * rebased to this town's. Anything else would be another town's directory: undefined.
 */
export function rebaseWorkdir(root: string, saved: string): string | undefined {
  if (saved === ".") return root;
  if (!saved.startsWith("/")) {
    const parts = saved.split("/");
    return parts.some((p) => p === ".." || p === "." || p === "") ? undefined : `${root}/${saved}`;
  }
  const m = /\/\.tt\/worktrees\/([^/]+)$/.exec(saved);
  return m && m[1] !== ".." && m[1] !== "." ? `${root}/.tt/worktrees/${m[1]}` : undefined;
}
