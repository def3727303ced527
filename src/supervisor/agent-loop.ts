/**
 * One agent's life inside the supervisor: block on its wake list while idle, take a round of
 * messages, run the CLI, end the round (acknowledge, or put the messages back in order).
 */
import type { Redis } from "ioredis";
import { duplicateConnection } from "../redis/connection.ts";
import type { TownContext } from "../core/town.ts";
import { agentLabel, getAgent, listAgents, setAgentState } from "../core/agents.ts";
import {
  type Agent,
  isTerminalAgent,
  isTerminalTask,
  type Message,
  type Task,
} from "../core/schemas.ts";
import { categoryOf, parseMessage } from "../core/messages.ts";
import { dropStaleAssignments, endRound, notesOf, takeRound } from "../core/rounds.ts";
import { emitEvent } from "../core/events.ts";
import { ConflictError } from "../core/errors.ts";
import { SUPERVISOR_ID } from "../core/keys.ts";
import { completeTask, failTask, getTask, returnTaskToAssigned, startTask } from "../core/tasks.ts";
import { backlogSnapshot, claimForAgent } from "../core/autoclaim.ts";
import { buildPrompt } from "./prompt.ts";
import { agentEnv, resolveCli, roundCommand } from "./cli.ts";
import { killGroup, runRoundProcess } from "./process.ts";
import { MAX_VERIFY_FAILURES, runCheck } from "./verify.ts";
import { openRoundChannel } from "./channel/mod.ts";

export interface LoopDeps {
  /** Directory with the `tt` shim for agents' PATH. */
  binDir: string;
  log: (line: string) => void;
}

const HEARTBEAT_MS = 10_000;
/** Clean rounds that may end without reporting a task before the task is failed. */
const MAX_UNREPORTED_ROUNDS = 3;

export class AgentLoop {
  #blocker?: Redis;
  #round?: AbortController;
  #killReason?: string;
  #done: Promise<void> | undefined;
  #failures = 0;
  #cutPause?: () => void;

  constructor(readonly town: TownContext, readonly agentId: string, private deps: LoopDeps) {}

