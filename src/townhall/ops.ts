/**
 * The operations townhall offers, as plain functions over src/core: each REST route and each MCP
 * tool is one of these plus validation. Nothing here decides state: the core does.
 */
import { withBudgets } from "../core/usage/budget.ts";
import { loadTownConfig } from "../core/config.ts";
import { UsageError } from "../core/errors.ts";
import {
  agentLabel,
  type Ctx,
  getAgent,
  listAgents,
  type Recipient,
  resolveAgent,
  resolveRecipient,
} from "../core/agents.ts";
import {
  addToBacklog,
  assignAll,
  claimTask,
  listBacklog,
  removeFromBacklog,
} from "../core/backlog.ts";
import {
  closeAgent,
  interruptAgent,
  killAgent,
  pruneAgents,
  recoverAgents,
  restartAgent,
  resumeAgent,
  spawnAgent,
  type SpawnOptions,
  type WaitCondition,
  waitForAgents,
} from "../core/lifecycle.ts";
import { type OrphanAction, reclaimOrphanTasks, reclaimWork } from "../core/reclaim.ts";
import { replyToAgent } from "../core/reply.ts";
import { type StatusOptions, townStatus } from "../core/status.ts";
import { listTaskPage, listTasksIn } from "../core/counters.ts";
import { assigneeTaskIds } from "../core/task_index.ts";
import {
  assignTask,
  cancelTask,
  completeTask,
  failTask,
  getTasks,
  parseTags,
  resolveTask,
} from "../core/tasks.ts";
import { recentEvents } from "../core/events.ts";
import { peekInbox, resolveSender, sendMessage, summarize, textMessage } from "../core/messages.ts";
import {
  type Agent,
  isTerminalAgent,
  isTerminalTask,
  type Message,
  type TaskState,
} from "../core/schemas.ts";
import type { TownContext } from "../core/town.ts";
import type { SendBody } from "./schemas.ts";
import { cmp } from "../core/order.ts";

export const agentView = (a: Agent) => ({ ...a, label: agentLabel(a) });
export const messageView = (m: Message) => ({ ...m, summary: summarize(m) });

export function townInfo(t: TownContext) {
  return { name: t.name, root: t.root, redis_url: t.redisUrl };
}

export async function agentList(t: Ctx) {
  const agents = (await listAgents(t)).map(agentView);
  return { agents, count: agents.length };
}

/** Agents that are not stopped (MCP `agent.list_open`). */
export async function agentListOpen(t: Ctx) {
  const agents = (await listAgents(t)).filter((a) => !isTerminalAgent(a.state)).map(agentView);
  return { agents, count: agents.length };
}

/** The agent's most recently completed task, with its result (MCP `agent.get_result`). */
export async function agentResult(t: Ctx, ref: string) {
  const a = await resolveAgent(t, ref);
  // Its newest 1,000 completed tasks (by creation) from the index, not every task of the town.
  const [ids] = await assigneeTaskIds(t, [{
    who: a.id,
    states: ["completed"],
    limit: 1000,
    from: "newest",
  }]);
  const done = (await getTasks(t, ids)).filter((x) => x.state === "completed")
    .sort((x, y) => cmp(y.completed_at ?? "", x.completed_at ?? ""));
  return { agent: { id: a.id, name: a.name }, task: done[0] ?? null };
}

export async function agentDetail(t: Ctx, ref: string) {
  const a = await resolveAgent(t, ref);
  const view = await peekInbox(t, a.id, 1);
  return { agent: agentView(a), counts: view.counts };
}

export async function inbox(t: Ctx, ref: string, limit = 100) {
  const r = await resolveRecipient(t, ref);
  const v = await peekInbox(t, r.id, limit);
  return {
    agent: { id: r.id, name: r.name, label: r.label },
    counts: v.counts,
    urgent: v.urgent.map(messageView),
    inbox: v.inbox.map(messageView),
    processing: v.processing.map(messageView),
    unreadable: v.unreadable,
  };
}

