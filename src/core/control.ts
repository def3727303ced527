/**
 * Talking to the supervisor of a host: its liveness record and its control list. Commands push a
 * control message and block on a one-shot reply list (no polling).
 */
import { duplicateConnection } from "../redis/connection.ts";
import { z } from "zod";
import type { Ctx } from "./agents.ts";

export const SUPERVISOR_TTL_SECS = 10;

export const SupervisorInfo = z.object({
  pid: z.number(),
  host: z.string(),
  started_at: z.string(),
  version: z.string(),
  agents: z.number().default(0),
});
export type SupervisorInfo = z.infer<typeof SupervisorInfo>;

export const ControlMessage = z.discriminatedUnion("op", [
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
export type ControlMessage = z.infer<typeof ControlMessage>;

export function thisHost(): string {
  return Deno.env.get("TT_HOST") || Deno.hostname();
}

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
