/**
 * Black-box tests of agents' git worktrees: in a town that is a git repository (with a commit)
 * every spawned agent works in `.tt/worktrees/<agent>` on branch `tt/<agent>`; `tt status` shows
 * each branch's ahead/behind/uncommitted; `tt prune` removes only worktrees with nothing to lose.
 */
import assert from "node:assert/strict";
import { AgentTown, fakeCli } from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { townOf } from "../helpers.ts";

type TaskJson = { id: string; state: string };
type StatusJson = {
  agents: { id: string; agent: { name: string } }[];
  worktrees: Record<string, { branch: string; ahead: number; behind: number; dirty: number }>;
};

async function git(at: AgentTown, cwd: string, ...args: string[]): Promise<string> {
  const r = await new Deno.Command("git", {
    args,
    cwd,
    env: { HOME: at.sb.home, GIT_CONFIG_NOSYSTEM: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!r.success) throw new Error(`git ${args.join(" ")}: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout).trim();
}

/** A town in a git repository with one commit (git identity in the sandbox's HOME). */
async function gitTown(): Promise<AgentTown> {
  const at = new AgentTown();
  await Deno.writeTextFile(
    `${at.sb.home}/.gitconfig`,
    "[user]\n\tname = tt test\n\temail = test@tt.invalid\n[init]\n\tdefaultBranch = main\n",
  );
  await git(at, at.sb.dir, "init", "-q");
  await Deno.writeTextFile(`${at.sb.dir}/README.md`, "# project\n");
  await git(at, at.sb.dir, "add", "README.md");
  await git(at, at.sb.dir, "commit", "-q", "-m", "start");
  at.name = await at.sb.init();
  at.t = await townOf(at.name);
  return at;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

async function statusOf(at: AgentTown) {
  const s = await at.sb.json<StatusJson>(["status"]);
  const byName = new Map(s.agents.map((a) => [a.agent.name, a.id]));
  return (name: string) => s.worktrees[byName.get(name)!];
}

Deno.test("each agent works in its own worktree on tt/<agent>; status shows ahead, behind, uncommitted", async () => {
  const at = await gitTown();
  const state = await Deno.makeTempDir();
  try {
    const root = await Deno.realPath(at.sb.dir);
    const spawned = await at.sb.ok(["spawn", "p1", "--cli", fakeCli("pwd", state)]);
    assert.match(spawned.stdout, /works in .*\/\.tt\/worktrees\/p1 on branch tt\/p1/);
    await at.sb.ok(["spawn", "c1", "--cli", fakeCli("commit")]);
    await at.sb.ok(["spawn", "d1", "--cli", fakeCli("dirty")]);
    await at.sb.ok(["spawn", "n1", "--no-worktree", "--cli", fakeCli("pwd", state)]);
    for (const name of ["p1", "c1", "d1"]) {
      const a = await resolveAgent(at.t, name);
      assert.equal(a.workdir, `${root}/.tt/worktrees/${name}`);
      assert.equal(a.branch, `tt/${name}`);
      assert.equal(await git(at, a.workdir!, "rev-parse", "--abbrev-ref", "HEAD"), `tt/${name}`);
    }
    assert.equal((await resolveAgent(at.t, "n1")).workdir, undefined);
    assert.deepEqual(
      (await git(at, root, "branch", "--list", "tt/*", "--format=%(refname:short)")).split("\n"),
      ["tt/c1", "tt/d1", "tt/p1"],
    );

    const tasks: TaskJson[] = [];
    for (const name of ["p1", "c1", "d1", "n1"]) {
      tasks.push(await at.sb.json<TaskJson>(["assign", name, `work of ${name}`]));
    }
    await at.sb.ok(["wait", "--timeout", "60"]);
    for (const task of tasks) assert.equal((await getTask(at.t, task.id))?.state, "completed");
    // The CLI ran in the worktree (or the town, with --no-worktree).
    assert.equal((await Deno.readTextFile(`${state}/pwd_p1`)).trim(), `${root}/.tt/worktrees/p1`);
    assert.equal((await Deno.readTextFile(`${state}/pwd_n1`)).trim(), root);
    // The commit is on c1's branch only; the town's checkout is untouched.
    assert.match(await git(at, root, "log", "--format=%s", "tt/c1"), /^work of c1\nstart$/);
    assert.equal(await git(at, root, "log", "--format=%s", "main"), "start");
    assert.equal(await exists(`${root}/scratch_d1.txt`), false);

    let wt = await statusOf(at);
    assert.deepEqual(wt("p1"), { branch: "tt/p1", ahead: 0, behind: 0, dirty: 0 });
    assert.deepEqual(wt("c1"), { branch: "tt/c1", ahead: 1, behind: 0, dirty: 0 });
    assert.deepEqual(wt("d1"), { branch: "tt/d1", ahead: 0, behind: 0, dirty: 1 });
    assert.equal(wt("n1"), undefined);
    const text = await at.sb.ok(["status"]);
    assert.match(text.stdout, /Branch tt\/c1: 1 ahead, 0 behind\n/);
    assert.match(text.stdout, /Branch tt\/d1: 0 ahead, 0 behind, 1 uncommitted\n/);

    // The town's branch moves on: every agent branch is one behind.
    await Deno.writeTextFile(`${root}/main.txt`, "main work\n");
    await git(at, root, "add", "main.txt");
    await git(at, root, "commit", "-q", "-m", "main moves on");
    wt = await statusOf(at);
    assert.deepEqual(wt("c1"), { branch: "tt/c1", ahead: 1, behind: 1, dirty: 0 });
    assert.deepEqual(wt("p1"), { branch: "tt/p1", ahead: 0, behind: 1, dirty: 0 });
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("prune removes worktrees with nothing unmerged and keeps (and says so) those with commits or changes", async () => {
  const at = await gitTown();
  const state = await Deno.makeTempDir();
  try {
    const root = await Deno.realPath(at.sb.dir);
    await at.sb.ok(["spawn", "p1", "--cli", fakeCli("pwd", state)]);
    await at.sb.ok(["spawn", "c1", "--cli", fakeCli("commit")]);
    await at.sb.ok(["spawn", "d1", "--cli", fakeCli("dirty")]);
    for (const name of ["p1", "c1", "d1"]) await at.sb.ok(["assign", name, `work of ${name}`]);
    await at.sb.ok(["wait", "--timeout", "60"]);
    const c1Head = await git(at, root, "rev-parse", "tt/c1");

    const r = await at.sb.ok(["prune", "--all"]);
    assert.match(r.stdout, /Removed p1/);
    assert.match(
      r.stdout,
      /Kept the worktree of c1: 1 commit\(s\) on tt\/c1 not merged/,
    );
    assert.match(r.stdout, /Kept the worktree of d1: 1 uncommitted change\(s\) in .*worktrees\/d1/);
    assert.equal(await exists(`${root}/.tt/worktrees/p1`), false);
    assert.equal(await exists(`${root}/.tt/worktrees/c1/.git`), true);
    assert.equal(await exists(`${root}/.tt/worktrees/d1/scratch_d1.txt`), true);
    assert.deepEqual(
      (await git(at, root, "branch", "--list", "tt/*", "--format=%(refname:short)")).split("\n"),
      ["tt/c1", "tt/d1"],
    );
    assert.equal(await git(at, root, "rev-parse", "tt/c1"), c1Head, "the work is intact");

    // Once c1's work is merged, a respawned c1 reuses its worktree and prune removes it.
    await git(at, root, "merge", "-q", "--ff-only", "tt/c1");
    const again = await at.sb.ok(["spawn", "c1", "--cli", fakeCli("complete")]);
    assert.match(again.stdout, /worktrees\/c1 on branch tt\/c1/);
    const json = await at.sb.json<{ removed: string[]; kept_worktrees: unknown[] }>([
      "prune",
      "--all",
    ]);
    assert.deepEqual(json, { removed: ["c1"], kept_worktrees: [] });
    assert.equal(await exists(`${root}/.tt/worktrees/c1`), false);
    assert.equal(
      await git(at, root, "branch", "--list", "tt/*", "--format=%(refname:short)"),
      "tt/d1",
    );
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});