export async function send(t: Ctx, b: SendBody) {
  const to = await resolveRecipient(t, b.to);
  const from = await resolveSender(t, b.from);
  const m = await sendMessage(t, textMessage(from.id, to.id, b.message, b.kind), {
    urgent: b.urgent,
  });
  return { message_id: m.id, to: { id: to.id, name: to.name }, type: m.type, urgent: b.urgent };
}

/** The id of the agent named by an optional reference (404 if it names nobody). */
export async function agentIdOf(t: Ctx, ref: string | undefined): Promise<string | undefined> {
  return ref === undefined ? undefined : (await resolveAgent(t, ref)).id;
}

export async function events(t: Ctx, q: { count: number; agent?: string }) {
  const list = await recentEvents(t, { count: q.count, agentId: await agentIdOf(t, q.agent) });
  return { events: list, count: list.length };
}

/** Like events, newest first: what happened lately. */
export async function history(t: Ctx, q: { limit: number; agent?: string }) {
  const list = (await recentEvents(t, { count: q.limit, agentId: await agentIdOf(t, q.agent) }))
    .reverse();
  return { events: list, count: list.length };
}

// ---- status ----

export async function status(t: TownContext, opts: StatusOptions = {}) {
  const s = await townStatus(t, opts);
  // tinytown.toml as it is now: a long-running townhall sees a raised budget.
  await withBudgets(t, s.agents, (await loadTownConfig(t.root)).budget);
  return s;
}

// ---- tasks ----

const brief = (r: Recipient) => ({ id: r.id, name: r.name });

export async function taskList(
  t: Ctx,
  q: { state?: TaskState; agent?: string; limit?: number; cursor?: string },
) {
  const page = await listTaskPage(t, {
    state: q.state,
    agentId: await agentIdOf(t, q.agent),
    limit: q.limit ?? 100,
    after: q.cursor,
  });
  return { tasks: page.tasks, count: page.tasks.length, next_cursor: page.next_cursor };
}

/** Tasks not finished yet: pending, assigned or running (MCP `task.list_pending`). */
export async function taskListPending(t: Ctx) {
  const tasks = (await listTasksIn(t, ["pending", "assigned", "running"]))
    .filter((x) => !isTerminalTask(x.state));
  return { tasks, count: tasks.length };
}

export async function taskShow(t: Ctx, ref: string) {
  return await resolveTask(t, ref);
}

export async function taskAssign(
  t: Ctx,
  b: { agent: string; description: string; tags?: string[]; verify?: string },
) {
  const to = await resolveRecipient(t, b.agent);
  const task = await assignTask(t, to, {
    description: b.description,
    tags: parseTags(b.tags),
    verify: b.verify,
  });
  return { task, agent: brief(to) };
}

/** The id of the agent acting (ownership check), or undefined for a human/conductor. */
async function actor(t: Ctx, ref: string | undefined): Promise<string | undefined> {
  return ref === undefined ? undefined : (await resolveRecipient(t, ref)).id;
}

export async function taskComplete(
  t: Ctx,
  ref: string,
  b: { result?: string; agent?: string; force?: boolean; skip_verify?: boolean },
) {
  const task = await resolveTask(t, ref);
  const by = await actor(t, b.agent);
  if (by && b.skip_verify) {
    throw new UsageError("skip_verify is for humans: an agent's report is checked by tt");
  }
  return {
    task: await completeTask(t, task.id, {
      result: b.result,
      by,
      force: b.force,
      verified: b.skip_verify,
    }),
  };
}

export async function taskFail(
  t: Ctx,
  ref: string,
  b: { reason?: string; agent?: string; force?: boolean },
) {
  const task = await resolveTask(t, ref);
  const by = await actor(t, b.agent);
  return { task: await failTask(t, task.id, { result: b.reason, by, force: b.force }) };
}

export async function taskCancel(t: Ctx, ref: string, b: { reason?: string }) {
  const task = await resolveTask(t, ref);
  return { task: await cancelTask(t, task.id, { result: b.reason }) };
}

// ---- backlog ----

export async function backlogList(t: Ctx) {
  const tasks = await listBacklog(t);
  return { tasks, count: tasks.length };
}

