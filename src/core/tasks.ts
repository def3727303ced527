/**
 * Tasks: creation, assignment and every state transition, each one Lua script so racing `tt`
 * processes cannot both win. Index: `tasks` zset (score = creation ms) + one hash per task.
 *
 * pending ──assign/claim──► assigned ──startTask──► running ──complete/fail/cancel──► terminal
 *    ▲                         ▲ └──────────────────────┘ returnTaskToAssigned
 *    └── requeueTaskToBacklog ─┴─ (from assigned or running)
 *
 * Creation, reads and updates live here; the transitions after assignment in task_end.ts and
 * the scripts' shared Lua in task_script.ts (both re-exported, so callers import this module).
 */
import {
  isTerminalTask,
  Task,
  TASK_STATES,
  type TaskState,
  TERMINAL_TASK_STATES,
} from "./schemas.ts";
import { ConflictError, NotFoundError, UsageError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { type Ctx, getAgent, type Recipient } from "./agents.ts";
import { buildMessage, checkSize } from "./messages.ts";
import { defineScript } from "../redis/script.ts";
import { assigneeTaskIds, indexReady } from "./task_index.ts";
import {
  callScript,
  oneLine,
  parseTask,
  shortTaskId,
  TASK_PRELUDE as PRELUDE,
} from "./task_script.ts";

export {
  callScript,
  oneLine,
  parseTask,
  type Reply,
  shortTaskId,
  TASK_LUA,
} from "./task_script.ts";
export {
  cancelTask,
  completeTask,
  type Ended,
  type EndState,
  endTaskBriefly,
  failTask,
  type FinishOptions,
  type Moved,
  requeueTaskToBacklog,
  returnTaskToAssigned,
  startTask,
} from "./task_end.ts";

/** States of a task not ended yet. */
const OPEN_STATES = ["pending", "assigned", "running"] as const;

/** Checks a description the way it will travel (as a task_assign message body). */
export function checkDescription(description: string): string {
  if (typeof description !== "string") throw new UsageError("task description must be text");
  if (!description.trim()) throw new UsageError("task description must not be empty");
  checkSize(description);
  return description;
}

/** A task's check command: undefined when not given; never empty or oversized. */
export function checkVerify(command: string | undefined): string | undefined {
  if (command === undefined) return undefined;
  if (typeof command !== "string") throw new UsageError("--verify needs a command as text");
  if (!command.trim()) {
    throw new UsageError("--verify needs a command, e.g. --verify 'deno task test'");
  }
  checkSize(command);
  return command;
}

/** Trimmed, non-empty, de-duplicated tags; each element may itself be `a,b`. */
export function parseTags(raw: string[] = []): string[] {
  return [...new Set(raw.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean))];
}

/** A task's hash fields: strings, tags as a JSON array, unset fields left out. */
export function taskFields(task: Task): string[] {
  const out: string[] = [];
  for (const k in task) {
    const v = task[k as keyof Task];
    if (v !== undefined) out.push(k, k === "tags" ? JSON.stringify(v) : String(v));
  }
  return out;
}

/** Optional text as the Task schema reads it: a non-empty string, else absent. */
const present = (v: unknown): string | undefined =>
  typeof v === "string" && v.length > 0 ? v : undefined;

/**
 * The task createTask writes, built typed (tt made every field; a hash read back is parsed by
 * the Task schema) with what that schema enforces on input: the state a terminal one or
 * pending, optional text non-empty or absent, tags a list of text (else none), a result that is
 * text, the counters at 0. The description and check are checked by the caller.
 */
function newTask(
  id: string,
  iso: string,
  description: string,
  verify: string | undefined,
  input: NewTask,
): Task {
  if (input.result !== undefined && typeof input.result !== "string") {
    throw new UsageError("a task's result must be text");
  }
  const terminal = input.state !== undefined && TERMINAL_TASK_STATES.includes(input.state);
  const tags = Array.isArray(input.tags) && input.tags.every((x) => typeof x === "string")
    ? [...input.tags]
    : [];
  // The schema's field order; fields without a value left out (as a parse of the hash has them).
  const task = { id, description, state: terminal ? input.state! : "pending" } as Task;
  const createdBy = present(input.from ?? SUPERVISOR_ID);
  if (createdBy) task.created_by = createdBy;
  task.created_at = iso;
  task.updated_at = iso;
  if (terminal) task.completed_at = iso;
  if (input.result !== undefined) task.result = input.result;
  const parentId = present(input.parentId);
  if (parentId) task.parent_id = parentId;
  const planId = present(input.planId);
  if (planId) task.plan_id = planId;
  task.tags = tags;
  task.attempts = 0;
  if (verify !== undefined) task.verify = verify;
  task.verify_failures = 0;
  return task;
}

