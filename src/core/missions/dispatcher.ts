/**
 * The mission dispatcher: runs inside every supervisor, acts in one at a time per town (a Redis
 * lease with a fencing token, checked by every script it runs). It never ticks: it blocks on the
 * town event stream and reacts to each event that concerns a mission (a mission task ending, a
 * mission started or resumed by the operator, an agent appearing or becoming idle), so a
 * dependant is assigned as soon as its last dependency is done.
 */
import { emitEvent, followEvents, lastEventId } from "../events.ts";
import type { Ctx } from "../agents.ts";
import type { TownEvent } from "../schemas.ts";
import { evalScript, runScript } from "../../redis/script.ts";
import { processAlive } from "../../redis/server.ts";
import { TaskBinding } from "./schemas.ts";
import { ACQUIRE_LEASE, RELEASE_LEASE, RENEW_LEASE } from "./scripts.ts";
import {
  helpDueAt,
  LeaseLost,
  onTaskEnded,
  reconcile,
  type SchedCtx,
  scheduleMission,
} from "./scheduler.ts";
import { loadFrontiers } from "./frontier.ts";
import { checkWatches, nextWatchAt } from "./watch.ts";
import type { GitHubSource } from "./github.ts";

export interface DispatcherOptions {
  host: string;
  log: (line: string) => void;
  /** Lease length; renewed every third of it. */
  leaseMs?: number;
  /** Base interval of repeated help requests (default 30 min). */
  helpRepeatMs?: number;
}

export interface DispatcherHandle {
  stop(): Promise<void>;
}

const TASK_ENDS = new Set(["task_completed", "task_failed", "task_cancelled"]);
/** Mission events the dispatcher itself emits carry actor=dispatcher and are not reacted to. */
const isOwn = (ev: TownEvent) => ev.actor === "dispatcher";

/** Starts the dispatcher loop in the background; `stop()` ends it and gives the lease up. */
/**
 * Starts the dispatcher: the first attempt at the lease is made before this resolves (so a
 * supervisor that reports ready has its dispatcher's keys in place); the rest runs in the
 * background until `stop()`, which gives the lease up.
 */
export async function startDispatcher(t: Ctx, opts: DispatcherOptions): Promise<DispatcherHandle> {
  const d = new Dispatcher(t, opts);
  const first = await d.tryAcquire().catch(() => undefined);
  const done = d.run(first).catch((e) =>
    opts.log(`dispatcher stopped: ${(e as Error).stack ?? e}`)
  );
  return {
    async stop() {
      d.stop();
      await done;
    },
  };
}

class Dispatcher {
  #stopped = new AbortController();
  #leaseMs: number;
  #holder: string;
  #wakeTimer?: ReturnType<typeof setTimeout>;
  #gh?: GitHubSource;

  constructor(readonly t: Ctx, readonly opts: DispatcherOptions) {
    this.#leaseMs = opts.leaseMs ?? 15_000;
    this.#holder = `${opts.host}:${Deno.pid}`;
  }

  stop() {
    this.#stopped.abort();
  }

  async run(first?: string) {
    const stopped = this.#stopped.signal;
    while (!stopped.aborted) {
      const token = first ?? await this.#acquire();
      first = undefined;
      if (!token) continue;
      this.opts.log(`dispatcher: lease taken (${token})`);
      const held = new AbortController();
      const onStop = () => held.abort();
      stopped.addEventListener("abort", onStop, { once: true });
      // A stop while the lease was being taken has already fired: a listener added now never
      // would, and the stream below would block forever (the supervisor could not exit).
      if (stopped.aborted) held.abort();
      // A renewal is liveness, not a state change: no WAIT for replicas (the fence token keeps
      // a lease lost in a failover safe), and never two in flight (they piled up behind WAITs).
      let renewing = false;
      const renew = setInterval(() => {
        if (renewing) return;
        renewing = true;
        evalScript(this.t.redis, RENEW_LEASE, [this.t.keys.dispatcherLock], [token, this.#leaseMs])
          .then((ok) => {
            if (ok !== 1) {
              this.opts.log("dispatcher: lease lost");
              held.abort();
            }
          }, (e) => this.opts.log(`dispatcher: lease renewal failed: ${e}`))
          .finally(() => renewing = false);
      }, Math.max(50, Math.floor(this.#leaseMs / 3)));
      try {
        await this.#serve(
          { t: this.t, token, helpRepeatMs: this.opts.helpRepeatMs ?? 1_800_000 },
          held.signal,
        );
      } catch (e) {
        if (!(e instanceof LeaseLost)) {
          this.opts.log(`dispatcher error (retrying): ${(e as Error).stack ?? e}`);
          await this.#sleep(1000);
        } else this.opts.log("dispatcher: lease taken over, standing by");
      } finally {
        clearInterval(renew);
        clearTimeout(this.#wakeTimer);
        stopped.removeEventListener("abort", onStop);
        await runScript(this.t.redis, RELEASE_LEASE, [this.t.keys.dispatcherLock], [token]).catch(
          () => {},
        );
      }
    }
  }

  #sleep(ms: number) {
    return new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      this.#stopped.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        r();
      }, { once: true });
    });
  }