export async function backlogAdd(
  t: Ctx,
  b: { description: string; tags?: string[]; verify?: string },
) {
  return {
    task: await addToBacklog(t, {
      description: b.description,
      tags: parseTags(b.tags),
      verify: b.verify,
    }),
  };
}

export async function backlogClaim(t: Ctx, ref: string, b: { agent: string }) {
  const task = await resolveTask(t, ref);
  const agent = await resolveAgent(t, b.agent);
  return { task: await claimTask(t, task.id, agent), agent: { id: agent.id, name: agent.name } };
}

export async function backlogAssignAll(t: Ctx, b: { agent: string }) {
  const tasks = await assignAll(t, await resolveAgent(t, b.agent));
  return { assigned: tasks.length, tasks };
}

export async function backlogRemove(t: Ctx, ref: string) {
  const task = await resolveTask(t, ref);
  return { task: await removeFromBacklog(t, task.id) };
}

// ---- agent lifecycle ----

const named = (a: Agent) => ({ id: a.id, name: a.name });

export async function spawn(t: TownContext, b: SpawnOptions) {
  const agent = await spawnAgent(t, b);
  const { placement } = await import("../core/hosts.ts");
  const where = await placement(t, agent);
  // host_up false: no supervisor runs on the agent's host yet; it waits for one.
  return { agent: agentView(agent), host_up: !where.elsewhere || where.host_up };
}

export type Verb = "kill" | "interrupt" | "resume" | "close";

/** kill, interrupt, resume, close: one agent, then its state now. */
export async function agentAction(t: Ctx, ref: string, verb: Verb, reason?: string) {
  const a = await resolveAgent(t, ref);
  if (verb === "kill") await killAgent(t, a, reason);
  else if (verb === "interrupt") await interruptAgent(t, a);
  else if (verb === "resume") await resumeAgent(t, a);
  else await closeAgent(t, a.id, reason);
  const now = await getAgent(t, a.id);
  return { agent: named(a), action: verb, state: now?.state ?? "removed" };
}

/** Answers an agent waiting in needs_input (`tt reply`); its next round resumes the session. */
export async function reply(t: Ctx, ref: string, answer: string) {
  const a = await resolveAgent(t, ref);
  const m = await replyToAgent(t, a, answer);
  return { agent: named(a), message_id: m.id };
}

export async function restart(t: TownContext, ref: string, b: { rounds?: number }) {
  const a = await resolveAgent(t, ref);
  await restartAgent(t, a, b.rounds);
  const now = await getAgent(t, a.id);
  return { agent: named(a), action: "restart", state: now?.state ?? "removed" };
}

/** Blocks (on the event stream) until the agent is idle/stopped or `timeout` seconds pass. */
export async function wait(
  t: Ctx,
  ref: string,
  q: { until: WaitCondition; timeout: number },
) {
  const a = await resolveAgent(t, ref);
  const r = await waitForAgents(t, [a.id], q.until, q.timeout * 1000);
  const now = r.agents[0] ?? a;
  return { met: r.met, until: q.until, agent: agentView(now) };
}

export async function prune(t: TownContext, b: { all: boolean }) {
  const r = await pruneAgents(t, b.all);
  return {
    removed: r.removed.map((a) => ({ ...named(a), state: a.state })),
    kept_worktrees: r.keptWorktrees,
  };
}

export async function recover(t: TownContext) {
  const r = await recoverAgents(t);
  return {
    checked: r.checked,
    recovered: r.recovered.map((x) => ({ ...named(x.agent), why: x.why })),
  };
}

export async function reclaim(t: Ctx, b: { to?: string; to_backlog: boolean; from?: string }) {
  const r = await reclaimWork(t, {
    to: b.to === undefined ? undefined : await resolveAgent(t, b.to),
    toBacklog: b.to_backlog,
    from: b.from === undefined ? undefined : await resolveAgent(t, b.from),
  });
  return {
    destination: r.destination,
    moved: r.moved,
    agents: r.agents.map((x) => ({ name: x.agent.name, messages: x.messages.map(messageView) })),
  };
}

export async function orphans(t: Ctx, b: { action: OrphanAction }) {
  const list = await reclaimOrphanTasks(t, b.action);
  return { action: b.action, count: list.length, orphans: list };
}
