/**
 * The supervisor: one detached process per town per host. It runs every agent placed on this
 * host as an AgentLoop, keeps a heartbeat key alive, and obeys control messages. It exits when
 * it has no agents left and no control message is waiting.
 */
import type { Redis } from "ioredis";
import { duplicateConnection } from "../redis/connection.ts";
import { openTown, type TownContext } from "../core/town.ts";
import { getAgent, listAgents } from "../core/agents.ts";
import { isTerminalAgent } from "../core/schemas.ts";
import { z } from "zod";
import { type ControlMessage, sendReply, type SupervisorInfo, thisHost } from "../core/control.ts";
import { beatHost, retireHost, supervisorFiles } from "../core/hosts.ts";
import { AgentLoop } from "./agent-loop.ts";
import { HostWatch } from "./hostwatch.ts";
import { followEvents } from "../core/events.ts";
import { VERSION } from "../version.ts";

/** A control message as the supervisor accepts it (core/control.ts has its type). */
const ControlMessageSchema: z.ZodType<ControlMessage> = z.discriminatedUnion("op", [
  z.object({ op: z.literal("start"), agent_id: z.string(), reply: z.string().optional() }),
  z.object({
    op: z.literal("kill"),
    agent_id: z.string(),
    reason: z.string(),
    reply: z.string().optional(),
  }),
  z.object({ op: z.literal("wake"), agent_id: z.string(), reply: z.string().optional() }),
  z.object({ op: z.literal("shutdown"), now: z.boolean(), reply: z.string().optional() }),
]);

/** Heartbeats per host_timeout_secs (the heartbeat's TTL), at most this far apart. */
const HEARTBEAT_MS = 3000;
const REDIS_LOST_MS = 60_000;

export interface SuperviseOptions {
  town?: string;
  /** Reply list to signal readiness on. */
  ready?: string;
}

