/**
 * Every JSON or hash that crosses Redis, HTTP, MCP or a file is parsed by one of these schemas.
 * Hash fields are strings in Redis; the hash schemas coerce them.
 */
import { z } from "zod";

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
export const AgentState = z.enum(AGENT_STATES);
export type AgentState = z.infer<typeof AgentState>;

/** States in which no process is expected to serve the agent. */
export const TERMINAL_AGENT_STATES: readonly AgentState[] = ["stopped", "error"];
export const isTerminalAgent = (s: AgentState) => TERMINAL_AGENT_STATES.includes(s);

const optionalString = z.string().min(1).optional().catch(undefined);
const counter = z.coerce.number().int().nonnegative().catch(0);

export const Agent = z.object({
  id: z.string(),
  name: z.string(),
  nickname: z.string(),
  role: optionalString,
  parent: optionalString,
  cli: z.string(),
  state: AgentState.catch("error"),
  current_task: optionalString,
  created_at: z.string(),
  last_heartbeat: z.string(),
  last_active_at: z.string(),
  tasks_completed: counter,
  rounds_completed: counter,
  /** Host whose supervisor runs this agent. */
  host: optionalString,
  /** Where the agent's CLI runs (its worktree, or the town root). */
  workdir: optionalString,
  /** Git branch of the agent's worktree, when it has one. */
  branch: optionalString,
  max_rounds: z.coerce.number().int().positive().catch(10),
  /** While a round runs: its number, start time and the process group of its CLI. */
  round: counter,
  round_started_at: optionalString,
  round_pgid: z.coerce.number().int().positive().optional().catch(undefined),
  /** Why the agent is in its state, in one line quoting its CLI (error, rate_limited, stop…). */
  reason: optionalString,
  /** While rate_limited: when rounds start again (the reset time the CLI reported). */
  resume_at: optionalString,
  /** The CLI session the next round resumes (claude --resume, codex exec resume, …). */
  session_id: optionalString,
  /** Whether its latest round ran in the agent sandbox (unset before its first round). */
  sandboxed: z.preprocess(
    (v) => (v === "1" || v === true ? true : v === "0" || v === false ? false : undefined),
    z.boolean().optional(),
  ),
  /** Totals over the agent's rounds, as its CLI reported them. */
  tokens_in: counter,
  tokens_out: counter,
  tokens_cached: counter,
  cost_usd: z.coerce.number().nonnegative().catch(0),
});
export type Agent = z.infer<typeof Agent>;

export const TASK_STATES = [
  "pending",
  "assigned",
  "running",
  "completed",
  "failed",
  "cancelled",
] as const;
export const TaskState = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskState>;
export const TERMINAL_TASK_STATES: readonly TaskState[] = ["completed", "failed", "cancelled"];
export const isTerminalTask = (s: TaskState) => TERMINAL_TASK_STATES.includes(s);

const tagList = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return [];
  }
}, z.array(z.string()).catch([]));

export const Task = z.object({
  id: z.string(),
  description: z.string(),
  state: TaskState.catch("pending"),
  assigned_to: optionalString,
  created_by: optionalString,
  created_at: z.string(),
  updated_at: z.string(),
  started_at: optionalString,
  completed_at: optionalString,
  result: z.string().optional(),
  parent_id: optionalString,
  plan_id: optionalString,
  tags: tagList,
  /** Rounds that ended cleanly without reporting this task (it fails after a few). */
  attempts: counter,
  /** Shell command that must pass before the task counts as completed (`tt assign --verify`). */
  verify: optionalString,
  /** The result an agent reported, held until the supervisor has run `verify`. */
  claimed_result: z.string().optional(),
  /** Failed verifications so far (the task fails after a few). */
  verify_failures: counter,
  /** The end of the last failed verification's output, shown to the agent in its next round. */
  verify_output: z.string().optional(),
});
export type Task = z.infer<typeof Task>;

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
export const MessageKind = z.enum(MESSAGE_KINDS);
export type MessageKind = z.infer<typeof MessageKind>;

export const Priority = z.enum(["low", "normal", "high", "urgent"]);
export type Priority = z.infer<typeof Priority>;

/** Longest message body accepted (bytes of UTF-8); larger ones are refused, not truncated. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export const Message = z.object({
  id: z.string(),
  from: z.string(),
  to: z.string(),
  type: MessageKind,
  /** The human text: task description, question, summary, ack text… */
  body: z.string().default(""),
  task_id: z.string().optional(),
  /** For custom messages: the kind; for confirmations: received|acknowledged|thanks|approved|rejected. */
  kind: z.string().optional(),
  priority: Priority.default("normal"),
  created_at: z.string(),
  correlation_id: z.string().optional(),
});
export type Message = z.infer<typeof Message>;

export const TownEvent = z.object({
  /** Stream entry id (`<ms>-<seq>`), filled in when read. */
  id: z.string().default(""),
  type: z.string(),
  ts: z.string(),
  message: z.string(),
  agent_id: z.string().optional(),
  task_id: z.string().optional(),
  actor: z.string().optional(),
  old_state: z.string().optional(),
  new_state: z.string().optional(),
  reason: z.string().optional(),
  /** Host events (host_lost, host_back): the host. */
  host: z.string().optional(),
  /** Mission events: the mission, its work item, and the event id that caused this one. */
  mission_id: z.string().optional(),
  item_id: z.string().optional(),
  cause: z.string().optional(),
  /** Audit events (townhall): the request's method, path and response status. */
  method: z.string().optional(),
  path: z.string().optional(),
  status: z.number().int().optional(),
  /** round_usage events: what the round used (src/core/usage/record.ts). */
  usage: z.object({
    model: z.string(),
    input: z.number(),
    output: z.number(),
    cached: z.number(),
    usd: z.number().optional(),
    priced: z.boolean().optional(),
    ms: z.number(),
  }).optional(),
});
export type TownEvent = z.infer<typeof TownEvent>;
