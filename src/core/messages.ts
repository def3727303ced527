/**
 * Messages between agents and the conductor. Each agent has an urgent list (drained first) and an
 * inbox; a round moves what it takes into `processing:<agent>` and removes it only when the round
 * ends cleanly (see src/supervisor). Both lists are FIFO.
 */
import {
  MAX_MESSAGE_BYTES,
  Message,
  MESSAGE_KINDS,
  type MessageKind,
  PRIORITIES,
  type Priority,
} from "./schemas.ts";
import { NotFoundError, UsageError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";
import { defineScript, LUA_EMIT, runScript } from "../redis/script.ts";
import { readLists } from "../redis/bulk.ts";
import {
  type Ctx,
  getAgent,
  type Recipient,
  resolveAgent,
  resolveRecipient,
  SUPERVISOR,
  toRecipient,
} from "./agents.ts";

export interface NewMessage {
  from: string;
  to: string;
  type: MessageKind;
  body?: string;
  task_id?: string;
  kind?: string;
  priority?: Priority;
  correlation_id?: string;
}

const KINDS: ReadonlySet<string> = new Set(MESSAGE_KINDS);
const PRIORITY_SET: ReadonlySet<string> = new Set(PRIORITIES);

/** A message field of type `string` (or absent when `optional`), else UsageError naming it. */
function textField(name: string, v: unknown, optional = false): string | undefined {
  if (typeof v === "string" || (optional && v === undefined)) return v;
  throw new UsageError(`message ${name} must be text, not ${typeof v}`);
}

/**
 * A new message, built typed (no schema parse on the way out: tt made every field; what comes
 * back from Redis is parsed). Enforces what `Message` does: text fields, a known type and
 * priority (default normal), the body's size (default empty); unknown fields are left out.
 */
export function buildMessage(m: NewMessage): Message {
  const body = m.body ?? "";
  textField("body", body);
  checkSize(body);
  if (!KINDS.has(m.type)) {
    throw new UsageError(
      `unknown message type '${m.type}': use one of ${MESSAGE_KINDS.join(", ")}`,
    );
  }
  const priority = m.priority ?? "normal";
  if (!PRIORITY_SET.has(priority)) {
    throw new UsageError(
      `unknown message priority '${priority}': use one of ${PRIORITIES.join(", ")}`,
    );
  }
  // Fields in the schema's order (the JSON reads the same as before); absent ones left out.
  const msg: Message = {
    id: crypto.randomUUID(),
    from: textField("from", m.from)!,
    to: textField("to", m.to)!,
    type: m.type,
    body,
  } as Message;
  if (textField("task_id", m.task_id, true) !== undefined) msg.task_id = m.task_id;
  if (textField("kind", m.kind, true) !== undefined) msg.kind = m.kind;
  msg.priority = priority;
  msg.created_at = new Date().toISOString();
  if (textField("correlation_id", m.correlation_id, true) !== undefined) {
    msg.correlation_id = m.correlation_id;
  }
  return msg;
}

export function checkSize(body: string) {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: most bodies need no encoding to tell.
  if (body.length * 3 <= MAX_MESSAGE_BYTES) return;
  const bytes = new TextEncoder().encode(body).length;
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new UsageError(
      `message is ${bytes} bytes; the limit is ${MAX_MESSAGE_BYTES}: put long content in a file and send its path`,
    );
  }
}

/** Where a message goes: the urgent list, the head of the inbox (high priority) or its tail. */
export function routeOf(m: Message, urgent: boolean): "urgent" | "head" | "tail" {
  if (urgent || m.priority === "urgent") return "urgent";
  return m.priority === "high" ? "head" : "tail";
}

/**
 * Lua: `plain_value(raw, key, from)` reads a string value of a message tt wrote without decoding
 * it. tt writes messages with JSON.stringify as flat objects, inside whose strings every quote is
 * escaped, so `key` (a quoted key with its colon and opening quote) found in the text can only be
 * the key itself. Returns the text after `key` up to the next quote and where that quote is; nil
 * when the key is not there, false when it is there twice or the value has an escape (the
 * decoder must read such an entry: it keeps the last of two keys).
 */
export const PLAIN_JSON_LUA = `
local function plain_value(raw, key, from)
  local _, e = string.find(raw, key, from, true)
  if not e then return nil end
  local q = string.find(raw, '"', e + 1, true)
  if not q or string.find(raw, key, q, true) then return false end
  local v = string.sub(raw, e + 1, q - 1)
  if string.find(v, '\\\\', 1, true) then return false end
  return v, q
end
`;

