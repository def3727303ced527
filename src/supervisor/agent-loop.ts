/**
 * One agent's life inside the supervisor: block on its wake list while idle, take a round of
 * messages, run the CLI, end the round (acknowledge, or put the messages back in order).
 */
import type { Redis } from "ioredis";
import { duplicateConnection } from "../redis/connection.ts";
import type { TownContext } from "../core/town.ts";
import {
  agentLabel,
  forgetCliSession,
  getAgent,
  setAgentState,
  type StateChange,
} from "../core/agents.ts";
import { type Agent, isTerminalAgent } from "../core/schemas.ts";
import { categoryOf } from "../core/messages.ts";
import { endRound, type TakenRound, takeRound } from "../core/rounds.ts";
import { beginRound } from "../core/round_start.ts";
import { emitEvent } from "../core/events.ts";
import { ignoreConflict } from "../core/errors.ts";
import { claimForAgent } from "../core/autoclaim.ts";
import { returnRoundTasks, roundContext, runCliRound } from "./round.ts";
import { becomeIdle, recoverCutOffRound } from "./round-recovery.ts";
import { endCleanRound, roundEnded } from "./round-end.ts";
import { notifyState } from "./notify.ts";
import { releaseWork } from "./stop.ts";
import { reactionTo } from "./reaction.ts";
import { BudgetGate } from "./budget.ts";

export interface LoopDeps {
  log: (line: string) => void;
  /**
   * True while the supervisor shuts down (`tt stop`): its agents stop but keep their queued work
   * for when the town starts again; any other stop releases it (stop.ts).
   */
  shuttingDown?: () => boolean;
}

/** Stops whose caller takes care of the agent's queued work itself. */
const KEEPS_WORK = new Set(["supervisor shutdown", "pruned"]);

const HEARTBEAT_MS = 10_000;

export class AgentLoop {
  #blocker?: Redis;
  #round?: AbortController;
  #killReason?: string;
  #done: Promise<void> | undefined;
  #failures = 0;
  #cutPause?: () => void;
  #gate: BudgetGate;
  /** The last round ended clean, the agent idle, with nothing waiting for it. */
  #nothingWaits = false;