const CREATE = defineScript(
  "createTask",
  5,
  PRELUDE,
  `
-- KEYS: events, tasks index, task hash, backlog, plan.
-- ARGV: now, id, score, placement (assign|backlog|none), plan id or '', task key prefix,
--       agent id, agent key, inbox, require agent, message json, event message, then the
--       task hash's field/value pairs (for an assignment: state assigned, assigned_to).
if ARGV[4] == 'assign' and ARGV[10] == '1' and redis.call('EXISTS', ARGV[8]) == 0 then
  return cjson.encode({error='no_agent'})
end
if ARGV[5] ~= '' then
  local existing = redis.call('HGET', KEYS[5], ARGV[5])
  if existing and redis.call('EXISTS', ARGV[6] .. existing) == 1 then
    return cjson.encode({error='exists', id=existing})
  end
  redis.call('HSET', KEYS[5], ARGV[5], ARGV[2])
end
-- Creation order must be total: a task made in the same millisecond as the newest sorts after it.
local score = tonumber(ARGV[3])
local newest = redis.call('ZRANGE', KEYS[2], '-1', '-1', 'WITHSCORES')[2]
if newest and tonumber(newest) >= score then score = tonumber(newest) + 0.001 end
local s = task_lex_score(score)
-- The hash as the caller built it (an assignment's already assigned: one index move, not
-- pending then assigned), with its padded score (task_reindex).
redis.call('HSET', KEYS[3], 'score', s, unpack(ARGV, 13))
redis.call('ZADD', KEYS[2], s, ARGV[2])
local after = nil
if ARGV[4] == 'assign' then after = {state='assigned', agent=ARGV[7]} end
task_reindex(KEYS[3], ARGV[2], {state=false, agent=''}, after, s, not newest)
if ARGV[4] == 'assign' then
  -- The agent's existence was checked above when required.
  announce_assignment(ARGV[2], ARGV[7], ARGV[8], ARGV[9], '0', ARGV[11], ARGV[12])
else
  if ARGV[4] == 'backlog' then redis.call('RPUSH', KEYS[4], ARGV[2]) end
  local state = redis.call('HGET', KEYS[3], 'state')
  emit({type='task_created', task_id=ARGV[2], new_state=state, message=ARGV[12]})
end
-- The caller knows the hash it wrote (its fields, and the assignment's).
return cjson.encode({ok=true})
`,
);

export interface NewTask {
  description: string;
  tags?: string[];
  /** Agent id (or SUPERVISOR_ID) the task comes from; default the supervisor. */
  from?: string;
  /** Entry id in tasks.toml, for idempotent `tt sync push`. */
  planId?: string;
  parentId?: string;
  /** Creation in a terminal state (sync push of a finished entry). */
  state?: "completed" | "failed" | "cancelled";
  result?: string;
  /** Shell command that must pass before the task counts as completed. */
  verify?: string;
}

export type Placement =
  | { kind: "assign"; to: Recipient }
  | { kind: "backlog" }
  | { kind: "none" };

/**
 * Creates a task and places it: assigned to an agent (with its task_assign message), queued in
 * the backlog, or neither (terminal tasks). With `planId`, refuses to create a second task for
 * the same plan entry (ConflictError carrying the existing id).
 */
export async function createTask(t: Ctx, input: NewTask, placement: Placement): Promise<Task> {
  const description = checkDescription(input.description);
  const id = crypto.randomUUID();
  const now = new Date();
  const iso = now.toISOString();
  const from = input.from ?? SUPERVISOR_ID;
  const task = newTask(id, iso, description, checkVerify(input.verify), input);
  const to = placement.kind === "assign" ? placement.to : undefined;
  // Created assigned: the fields assign_task would set (updated_at is already the creation's).
  const stored: Task = to ? { ...task, state: "assigned", assigned_to: to.id } : task;
  const msg = to
    ? JSON.stringify(
      buildMessage({ from, to: to.id, type: "task_assign", task_id: id, body: description }),
    )
    : "";
  const evMsg = to
    ? `task ${shortTaskId(id)} assigned to ${to.label}: ${oneLine(description)}`
    : `task ${shortTaskId(id)} created${placement.kind === "backlog" ? " in the backlog" : ""}: ${
      oneLine(description)
    }`;
  const res = await callScript(
    t,
    CREATE,
    [t.keys.events, t.keys.tasks, t.keys.task(id), t.keys.backlog, t.keys.plan],
    [
      iso,
      id,
      now.getTime(),
      placement.kind,
      input.planId ?? "",
      t.keys.task(""),
      to?.id ?? "",
      to ? t.keys.agent(to.id) : "",
      to ? t.keys.inbox(to.id) : "",
      to && to.kind === "agent" ? "1" : "0",
      msg,
      evMsg,
      ...taskFields(stored),
    ],
  );
  if (res.error === "no_agent") throw new NotFoundError(`agent ${to!.label} no longer exists`);
  if (res.error === "exists") {
    throw new ConflictError(`plan entry '${input.planId}' is already task ${res.id}`);
  }
  return stored; // what the script wrote
}

/** `tt assign`: a new task, assigned to `to`, with a task_assign message in its inbox. */
export async function assignTask(
  t: Ctx,
  to: Recipient,
  input: Omit<NewTask, "state" | "result">,
): Promise<Task> {
  return await createTask(t, input, { kind: "assign", to });
}

export async function getTask(t: Ctx, id: string): Promise<Task | undefined> {
  return parseTask(await t.redis.hgetall(t.keys.task(id)));
}

