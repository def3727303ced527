/**
 * The library API: script your own orchestration in TypeScript on top of the same core as the
 * `tt` CLI.
 *
 * @example
 * ```ts
 * import { Town, waitForIdle } from "./src/mod.ts";
 * const town = await Town.connect(".");
 * const designer = await town.spawnAgent("designer", "claude");
 * const backend = await town.spawnAgent("backend", "codex", { role: "backend" });
 * await designer.assign("Design auth API schema");
 * await waitForIdle(designer);
 * const task = await backend.assign("Implement auth endpoints");
 * await waitForIdle(backend, { timeout: 600_000 });
 * console.log((await town.task(task.id))?.result);
 * await town.close();
 * ```
 */
import { openTown, type TownContext } from "./core/town.ts";
import {
  getAgent,
  listAgents,
  resolveAgent,
  resolveRecipient,
  toRecipient,
} from "./core/agents.ts";
import * as lifecycle from "./core/lifecycle.ts";
import { assignTask, getTask, listTasks, type TaskFilter } from "./core/tasks.ts";
import { addToBacklog } from "./core/backlog.ts";
import { sendMessage } from "./core/messages.ts";
import { followEvents, lastEventId, recentEvents } from "./core/events.ts";
import { SUPERVISOR_ID } from "./core/keys.ts";
import { TtError } from "./core/errors.ts";
import type { Agent, Message, MessageKind, Task, TownEvent } from "./core/schemas.ts";
import { type MissionSpec, startMissionFromSpec } from "./core/missions/ops.ts";
import { MissionHandle } from "./core/missions/handle.ts";
import { resolveMission } from "./core/missions/store.ts";
import { type UsageQuery, type UsageReport, usageReport } from "./core/usage/report.ts";

export type { Agent, Message, Task, TownEvent };
export type { MissionSpec };
export type { UsageQuery, UsageReport };
export { MissionHandle };
export { ConflictError, NotFoundError, TtError, UsageError } from "./core/errors.ts";

export interface SpawnOptions {
  role?: string;
  nickname?: string;
  parent?: string;
  /** Rounds before the agent stops (default `[agent] max_rounds`). */
  rounds?: number;
  /** Run in a git worktree of its own (default `[agent] worktrees`). */
  worktree?: boolean;
}

export interface AssignOptions {
  tags?: string[];
  /** Shell command that must pass (in the agent's directory) before the task counts as done. */
  verify?: string;
}

export interface EventSubscription {
  /** Stops following. */
  stop(): void;
  /** Settles when following has ended (rejects if the stream could not be read). */
  done: Promise<void>;
}

export interface WaitOptions {
  /** Milliseconds; rejects with a TtError when reached. */
  timeout?: number;
}

/** A connected town. Close it when done. */
export class Town {
  private constructor(readonly ctx: TownContext) {}

  /** Opens the town in `dir` (default: TT_TOWN, else the nearest tinytown.toml upward). */
  static async connect(dir?: string): Promise<Town> {
    return new Town(await openTown({ town: dir, clientName: "tt-lib" }));
  }

  get name(): string {
    return this.ctx.name;
  }

  get root(): string {
    return this.ctx.root;
  }

  /** Creates an agent running `cli` (a preset, an [agent_clis] name, or a command) and starts it. */
  async spawnAgent(name: string, cli?: string, opts: SpawnOptions = {}): Promise<AgentHandle> {
    const a = await lifecycle.spawnAgent(this.ctx, { name, cli, ...opts });
    return new AgentHandle(this, a.id, a.name);
  }

  /** An existing agent by name, nickname, `Nick [role]` or id prefix. */
  async agent(ref: string): Promise<AgentHandle> {
    const a = await resolveAgent(this.ctx, ref);
    return new AgentHandle(this, a.id, a.name);
  }

  agents(): Promise<Agent[]> {
    return listAgents(this.ctx);
  }

  task(id: string): Promise<Task | undefined> {
    return getTask(this.ctx, id);
  }

  tasks(filter: TaskFilter = {}): Promise<Task[]> {
    return listTasks(this.ctx, filter);
  }

  /** Adds a task to the backlog, where idle agents whose role matches claim it. */
  addToBacklog(description: string, opts: AssignOptions = {}): Promise<Task> {
    return addToBacklog(this.ctx, {
      description,
      tags: opts.tags,
      verify: opts.verify,
    });
  }

