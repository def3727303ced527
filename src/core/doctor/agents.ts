/** Checks of the agents: each one's CLI (found, logged in) and their git worktrees. */
import { resolveCli } from "../../supervisor/cli.ts";
import type { TownConfig } from "../config.ts";
import type { Agent } from "../schemas.ts";
import { isTerminalAgent } from "../schemas.ts";
import { findExecutable, loginEvidence, PRESET_NEEDS, programOf } from "./clis.ts";
import { run } from "./host.ts";
import { type Check, type CheckResult, fail, needsRedis, ok, skip, warn } from "./types.ts";

/** Is the CLI `ref` runnable here, and does it look logged in? */
export async function cliResult(
  name: string,
  config: TownConfig,
  ref: string,
  respawnHint: string,
): Promise<CheckResult> {
  const cli = resolveCli(config, ref);
  const custom = config.agent_clis[cli.name] !== undefined;
  const program = programOf(cli.command);
  if (!program) {
    return fail(name, `the CLI '${cli.name}' has an empty command`, respawnHint);
  }
  const where = await findExecutable(program);
  if (!where) {
    const how = custom
      ? `, or fix [agent_clis.${cli.name}] command in tinytown.toml`
      : `, or ${respawnHint}`;
    return fail(
      name,
      `its CLI '${cli.name}' needs '${program}', which is not ${
        program.includes("/") ? "an executable file" : "on PATH"
      }`,
      `install ${program} (or put it on PATH)${how}`,
    );
  }
  const needs = PRESET_NEEDS[cli.name];
  if (!needs) return ok(name, `${cli.name}: ${where}`);
  const evidence = await loginEvidence(needs);
  if (evidence) return ok(name, `${cli.name}: ${where} (${evidence})`);
  return warn(
    name,
    `${cli.name}: ${where}, but no sign of a login (${
      needs.env.map((v) => `$${v}`).join(", ")
    } unset${
      needs.files.length ? `; no ${needs.files.map((f) => `~/${f}`).join(", ")}` : ""
    }): its rounds fail unless it is logged in some other way`,
    needs.login,
  );
}

const isLocal = (a: Agent, host: string) => (a.host ?? host) === host;

export const agentClisCheck: Check = {
  name: "agents",
  timeoutMs: 5000,
  async run(ctx) {
    if (!ctx.town) return skip("agents", "not checked: no town");
    const config = ctx.town.config;
    const out: CheckResult[] = [];
    const def = await cliResult(
      "default cli",
      config,
      config.default_cli,
      "change default_cli in tinytown.toml",
    );
    // A missing default CLI only matters to agents spawned later.
    out.push(def.status === "fail" ? { ...def, status: "warn" } : def);
    const missing = needsRedis("agents", ctx);
    if (missing) return [...out, missing];
    const active = (ctx.agents ?? []).filter((a) => !isTerminalAgent(a.state));
    if (!active.length) out.push(ok("agents", "no active agents"));
    for (const a of active) {
      const name = `agent ${a.name}`;
      if (!isLocal(a, ctx.host)) {
        out.push(skip(name, `runs on host ${a.host}: run 'tt doctor' there`));
        continue;
      }
      out.push(
        await cliResult(
          name,
          config,
          a.cli,
          `'tt kill ${a.name}', 'tt prune', then 'tt spawn ${a.name} --cli <another>'`,
        ),
      );
    }
    return out;
  },
};

/** `git worktree list --porcelain` → path → whether git marks it prunable (directory gone). */
function parseWorktrees(porcelain: string): Map<string, { branch?: string; prunable: boolean }> {
  const map = new Map<string, { branch?: string; prunable: boolean }>();
  for (const block of porcelain.split("\n\n")) {
    const lines = block.split("\n");
    const path = lines.find((l) => l.startsWith("worktree "))?.slice(9);
    if (!path) continue;
    const branch = lines.find((l) => l.startsWith("branch "))?.slice(7).replace(
      /^refs\/heads\//,
      "",
    );
    map.set(path, { branch, prunable: lines.some((l) => l.startsWith("prunable")) });
  }
  return map;
}

export const worktreesCheck: Check = {
  name: "worktrees",
  timeoutMs: 5000,
  async run(ctx) {
    const name = "worktrees";
    const missing = needsRedis(name, ctx);
    if (missing) return missing;
    const root = ctx.town!.root;
    const top = await run("git", ["rev-parse", "--show-toplevel"], root);
    if (!top) return skip(name, "not checked: git is not installed");
    if (!top.ok) return ok(name, "not a git repository: agents work in the town directory");
    const list = await run("git", ["worktree", "list", "--porcelain"], top.out);
    if (!list?.ok) {
      return fail(
        name,
        `git worktree list failed: ${list?.err.split("\n")[0]}`,
        `run 'git worktree list' in ${top.out}`,
      );
    }
    const trees = parseWorktrees(list.out);
    const problems: string[] = [];
    const fixes = new Set<string>();
    const own = (ctx.agents ?? []).filter((a) => isLocal(a, ctx.host) && a.branch && a.workdir);
    for (const a of own) {
      const wt = trees.get(a.workdir!);
      const gone = await Deno.stat(a.workdir!).then(() => false, () => true);
      if (gone) {
        problems.push(`${a.name}'s worktree ${a.workdir} is missing`);
        fixes.add(
          `${
            wt ? "'git worktree prune', then " : ""
          }'git worktree add ${a.workdir} ${a.branch}' recreates it from its branch`,
        );
      } else if (!wt) {
        problems.push(`${a.name}'s directory ${a.workdir} is not a worktree git knows`);
        fixes.add(`move it away, then 'git worktree add ${a.workdir} ${a.branch}'`);
      } else if (wt.branch !== a.branch) {
        problems.push(
          `${a.name}'s worktree is on ${wt.branch ?? "a detached HEAD"}, not ${a.branch}`,
        );
        fixes.add(`'git -C ${a.workdir} switch ${a.branch}'`);
      }
    }
    const stale = [...trees].filter(([p, t]) =>
      t.prunable && p.startsWith(`${root}/.tt/worktrees/`)
    );
    if (stale.length) {
      problems.push(`${stale.length} worktree(s) under .tt/worktrees/ whose directory is gone`);
      fixes.add("'git worktree prune'");
    }
    if (problems.length) return fail(name, problems.join("; "), [...fixes].join("; "));
    return ok(
      name,
      `${own.length} agent worktree(s) consistent with git (${trees.size} worktree(s) in ${top.out})`,
    );
  },
};
