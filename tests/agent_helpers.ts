/** Helpers for tests that run real agents (supervisor + fake agent CLIs). */
import { followEvents, recentEvents } from "../src/core/events.ts";
import type { TownEvent } from "../src/core/schemas.ts";
import type { TownContext } from "../src/core/town.ts";
import { ROOT, Sandbox, townOf, ttCommand } from "./helpers.ts";
import { supervisorInfo } from "../src/core/control.ts";
import { processAlive } from "../src/redis/server.ts";
import { SUPERVISOR_ID } from "../src/core/keys.ts";
import { getTask } from "../src/core/tasks.ts";
import assert from "node:assert/strict";

export const FAKE_AGENT = `${ROOT}/tests/fixtures/fake-agent.sh`;

/** The --cli value that runs the fake agent in `mode`, with a private state dir. */
export function fakeCli(mode: string, stateDir?: string): string {
  return `${stateDir ? `FAKE_STATE='${stateDir}' ` : ""}sh '${FAKE_AGENT}' ${mode}`;
}

/**
 * Resolves with the first event (already in the stream or arriving later) that matches.
 * Blocks on the stream; `limitMs` only bounds a broken test, it is not a timing assumption.
 */
export async function waitForEvent(
  t: TownContext,
  match: (ev: TownEvent) => boolean,
  limitMs = 60_000,
): Promise<TownEvent> {
  const seen = (await recentEvents(t, { count: 10_000 })).find(match);
  if (seen) return seen;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), limitMs);
  let found: TownEvent | undefined;
  try {
    await followEvents(t, "0-0", (ev) => {
      if (!found && match(ev)) {
        found = ev;
        ac.abort();
      }
    }, ac.signal);
  } finally {
    clearTimeout(timer);
  }
  if (!found) throw new Error(`no matching event within ${limitMs} ms`);
  return found;
}

/**
 * Waits until no supervisor serves the town: unregistered, and its dispatcher lease given back
 * (a supervisor with nothing left to run unregisters first, then stops its dispatcher: a snapshot
 * taken in between still has the lease).
 */
export async function untilNoSupervisor(t: TownContext) {
  await waitUntil(async () =>
    !(await supervisorInfo(t)) && !(await t.redis.exists(t.keys.dispatcherLock))
  );
}

/** A sandboxed town with fast agent settings; stops its supervisor and Redis state on cleanup. */
export class AgentTown {
  sb = new Sandbox();
  name = "";
  t!: TownContext;

  static async create(agentSettings = "") {
    const at = new AgentTown();
    at.name = await at.sb.init();
    if (agentSettings) {
      const path = `${at.sb.dir}/tinytown.toml`;
      let text = await Deno.readTextFile(path);
      for (const line of agentSettings.split("\n")) {
        const key = line.split("=")[0].trim();
        const existing = new RegExp(`^${key}\\s*=.*$`, "m");
        text = existing.test(text)
          ? text.replace(existing, line)
          : text.replace(/^\[agent\]$/m, `[agent]\n${line}`);
      }
      await Deno.writeTextFile(path, text);
    }
    at.t = await townOf(at.name);
    return at;
  }

  /**
   * Writes the town's Redis URL into its tinytown.toml, where the library (Town.connect) reads it:
   * this process has no REDIS_URL. Returns the town's directory.
   */
  async pinRedis(): Promise<string> {
    const path = `${this.sb.dir}/tinytown.toml`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(
      path,
      text.replace(/^\[redis\]$/m, `[redis]\nurl = "${this.sb.redisUrl}"`),
    );
    return this.sb.dir;
  }

  /**
   * SIGKILLs the town's supervisor and waits until it is gone; the heartbeat it leaves behind is
   * made to last 10 minutes instead of its TTL (what a kill -9 leaves, long enough for the test).
   */
  async killSupervisorKeepingHeartbeat() {
    const sup = (await supervisorInfo(this.t))!;
    const key = this.t.keys.supervisor(sup.host);
    const heartbeat = (await this.t.redis.get(key))!;
    Deno.kill(sup.pid, "SIGKILL");
    await waitUntil(async () => !(await processAlive(sup.pid)));
    await this.t.redis.set(key, heartbeat, "EX", 600);
    return { sup, key };
  }

  async cleanup() {
    const info = await supervisorInfo(this.t);
    if (info) {
      try {
        Deno.kill(info.pid, "SIGTERM");
      } catch { /* gone */ }
      try {
        await waitUntil(async () => !(await supervisorInfo(this.t)));
      } catch {
        // Say why: is the process still there, and what did it log last?
        const alive = await processAlive(info.pid);
        let log = "";
        try {
          log = (await Deno.readTextFile(`${this.sb.dir}/.tt/logs/supervisor.log`))
            .split("\n").slice(-15).join("\n");
        } catch { /* no log */ }
        throw new Error(
          `supervisor ${info.pid} still registered 30 s after SIGTERM (process ${
            alive ? "alive" : "gone"
          }); its log ends:\n${log}`,
        );
      }
    }
    await this.t.close();
    this.sb.cleanup();
  }
}

