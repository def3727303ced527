/**
 * Agent commands: spawn, kill, interrupt, resume, close, wait, restart, prune, recover, logs,
 * service, supervise; reclaim is in reclaim.ts.
 */
import type { Command } from "@commander-js/extra-typings";
import { globals, withTown } from "./context.ts";
import { color, escapedStdout, note, output } from "./output.ts";
import { TtError, UsageError } from "../core/errors.ts";
import { registerReclaim } from "./reclaim.ts";
import type { TownConfig } from "../core/config.ts";

/**
 * Whether agent CLI `ref` may resolve to claude's family (an over-estimate, without loading the
 * families): its name, its `[agent_clis]` command or the default names "claude".
 */
export function mayRunClaude(config: TownConfig, ref: string): boolean {
  const name = ref.trim() || config.default_cli;
  return `${name} ${config.agent_clis[name]?.command ?? ""}`.includes("claude");
}

const positiveInt = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`${what} must be a positive integer, got '${v}'`);
  }
  return n;
};

const seconds = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`--timeout must be a number of seconds, got '${v}'`);
  }
  return n;
};

export function register(program: Command) {
  program.command("spawn")
    .description("create an agent and start it (its supervisor runs its CLI whenever work arrives)")
    .argument("<name>", "agent name (letters, digits, . _ -)")
    .option("-c, --cli <cli>", "CLI preset (claude, codex, …), [agent_clis] name, or any command")
    .option("--role <role>", "role, e.g. backend, frontend, tester, reviewer")
    .option("--nickname <nick>", "display nickname (default: a 1920s name)")
    .option("--parent <agent>", "parent agent")
    .option(
      "--rounds <n>",
      "rounds before the agent stops (default [agent] max_rounds)",
      positiveInt("--rounds"),
    )
    .option("--no-worktree", "run in the town directory even in a git repository")
    .option("--host <host>", "the host whose supervisor runs it (default: this one, TT_HOST)")
    .option("--foreground", "run the agent in this terminal until it stops")
    .action(async (name, opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { spawnAgent } = await import("../core/lifecycle.ts");
        const agent = await spawnAgent(t, {
          name,
          cli: opts.cli,
          role: opts.role,
          nickname: opts.nickname,
          parent: opts.parent,
          rounds: opts.rounds,
          worktree: opts.worktree ? undefined : false,
          noSupervisor: opts.foreground,
          host: opts.host,
        });
        const { placement } = await import("../core/hosts.ts");
        const where = await placement(t, agent);
        const { agentLabel } = await import("../core/agents.ts");
        // As root only, and only for a command that may be claude's: the CLI families cost a
        // short command ~20 ms, and only a command naming claude is of its family (familyOf;
        // tests/cli/lean_loaded_test.ts checks the presets).
        const { resolveCli } = Deno.uid() === 0 && mayRunClaude(t.config, agent.cli)
          ? await import("../supervisor/cli.ts")
          : { resolveCli: undefined };
        if (resolveCli?.(t.config, agent.cli).family.name === "claude") {
          // No silent surprise: without the sandbox the first round would fail with claude's
          // refusal (inside it, IS_SANDBOX=1 lets claude run as root).
          const { decideSandbox, probeSandbox } = await import("../supervisor/sandbox/mod.ts");
          if (!decideSandbox(t.config.agent.sandbox, await probeSandbox()).on) {
            note(
              "tt: note: claude refuses --dangerously-skip-permissions as root outside a sandbox, and tt's agent sandbox is off here ([agent] sandbox, tt doctor): run tt as a non-root user",
            );
          }
        }
        output(g.json, { ...agent, ...where }, () => [
          `Spawned ${color.bold(agentLabel(agent))} (${agent.id.slice(0, 8)}) running ${agent.cli}${
            where.elsewhere ? ` on host ${agent.host}` : ""
          }`,
          ...(!where.elsewhere || where.host_up ? [] : [
            `  host ${agent.host} has no supervisor running: the agent waits until one starts there ('tt start' with TT_HOST=${agent.host})`,
          ]),
          `  works in ${agent.workdir ?? t.root}${
            agent.branch ? ` on branch ${agent.branch}` : ""
          }`,
          `  logs in ${t.root}/.tt/logs/${agent.name}_round_<N>.log`,
        ]);
        if (opts.foreground) {
          const { AgentLoop } = await import("../supervisor/agent-loop.ts");
          const loop = new AgentLoop(t, agent.id, { log: note });
          const stop = () => loop.kill("interrupted in the foreground");
          Deno.addSignalListener("SIGINT", stop);
          await loop.start();
          Deno.removeSignalListener("SIGINT", stop);
        }
      });
    });

  for (
    const [verb, about] of [
      [
        "kill",
        "stop an agent now: its running CLI gets SIGTERM (then SIGKILL) and its work goes back",
      ],
      ["interrupt", "pause an agent: the running round finishes, no new round starts"],
      ["resume", "resume a paused agent"],
      ["close", "let the running round finish, then stop the agent"],
    ] as const
  ) {
    program.command(verb)
      .description(about)
      .argument("<agents...>", "agent references")
      .action(async (refs, _opts, cmd) => {
        await withTown(cmd, async (t, g) => {
          const { resolveAgent } = await import("../core/agents.ts");
          const lc = await import("../core/lifecycle.ts");
          const agents: Awaited<ReturnType<typeof resolveAgent>>[] = [];
          for (const ref of refs) agents.push(await resolveAgent(t, ref));
          for (const a of agents) {
            if (verb === "kill") await lc.killAgent(t, a);
            else if (verb === "interrupt") await lc.interruptAgent(t, a);
            else if (verb === "resume") await lc.resumeAgent(t, a);
            else await lc.closeAgent(t, a.id);
          }
          const past =
            { kill: "Stopped", interrupt: "Paused", resume: "Resumed", close: "Closing" }[verb];
          output(
            g.json,
            agents.map((a) => ({ id: a.id, name: a.name, action: verb })),
            () => agents.map((a) => `${past} ${a.name}`),
          );
        });
      });
  }

  program.command("wait")
    .description("block until agents are idle with nothing queued (or stopped); exit 1 on timeout")
    .argument("[agents...]", "agent references (default: every agent)")
    .option("--timeout <secs>", "give up after this many seconds", seconds)
    .addOption(
      program.createOption("--until <state>", "condition").choices(["idle", "stopped"] as const)
        .default(
          "idle" as const,
        ),
    )
    .action(async (refs, opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveAgent } = await import("../core/agents.ts");
        const { waitForAgents, conditionMet } = await import("../core/lifecycle.ts");
        const { listAgents } = await import("../core/agents.ts");
        const ids = refs.length
          ? await Promise.all(refs.map(async (r) => (await resolveAgent(t, r)).id))
          : undefined;
        // Say what is waited for (stderr, so stdout stays the result).
        const agents = ids
          ? await Promise.all(ids.map((id) => resolveAgent(t, id)))
          : await listAgents(t);
        const pending = [];
        for (const a of agents) if (!(await conditionMet(t, a, opts.until))) pending.push(a);
        if (pending.length) {
          console.error(
            `tt: waiting for ${
              pending.map((a) =>
                `${a.name} (${a.state}${
                  a.state === "rate_limited" && a.resume_at ? ` until ${a.resume_at}` : ""
                }${a.state === "working" ? `, round ${a.round}` : ""})`
              ).join(", ")
            } to be ${opts.until}`,
          );
        }
        const r = await waitForAgents(
          t,
          ids,
          opts.until,
          opts.timeout === undefined ? undefined : opts.timeout * 1000,
        );
        output(
          g.json,
          {
            met: r.met,
            until: opts.until,
            agents: r.agents.map((a) => ({ name: a.name, state: a.state })),
          },
          () =>
            r.agents.map((a) => `${a.name}: ${a.state}`).concat(
              r.met ? [] : [`timed out before every agent was ${opts.until}`],
            ),
        );
        if (!r.met) throw new TtError(`timed out after ${opts.timeout} s`);
      });
    });

  program.command("restart")
    .description("start a stopped agent again (same id, inbox and worktree)")
    .argument("<agent>", "agent reference")
    .option("--rounds <n>", "rounds before it stops", positiveInt("--rounds"))
    .option("--fresh", "start a new CLI session instead of resuming the agent's last one")
    .action(async (ref, opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveAgent, forgetCliSession } = await import("../core/agents.ts");
        const { restartAgent } = await import("../core/lifecycle.ts");
        const a = await resolveAgent(t, ref);
        if (opts.fresh && ["stopped", "error"].includes(a.state)) await forgetCliSession(t, a.id);
        await restartAgent(t, a, opts.rounds);
        output(
          g.json,
          { id: a.id, name: a.name, action: "restart", fresh: !!opts.fresh },
          () => `Restarted ${a.name}${opts.fresh ? " with a new CLI session" : ""}`,
        );
      });
    });

  program.command("reply")
    .description("answer an agent that is waiting for input (needs_input); it resumes its session")
    .argument("<agent>", "agent reference")
    .argument("<answer>", "the answer")
    .action(async (ref, answer, _opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveAgent } = await import("../core/agents.ts");
        const { replyToAgent } = await import("../core/reply.ts");
        const a = await resolveAgent(t, ref);
        const m = await replyToAgent(t, a, answer);
        output(g.json, { id: a.id, name: a.name, message_id: m.id }, () => `Answered ${a.name}`);
      }, { supervisor: true });
    });

  program.command("prune")
    .description("remove stopped agents (and their worktrees when nothing is unmerged)")
    .option("--all", "remove every agent, stopping active ones first")
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { pruneAgents } = await import("../core/lifecycle.ts");
        const r = await pruneAgents(t, !!opts.all);
        output(
          g.json,
          { removed: r.removed.map((a) => a.name), kept_worktrees: r.keptWorktrees },
          () => [
            ...(r.removed.length
              ? r.removed.map((a) => `Removed ${a.name}`)
              : ["Nothing to prune."]),
            ...r.keptWorktrees.map((k) => `Kept the worktree of ${k.agent}: ${k.why}`),
          ],
        );
      });
    });

  program.command("recover")
    .description(
      "stop agents whose supervisor died or whose round outlived its timeout, requeueing their work",
    )
    .action(async (_opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { recoverAgents } = await import("../core/lifecycle.ts");
        const r = await recoverAgents(t);
        output(g.json, {
          checked: r.checked,
          recovered: r.recovered.map((x) => ({ name: x.agent.name, why: x.why })),
        }, () => [
          `Checked ${r.checked} active agent(s); recovered ${r.recovered.length}.`,
          ...r.recovered.map((x) => `  ${x.agent.name}: ${x.why}`),
          ...(r.recovered.length
            ? ["Their work is back in their inboxes: 'tt restart <agent>' or 'tt reclaim'."]
            : []),
        ]);
      });
    });

  registerReclaim(program);

  program.command("logs")
    .description("show an agent's round output (latest round by default)")
    .argument("<agent>", "agent reference")
    .option("--round <n>", "round number", positiveInt("--round"))
    .option("-f, --follow", "keep printing as the round writes")
    .option(
      "--raw",
      "the CLI's output as written, bytes unchanged (by default: readable text from its JSON " +
        "stream, control characters shown escaped, e.g. \\x1b)",
    )
    .action(async (ref, opts, cmd) => {
      await withTown(cmd, async (t) => {
        const { resolveAgent } = await import("../core/agents.ts");
        const { showLog } = await import("../supervisor/logs.ts");
        const a = await resolveAgent(t, ref);
        await showLog(
          t,
          a,
          opts.round,
          !!opts.follow,
          !!opts.raw,
          opts.raw ? undefined : escapedStdout(),
        );
      });
    });

  const service = program.command("service")
    .description(
      "keep the town's supervisor running across crashes and reboots (systemd user unit; launchd LaunchAgent on macOS)",
    );
  service.command("install")
    .description("write and load a systemd user unit (macOS: a LaunchAgent) for the supervisor")
    .option("--no-enable", "only write the file, and print the commands that would load it")
    .action(async (opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { installService } = await import("../supervisor/service.ts");
        const r = await installService(t, opts.enable);
        const steps = r.commands.map((c) => `\n  ${c}`).join("");
        output(
          g.json,
          r,
          () =>
            r.enabled
              ? `Installed and started ${r.unit} (${r.path}); ran:${steps}`
              : `Wrote ${r.path}; to load and start it, run:${steps}`,
        );
      });
    });
  service.command("uninstall")
    .description("stop, unload and remove this town's systemd user unit (macOS: LaunchAgent)")
    .action(async (_opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { uninstallService } = await import("../supervisor/service.ts");
        const r = await uninstallService(t);
        const steps = r.commands.map((c) => `\n  ${c}`).join("");
        output(g.json, r, () => `Removed ${r.unit} (${r.path}); ran:${steps}`);
      });
    });

  program.command("supervise", { hidden: true })
    .description("run the town's supervisor (started automatically)")
    .option("--ready <nonce>", "reply list to signal readiness on")
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      const { supervise } = await import("../supervisor/daemon.ts");
      Deno.exit(await supervise({ town: g.town, ready: opts.ready }));
    });
}
