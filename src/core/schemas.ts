/**
 * The records that cross Redis, HTTP, MCP or a file: agents, tasks, messages, events. Each is read
 * back with its reader from record.ts (zod's semantics, without loading zod: one-shot commands
 * read them); hash fields are strings in Redis, so the readers coerce them.
 */
import {
  arrayOf,
  before,
  boolean,
  coerced,
  type Infer,
  nonEmpty,
  number,
  oneOf,
  optional,
  orElse,
  record,
  string,
  withDefault,
} from "./record.ts";

export const AGENT_STATES = [
  "starting",
  "idle",
  "working",
  /** The CLI reported a usage limit: no rounds until `resume_at`, then it carries on by itself. */
  "rate_limited",
  /** The CLI ended its round asking the operator: no rounds until `tt reply` answers. */
  "needs_input",
  /** A `[budget]` is spent: no rounds (work stays queued) until it is raised or its window rolls. */
  "over_budget",
  "paused",
  "draining",
  /** Its host's supervisor heartbeat expired: its work went to the backlog; it resumes when the host is back. */
  "lost",
  "stopped",
  "error",
] as const;
export type AgentState = typeof AGENT_STATES[number];
const AGENT_STATE_SET: ReadonlySet<unknown> = new Set(AGENT_STATES);
export const isAgentState = (v: unknown): v is AgentState => AGENT_STATE_SET.has(v);

/** States in which no process is expected to serve the agent. */
export const TERMINAL_AGENT_STATES: readonly AgentState[] = ["stopped", "error"];
export const isTerminalAgent = (s: AgentState) => TERMINAL_AGENT_STATES.includes(s);

const optionalString = orElse(optional(nonEmpty()), undefined);
const counter = orElse(coerced({ int: true, min: 0 }), 0);

export const Agent = record({
  id: string(),
  name: string(),
  nickname: string(),
  role: optionalString,
  parent: optionalString,
  cli: string(),
  state: orElse(oneOf(AGENT_STATES), "error"),
  current_task: optionalString,
  created_at: string(),
  last_heartbeat: string(),
  last_active_at: string(),
  tasks_completed: counter,
  rounds_completed: counter,
  /** Host whose supervisor runs this agent. */
  host: optionalString,
  /** Where the agent's CLI runs (its worktree, or the town root). */
  workdir: optionalString,
  /** Git branch of the agent's worktree, when it has one. */
  branch: optionalString,
  max_rounds: orElse(coerced({ int: true, min: 1 }), 10),
  /** While a round runs: its number, start time and the process group of its CLI. */
  round: counter,
  round_started_at: optionalString,
  round_pgid: orElse(optional(coerced({ int: true, min: 1 })), undefined),
  /** Why the agent is in its state, in one line quoting its CLI (error, rate_limited, stop…). */
  reason: optionalString,
  /** While rate_limited: when rounds start again (the reset time the CLI reported). */
  resume_at: optionalString,
  /** The CLI session the next round resumes (claude --resume, codex exec resume, …). */
  session_id: optionalString,
  /** Whether its latest round ran in the agent sandbox (unset before its first round). */
  sandboxed: before(
    (v) => (v === "1" || v === true ? true : v === "0" || v === false ? false : undefined),
    optional(boolean()),
  ),
  /** Totals over the agent's rounds, as its CLI reported them. */
  tokens_in: counter,
  tokens_out: counter,
  tokens_cached: counter,
  cost_usd: orElse(coerced({ min: 0 }), 0),
}, "agent record");
export type Agent = Infer<typeof Agent>;

export const TASK_STATES = [
  "pending",
  "assigned",
  "running",
  "completed",
  "failed",
  "cancelled",
] as const;
export type TaskState = typeof TASK_STATES[number];
const TASK_STATE_SET: ReadonlySet<unknown> = new Set(TASK_STATES);
export const isTaskState = (v: unknown): v is TaskState => TASK_STATE_SET.has(v);
/** A stored state as a TaskState (junk reads as pending, as a task record's state does). */
export const asTaskState = (v: unknown): TaskState => isTaskState(v) ? v : "pending";
export const TERMINAL_TASK_STATES: readonly TaskState[] = ["completed", "failed", "cancelled"];
export const isTerminalTask = (s: TaskState) => TERMINAL_TASK_STATES.includes(s);