/**
 * Lua: push one message to a list, checking that the recipient still exists, and wake the
 * recipient (its wake list shares the agent key's prefix and hash slot).
 */
export const PUSH_MESSAGE_LUA = `
local function push_message(list, agent_key, require_agent, json, side)
  if require_agent == '1' and redis.call('EXISTS', agent_key) == 0 then return false end
  if side == 'head' then redis.call('LPUSH', list, json) else redis.call('RPUSH', list, json) end
  local wake = string.gsub(agent_key, ':agent:', ':wake:', 1)
  -- One token is enough: trimmed only when one was already waiting.
  if redis.call('LPUSH', wake, '1') > 1 then redis.call('LTRIM', wake, '0', '0') end
  return true
end
`;

const SEND = defineScript(
  "sendMessage",
  3,
  LUA_EMIT + PUSH_MESSAGE_LUA,
  `
-- KEYS: events, target list, recipient agent hash. ARGV: now, json, side, require agent, event msg
if not push_message(KEYS[2], KEYS[3], ARGV[4], ARGV[2], ARGV[3]) then
  return cjson.encode({error='no_agent'})
end
local m = cjson.decode(ARGV[2])
local ev = {type='message_sent', agent_id=m.to, actor=m.from, message=ARGV[5]}
if m.task_id then ev.task_id = m.task_id end
emit(ev)
return cjson.encode({ok=true})
`,
);

export interface SendOptions {
  urgent?: boolean;
}

/** Sends a message; `to` is an agent id or SUPERVISOR_ID. */
export async function sendMessage(
  t: Ctx,
  input: NewMessage,
  opts: SendOptions = {},
): Promise<Message> {
  const m = buildMessage(input);
  const route = routeOf(m, !!opts.urgent);
  const list = route === "urgent" ? t.keys.urgent(m.to) : t.keys.inbox(m.to);
  const res = JSON.parse(String(
    await runScript(t.redis, SEND, [t.keys.events, list, t.keys.agent(m.to)], [
      new Date().toISOString(),
      JSON.stringify(m),
      route === "head" ? "head" : "tail",
      m.to === SUPERVISOR_ID ? "0" : "1",
      `${route === "urgent" ? "urgent " : ""}${m.type} message: ${summarize(m, 80)}`,
    ]),
  ));
  if (res.error) throw new NotFoundError(`agent ${m.to} no longer exists`);
  return m;
}

export type Category = "task" | "query" | "info" | "confirmation";

/** How a round treats a message: work to do, a question, FYI, or an acknowledgement. */
export function categoryOf(m: Message): Category {
  switch (m.type) {
    case "task":
    case "task_assign":
    case "shutdown":
      return "task";
    case "query":
    case "status_request":
    case "ping":
      return "query";
    case "confirmation":
      return "confirmation";
    case "custom": {
      const text = `${m.kind ?? ""} ${m.body}`.toLowerCase();
      if (/\b(ack|thanks|thank you|received|approved)\b/.test(text)) return "confirmation";
      if (/\b(info|fyi|status|update)\b/.test(text)) return "info";
      if (/\b(query|question)\b/.test(text)) return "query";
      return "task";
    }
    default:
      return "info";
  }
}

export const isActionable = (m: Message) => {
  const c = categoryOf(m);
  return c === "task" || c === "query";
};

/** `--ack` text → confirmation kind (the text itself is kept in the body). */
export function ackKind(text: string): string {
  const t = text.trim().toLowerCase();
  if (t.startsWith("rejected")) return "rejected";
  if (t.startsWith("received")) return "received";
  if (t.startsWith("approved")) return "approved";
  if (t.includes("thanks") || t.includes("thank you")) return "thanks";
  return "acknowledged";
}

/** One line describing a message. */
export function summarize(m: Message, max = 120): string {
  const text = (() => {
    switch (m.type) {
      case "task_assign":
        return `task ${m.task_id?.slice(0, 8) ?? "?"}: ${m.body}`;
      case "query":
        return `question: ${m.body}`;
      case "confirmation":
        return `${m.kind ?? "ack"}${m.body ? `: ${m.body}` : ""}`;
      case "custom":
        return `${m.kind ?? "custom"}: ${m.body}`;
      default:
        return m.body || m.type;
    }
  })().replace(/\s+/g, " ").trim();
  return text.length <= max ? text : text.slice(0, max - 1) + "…";
}