  /**
   * Takes the lease, or waits for it: a lease held by a dead supervisor of this host is taken
   * over at once; one held elsewhere is waited for (it expires unless renewed).
   */
  async #acquire(): Promise<string | undefined> {
    for (;;) {
      if (this.#stopped.signal.aborted) return undefined;
      const token = await this.tryAcquire();
      if (token) return token;
      await this.#sleep(Math.floor(this.#leaseMs / 3));
    }
  }

  /** One attempt at the lease (taking it over from a dead holder of this host). */
  async tryAcquire(): Promise<string | undefined> {
    const { t } = this;
    let dead = "";
    for (let i = 0; i < 3; i++) {
      const [ok, value] =
        (await runScript(t.redis, ACQUIRE_LEASE, [t.keys.dispatcherLock, t.keys.dispatcherFence], [
          this.#leaseMs,
          this.#holder,
          dead,
        ])) as [number, string];
      if (ok === 1) return value;
      const [, host, pid] = value.split(":");
      const deadHere = host === this.opts.host && Number(pid) !== Deno.pid &&
        !(await processAlive(Number(pid)));
      if (!deadHere) return undefined;
      dead = value;
    }
    return undefined;
  }

  /** While the lease is held: catch up with what happened meanwhile, then follow the stream. */
  async #serve(s: SchedCtx, held: AbortSignal) {
    // Linked before any await: a stop during the catch-up below must still end the stream.
    const watch = new AbortController();
    held.addEventListener("abort", () => watch.abort(), { once: true });
    const from = await lastEventId(this.t);
    await reconcile(s);
    await this.#armWakeTimer(s);
    let failure: unknown;
    if (held.aborted) return;
    await followEvents(this.t, from, async (ev) => {
      try {
        await this.#react(s, ev);
      } catch (e) {
        failure = e;
        watch.abort();
      }
    }, watch.signal);
    if (failure) throw failure;
  }

  async #react(s: SchedCtx, ev: TownEvent) {
    if (TASK_ENDS.has(ev.type) && ev.task_id) {
      const raw = await this.t.redis.hget(this.t.keys.missionTasks, ev.task_id);
      if (!raw) return;
      const b = TaskBinding.safeParse(JSON.parse(raw));
      if (!b.success) return;
      await onTaskEnded(s, b.data, ev.task_id, ev.id, ev.actor);
      await scheduleMission(s, b.data.mission, ev.id);
    } else if (ev.type === "mission_wake" && ev.mission_id) {
      await checkWatches(s, await this.#github(), ev.mission_id, ev.id);
      await scheduleMission(s, ev.mission_id, ev.id);
    } else if (ev.type.startsWith("mission_") && ev.mission_id && !isOwn(ev)) {
      await scheduleMission(s, ev.mission_id, ev.id);
    } else if (
      ev.type === "agent_spawned" ||
      (ev.type === "agent_state_changed" && ev.new_state === "idle" && ev.old_state !== "idle")
    ) {
      // New capacity: missions waiting for an agent can go on.
      for (const id of await this.t.redis.smembers(this.t.keys.missionsActive)) {
        await scheduleMission(s, id, ev.id);
      }
    } else return;
    await this.#armWakeTimer(s);
  }

  /** The GitHub client of watches: made on first use; short waits, so the stream never stalls. */
  async #github(): Promise<GitHubSource> {
    if (!this.#gh) {
      const { githubFromEnv } = await import("./github.ts");
      this.#gh = await githubFromEnv({ maxWaitMs: 5_000, retries: 2, timeoutMs: 15_000 });
    }
    return this.#gh;
  }

  /**
   * One timer for the earliest moment a mission must be looked at again without an event: a
   * pull request watch's next check, or a help request due again (back-off, not a polling tick).
   */
  async #armWakeTimer(s: SchedCtx) {
    clearTimeout(this.#wakeTimer);
    const views = await loadFrontiers(
      this.t,
      await this.t.redis.smembers(this.t.keys.missionsActive),
    );
    const due = views.flatMap((v) => {
      const at = [helpDueAt(s, v.mission), nextWatchAt([v])].filter((x): x is number =>
        x !== undefined
      );
      return at.length ? [{ id: v.mission.id, at: Math.min(...at) }] : [];
    }).sort((a, b) => a.at - b.at)[0];
    if (!due) return;
    this.#wakeTimer = setTimeout(() => {
      // The wake-up goes through the same stream: everything the dispatcher does stays serial.
      emitEvent(this.t, {
        type: "mission_wake",
        message: `mission ${due.id.slice(0, 8)}: a watch check or help request is due`,
        mission_id: due.id,
      }).catch(() => {});
    }, Math.max(0, due.at - Date.now()));
  }
}
