/**
 * The wire shapes of townhall (REST and MCP): request bodies and queries, validated here, and the
 * response shapes the OpenAPI document shows. Records read from Redis are described by their
 * readers in src/core/schemas.ts; `wire()` makes the zod schema of their wire type (the lenient
 * parsing that only Redis input needs is the reader's, not the API's).
 */
import { z } from "@hono/zod-openapi";
import { Agent, Message, Task, TASK_STATES, TownEvent } from "../core/schemas.ts";
import type { RecordSchema, Wire } from "../core/record.ts";
import { SCOPES } from "../core/auth.ts";

function wireType(w: Wire): z.ZodType {
  switch (w.type) {
    case "string":
      return z.string();
    case "number":
    case "integer": {
      const n = w.type === "integer" ? z.number().int() : z.number();
      return w.min === undefined ? n : n.min(w.min);
    }
    case "boolean":
      return z.boolean();
    case "enum":
      return z.enum(w.values as [string, ...string[]]);
    case "array":
      return z.array(wireType(w.of));
    case "optional":
      return wireType(w.of).optional();
    case "object":
      return z.object(
        Object.fromEntries(Object.entries(w.shape).map(([k, f]) => [k, wireType(f.wire)])),
      );
  }
}

/** The zod schema of a core record's wire type (what the API sends). */
export function wire<T>(r: RecordSchema<T>) {
  return wireType(r.wire) as z.ZodObject<Record<string, z.ZodType>> & z.ZodType<T>;
}

export const ErrorBody = z.object({
  error: z.string().openapi({ example: "body.agent: Invalid input: expected string" }),
  code: z.string().openapi({ example: "bad_request" }),
  status: z.number().int(),
  field: z.string().optional().openapi({ example: "body.agent" }),
}).openapi("Error");

/** A reference to an agent: name, nickname, `Nick [role]`, id or id prefix. */
const agentRef = z.string().trim().min(1).max(200);
const text = (max: number) => z.string().max(max);

export const AgentParam = z.object({
  agent: agentRef.openapi({ param: { name: "agent", in: "path" }, example: "backend" }),
});

export const AgentView = wire(Agent).extend({
  label: z.string().openapi({ example: "Dorothy [backend]" }),
}).openapi("Agent");
export type AgentView = z.infer<typeof AgentView>;

export const MessageView = wire(Message).extend({
  summary: z.string(),
}).openapi("Message");

export const EventView = wire(TownEvent).openapi("Event");
export const TaskView = wire(Task).openapi("Task");

export const Counts = z.object({
  processing: z.number().int(),
  urgent: z.number().int(),
  inbox: z.number().int(),
});

export const AgentDetail = z.object({
  agent: AgentView,
  counts: Counts,
}).openapi("AgentDetail");

export const AgentList = z.object({
  agents: z.array(AgentView),
  count: z.number().int(),
}).openapi("AgentList");

export const Inbox = z.object({
  agent: z.object({ id: z.string(), name: z.string(), label: z.string() }),
  counts: Counts,
  urgent: z.array(MessageView),
  inbox: z.array(MessageView),
  processing: z.array(MessageView),
  unreadable: z.number().int(),
}).openapi("Inbox");

export const InboxQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const SEND_KINDS = ["task", "query", "info", "ack"] as const;
export const SendBody = z.strictObject({
  to: agentRef.openapi({ example: "backend" }),
  message: text(64 * 1024).min(1).openapi({ example: "Add input validation to /login" }),
  kind: z.enum(SEND_KINDS).default("task"),
  from: agentRef.optional().openapi({ description: "sender; default the supervisor mailbox" }),
  urgent: z.boolean().default(false),
}).openapi("SendMessage");
export type SendBody = z.infer<typeof SendBody>;

export const SendResult = z.object({
  message_id: z.string(),
  to: z.object({ id: z.string(), name: z.string() }),
  type: z.string(),
  urgent: z.boolean(),
}).openapi("SendResult");