/** Tasks by id in one pipelined round trip; missing ones are left out. */
export async function getTasks(t: Ctx, ids: string[]): Promise<Task[]> {
  if (!ids.length) return [];
  const pipe = t.redis.pipeline();
  for (const id of ids) pipe.hgetall(t.keys.task(id));
  const res = (await pipe.exec()) ?? [];
  return res.map(([err, h]) => {
    if (err) throw err;
    return parseTask(h as Record<string, string>);
  }).filter((x): x is Task => !!x);
}

export interface TaskFilter {
  state?: TaskState;
  /** Assignee id. */
  agentId?: string;
}

/**
 * Tasks, oldest first: the ids from an index (of the state, of the assignee, or of every task),
 * then one pipelined HGETALL. A filtered list costs O(matching tasks), not O(tasks).
 */
export async function listTasks(t: Ctx, filter: TaskFilter = {}): Promise<Task[]> {
  const filtered = filter.state !== undefined || filter.agentId !== undefined;
  if (filtered) await indexReady(t);
  const ids = filter.agentId !== undefined
    ? (await assigneeTaskIds(t, [{
      who: filter.agentId,
      states: filter.state ? [filter.state] : TASK_STATES,
      limit: Number.MAX_SAFE_INTEGER,
    }]))[0]
    : filter.state
    ? await t.redis.zrange(t.keys.tasksIn(filter.state), "0", "-1")
    : await t.redis.zrange(t.keys.tasks, "0", "-1");
  const tasks = await getTasks(t, ids);
  return tasks.filter((x) =>
    (!filter.state || x.state === filter.state) &&
    (!filter.agentId || x.assigned_to === filter.agentId)
  );
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `ref` is a whole task id (not a prefix to resolve). */
export const isTaskId = (ref: string) => UUID_RE.test(ref.trim());

/** A task by full id or unique id prefix (≥ 4 characters). */
export async function resolveTask(t: Ctx, ref: string): Promise<Task> {
  const r = ref.trim().toLowerCase();
  if (!r) throw new UsageError("task id must not be empty");
  const notFound = () =>
    new NotFoundError(`no task '${ref.trim()}': 'tt task list' shows the tasks`);
  if (isTaskId(r)) {
    const task = await getTask(t, r);
    if (!task) throw notFound();
    return task;
  }
  if (r.length < 4) {
    throw new UsageError(`task id '${ref.trim()}' is too short: give at least 4 characters`);
  }
  const ids = (await t.redis.zrange(t.keys.tasks, "0", "-1")).filter((id) => id.startsWith(r));
  if (ids.length > 1) {
    const found = await getTasks(t, ids);
    throw new UsageError(
      `task id '${ref.trim()}' is ambiguous: ${
        found.map((x) => `${shortTaskId(x.id)} (${oneLine(x.description, 30)})`).join(", ")
      }; give more characters`,
    );
  }
  const task = ids.length ? await getTask(t, ids[0]) : undefined;
  if (!task) throw notFound();
  return task;
}

/** The task an agent works on: its explicit current_task, else its only open task. */
export async function currentTask(
  t: Ctx,
  agentId: string,
): Promise<{ task?: Task; open: Task[] }> {
  const agent = await getAgent(t, agentId);
  // The agent's open tasks from the index (its oldest 1,000 at most): O(its open tasks).
  const [ids] = await assigneeTaskIds(t, [{ who: agentId, states: OPEN_STATES, limit: 1000 }]);
  const open = (await getTasks(t, ids)).filter((x) =>
    !isTerminalTask(x.state) && x.assigned_to === agentId
  );
  const explicit = agent?.current_task && open.find((x) => x.id === agent.current_task);
  return { task: explicit || (open.length === 1 ? open[0] : undefined), open };
}

const UPDATE = defineScript(
  "updateTask",
  2,
  PRELUDE,
  `
-- KEYS: events, task. ARGV: now, id, event message, verify ('' = none), field/value…
if redis.call('EXISTS', KEYS[2]) == 0 then return cjson.encode({error='not_found'}) end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], 'updated_at', ARGV[1], unpack(fields))
if ARGV[4] == '' then redis.call('HDEL', KEYS[2], 'verify')
else redis.call('HSET', KEYS[2], 'verify', ARGV[4]) end
emit({type='task_updated', task_id=ARGV[2], message=ARGV[3]})
return cjson.encode({ok=true, task=hash_table(KEYS[2])})
`,
);

/** Changes the description, tags and check of an existing task (its state is left alone). */
export async function updateTask(
  t: Ctx,
  id: string,
  change: { description: string; tags: string[]; verify?: string },
): Promise<Task> {
  const description = checkDescription(change.description);
  const res = await callScript(t, UPDATE, [t.keys.events, t.keys.task(id)], [
    new Date().toISOString(),
    id,
    `task ${shortTaskId(id)} updated: ${oneLine(description)}`,
    checkVerify(change.verify) ?? "",
    "description",
    description,
    "tags",
    JSON.stringify(change.tags),
  ]);
  if (res.error) throw new NotFoundError(`no task '${id}': 'tt task list' shows the tasks`);
  return Task.parse(res.task);
}