  /** Runs until the agent stops; resolves then (never rejects: failures become state `error`). */
  start(): Promise<void> {
    this.#done ??= this.#run().catch(async (e) => {
      this.deps.log(`agent ${this.agentId}: loop failed: ${(e as Error).stack ?? e}`);
      await setAgentState(this.town, this.agentId, "error", {
        eventType: "agent_failed",
        message: `supervisor error: ${(e as Error).message}`,
      }).catch(() => {});
    }).finally(() => this.#blocker?.disconnect());
    return this.#done;
  }

  /** Wakes the loop if it is blocked (state changed, shutdown…). */
  async wake() {
    await this.town.redis.multi().lpush(this.town.keys.wake(this.agentId), "1")
      .ltrim(this.town.keys.wake(this.agentId), 0, 0).exec();
  }

  /** Kills the running round's process group (signals only; needs no Redis). */
  abortRound() {
    this.#round?.abort();
  }

  /** Stops the agent now: the running round is killed and its messages go back to the inbox. */
  async kill(reason: string) {
    this.#killReason = reason;
    this.#round?.abort();
    this.#cutPause?.();
    await this.wake();
    await this.#done;
  }

  async #run() {
    const { town, agentId } = this;
    this.#blocker = await duplicateConnection(town.redis);
    await this.#recoverCutOffRound();
    for (;;) {
      const agent = await getAgent(town, agentId);
      if (!agent || isTerminalAgent(agent.state)) return;
      if (this.#killReason) {
        return await this.#stop(agent, "agent_stopped", `killed: ${this.#killReason}`);
      }
      if (agent.state === "draining") return await this.#stop(agent, "agent_stopped", "closed");
      if (agent.state === "paused") {
        await this.#block(0);
        continue;
      }
      if (agent.round >= agent.max_rounds) {
        return await this.#stop(agent, "agent_stopped", `reached its ${agent.max_rounds} rounds`);
      }
      const taken = await takeRound(town, agentId);
      taken.messages = await dropStaleAssignments(town, agentId, taken.messages);
      if (taken.unreadable.length) {
        await emitEvent(town, {
          type: "messages_unreadable",
          agent_id: agentId,
          message: `${taken.unreadable.length} unreadable inbox entr(ies) dropped: ${
            taken.unreadable.join(" | ").slice(0, 200)
          }`,
        });
      }
      if (!taken.messages.length) {
        if (taken.unreadable.length) {
          await endRound(town, agentId, { kind: "ok" }, "dropped unreadable entries");
        }
        await this.#becomeIdle(agent);
        if (await this.#claimBacklog(agent)) continue;
        const idle = town.config.agent.idle_timeout_secs;
        if (idle > 0) {
          const left = idle - (Date.now() - Date.parse(agent.last_active_at)) / 1000;
          if (left <= 0) {
            await setAgentState(town, agentId, "draining", {
              message: `idle for ${idle} s`,
              from: ["idle"],
            })
              .catch(ignoreConflict);
            continue;
          }
          await this.#block(Math.max(0.1, left));
        } else {
          await this.#block(0);
        }
        continue;
      }
      if (!taken.messages.some((m) => ["task", "query"].includes(categoryOf(m)))) {
        await endRound(
          town,
          agentId,
          { kind: "parked" },
          `${taken.messages.length} informational message(s) noted`,
        );
        continue;
      }
      const ok = await this.#runRound(agent, taken.messages);
      this.#failures = ok ? 0 : this.#failures + 1;
      if (this.#failures) await this.#pause(Math.min(2 ** (this.#failures - 1), 30) * 1000);
    }
  }

  /** Backs off after failed rounds (a kill or shutdown cuts the wait short). */
  async #pause(ms: number) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#cutPause = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#cutPause = undefined;
  }

  /** Blocks on the wake list (0 = forever) or until kill/shutdown pushes a token. */
  async #block(timeoutSecs: number) {
    await this.#blocker!.blpop(this.town.keys.wake(this.agentId), timeoutSecs);
  }

  async #becomeIdle(agent: Agent) {
    if (agent.state === "idle") return;
    await setAgentState(this.town, agent.id, "idle", { from: ["starting", "working"] }).catch(
      ignoreConflict,
    );
  }

  /** An idle agent takes the oldest backlog task that matches its role, if any. */
  async #claimBacklog(agent: Agent): Promise<boolean> {
    return !!(await claimForAgent(this.town, agent));
  }

  /** Messages left in processing by a supervisor that died mid-round go back to the inbox. */
  async #recoverCutOffRound() {
    const { town, agentId } = this;
    const agent = await getAgent(town, agentId);
    if (!agent) return;
    if (agent.round_pgid) killGroup(agent.round_pgid, "SIGKILL");
    const inFlight = (await town.redis.lrange(town.keys.processing(agentId), 0, -1))
      .map(parseMessage).filter((m): m is Message => !!m);
    if (inFlight.length || await town.redis.exists(town.keys.processing(agentId))) {
      await this.#returnTasks(inFlight, "round cut off: supervisor restarted");
      await endRound(
        town,
        agentId,
        { kind: "cutoff", reason: "supervisor restarted" },
        `round ${agent.round} cut off`,
      );
    }
    // Even with nothing in flight: a supervisor killed between ending a round and marking the
    // agent idle leaves it "working", and a round only starts from idle (it would be put back
    // and retried at once, forever).
    if (agent.state === "working") await this.#becomeIdle(agent);
  }

  /** Runs one round; false if it failed (non-zero exit, timeout, crash). */
  async #runRound(agent: Agent, messages: Message[]): Promise<boolean> {
    const { town, agentId } = this;
    const round = agent.round + 1;
    try {
      await setAgentState(town, agentId, "working", {
        // Only this loop makes an agent "working", so finding it so here means the end of an
        // earlier round was not recorded (a write lost in a Redis restart): refusing would put
        // the messages back and retry at once, forever.
        from: ["idle", "starting", "working"],
        message: `round ${round} started with ${messages.length} message(s)`,
      });
    } catch (e) {
      ignoreConflict(e); // paused or closed meanwhile: put the messages back untouched
      await endRound(
        town,
        agentId,
        { kind: "cutoff", reason: "state changed" },
        "round not started",
      );
      return true;
    }
    const now = new Date().toISOString();
    await town.redis.hset(town.keys.agent(agentId), {
      round,
      round_started_at: now,
      last_active_at: now,
    });
    const tasks = await this.#startTasks(messages);
    const promptFile = `${town.root}/.tt/prompts/${agent.name}_round_${round}.md`;
    const logFile = `${town.root}/.tt/logs/${agent.name}_round_${round}.log`;
    await Deno.mkdir(`${town.root}/.tt/prompts`, { recursive: true, mode: 0o700 });
    const prompt = buildPrompt({
      town: town.name,
      agent,
      round,
      maxRounds: agent.max_rounds,
      messages,
      tasks,
      notes: await notesOf(town, agentId),
      senders: await this.#senderLabels(),
      backlog: await backlogSnapshot(town, agent),
    });
    await Deno.writeTextFile(promptFile, prompt, { mode: 0o600 });
    const cli = resolveCli(town.config, agent.cli);
    const { command, stdin } = roundCommand(cli.command, promptFile);
    // The agent's tt reaches the town only through this round's channel (closed with the CLI).
    const channel = await openRoundChannel(town, agent, round);
    const env = agentEnv({
      base: Deno.env.toObject(),
      cli,
      passEnv: town.config.agent.pass_env,
      binDir: channel.binDir,
      identity: {
        TINYTOWN_AGENT_ID: agentId,
        TINYTOWN_AGENT_NAME: agent.name,
        TINYTOWN_TOWN: town.name,
        ...channel.env,
      },
    });
    const beat = setInterval(() => {
      town.redis.hset(town.keys.agent(agentId), "last_heartbeat", new Date().toISOString()).catch(
        () => {},
      );
    }, HEARTBEAT_MS);
    const result = await runRoundProcess({
      command,
      cwd: agent.workdir ?? town.root,
      env,
      stdin: stdin ? new TextEncoder().encode(prompt) : undefined,
      logFile,
      ...this.#killable(),
    }).finally(async () => {
      clearInterval(beat);
      this.#round = undefined;
      await channel.close();
    });
    await Deno.remove(promptFile).catch(() => {});

    const assigns = messages.filter((m) => m.type === "task_assign" && m.task_id);
    const sentBack = result.kind === "exited"
      ? await this.#verifyReports(assigns, { cwd: agent.workdir ?? town.root, env, logFile })
      : new Set<string>();
    let clean = result.kind === "exited" && result.code === 0;
    if (clean) {
      // A round that exits 0 without reporting its task gets a few more tries, then the task fails.
      const unfinished: string[] = [];
      for (const m of assigns) {
        if (sentBack.has(m.task_id!)) {
          unfinished.push(m.id); // its check failed: the same agent gets it again, with the output
          continue;
        }
        const task = await getTask(town, m.task_id!);
        if (!task || isTerminalTask(task.state) || task.assigned_to !== agentId) continue;
        const tries = await town.redis.hincrby(town.keys.task(task.id), "attempts", 1);
        if (tries >= MAX_UNREPORTED_ROUNDS) {
          await failTask(town, task.id, {
            by: agentId,
            result: `${tries} rounds ended without 'tt task complete' or 'tt task fail'`,
          });
        } else {
          unfinished.push(m.id);
        }
      }
      clean = unfinished.length === 0;
      await this.#returnTasks(
        assigns.filter((m) => unfinished.includes(m.id)),
        `round ${round} ended without 'tt task complete'`,
      );
      await endRound(
        town,
        agentId,
        { kind: "ok", requeue: unfinished },
        `round ${round} completed${
          unfinished.length ? `; ${unfinished.length} task(s) unreported, requeued` : ""
        }`,
      );
    } else if (result.kind === "killed") {
      await this.#returnTasks(assigns, `round ${round} killed`);
      await endRound(
        town,
        agentId,
        { kind: "cutoff", reason: this.#killReason ?? "killed" },
        `round ${round} killed`,
      );
    } else {
      const missing = result.kind === "spawn_failed" || result.code === 127;
      if (missing) result.kind = "spawn_failed";
      const reason = missing
        ? `could not run '${cli.name}' (${
          result.code === 127 ? "command not found" : result.detail
        }): see ${logFile}`
        : result.detail;
      await this.#returnTasks(assigns, `round ${round} failed: ${reason}`);
      await endRound(town, agentId, { kind: "failed", reason }, `round ${round} failed: ${reason}`);
      if (result.kind === "spawn_failed") {
        await setAgentState(town, agentId, "error", { eventType: "agent_failed", message: reason });
        return false;
      }
    }
    this.deps.log(`${agentLabel(agent)} round ${round}: ${result.kind} (${result.detail})`);
    await town.redis.hset(town.keys.agent(agentId), "last_active_at", new Date().toISOString());
    await setAgentState(town, agentId, "idle", {
      from: ["working"],
      message: `round ${round} ended`,
    })
      .catch(ignoreConflict);
    return clean || result.kind === "killed";
  }

  /**
   * Runs the check of each of the round's tasks that the agent reported done and that has a
   * `verify` command. A pass completes the task with the reported result; a failure puts it back
   * to assigned with the end of the output (for the next prompt), and fails it after a few.
   * Returns the ids of the tasks sent back.
   */
  async #verifyReports(
    assigns: Message[],
    where: { cwd: string; env: Record<string, string>; logFile: string },
  ): Promise<Set<string>> {
    const { town, agentId } = this;
    const sentBack = new Set<string>();
    for (const m of assigns) {
      const task = await getTask(town, m.task_id!);
      if (!task?.verify || task.claimed_result === undefined || isTerminalTask(task.state)) {
        continue;
      }
      const check = await runCheck({ command: task.verify, ...where, ...this.#killable() })
        .finally(() => this.#round = undefined);
      if (this.#killReason) break; // killed meanwhile: the round's work is requeued as a whole
      if (check.passed) {
        await completeTask(town, task.id, {
          by: agentId,
          force: true,
          verified: true,
          result: task.claimed_result,
        }).catch(ignoreConflict);
        continue;
      }
      const key = town.keys.task(task.id);
      const [[, failures]] = (await town.redis.multi().hincrby(key, "verify_failures", 1)
        .hset(key, "verify_output", check.tail).hdel(key, "claimed_result").exec())! as [
          [unknown, number],
        ];
      const why = `check failed (${check.detail}): ${task.verify}`;
      if (failures >= MAX_VERIFY_FAILURES) {
        await failTask(town, task.id, {
          by: agentId,
          force: true,
          result: `${why}, ${failures} times; output ends with:\n${check.tail}`,
        }).catch(ignoreConflict);
        continue;
      }
      await returnTaskToAssigned(town, task.id, why);
      sentBack.add(task.id);
    }
    return sentBack;
  }

  /**
   * How a round's processes (the CLI, then any checks) run: the round timeout and kill grace,
   * the process group recorded on the agent (for recovery), and a fresh abort for kill/shutdown.
   */
  #killable() {
    const { town, agentId } = this;
    this.#round = new AbortController();
    return {
      timeoutMs: town.config.agent.round_timeout_secs * 1000,
      graceMs: town.config.agent.kill_grace_secs * 1000,
      onStart: (pgid: number) =>
        town.redis.hset(town.keys.agent(agentId), "round_pgid", pgid).then(() => {}),
      signal: this.#round.signal,
    };
  }

  /** Marks the round's assigned tasks running; returns every task its messages reference. */
  async #startTasks(messages: Message[]): Promise<Map<string, Task>> {
    const tasks = new Map<string, Task>();
    for (const m of messages) {
      if (m.type !== "task_assign" || !m.task_id) continue;
      const task = await getTask(this.town, m.task_id);
      if (!task) continue;
      tasks.set(task.id, task);
      if (!isTerminalTask(task.state)) await startTask(this.town, task.id, this.agentId);
    }
    return tasks;
  }

  async #returnTasks(messages: Message[], reason: string) {
    for (const m of messages) {
      if (m.type === "task_assign" && m.task_id) {
        await returnTaskToAssigned(this.town, m.task_id, reason);
      }
    }
  }

  async #senderLabels(): Promise<Map<string, string>> {
    const labels = new Map<string, string>([[SUPERVISOR_ID, "conductor"]]);
    for (const a of await listAgents(this.town)) labels.set(a.id, agentLabel(a));
    return labels;
  }

  async #stop(agent: Agent, eventType: string, why: string) {
    await setAgentState(this.town, agent.id, "stopped", { eventType, message: `stopped: ${why}` });
  }
}

function ignoreConflict(e: unknown) {
  if (!(e instanceof ConflictError)) throw e;
}
