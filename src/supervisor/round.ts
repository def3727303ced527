/**
 * Running one round's CLI: write the prompt, pick the command (resuming the agent's CLI session
 * when it has one), run it with the scrubbed environment while its family's parser reads the
 * output as it streams, and record what the CLI reported (session id, tokens, cost) on the agent.
 */
import type { TownContext } from "../core/town.ts";
import { agentLabel, type Ctx, parseAgent } from "../core/agents.ts";
import type { Agent, Message, RoundTask } from "../core/schemas.ts";
import { returnTaskToAssigned } from "../core/tasks.ts";
import { notesOf } from "../core/rounds.ts";
import { SUPERVISOR_ID } from "../core/keys.ts";
import { backlogSnapshot } from "../core/autoclaim.ts";
import { buildPrompt } from "./prompt.ts";
import { agentEnv, resolveCli, type ResolvedCli, roundCommand } from "./cli.ts";
import { type RoundProcessResult, type RunOptions, runRoundProcess } from "./process.ts";
import { LineFeed } from "./clis/feed.ts";
import { openRoundChannel } from "./channel/mod.ts";
import { roundSandbox } from "./round-sandbox.ts";
import { hardCap, liveConfig, recordRound } from "./budget.ts";
import { priceOf } from "../core/usage/record.ts";
import type { CliOutcome } from "./clis/types.ts";

export interface RoundRun {
  result: RoundProcessResult;
  outcome: CliOutcome;
  cli: ResolvedCli;
  /** Whether the round resumed the agent's CLI session. */
  resumed: boolean;
  logFile: string;
  cwd: string;
  env: Record<string, string>;
  /** Wraps a command (the tasks' verify checks) the way the CLI ran: in the sandbox or not. */
  wrap: (
    command: string,
  ) => Promise<{ command: string; env: Record<string, string>; release: () => void }>;
  sandboxed: boolean;
  /** Why a hard budget ended the round (it was killed), if it did. */
  capped?: string;
}

export interface RoundInput {
  town: TownContext;
  agent: Agent;
  round: number;
  messages: Message[];
  tasks: Map<string, RoundTask>;
  /** The rest of what the prompt shows (roundContext). */
  context: RoundContext;
  /** Timeout, grace, pgid recording and abort (AgentLoop#killable). */
  killable: Pick<RunOptions, "timeoutMs" | "graceMs" | "onStart" | "signal">;
}