const tagList = before((v) => {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return [];
  }
}, orElse(arrayOf(string()), [] as string[]));

const TASK_SHAPE = {
  id: string(),
  description: string(),
  state: orElse(oneOf(TASK_STATES), "pending"),
  assigned_to: optionalString,
  created_by: optionalString,
  created_at: string(),
  updated_at: string(),
  started_at: optionalString,
  completed_at: optionalString,
  result: optional(string()),
  parent_id: optionalString,
  plan_id: optionalString,
  tags: tagList,
  /** Rounds that ended cleanly without reporting this task (it fails after a few). */
  attempts: counter,
  /** Shell command that must pass before the task counts as completed (`tt assign --verify`). */
  verify: optionalString,
  /** The result an agent reported, held until the supervisor has run `verify`. */
  claimed_result: optional(string()),
  /** Failed verifications so far (the task fails after a few). */
  verify_failures: counter,
  /** The end of the last failed verification's output, shown to the agent in its next round. */
  verify_output: optional(string()),
};
export const Task = record(TASK_SHAPE, "task record");
export type Task = Infer<typeof Task>;

/** What a round's prompt shows of each of its tasks: beginRound reads only these fields. */
export const RoundTask = record({
  id: TASK_SHAPE.id,
  description: TASK_SHAPE.description,
  state: TASK_SHAPE.state,
  verify: TASK_SHAPE.verify,
  verify_failures: TASK_SHAPE.verify_failures,
  verify_output: TASK_SHAPE.verify_output,
}, "round task");
export type RoundTask = Infer<typeof RoundTask>;
export const ROUND_TASK_FIELDS = Object.keys(RoundTask.shape);

export const MESSAGE_KINDS = [
  "task",
  "query",
  "informational",
  "confirmation",
  "task_assign",
  "task_done",
  "task_failed",
  "status_request",
  "status_response",
  "ping",
  "pong",
  "shutdown",
  "custom",
] as const;
export type MessageKind = typeof MESSAGE_KINDS[number];

export const PRIORITIES = ["low", "normal", "high", "urgent"] as const;
export type Priority = typeof PRIORITIES[number];

/** Longest message body accepted (bytes of UTF-8); larger ones are refused, not truncated. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export const Message = record({
  id: string(),
  from: string(),
  to: string(),
  type: oneOf(MESSAGE_KINDS),
  /** The human text: task description, question, summary, ack text… */
  body: withDefault(string(), ""),
  task_id: optional(string()),
  /** For custom messages: the kind; for confirmations: received|acknowledged|thanks|approved|rejected. */
  kind: optional(string()),
  priority: withDefault(oneOf(PRIORITIES), "normal"),
  created_at: string(),
  correlation_id: optional(string()),
}, "message");
export type Message = Infer<typeof Message>;

export const TownEvent = record({
  /** Stream entry id (`<ms>-<seq>`), filled in when read. */
  id: withDefault(string(), ""),
  type: string(),
  ts: string(),
  message: string(),
  agent_id: optional(string()),
  task_id: optional(string()),
  actor: optional(string()),
  old_state: optional(string()),
  new_state: optional(string()),
  reason: optional(string()),
  /** Host events (host_lost, host_back): the host. */
  host: optional(string()),
  /** Mission events: the mission, its work item, and the event id that caused this one. */
  mission_id: optional(string()),
  item_id: optional(string()),
  cause: optional(string()),
  /** Audit events (townhall): the request's method, path and response status. */
  method: optional(string()),
  path: optional(string()),
  status: optional(number({ int: true })),
  /** round_usage events: what the round used (src/core/usage/record.ts). */
  usage: optional(record({
    model: string(),
    input: number(),
    output: number(),
    cached: number(),
    usd: optional(number()),
    priced: optional(boolean()),
    ms: number(),
  })),
}, "event");
export type TownEvent = Infer<typeof TownEvent>;
