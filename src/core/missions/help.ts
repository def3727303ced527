/** Help requests to the conductor: sent, repeated with back-off, retired atomically. */
import { buildMessage } from "../messages.ts";
import { SUPERVISOR_ID } from "../keys.ts";
import { callScript, oneLine } from "../tasks.ts";
import type { Mission } from "./schemas.ts";
import { HELP_REQUEST } from "./scripts.ts";
import { helpMarker, type MissionView, shortMissionId } from "./store.ts";
import { check, type SchedCtx } from "./context.ts";

export async function assessHelp(s: SchedCtx, v: MissionView, reason: string): Promise<void> {
  const m = v.mission;
  if (!reason) {
    if (m.help_reason) await sendHelp(s, m, "", 0);
    return;
  }
  const changed = reason !== m.help_reason;
  const due = !m.help_at ||
    Date.now() - Date.parse(m.help_at) >= s.helpRepeatMs * Math.min(2 ** m.help_attempts, 8);
  if (changed || due) await sendHelp(s, m, reason, changed ? 1 : m.help_attempts + 1);
}

/** When the help request of a mission is due again (ms epoch), if it has one. */
export function helpDueAt(s: SchedCtx, m: Mission): number | undefined {
  if (!m.help_reason || !m.help_at) return undefined;
  return Date.parse(m.help_at) + s.helpRepeatMs * Math.min(2 ** m.help_attempts, 8);
}

async function sendHelp(s: SchedCtx, m: Mission, reason: string, attempts: number) {
  const marker = helpMarker(m.id);
  const text = reason
    ? `${marker}\n\n${reason}\n\nReply with: tt mission resume ${shortMissionId(m.id)}, ` +
      `tt mission note ${shortMissionId(m.id)} "<advice>", or tt mission stop ${
        shortMissionId(m.id)
      }`
    : "";
  const msg = reason
    ? JSON.stringify(
      buildMessage({ from: SUPERVISOR_ID, to: SUPERVISOR_ID, type: "query", body: text }),
    )
    : "";
  check(
    await callScript(s.t, HELP_REQUEST, [
      s.t.keys.events,
      s.t.keys.dispatcherLock,
      s.t.keys.mission(m.id),
      s.t.keys.inbox(SUPERVISOR_ID),
      s.t.keys.agent(SUPERVISOR_ID),
    ], [
      new Date().toISOString(),
      JSON.stringify({
        mission: m.id,
        token: s.token,
        marker,
        reason,
        attempts,
        message: msg,
        text: reason
          ? `mission ${shortMissionId(m.id)} asks the conductor for help: ${oneLine(reason, 200)}`
          : `mission ${shortMissionId(m.id)}: help request retired`,
      }),
    ]),
  );
}

/** A mission task ended (or was found ended): move its item on. Returns whether it did. */
