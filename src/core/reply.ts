/**
 * `tt reply <agent> "<answer>"`: answers an agent in `needs_input`. The answer goes to the head of
 * its inbox (so the next round's prompt has it, next to the task it was working on), the agent
 * goes back to idle and its next round resumes the same CLI session.
 */
import { type Agent } from "./schemas.ts";
import { type Ctx, setAgentState } from "./agents.ts";
import { sendMessage } from "./messages.ts";
import { ConflictError, UsageError } from "./errors.ts";
import { SUPERVISOR_ID } from "./keys.ts";

export async function replyToAgent(t: Ctx, agent: Agent, answer: string) {
  if (!answer.trim()) throw new UsageError("the answer must not be empty");
  if (agent.state !== "needs_input") {
    throw new ConflictError(
      `${agent.name} is ${agent.state}, not waiting for an answer: 'tt send ${agent.name} …' sends a message`,
    );
  }
  const question = agent.reason ?? "(the question is in 'tt logs')";
  await setAgentState(t, agent.id, "idle", {
    eventType: "agent_replied",
    from: ["needs_input"],
    message: `answered: ${answer.slice(0, 120)}`,
  });
  return await sendMessage(t, {
    from: SUPERVISOR_ID,
    to: agent.id,
    // A query, not an FYI: the prompt shows it in full, among the actionable messages.
    type: "query",
    priority: "urgent",
    body:
      `The operator answers the question you ended your last round with. The answer: ${answer}\n(Your question was: ${question})\nCarry on with your task; no reply is needed.`,
  }, { urgent: true });
}