export async function supervise(opts: SuperviseOptions): Promise<number> {
  const town = await openTown({ town: opts.town, clientName: "tt-supervisor", persistent: true });
  const host = thisHost();
  // One lock and log per host: two TT_HOSTs on one machine are two supervisors of the town.
  const files = supervisorFiles(town.root, host);
  const log = await openLog(files.log);
  const lockFile = await Deno.open(files.lock, {
    create: true,
    write: true,
    mode: 0o600,
  });
  // Another supervisor may be exiting right now; wait for its lock unless it is alive and serving.
  const deadline = Date.now() + 10_000;
  while (!(await lockFile.tryLock(true))) {
    if (Date.now() > deadline || await town.redis.exists(town.keys.supervisor(host))) {
      await sendReply(town, opts.ready, "already-running");
      await town.close();
      return 0;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const { runPermissionProbes } = await import("./narrowed.ts");
  await runPermissionProbes(log);
  const sup = new Supervisor(town, host, log);
  try {
    return await sup.run(opts.ready);
  } finally {
    lockFile.close();
  }
}

async function openLog(path: string) {
  const file = await Deno.open(path, { create: true, append: true, mode: 0o600 });
  const enc = new TextEncoder();
  return (line: string) => {
    file.writeSync(enc.encode(`${new Date().toISOString()} ${line}\n`));
  };
}

class Supervisor {
  #loops = new Map<string, AgentLoop>();
  #control!: Redis;
  /**
   * The heartbeat's own connection: on the shared one a beat queued behind state changes that
   * wait for replicas (WAIT holds a connection up to wait_timeout_ms, again and again while a
   * failover left no replica), and the host was taken for lost while it ran.
   */
  #beats!: Redis;
  #stopping = false;
  readonly ttlSecs: number;
  readonly #watch: HostWatch;

  constructor(
    readonly town: TownContext,
    readonly host: string,
    readonly log: (l: string) => void,
  ) {
    this.ttlSecs = town.config.agent.host_timeout_secs;
    this.#watch = new HostWatch(town, () => this.#info(), this.ttlSecs, {
      log,
      wakeAll: async () => {
        await Promise.all([...this.#loops.values()].map((l) => l.wake()));
      },
    });
  }

  async run(ready?: string): Promise<number> {
    const { town } = this;
    this.#control = await duplicateConnection(town.redis);
    this.#beats = await duplicateConnection(town.redis);
    // This host back after being taken for lost: its agents resume before their loops start.
    await this.#watch.afterBeat(await this.#beat());
    let lastBeat = Date.now();
    const beat = setInterval(() => {
      if (Date.now() - lastBeat > REDIS_LOST_MS) this.#lostRedis();
      this.#beat().then((r) => {
        lastBeat = Date.now();
        if (!this.#stopping) void this.#watch.afterBeat(r);
      }, (e) => this.log(`heartbeat failed: ${e}`));
    }, Math.min(HEARTBEAT_MS, Math.floor((this.ttlSecs * 1000) / 3)));
    const onSignal = () => {
      this.log("signal received: stopping agents now");
      this.#shutdown(true);
    };
    Deno.addSignalListener("SIGTERM", onSignal);
    Deno.addSignalListener("SIGINT", onSignal);
    this.log(`supervisor ${Deno.pid} started on ${this.host}`);
    for (const a of await listAgents(town)) {
      if ((a.host ?? this.host) === this.host && !isTerminalAgent(a.state)) this.#startLoop(a.id);
    }
    const { startDispatcher } = await import("../core/missions/dispatcher.ts");
    const dispatcher = await startDispatcher(town, { host: this.host, log: this.log });
    const { openOperatorChannel } = await import("./channel/operator.ts");
    const operator = await openOperatorChannel(town, this.host, this.log);
    await sendReply(town, ready, "ok");
    const watching = new AbortController();
    const watcher = this.#wakeOnBacklogWork(watching.signal);
    try {
      await this.#controlLoop();
    } finally {
      await operator?.close(); // from now on the operator's commands run in their own process
      watching.abort();
      await dispatcher.stop();
      await watcher.catch((e) => this.log(`event watcher failed: ${e}`));
      clearInterval(beat);
      Deno.removeSignalListener("SIGTERM", onSignal);
      Deno.removeSignalListener("SIGINT", onSignal);
      await Promise.all([...this.#loops.values()].map((l) => l.start()));
      await retireHost(town, this.#info(), this.ttlSecs, false).catch(() => {});
      this.#control.disconnect();
      this.#beats.disconnect();
      await town.close();
      this.log(`supervisor ${Deno.pid} exited`);
    }
    return 0;
  }

  /**
   * Redis has been unreachable for a minute (stopped, or a test harness gone): nothing can be
   * recorded any more, so stop the running CLIs (by signal only) and exit; the next supervisor
   * requeues their rounds from Redis.
   */
  #lostRedis() {
    this.log(
      `Redis unreachable for ${REDIS_LOST_MS / 1000} s: stopping running rounds and exiting`,
    );
    for (const loop of this.#loops.values()) loop.abortRound();
    setTimeout(() => Deno.exit(1), 1000);
  }

  #info(): SupervisorInfo {
    return {
      pid: Deno.pid,
      host: this.host,
      started_at: this.startedAt,
      version: VERSION,
      agents: this.#loops.size,
    };
  }

  /** Heartbeat (TTL [agent] host_timeout_secs); reports hosts seen lost (hostwatch.ts). */
  async #beat() {
    return await beatHost({ ...this.town, redis: this.#beats }, this.#info(), this.ttlSecs);
  }
  readonly startedAt = new Date().toISOString();

  #startLoop(agentId: string) {
    if (this.#loops.has(agentId)) return;
    const loop = new AgentLoop(this.town, agentId, {
      log: this.log,
      shuttingDown: () => this.#stopping,
    });
    this.#loops.set(agentId, loop);
    // The heartbeat carries the number of agents (tt status, tt stop): refresh it now.
    this.#beat().catch((e) => this.log(`heartbeat failed: ${e}`));
    loop.start().finally(() => {
      this.#loops.delete(agentId);
      this.log(`agent ${agentId} loop ended`);
      if (!this.#stopping) this.#beat().catch((e) => this.log(`heartbeat failed: ${e}`));
      // Wake the control loop so it can notice that nothing is left to supervise.
      this.town.redis.rpush(
        this.town.keys.control(this.host),
        JSON.stringify({ op: "wake", agent_id: "" }),
      )
        .catch(() => {});
    });
  }

  /** New backlog work wakes the idle agents, which then try to claim it (blocking read, no polling). */
  async #wakeOnBacklogWork(signal: AbortSignal) {
    await followEvents(this.town, "$", async (ev) => {
      const backlogWork = (ev.type === "task_created" && ev.new_state === "pending") ||
        (ev.type === "task_requeued" && ev.new_state === "pending") ||
        // Work moved off a stopped agent or a lost host's agents (reclaim.ts, hosts.ts).
        ev.type === "work_reclaimed";
      if (!backlogWork) return;
      await Promise.all([...this.#loops.values()].map((l) => l.wake()));
    }, signal);
  }

  async #controlLoop() {
    const key = this.town.keys.control(this.host);
    while (!this.#stopping) {
      if (this.#loops.size === 0) {
        // Only if no control message waits, so no request is ever dropped.
        if (await retireHost(this.town, this.#info(), this.ttlSecs, true)) return;
      }
      const res = await this.#control.blpop(key, 0).catch((e) => {
        if (this.#stopping) return null;
        throw e;
      });
      if (!res) continue;
      let msg: ControlMessage;
      try {
        msg = ControlMessageSchema.parse(JSON.parse(res[1]));
      } catch {
        this.log(`ignored malformed control message: ${res[1].slice(0, 200)}`);
        continue;
      }
      await this.#handle(msg).catch((e) => {
        this.log(`control ${msg.op} failed: ${(e as Error).stack ?? e}`);
        return sendReply(this.town, msg.reply, `error: ${(e as Error).message}`);
      });
    }
  }

  async #handle(msg: ControlMessage) {
    switch (msg.op) {
      case "start": {
        const a = await getAgent(this.town, msg.agent_id);
        if (a && !isTerminalAgent(a.state)) this.#startLoop(a.id);
        return await sendReply(this.town, msg.reply, a ? "ok" : "error: no such agent");
      }
      case "kill": {
        const loop = this.#loops.get(msg.agent_id);
        if (loop) await loop.kill(msg.reason);
        return await sendReply(this.town, msg.reply, loop ? "ok" : "not-running");
      }
      case "wake": {
        await this.#loops.get(msg.agent_id)?.wake();
        return await sendReply(this.town, msg.reply, "ok");
      }
      case "shutdown": {
        await this.#shutdown(msg.now);
        return await sendReply(this.town, msg.reply, "ok");
      }
    }
  }

  /** `now`: kill running rounds (their work goes back to the inbox); else let them finish. */
  async #shutdown(now: boolean) {
    this.#stopping = true;
    const { closeAgent } = await import("../core/lifecycle.ts");
    await Promise.all([...this.#loops.entries()].map(async ([id, loop]) => {
      if (now) await loop.kill("supervisor shutdown");
      else {
        await closeAgent(this.town, id, "supervisor shutdown").catch(() => {});
        await loop.wake();
        await loop.start();
      }
    }));
    this.#control.disconnect();
  }
}
