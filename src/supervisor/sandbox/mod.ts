/**
 * The agent sandbox: every agent CLI round and verify check runs in bubblewrap with only its
 * worktree, a private HOME and temp dir writable, the town's `.tt/` and the operator's home
 * hidden, and the network limited to its CLI's API hosts plus `[agent] allow_hosts`.
 *
 * ```ts
 * const decision = decideSandbox(config.agent.sandbox, await probeSandbox());
 * if (decision.refusal) throw new TtError(decision.refusal);
 * const policy = await buildRoundPolicy({ townRoot, agent, workdir, cli: cli.name,
 *   command: cli.command, allowHosts: config.agent.allow_hosts, channelSocket });
 * const run = decision.on ? await wrapRound(policy, command, env) : unsandboxed(command, env);
 * try { await runRoundProcess({ ...opts, command: run.command, env: run.env }); }
 * finally { run.release(); }
 * ```
 */
export { probeSandbox, type SandboxProbe } from "./probe.ts";
export { decideSandbox, type SandboxDecision, type SandboxSetting } from "./decide.ts";
export {
  buildRoundPolicy,
  gitWritePaths,
  type RoundPolicyInput,
  type SandboxPolicy,
} from "./policy.ts";
export { prepareRound, unsandboxed, type WrappedCommand, wrapRound } from "./wrap.ts";
export { PRESET_NEEDS, presetNeeds } from "./presets.ts";
/** Call when the supervisor stops: ends the runtime's proxies once no round runs. */
export { stopRuntimeIfIdle as stopSandbox } from "./runtime.ts";