  constructor(readonly town: TownContext, readonly agentId: string, private deps: LoopDeps) {
    this.#gate = new BudgetGate(town, agentId, deps.log);
  }

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
    await recoverCutOffRound(town, agentId);
    for (;;) {
      const agent = await getAgent(town, agentId);
      if (!agent || isTerminalAgent(agent.state)) return;
      if (this.#killReason) {
        return await this.#stop(agent, "agent_stopped", `killed: ${this.#killReason}`);
      }
      if (agent.state === "draining") return await this.#stop(agent, "agent_stopped", "closed");
      // lost: its host was taken for lost and its work moved; it waits for the host's return.
      if (agent.state === "paused" || agent.state === "needs_input" || agent.state === "lost") {
        await this.#block(0);
        continue;
      }
      if (await this.#gate.hold(agent, (s) => this.#block(s))) continue; // budget, usage limit
      if (agent.state === "rate_limited") {
        await this.#waitForReset(agent);
        continue;
      }
      if (agent.round >= agent.max_rounds) {
        return await this.#stop(agent, "agent_stopped", `reached its ${agent.max_rounds} rounds`);
      }
      const taken = await takeRound(town, agentId, { dropStale: true });
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
        await becomeIdle(town, agent);
        if (taken.backlog && await claimForAgent(town, agent)) continue; // oldest of its role
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
      this.#nothingWaits = false;
      const ok = await this.#runRound(agent, taken);
      if (ok === "stop") continue; // the state says what happens next
      this.#failures = ok ? 0 : this.#failures + 1;
      if (this.#failures) await this.#pause(Math.min(2 ** (this.#failures - 1), 30) * 1000);
      else if (
        this.#nothingWaits && !this.#killReason && agent.round + 1 < agent.max_rounds &&
        !(await this.#gate.hold({ ...agent, state: "idle" }, (secs) => this.#block(secs)))
      ) {
        // Idle with nothing waiting (endRound's script looked), under its limits: block now (a
        // message, kill or state change pushes a wake token), not after a read and an empty take.
        await this.#block(Math.max(0, town.config.agent.idle_timeout_secs));
      }
    }
  }

  /** Backs off after failed rounds (a kill or shutdown cuts the wait short). */
  async #pause(ms: number) {
    if (this.#killReason) return;
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

  /**
   * Runs one round; false if it failed (non-zero exit, timeout, stall, crash), "stop" if the
   * agent left the running states (error, rate_limited).
   */
  async #runRound(agent: Agent, { messages, backlog }: TakenRound): Promise<boolean | "stop"> {
    const { town, agentId } = this;
    const round = agent.round + 1;
    let tasks, context;
    try {
      // One script: state working (also from working: only this loop makes an agent working, so
      // that means the end of an earlier round was lost in a Redis restart, and refusing would
      // retry at once, forever), round fields, tasks started. The prompt's reads go with it.
      [tasks, context] = await Promise.all([
        beginRound(town, agentId, round, messages),
        roundContext(town, agent, messages, backlog),
      ]);
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
    const heartbeat = setInterval(() => {
      town.redis.hset(town.keys.agent(agentId), "last_heartbeat", new Date().toISOString()).catch(
        () => {},
      );
    }, HEARTBEAT_MS);
    const run = await runCliRound({
      town,
      agent,
      round,
      messages,
      tasks,
      context,
      killable: this.#killable(),
    }).finally(() => {
      clearInterval(heartbeat);
      this.#round = undefined;
    });
    const { result } = run;
    const assigns = messages.filter((m) => m.type === "task_assign" && m.task_id);
    const reaction = reactionTo(run, this.#killReason ?? run.capped);
    this.deps.log(`${agentLabel(agent)} round ${round}: ${result.kind} (${reaction.why})`);
    if (reaction.kind === "ok") {
      const end = await endCleanRound({
        town,
        agentId,
        round,
        assigns,
        run,
        killable: () => this.#killable(),
        done: () => this.#round = undefined,
        killed: () => !!this.#killReason,
      });
      if (end.idle) { // endRound moved the agent to idle
        this.#nothingWaits = end.clean && end.after.queued === 0 && end.after.backlog === 0;
        return end.clean;
      }
      if (end.question !== undefined) {
        const moved = await this.#enter("needs_input", {
          eventType: "agent_needs_input",
          from: ["working"],
          message: `needs input: ${end.question}`,
          why: end.question,
        });
        if (moved) return "stop";
      }
      await this.#roundOver(round);
      return end.clean;
    }
    if (reaction.kind === "killed") {
      await returnRoundTasks(this.town, assigns, `round ${round} killed`);
      await endRound(
        town,
        agentId,
        { kind: "cutoff", reason: reaction.why },
        `round ${round} killed`,
        { idle: roundEnded(round) },
      );
      return true;
    }
    await returnRoundTasks(this.town, assigns, `round ${round} failed: ${reaction.why}`);
    await endRound(
      town,
      agentId,
      { kind: "failed", reason: reaction.why },
      `round ${round} failed: ${reaction.why}`,
      // A retry goes back to idle in the same script; error and rate_limited move on below.
      reaction.kind === "retry" ? { idle: roundEnded(round) } : {},
    );
    // A resumed session that failed may be the cause: the next round starts a new one.
    if (run.resumed && reaction.kind === "retry") await forgetCliSession(town, agentId);
    if (reaction.kind === "error") {
      await this.#enter("error", {
        eventType: "agent_failed",
        message: `error: ${reaction.why}`,
        why: reaction.why,
      });
      await releaseWork(town, agentId, reaction.why);
      return "stop";
    }
    if (reaction.kind === "rate_limited") {
      const moved = await this.#enter("rate_limited", {
        eventType: "agent_rate_limited",
        from: ["working"],
        message: `rate limited until ${reaction.resumeAt}: ${reaction.why}`,
        why: reaction.why,
        resumeAt: reaction.resumeAt,
      });
      if (moved) return "stop";
      await this.#roundOver(round);
    }
    return false;
  }

  /**
   * Moves the agent to a state that needs a human or a wait (error, rate_limited, needs_input) and
   * runs `[notify] command` with the event. False if the state had changed meanwhile (`from`).
   */
  async #enter(state: "error" | "rate_limited" | "needs_input", change: StateChange) {
    const moved = await setAgentState(this.town, this.agentId, state, change).then(
      () => true,
      (e) => (ignoreConflict(e), false),
    );
    if (moved) await notifyState(this.town, this.agentId, state, change, this.deps.log);
    return moved;
  }

  async #roundOver(round: number) {
    const { town, agentId } = this;
    await town.redis.hset(town.keys.agent(agentId), "last_active_at", new Date().toISOString());
    await setAgentState(town, agentId, "idle", {
      from: ["working"],
      message: roundEnded(round),
    })
      .catch(ignoreConflict);
  }

  /**
   * A rate-limited agent sleeps until the reset time its CLI reported (a blocking wait on its
   * wake list: a kill or state change cuts it short), then goes back to idle by itself.
   */
  async #waitForReset(agent: Agent) {
    const left = (Date.parse(agent.resume_at ?? "") || 0) - Date.now();
    if (left > 0) {
      await this.#block(Math.max(0.1, left / 1000));
      return;
    }
    await setAgentState(this.town, agent.id, "idle", {
      eventType: "agent_rate_limit_over",
      from: ["rate_limited"],
      message: `usage limit reset (${agent.resume_at ?? "time unknown"}): resuming`,
    }).catch(ignoreConflict);
  }

  /**
   * How a round's processes (the CLI, then any checks) run: the round timeout and kill grace,
   * the process group recorded on the agent (for recovery), and a fresh abort for kill/shutdown.
   */
  #killable() {
    const { town, agentId } = this;
    this.#round = new AbortController();
    // A kill that came while no process ran (the round starting, between the CLI and its
    // checks) found nothing to abort: this round's processes are stopped before they start.
    if (this.#killReason) this.#round.abort();
    return {
      timeoutMs: town.config.agent.round_timeout_secs * 1000,
      graceMs: town.config.agent.kill_grace_secs * 1000,
      onStart: (pgid: number) =>
        town.redis.hset(town.keys.agent(agentId), "round_pgid", pgid).then(() => {}),
      signal: this.#round.signal,
    };
  }

  async #stop(agent: Agent, eventType: string, why: string) {
    await setAgentState(this.town, agent.id, "stopped", {
      eventType,
      message: `stopped: ${why}`,
      why,
    });
    const keep = this.deps.shuttingDown?.() || KEEPS_WORK.has(this.#killReason ?? "");
    if (!keep) await releaseWork(this.town, agent.id, why);
  }
}