  /** Sends a message from the conductor (`to` may be an agent reference or "conductor"). */
  async send(to: string, body: string, type: MessageKind = "task"): Promise<Message> {
    const r = await resolveRecipient(this.ctx, to);
    return await sendMessage(this.ctx, { from: SUPERVISOR_ID, to: r.id, type, body });
  }

  /** Waits until every agent (or the given ones) is idle with nothing queued. */
  async waitForIdle(agents?: AgentHandle[], opts: WaitOptions = {}): Promise<Agent[]> {
    const r = await lifecycle.waitForAgents(
      this.ctx,
      agents?.map((a) => a.id),
      "idle",
      opts.timeout,
    );
    if (!r.met) {
      throw new TtError(`timed out after ${opts.timeout} ms waiting for agents to be idle`);
    }
    return r.agents;
  }

  /**
   * Starts a mission from work items (`{id, title, depends_on…}`) and/or GitHub issues; the
   * dispatcher in the town's supervisor assigns them as their dependencies are done.
   */
  async startMission(spec: MissionSpec): Promise<MissionHandle> {
    const m = await startMissionFromSpec(this.ctx, spec);
    const { reviveSupervisor } = await import("./supervisor/start.ts");
    await reviveSupervisor(this.ctx);
    return new MissionHandle(this.ctx, m.id);
  }

  /** An existing mission by id or id prefix. */
  async mission(ref: string): Promise<MissionHandle> {
    return new MissionHandle(this.ctx, (await resolveMission(this.ctx, ref)).mission.id);
  }

  /**
   * Tokens and cost the agents' CLIs reported, grouped `by` agent (default), task, mission,
   * model, cli or day, `since` a duration ("7d") or a date: `await town.usage({ by: "model" })`.
   */
  usage(q: UsageQuery = {}): Promise<UsageReport> {
    return usageReport(this.ctx, q);
  }

  /** The most recent events, oldest first. */
  recentEvents(count = 50): Promise<TownEvent[]> {
    return recentEvents(this.ctx, { count });
  }

  /**
   * Calls `onEvent` for every event appended after this resolves (blocking read, no polling),
   * until `stop()` or `signal`. `done` settles when following ends.
   */
  async onEvent(
    onEvent: (ev: TownEvent) => void | Promise<void>,
    signal?: AbortSignal,
  ): Promise<EventSubscription> {
    const ac = new AbortController();
    signal?.addEventListener("abort", () => ac.abort(), { once: true });
    if (signal?.aborted) ac.abort();
    // Fix the start point before returning, so an event caused right after is never missed.
    const from = await lastEventId(this.ctx);
    return { stop: () => ac.abort(), done: followEvents(this.ctx, from, onEvent, ac.signal) };
  }

  close(): Promise<void> {
    return this.ctx.close();
  }
}

/** One agent of a town. */
export class AgentHandle {
  constructor(readonly town: Town, readonly id: string, readonly name: string) {}

  /** The agent's current record. */
  async info(): Promise<Agent> {
    const a = await getAgent(this.town.ctx, this.id);
    if (!a) throw new TtError(`agent ${this.name} no longer exists`);
    return a;
  }

  /** Assigns a task to this agent (it starts on it as soon as it is free). */
  async assign(description: string, opts: AssignOptions = {}): Promise<Task> {
    return await assignTask(this.town.ctx, toRecipient(await this.info()), {
      description,
      tags: opts.tags,
      verify: opts.verify,
    });
  }

  /** Tasks assigned to this agent. */
  tasks(): Promise<Task[]> {
    return this.town.tasks({ agentId: this.id });
  }

  async kill(): Promise<void> {
    await lifecycle.killAgent(this.town.ctx, await this.info());
  }

  async interrupt(): Promise<void> {
    await lifecycle.interruptAgent(this.town.ctx, await this.info());
  }

  async resume(): Promise<void> {
    await lifecycle.resumeAgent(this.town.ctx, await this.info());
  }

  async close(): Promise<void> {
    await lifecycle.closeAgent(this.town.ctx, this.id);
  }
}

/** Waits until the agent(s) are idle with nothing queued; rejects on timeout. */
export async function waitForIdle(
  agents: AgentHandle | AgentHandle[],
  opts: WaitOptions = {},
): Promise<Agent[]> {
  const list = Array.isArray(agents) ? agents : [agents];
  if (!list.length) return [];
  return await list[0].town.waitForIdle(list, opts);
}
