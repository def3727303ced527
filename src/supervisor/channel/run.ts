/**
 * Runs one agent request: the powers check, then the real CLI (`buildProgram()`, the same code
 * and output as the operator's `tt`) inside an AsyncLocalStorage scope that carries the request's
 * output buffers, the agent's identity and the supervisor's open town. Every refusal is one line
 * to the agent and an `agent_refused` event in the town stream (`tt history`).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Command } from "commander";
import { type CliScope, setScopeReader } from "../../cli/sink.ts";
import type { TownContext } from "../../core/town.ts";
import type { Agent } from "../../core/schemas.ts";
import type { AgentPower } from "../../core/config.ts";
import { emitEvent } from "../../core/events.ts";
import { CLI_PRESETS } from "../../core/presets.ts";
import { resolveAgent, resolveRecipient } from "../../core/agents.ts";
import { singleLine } from "../../core/errors.ts";
import { reportError } from "../../cli/report.ts";
import { checkArgv, type Checked, powersOf, Refusal } from "./powers.ts";
import { type ChannelReply, refusedReply } from "./protocol.ts";

const scopes = new AsyncLocalStorage<CliScope>();
setScopeReader(() => scopes.getStore());

export type Caller = Pick<Agent, "id" | "name" | "role">;

/** Runs `argv` as `agent` would with the operator's tt, within the agent's powers. */
export async function runForAgent(
  town: TownContext,
  agent: Caller,
  argv: string[],
): Promise<ChannelReply> {
  const powers = powersOf(town.config, agent);
  let run: string[];
  try {
    run = await checkTargets(town, agent, checkArgv(argv, powers), powers, argv);
  } catch (e) {
    // A reference that does not resolve: the error the CLI would print (never run it unchecked).
    if (!(e instanceof Refusal)) return await inScope(town, agent, () => reportError(e));
    await refuse(town, agent.id, argv, e.message);
    return refusedReply(e.message);
  }
  return await runCli(town, agent, run);
}

/** Records a refusal in the town stream (best effort: the agent gets its answer regardless). */
export async function refuse(town: TownContext, agentId: string, argv: string[], why: string) {
  const shown = singleLine(["tt", ...argv].join(" "));
  await emitEvent(town, {
    type: "agent_refused",
    agent_id: agentId,
    actor: agentId,
    reason: why,
    message: `refused '${shown.length > 60 ? shown.slice(0, 59) + "…" : shown}': ${why}`,
  }).catch(() => {});
}

/**
 * The checks that need the town: whose inbox, who claims, which CLI a spawn runs. Returns the
 * argv to run (`tt inbox` alone means the agent's own inbox). A reference that does not resolve
 * throws the core's error, reported as the CLI would report it.
 */
async function checkTargets(
  town: TownContext,
  agent: Caller,
  c: Checked,
  powers: ReadonlySet<AgentPower>,
  argv: string[],
): Promise<string[]> {
  const all = c.flags.includes("-a") || c.flags.includes("--all");
  if (c.path === "inbox" && !all) {
    if (!c.args.length) return [...argv, agent.id];
    const { id } = await resolveRecipient(town, c.args[0]);
    if (id !== agent.id && !powers.has("inbox")) {
      throw new Refusal(
        "reading another agent's inbox needs the 'inbox' power, which this agent does not have",
      );
    }
  }
  if (c.path === "backlog claim" && c.args.length >= 2 && !powers.has("assign")) {
    const target = await resolveAgent(town, c.args[1]);
    if (target.id !== agent.id) {
      throw new Refusal(
        "claiming a task for another agent needs the 'assign' power, which this agent does not have",
      );
    }
  }
  if (c.path === "spawn") {
    // Every value counts: commander takes the last of `-c claude --cli 'raw command'`.
    const raw = [...c.values["-c"] ?? [], ...c.values["--cli"] ?? []]
      .find((cli) => !CLI_PRESETS[cli] && !town.config.agent_clis[cli]);
    if (raw !== undefined) {
      throw new Refusal(
        `an agent spawns agents with a preset or an [agent_clis] name only, not '${
          singleLine(raw).slice(0, 40)
        }'`,
      );
    }
  }
  return argv;
}

/** The real CLI, its output captured: the same text and exit code as the operator's tt. */
async function runCli(town: TownContext, agent: Caller, argv: string[]): Promise<ChannelReply> {
  return await inScope(town, agent, async (scope) => {
    const { buildProgram } = await import("../../cli/program.ts");
    const program = buildProgram();
    captureOutput(program as unknown as Command, scope);
    try {
      await program.parseAsync(argv, { from: "user" });
      return 0;
    } catch (e) {
      return reportError(e);
    }
  });
}

/** Runs `fn` for `agent` in a scope of its own (inScopeOf). */
function inScope(
  town: TownContext,
  agent: Caller,
  fn: (scope: CliScope) => number | Promise<number>,
): Promise<ChannelReply> {
  return inScopeOf(town, { caller: { agentId: agent.id, agentName: agent.name } }, fn);
}

/** Runs `fn` in a scope of its own: output into the reply, the caller, the open town. */
export async function inScopeOf(
  town: TownContext,
  of: Pick<CliScope, "caller" | "color" | "operator">,
  fn: (scope: CliScope) => number | Promise<number>,
): Promise<ChannelReply> {
  const reply: ChannelReply = { code: 0, stdout: "", stderr: "" };
  const scope: CliScope = {
    ...of,
    out: (s) => reply.stdout += s,
    err: (s) => reply.stderr += s,
    town,
  };
  reply.code = await scopes.run(scope, () => fn(scope));
  return reply;
}

/** commander's own output (help, usage errors) goes to the scope too, on every subcommand. */
function captureOutput(cmd: Command, scope: CliScope) {
  cmd.configureOutput({
    writeOut: (s) => scope.out(s),
    writeErr: (s) => scope.err(s),
    getOutHasColors: () => false,
    getErrHasColors: () => false,
    getOutHelpWidth: () => 100,
    getErrHelpWidth: () => 100,
  });
  for (const sub of cmd.commands) captureOutput(sub as Command, scope);
}