export const EventsQuery = z.object({
  count: z.coerce.number().int().min(1).max(1000).default(50),
  agent: agentRef.optional(),
});
export const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(20),
  agent: agentRef.optional(),
});
export const EventList = z.object({
  events: z.array(EventView),
  count: z.number().int(),
}).openapi("EventList");

export const StreamQuery = z.object({
  agent: agentRef.optional(),
  /** Resume point when the client cannot send Last-Event-ID. */
  after: z.string().regex(/^\d+-\d+$/).optional(),
});

export const TownInfo = z.object({
  name: z.string(),
  root: z.string(),
  redis_url: z.string(),
}).openapi("Town");

export const Scope = z.enum(SCOPES);

// ---- tasks and backlog ----

const taskRef = z.string().trim().min(1).max(100);
const tags = z.array(z.string().max(100)).max(50).optional().openapi({ example: ["backend"] });
const description = text(64 * 1024).min(1).openapi({ example: "Add rate limiting to /login" });

export const TaskParam = z.object({
  task: taskRef.openapi({ param: { name: "task", in: "path" }, example: "3f2a9c1e" }),
});

export const TaskListQuery = z.object({
  state: z.enum(TASK_STATES).optional(),
  agent: agentRef.optional(),
  /** Tasks per page; the response's `next_cursor` fetches the next one. */
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(200).optional().openapi({
    description: "`next_cursor` of the previous page (omit for the first page)",
  }),
});

export const TaskList = z.object({
  tasks: z.array(TaskView),
  count: z.number().int(),
}).openapi("TaskList");

/** One page of tasks, oldest first; `next_cursor` is absent on the last page. */
export const TaskPage = TaskList.extend({
  next_cursor: z.string().optional().openapi({
    description: "pass as `cursor` for the next page; absent on the last page",
  }),
}).openapi("TaskPage");

/** `tt assign --verify`: the task completes only when this command passes after the report. */
const verify = text(64 * 1024).min(1).optional().openapi({ example: "deno task test" });

export const AssignBody = z.strictObject({
  agent: agentRef.openapi({ example: "backend" }),
  description,
  tags,
  verify,
}).openapi("AssignTask");

export const TaskResult = z.object({
  task: TaskView,
  agent: z.object({ id: z.string(), name: z.string() }).optional(),
}).openapi("TaskResult");

export const CompleteBody = z.strictObject({
  result: text(64 * 1024).optional(),
  /** The agent reporting; the task must be assigned to it unless `force`. */
  agent: agentRef.optional(),
  force: z.boolean().default(false),
  /** Complete a task with a `verify` command without running it (humans; agents are checked). */
  skip_verify: z.boolean().default(false),
}).openapi("CompleteTask");

export const FailBody = z.strictObject({
  reason: text(64 * 1024).optional(),
  agent: agentRef.optional(),
  force: z.boolean().default(false),
}).openapi("FailTask");

export const CancelBody = z.strictObject({
  reason: text(64 * 1024).optional(),
}).openapi("CancelTask");

export const BacklogAddBody = z.strictObject({ description, tags, verify }).openapi("BacklogAdd");
export const AgentBody = z.strictObject({ agent: agentRef }).openapi("AgentRef");

export const AssignAllResult = z.object({
  assigned: z.number().int(),
  tasks: z.array(TaskView),
}).openapi("AssignAllResult");

// ---- status ----

const Mailbox = z.object({
  urgent: z.number().int(),
  inbox: z.number().int(),
  processing: z.number().int(),
  categories: z.record(z.string(), z.number().int()),
});
const TaskBrief = z.object({
  id: z.string(),
  state: z.enum(TASK_STATES),
  assigned_to: z.string().optional(),
  description: z.string(),
});
/** Agents a `GET /v1/status` lists in full unless `all_agents=true`. */
export const STATUS_AGENTS = 100;
export const StatusQuery = z.object({
  all_agents: z.enum(["true", "false"]).default("false").openapi({
    description: `list every agent; by default the oldest ${STATUS_AGENTS} (all are counted in ` +
      "agents_total and agents_by_state)",
  }),
});

