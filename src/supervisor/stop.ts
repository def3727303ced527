/**
 * An agent that stops for any reason (max rounds, error, kill, close) never strands its work:
 * its queued and in-flight messages move to the backlog (task assignments become pending backlog
 * tasks again), or, with `[agent] on_stop = "fail"`, its unfinished tasks fail. Either way with an
 * event naming the agent and why. `on_stop = "keep"` leaves it on the agent (`tt restart`,
 * `tt reclaim`).
 */
import type { TownContext } from "../core/town.ts";
import { getAgent } from "../core/agents.ts";
import { reclaimWork } from "../core/reclaim.ts";
import { failTask, listTasks } from "../core/tasks.ts";
import { isTerminalAgent, isTerminalTask } from "../core/schemas.ts";
import { emitEvent } from "../core/events.ts";
import { ConflictError } from "../core/errors.ts";

export async function releaseWork(town: TownContext, agentId: string, why: string) {
  if (town.config.agent.on_stop === "keep") return;
  const agent = await getAgent(town, agentId);
  if (!agent || !isTerminalAgent(agent.state)) return;
  if (town.config.agent.on_stop === "fail") {
    const mine = (await listTasks(town, { agentId })).filter((t) => !isTerminalTask(t.state));
    for (const task of mine) {
      await failTask(town, task.id, { by: agentId, force: true, result: `agent stopped: ${why}` })
        .catch((e) => {
          if (!(e instanceof ConflictError)) throw e;
        });
    }
    if (mine.length) {
      await emitEvent(town, {
        type: "work_released",
        agent_id: agentId,
        reason: "fail",
        message: `${agent.name} stopped (${why}): ${mine.length} unfinished task(s) failed`,
      });
    }
  }
  const r = await reclaimWork(town, { from: agent, toBacklog: true });
  if (r.moved) {
    await emitEvent(town, {
      type: "work_released",
      agent_id: agentId,
      reason: "backlog",
      message: `${agent.name} stopped (${why}): ${r.moved} queued message(s) moved to the backlog`,
    });
  }
}
