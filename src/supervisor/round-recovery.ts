/**
 * What a supervisor that died mid-round left behind, put right when the next one takes the agent
 * over (agent-loop.ts): the round's process group, the messages in processing, a "working" state.
 */
import type { TownContext } from "../core/town.ts";
import { getAgent, setAgentState } from "../core/agents.ts";
import type { Agent, Message } from "../core/schemas.ts";
import { parseMessage } from "../core/messages.ts";
import { endRound } from "../core/rounds.ts";
import { ignoreConflict } from "../core/errors.ts";
import { killGroup } from "./process.ts";
import { returnRoundTasks } from "./round.ts";

/** Moves the agent to idle from starting or working (no-op when it is idle already). */
export async function becomeIdle(town: TownContext, agent: Agent) {
  if (agent.state === "idle") return;
  await setAgentState(town, agent.id, "idle", { from: ["starting", "working"] }).catch(
    ignoreConflict,
  );
}

/** Messages left in processing by a supervisor that died mid-round go back to the inbox. */
export async function recoverCutOffRound(town: TownContext, agentId: string) {
  const agent = await getAgent(town, agentId);
  if (!agent) return;
  if (agent.round_pgid) killGroup(agent.round_pgid, "SIGKILL");
  const inFlight = (await town.redis.lrange(town.keys.processing(agentId), 0, -1))
    .map(parseMessage).filter((m): m is Message => !!m);
  if (inFlight.length || await town.redis.exists(town.keys.processing(agentId))) {
    await returnRoundTasks(town, inFlight, "round cut off: supervisor restarted");
    await endRound(
      town,
      agentId,
      { kind: "cutoff", reason: "supervisor restarted" },
      `round ${agent.round} cut off`,
    );
  }
  // Even with nothing in flight: a supervisor killed between ending a round and marking the
  // agent idle leaves it "working", and a round only starts from idle (it would be put back
  // and retried at once, forever).
  if (agent.state === "working") await becomeIdle(town, agent);
}
