/**
 * `[notify] command` in tinytown.toml: run (sh -c, in the town's root) when an agent needs input,
 * fails (error) or is rate limited, with the event's JSON on stdin, so people can plug in desktop
 * or chat notifications. It is the operator's own command (like a task's verify): bounded to
 * 30 s, its failure only logged, never holding up the agent.
 */
import type { TownContext } from "../core/town.ts";
import { getAgent, type StateChange } from "../core/agents.ts";
import { killGroup } from "./process.ts";

const LIMIT_MS = 30_000;

export interface NotifyEvent {
  type: string;
  town: string;
  agent_id: string;
  agent: string;
  state: string;
  reason: string;
  resume_at?: string;
  ts: string;
}

export function notify(town: TownContext, ev: NotifyEvent, log: (line: string) => void): void {
  const command = town.config.notify.command;
  if (!command) return;
  run(command, town.root, ev).then(
    (r) => r !== 0 && log(`notify command exited ${r} for ${ev.type} of ${ev.agent}`),
    (e) => log(`notify command failed for ${ev.type} of ${ev.agent}: ${e}`),
  );
}

async function run(command: string, cwd: string, ev: NotifyEvent): Promise<number> {
  const child = new Deno.Command("sh", {
    args: ["-c", command],
    cwd,
    detached: true,
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => killGroup(child.pid, "SIGKILL"), LIMIT_MS);
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(ev) + "\n")).catch(() => {});
  await w.close().catch(() => {});
  const st = await child.status;
  clearTimeout(timer);
  return st.code;
}

/** Notifies that the agent entered `state` (error, rate_limited, needs_input) by `change`. */
export async function notifyState(
  town: TownContext,
  agentId: string,
  state: string,
  change: StateChange,
  log: (line: string) => void,
) {
  if (!town.config.notify.command) return;
  const agent = await getAgent(town, agentId);
  if (!agent) return;
  notify(town, {
    type: change.eventType ?? state,
    town: town.name,
    agent_id: agent.id,
    agent: agent.name,
    state,
    reason: change.why ?? "",
    resume_at: change.resumeAt,
    ts: new Date().toISOString(),
  }, log);
}