export async function runCliRound(input: RoundInput): Promise<RoundRun> {
  const { town, agent, round } = input;
  const startedMs = Date.now();
  const promptFile = `${town.root}/.tt/prompts/${agent.name}_round_${round}.md`;
  const logFile = `${town.root}/.tt/logs/${agent.name}_round_${round}.log`;
  await Deno.mkdir(`${town.root}/.tt/prompts`, { recursive: true, mode: 0o700 });
  const prompt = buildPrompt({
    town: town.name,
    agent,
    round,
    maxRounds: agent.max_rounds,
    messages: input.messages,
    tasks: input.tasks,
    ...input.context,
  });
  await Deno.writeTextFile(promptFile, prompt, { mode: 0o600 });
  const cli = resolveCli(town.config, agent.cli);
  const { command, stdin, resumed } = roundCommand(cli, promptFile, agent.session_id);
  // The agent's tt reaches the town only through this round's channel (closed with the CLI).
  const channel = await openRoundChannel(town, agent, round);
  const env = agentEnv({
    base: Deno.env.toObject(),
    cli,
    passEnv: town.config.agent.pass_env,
    binDir: channel.binDir,
    identity: {
      TINYTOWN_AGENT_ID: agent.id,
      TINYTOWN_AGENT_NAME: agent.name,
      TINYTOWN_TOWN: town.name,
      TT_PROMPT_FILE: promptFile,
      ...channel.env,
    },
  });
  const cwd = agent.workdir ?? town.root;
  const box = await roundSandbox(town, agent, cli, cwd, channel);
  await town.redis.hset(town.keys.agent(agent.id), "sandboxed", box.sandboxed ? "1" : "0");
  const parser = cli.family.parser();
  const feed = new LineFeed(parser);
  // `[budget] hard = true`: the round ends once its streamed usage crosses the agent's cap.
  const cfg = await liveConfig(town);
  const cap = await hardCap(
    town,
    agent,
    cfg,
    (o) => o.usage ? priceOf(cfg.pricing, o.model ?? "", cli.name, o.usage) : undefined,
  );
  const capAbort = new AbortController();
  input.killable.signal?.addEventListener("abort", () => capAbort.abort(), { once: true });
  let capped: string | undefined;
  const releases: (() => void)[] = [];
  const wrap = async (c: string, check = false) => {
    const w = await (check ? box.wrapCheck : box.wrap)(c, env);
    releases.push(w.release);
    return w;
  };
  let result: RoundProcessResult;
  if (box.refusal) {
    await channel.close();
    result = { kind: "spawn_failed", code: null, signal: null, detail: box.refusal };
  } else {
    const w = await wrap(command);
    result = await runRoundProcess({
      command: w.command,
      cwd,
      env: w.env,
      stdin: stdin ? new TextEncoder().encode(prompt) : undefined,
      logFile,
      onOutput: (data, stream) => {
        const progress = feed.push(data, stream);
        if (cap && !capped && parser.peek && (capped = cap(parser.peek()))) capAbort.abort();
        return progress;
      },
      stallMs: town.config.agent.stall_timeout_secs * 1000,
      ...input.killable,
      signal: capAbort.signal,
    }).finally(() => channel.close());
  }
  await Deno.remove(promptFile).catch(() => {});
  const outcome = feed.finish(result.code);
  await recordRound({
    town,
    agent,
    cli,
    outcome,
    round,
    startedMs,
    taskIds: [...input.tasks.keys()],
  });
  const release = () => releases.splice(0).forEach((r) => r());
  release(); // the CLI's network allow-list; a check registers its own
  return {
    result,
    outcome,
    cli,
    resumed,
    logFile,
    cwd,
    env,
    sandboxed: box.sandboxed,
    capped,
    wrap: async (c) => {
      const w = await wrap(c, true);
      return { command: w.command, env: w.env, release };
    },
  };
}

export type RoundContext = Awaited<ReturnType<typeof roundContext>>;

/**
 * What a round's prompt shows besides its messages: the agent's notes, its senders' labels and
 * the backlog, read together (their commands go out in one pipelined round trip). `backlog`: the
 * backlog's length when the round was taken (takeRound); an empty one is not scanned.
 */
export async function roundContext(
  town: Ctx,
  agent: Agent,
  messages: Message[],
  backlog?: number,
) {
  const [notes, senders, snapshot] = await Promise.all([
    notesOf(town, agent.id),
    senderLabels(town, messages),
    backlog === 0
      ? { total: 0, scanned: 0, matched: 0, matching: [] }
      : backlogSnapshot(town, agent),
  ]);
  return { notes, senders, backlog: snapshot };
}

/** Labels of this round's senders only (one pipelined read of their hashes, not every agent). */
async function senderLabels(
  town: Ctx,
  messages: Message[],
): Promise<Map<string, string>> {
  const labels = new Map<string, string>([[SUPERVISOR_ID, "conductor"]]);
  const ids = [...new Set(messages.map((m) => m.from))].filter((id) => id !== SUPERVISOR_ID);
  if (!ids.length) return labels;
  const pipe = town.redis.pipeline();
  for (const id of ids) pipe.hgetall(town.keys.agent(id));
  for (const [err, h] of (await pipe.exec()) ?? []) {
    const a = err ? undefined : parseAgent(h as Record<string, string>);
    if (a && ids.includes(a.id)) labels.set(a.id, agentLabel(a));
  }
  return labels;
}

/** The round's assigned tasks go back from running to assigned. */
export async function returnRoundTasks(town: TownContext, messages: Message[], reason: string) {
  // Sent together (one pipelined round trip), each its own script.
  await Promise.all(
    messages.filter((m) => m.type === "task_assign" && m.task_id).map((m) =>
      returnTaskToAssigned(town, m.task_id!, reason)
    ),
  );
}
