/**
 * The supervisor's side of many hosts: after each heartbeat (src/core/hosts.ts beatHost), handle
 * what it reported. Another host seen lost is handled by whichever live supervisor gets the hosts
 * lock first (the others skip it; the next beat no longer reports it); this host taken for lost
 * (its heartbeat expired while it ran, or it was killed and restarted) resumes its lost agents.
 * Work that reaches a lost host's agents later is moved too (at most once per host_timeout_secs). One pass at a
 * time: a beat that arrives while a pass runs is skipped.
 */
import type { TownContext } from "../core/town.ts";
import type { SupervisorInfo } from "../core/control.ts";
import type { BeatResult } from "../core/hosts.ts";
import { handleLostHost, resumeHost, sweepLostHost, withHostsLock } from "../core/hostloss.ts";

export interface HostWatchDeps {
  log: (line: string) => void;
  /** Wakes this supervisor's agent loops (lost agents resumed, work moved to the backlog). */
  wakeAll: () => Promise<void>;
}

export class HostWatch {
  #busy = false;
  #lastSweep = 0;

  constructor(
    readonly town: TownContext,
    readonly info: () => SupervisorInfo,
    readonly ttlSecs: number,
    readonly deps: HostWatchDeps,
  ) {}

  /** Never rejects: a failed pass is logged and retried by the next beat. */
  async afterBeat(beat: BeatResult): Promise<void> {
    const sweep = beat.still.length > 0 && this.town.config.agent.on_host_loss === "backlog" &&
      Date.now() - this.#lastSweep >= this.ttlSecs * 1000;
    if (this.#busy || (beat.prev !== "lost" && !beat.lost.length && !sweep)) return;
    this.#busy = true;
    try {
      await this.#pass(beat);
      if (sweep) {
        this.#lastSweep = Date.now();
        await this.#sweep(beat.still);
      }
    } catch (e) {
      this.deps.log(`host watch failed: ${(e as Error).stack ?? e}`);
    } finally {
      this.#busy = false;
    }
  }

  async #pass(beat: BeatResult) {
    const { town } = this;
    const me = this.info();
    if (beat.prev === "lost") {
      const resumed = await resumeHost(town, me, this.ttlSecs);
      if (resumed === undefined) {
        this.deps.log("host back: the hosts lock stayed taken; next beat retries");
      } else {
        this.deps.log(
          `host ${me.host} back after being lost; resumed: ${resumed.join(", ") || "none"}`,
        );
        await this.deps.wakeAll();
      }
    }
    for (const host of beat.lost) {
      const r = await withHostsLock(town, () => handleLostHost(town, host, me.host));
      if (!r) continue; // another supervisor is on it
      if (!r.lost) continue; // back already, or handled
      this.deps.log(
        `host ${host} lost (${town.config.agent.on_host_loss}): ${r.moved} message(s) of ${
          r.agents.join(", ") || "no agent"
        } moved`,
      );
      if (r.moved) await this.deps.wakeAll();
    }
  }

  async #sweep(hosts: string[]) {
    for (const host of hosts) {
      const moved = await withHostsLock(this.town, () => sweepLostHost(this.town, host));
      if (!moved) continue;
      this.deps.log(`host ${host} still lost: ${moved} message(s) that arrived since moved`);
      await this.deps.wakeAll();
    }
  }
}