/** Re-checks a condition whenever asked, up to a generous bound (for process exits). */
export async function waitUntil(cond: () => Promise<boolean> | boolean, limitMs = 30_000) {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 25));
  }
}

export { processAlive as alive } from "../src/redis/server.ts";

/** Starts `tt <args>` in the sandbox's town, not awaited: stdin closed, stdout and stderr piped. */
export function spawnTt(sb: Sandbox, args: string[]): Deno.ChildProcess {
  const { cmd, args: pre } = ttCommand();
  return new Deno.Command(cmd, {
    args: [...pre, ...args],
    cwd: sb.dir,
    env: { ...sb.env(), DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** A `tt` running in the background (logs -f, stop…): its output so far, and how it ended. */
export class BackgroundTt {
  #out = "";
  #err = "";
  #exited = false;
  readonly child: Deno.ChildProcess;
  readonly done: Promise<
    { code: number; signal: Deno.Signal | null; stdout: string; stderr: string }
  >;

  constructor(sb: Sandbox, args: string[]) {
    this.child = spawnTt(sb, args);
    const read = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
      const dec = new TextDecoder();
      for await (const chunk of s) add(dec.decode(chunk, { stream: true }));
    };
    const pumps = Promise.all([
      read(this.child.stdout, (s) => this.#out += s),
      read(this.child.stderr, (s) => this.#err += s),
    ]);
    const child = this.child;
    this.done = (async () => {
      const st = await child.status;
      await pumps;
      this.#exited = true;
      return { code: st.code, signal: st.signal, stdout: this.#out, stderr: this.#err };
    })();
  }

  get stdout() {
    return this.#out;
  }

  get stderr() {
    return this.#err;
  }

  /** Whether it has exited and its output is read (without waiting). */
  get exited(): boolean {
    return this.#exited;
  }

  /** Its end, or an error if it is still running after `limitMs` (a bound for broken tests). */
  async finished(limitMs = 30_000) {
    try {
      await waitUntil(() => this.#exited, limitMs);
    } catch (e) {
      await this.kill();
      throw new Error(`tt is still running after ${limitMs} ms (killed): ${e}`);
    }
    return await this.done;
  }

  /** Ends it if still running (test cleanup). */
  async kill() {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.done;
  }
}

/**
 * For "the town is intact" checks after a malicious agent's round: whether key `k` is one the
 * agent's own round may create or remove (its agent and mailbox keys, the supervisor mailbox,
 * its task; the backlog and a per-state task index holding nothing but that task, since a
 * stopped agent's unfinished task goes back to the backlog with `on_stop = "backlog"`).
 */
function roundOwnKey(
  t: Pick<TownContext, "keys">,
  agentId: string,
  taskId: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): (k: string) => boolean {
  const p = t.keys.prefix;
  const kinds = ["agent", "inbox", "urgent", "processing", "wake", "notes", "activity"];
  return (k) =>
    [agentId, SUPERVISOR_ID].some((id) => kinds.some((kind) => k === `${p}${kind}:${id}`)) ||
    k === t.keys.task(taskId) ||
    (k === t.keys.backlog && JSON.stringify(after[k]) === JSON.stringify([taskId])) ||
    (k.startsWith(`${p}tasks:state:`) &&
      [after[k] ?? before[k]].flat().every((v, i) => i % 2 === 1 || v === taskId));
}

/**
 * After a malicious agent's round: no key added or removed but its round's own (roundOwnKey), no
 * API key minted, the victim's agent, inbox and task unchanged, and the agent's task (whose check
 * fails) not completed, with that one failed check counted.
 */
export async function assertTownIntact(
  t: Pick<TownContext, "keys" | "redis">,
  x: { agentId: string; taskId: string; victimId: string; victimTaskId: string },
  before: Record<string, unknown>,
  after: Record<string, unknown>,
) {
  const own = roundOwnKey(t, x.agentId, x.taskId, before, after);
  const added = Object.keys(after).filter((k) => !(k in before) && !own(k));
  const removed = Object.keys(before).filter((k) => !(k in after) && !own(k));
  assert.deepEqual(added, [], "keys the attacks created");
  assert.deepEqual(removed, [], "keys the attacks removed");
  assert.ok(!(t.keys.authKeys in after), "an API key was minted");
  for (
    const k of [t.keys.agent(x.victimId), t.keys.inbox(x.victimId), t.keys.task(x.victimTaskId)]
  ) {
    assert.deepEqual(after[k], before[k], `${k} changed`);
  }
  const evil = await getTask(t, x.taskId);
  assert.notEqual(evil?.state, "completed", "the task whose check fails was completed");
  assert.equal(evil?.verify_failures, 1);
}
