/**
 * This host's supervisor: do its heartbeat in Redis and its process agree? Dead with a heartbeat
 * left, alive without one (stalled), stopped by a signal, or doubled are each told apart.
 */
import { parseSupervisorInfo } from "../control.ts";
import { isTerminalAgent } from "../schemas.ts";
import { run } from "./host.ts";
import { type Check, fail, needsRedis, ok, warn } from "./types.ts";

interface Proc {
  pid: number;
  /** ps state: R, S, T (stopped), Z (zombie)… */
  stat: string;
}

/** The live `tt … --town <root> supervise` processes on this host (how start.ts starts them). */
async function supervisorProcesses(root: string): Promise<Proc[]> {
  const ps = await run("ps", ["-eww", "-o", "pid=,stat=,args="]);
  return (ps?.out ?? "").split("\n").flatMap((line) => {
    const m = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!m || /^[ZX]/.test(m[2]) || !m[3].includes(` --town ${root} supervise`)) return [];
    return [{ pid: Number(m[1]), stat: m[2] }];
  });
}

export const supervisorCheck: Check = {
  name: "supervisor",
  timeoutMs: 2000,
  async run(ctx) {
    const name = "supervisor";
    const missing = needsRedis(name, ctx);
    if (missing) return missing;
    const { redis, town, host } = { ...ctx, redis: ctx.redis!, town: ctx.town! };
    const key = town.keys.supervisor(host);
    const [raw, ttlMs, procs] = await Promise.all([
      redis.get(key),
      redis.pttl(key),
      supervisorProcesses(town.root),
    ]);
    const info = parseSupervisorInfo(raw);
    const active = (ctx.agents ?? []).filter((a) =>
      (a.host ?? host) === host && !isTerminalAgent(a.state)
    );
    if (!info) {
      if (raw) {
        return fail(
          name,
          `the heartbeat of host ${host} is not valid JSON of a supervisor`,
          `delete the key ${key} and run 'tt start'`,
        );
      }
      if (procs.length) {
        const p = procs[0];
        return fail(
          name,
          `a supervisor process of this town (pid ${p.pid}) runs on ${host} but has no heartbeat in Redis: it is ${
            p.stat.startsWith("T") ? "stopped by a signal" : "stalled"
          }, and agents on ${host} are not served`,
          p.stat.startsWith("T")
            ? `resume it with 'kill -CONT ${p.pid}'`
            : `'kill -9 ${p.pid}', then 'tt start' (the new supervisor requeues its cut-off rounds)`,
        );
      }
      return active.length
        ? fail(
          name,
          `not running on ${host}, with ${active.length} active agent(s) (${
            active.map((a) => a.name).join(", ")
          }): their work waits`,
          "'tt start' starts it (it re-adopts the agents and requeues cut-off rounds)",
        )
        : ok(name, `not running on ${host} (not needed: no active agents here)`);
    }
    const ps = await run("ps", ["-ww", "-o", "stat=,args=", "-p", String(info.pid)]);
    const line = ps?.out ?? "";
    const alive = line !== "" && !/^[ZX]/.test(line);
    if (!alive || !/\bsupervise\b/.test(line)) {
      const expires = ttlMs > 0 ? `it expires within ${Math.ceil(ttlMs / 1000)} s` : "it stays";
      return fail(
        name,
        `the supervisor of ${host} (pid ${info.pid}) is ${
          alive ? "gone (that pid is now another process)" : "dead"
        } but its heartbeat is still in Redis (${expires}): agents on ${host} are not served`,
        ttlMs > 0
          ? `wait for the heartbeat to expire, then run 'tt start' (the new supervisor re-adopts the agents)`
          : `delete the key ${key}, then run 'tt start'`,
      );
    }
    if (line.startsWith("T")) {
      return fail(
        name,
        `the supervisor of ${host} (pid ${info.pid}) is stopped by a signal: agents on ${host} are not served`,
        `resume it with 'kill -CONT ${info.pid}'`,
      );
    }
    const others = procs.filter((p) => p.pid !== info.pid);
    const text =
      `pid ${info.pid} on ${host}, up since ${info.started_at}, serving ${info.agents} agent(s)`;
    return others.length
      ? warn(
        name,
        `${text}; but ${others.length} other supervisor process(es) of this town run here (pid ${
          others.map((p) => p.pid).join(", ")
        })`,
        `stop them ('kill ${
          others.map((p) => p.pid).join(" ")
        }'): one supervisor per host serves the town`,
      )
      : ok(name, text);
  },
};