export function parseMessage(raw: string): Message | undefined {
  try {
    const r = Message.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export interface InboxView {
  /** Messages a running round has taken but not finished. */
  processing: Message[];
  urgent: Message[];
  inbox: Message[];
  /** Totals (the lists above are capped at `limit` each). */
  counts: { processing: number; urgent: number; inbox: number };
  /** Entries that are not valid message JSON (written by hand?). */
  unreadable: number;
}

/** Reads (never pops) an agent's lists: one pipelined round trip. */
export async function peekInbox(t: Ctx, id: string, limit = 100): Promise<InboxView> {
  const pipe = t.redis.pipeline()
    .lrange(t.keys.processing(id), 0, limit - 1)
    .lrange(t.keys.urgent(id), 0, limit - 1)
    .lrange(t.keys.inbox(id), 0, limit - 1)
    .llen(t.keys.processing(id))
    .llen(t.keys.urgent(id))
    .llen(t.keys.inbox(id));
  const res = (await pipe.exec())!.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
  let unreadable = 0;
  const parse = (raws: unknown) =>
    (raws as string[]).map(parseMessage).filter((m): m is Message => {
      if (!m) unreadable++;
      return !!m;
    });
  return {
    processing: parse(res[0]),
    urgent: parse(res[1]),
    inbox: parse(res[2]),
    counts: { processing: res[3] as number, urgent: res[4] as number, inbox: res[5] as number },
    unreadable,
  };
}

/** Messages per category (e.g. for `[T] 3 [Q] 1` breakdowns). */
export function countCategories(ms: Iterable<Message>): Record<Category, number> {
  const counts: Record<Category, number> = { task: 0, query: 0, info: 0, confirmation: 0 };
  for (const m of ms) counts[categoryOf(m)]++;
  return counts;
}

/** What a typed message is: work (default), a question, FYI, or an acknowledgement. */
export type TextKind = "task" | "query" | "info" | "ack";

/** A message typed by a person or an agent (`tt send`). The text is always kept in `body`. */
export function textMessage(from: string, to: string, text: string, kind: TextKind): NewMessage {
  if (!text.trim()) throw new UsageError("message must not be empty");
  switch (kind) {
    case "task":
      return { from, to, type: "task", body: text };
    case "query":
      return { from, to, type: "query", body: text };
    case "info":
      return { from, to, type: "informational", body: text };
    case "ack":
      return { from, to, type: "confirmation", kind: ackKind(text), body: text };
  }
}

/** The identity an agent's round runs under (TINYTOWN_AGENT_ID / TINYTOWN_AGENT_NAME). */
export interface SenderEnv {
  agentId?: string;
  agentName?: string;
}

/**
 * Who sends a message: an explicit reference (must resolve), else the agent named by the
 * environment (best effort: an agent that no longer exists falls through), else the supervisor.
 */
export async function resolveSender(
  t: Ctx,
  explicit: string | undefined,
  env: SenderEnv = {},
): Promise<Recipient> {
  if (explicit !== undefined) return await resolveRecipient(t, explicit);
  if (env.agentId) {
    const a = await getAgent(t, env.agentId.trim().toLowerCase());
    if (a) return toRecipient(a);
  }
  if (env.agentName) {
    try {
      return toRecipient(await resolveAgent(t, env.agentName));
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
  return SUPERVISOR;
}

/**
 * `peekInbox` for many mailboxes in one round trip (keyed by id): a read-only script per few
 * hundred lists (src/redis/bulk.ts), not six commands per mailbox.
 */
export async function peekInboxes(
  t: Ctx,
  ids: string[],
  limit = 100,
): Promise<Map<string, InboxView>> {
  const res = await readLists(
    t.redis,
    ids.flatMap((id) => [t.keys.processing(id), t.keys.urgent(id), t.keys.inbox(id)]),
    limit,
  );
  const views = new Map<string, InboxView>();
  ids.forEach((id, i) => {
    let unreadable = 0;
    const list = (j: number) =>
      res[i * 3 + j].head.map(parseMessage).filter((m): m is Message => {
        if (!m) unreadable++;
        return !!m;
      });
    const len = (j: number) => res[i * 3 + j].length;
    views.set(id, {
      processing: list(0),
      urgent: list(1),
      inbox: list(2),
      counts: { processing: len(0), urgent: len(1), inbox: len(2) },
      unreadable,
    });
  });
  return views;
}
