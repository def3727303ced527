/**
 * Talking to the supervisor of a host: its liveness record and its control list. Commands push a
 * control message and block on a one-shot reply list (no polling).
 */
import { duplicateConnection } from "../redis/connection.ts";
import { type Infer, number, record, string, withDefault } from "./record.ts";
import type { Ctx } from "./agents.ts";
import { thisHost } from "./host_name.ts";

export { machineHost, thisHost } from "./host_name.ts";

export const SUPERVISOR_TTL_SECS = 10;

export const SupervisorInfo = record({
  pid: number(),
  host: string(),
  started_at: string(),
  version: string(),
  agents: withDefault(number(), 0),
}, "supervisor record");
export type SupervisorInfo = Infer<typeof SupervisorInfo>;

/** What a supervisor's control list carries (the supervisor parses it: supervisor/daemon.ts). */
export type ControlMessage =
  | { op: "start"; agent_id: string; reply?: string }
  | { op: "kill"; agent_id: string; reason: string; reply?: string }
  | { op: "wake"; agent_id: string; reply?: string }
  | { op: "shutdown"; now: boolean; reply?: string };

export async function supervisorInfo(
  t: Ctx,
  host = thisHost(),
): Promise<SupervisorInfo | undefined> {
  return parseSupervisorInfo(await t.redis.get(t.keys.supervisor(host)));
}

export function parseSupervisorInfo(raw: string | null): SupervisorInfo | undefined {
  if (!raw) return undefined;
  try {
    return SupervisorInfo.parse(JSON.parse(raw));
  } catch {
    return undefined;
  }
}

/**
 * Sends a control message; with `waitSecs` blocks for the supervisor's reply (undefined on
 * timeout). The reply list lives 60 s so a late reply does not linger.
 */
export async function sendControl(
  t: Ctx,
  host: string,
  msg: ControlMessage,
  waitSecs?: number,
): Promise<string | undefined> {
  const reply = waitSecs ? crypto.randomUUID() : undefined;
  await t.redis.rpush(t.keys.control(host), JSON.stringify({ ...msg, reply }));
  if (!reply) return undefined;
  return await waitReply(t, reply, waitSecs!);
}

/** Blocks on a one-shot reply list on a separate connection (BLPOP holds it). */
export async function waitReply(
  t: Ctx,
  nonce: string,
  waitSecs: number,
): Promise<string | undefined> {
  const conn = await duplicateConnection(t.redis);
  try {
    const res = await conn.blpop(t.keys.ready(nonce), waitSecs);
    return res?.[1];
  } finally {
    conn.disconnect();
  }
}

export async function sendReply(t: Ctx, nonce: string | undefined, value: string) {
  if (!nonce) return;
  await t.redis.multi().lpush(t.keys.ready(nonce), value).expire(t.keys.ready(nonce), 60).exec();
}

/**
 * Asks this host's supervisor to shut down and waits until its process is gone. A heartbeat whose
 * process is dead (kill -9 leaves one behind for up to its TTL) is removed instead, and no shutdown
 * is queued, so a supervisor started later does not obey it; the same when the process dies
 * while `tt stop` waits for its reply.
 */
export async function stopSupervisor(
  t: Ctx,
  sup: SupervisorInfo,
  now: boolean,
): Promise<"stopped" | "was dead"> {
  const { processAlive, waitForExit } = await import("../redis/server.ts");
  const heartbeat = t.keys.supervisor(sup.host);
  if (!(await processAlive(sup.pid))) {
    await t.redis.del(heartbeat);
    return "was dead";
  }
  const reply = crypto.randomUUID();
  const msg = JSON.stringify({ op: "shutdown", now, reply });
  await t.redis.rpush(t.keys.control(sup.host), msg);
  const waitSecs = now ? 120 : 7200;
  const conn = await duplicateConnection(t.redis);
  let exitedFirst = false;
  try {
    let replied = false;
    const answered = conn.blpop(t.keys.ready(reply), waitSecs).then(
      () => (replied = true),
      () => (replied = true), // disconnected below
    );
    // The supervisor may die instead of answering: look at its process now and then meanwhile.
    const died = (async () => {
      const deadline = Date.now() + waitSecs * 1000;
      while (!replied && Date.now() < deadline) {
        if (!(await processAlive(sup.pid))) return true;
        await new Promise((r) => setTimeout(r, 500));
      }
      return false;
    })();
    exitedFirst = await Promise.race([answered.then(() => false), died]);
  } finally {
    conn.disconnect();
  }
  if (exitedFirst) {
    await t.redis.lrem(t.keys.control(sup.host), 1, msg);
    await t.redis.del(heartbeat);
    return "was dead";
  }
  await waitForExit(sup.pid, 30_000);
  return "stopped";
}