export const StatusView = z.object({
  town: z.string(),
  root: z.string(),
  redis: z.string(),
  managed: z.boolean(),
  agents: z.array(z.object({
    id: z.string(),
    label: z.string(),
    agent: wire(Agent),
    mailbox: Mailbox,
    current_task: TaskBrief.optional(),
    /** Spent vs [budget], when one applies to the agent. */
    budget: z.object({
      spent: z.record(z.string(), z.number()),
      left: z.record(z.string(), z.number()),
      over: z.object({ budget: z.string(), spent: z.number(), limit: z.number(), text: z.string() })
        .optional(),
      line: z.string().optional(),
    }).optional(),
  })),
  agents_total: z.number().int(),
  agents_by_state: z.record(z.string(), z.number().int()),
  conductor: Mailbox,
  tasks: z.object({
    total: z.number().int(),
    by_state: z.record(z.string(), z.number().int()),
    backlog: z.number().int(),
  }),
}).openapi("Status");

// ---- agent lifecycle ----

export const SpawnBody = z.strictObject({
  name: z.string().trim().min(1).max(64).openapi({ example: "backend" }),
  cli: z.string().trim().min(1).max(4096).optional().openapi({
    description: "preset (claude, codex, …), [agent_clis] name or command; default default_cli",
  }),
  role: z.string().trim().min(1).max(64).optional(),
  nickname: z.string().trim().min(1).max(64).optional(),
  parent: agentRef.optional(),
  rounds: z.number().int().min(1).max(100_000).optional(),
  worktree: z.boolean().optional(),
  host: z.string().trim().min(1).max(64).optional().openapi({
    description: "host whose supervisor runs it (its TT_HOST); default: townhall's host",
  }),
}).openapi("SpawnAgent");

export const ReasonBody = z.strictObject({
  reason: z.string().trim().min(1).max(1000).optional(),
}).openapi("Reason");

export const RestartBody = z.strictObject({
  rounds: z.number().int().min(1).max(100_000).optional(),
}).openapi("RestartAgent");

export const PruneBody = z.strictObject({ all: z.boolean().default(false) }).openapi("Prune");

export const WaitQuery = z.object({
  until: z.enum(["idle", "stopped"]).default("idle"),
  /** Seconds to wait at most (the request blocks until then). */
  timeout: z.coerce.number().int().min(0).max(60).default(30),
});

export const ReclaimBody = z.strictObject({
  to: agentRef.optional(),
  to_backlog: z.boolean().default(false),
  from: agentRef.optional(),
}).openapi("Reclaim");

export const OrphanBody = z.strictObject({
  action: z.enum(["list", "backlog", "cancel", "delete"]).default("list"),
}).openapi("OrphanTasks");

export const AgentAction = z.object({
  agent: z.object({ id: z.string(), name: z.string() }),
  action: z.string(),
  state: z.string(),
}).openapi("AgentAction");

export const WaitResult = z.object({
  met: z.boolean(),
  until: z.enum(["idle", "stopped"]),
  agent: AgentView,
}).openapi("WaitResult");

export const PruneResult = z.object({
  removed: z.array(z.object({ id: z.string(), name: z.string(), state: z.string() })),
  kept_worktrees: z.array(z.object({ agent: z.string(), why: z.string() })),
}).openapi("PruneResult");

export const RecoverResult = z.object({
  checked: z.number().int(),
  recovered: z.array(z.object({ id: z.string(), name: z.string(), why: z.string() })),
}).openapi("RecoverResult");

export const ReclaimResult = z.object({
  destination: z.string(),
  moved: z.number().int(),
  agents: z.array(z.object({ name: z.string(), messages: z.array(MessageView) })),
}).openapi("ReclaimResult");

export const OrphanResult = z.object({
  action: z.string(),
  count: z.number().int(),
  orphans: z.array(z.object({ task: TaskView, reason: z.string() })),
}).openapi("OrphanResult");
