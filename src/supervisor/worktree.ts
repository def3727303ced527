/**
 * A git worktree per agent (branch `tt/<agent>`, in `.tt/worktrees/<agent>`), so agents working
 * at the same time do not trample each other's files.
 */
import { TtError } from "../core/errors.ts";

async function git(
  cwd: string,
  ...args: string[]
): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const r = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { ok: r.success, out: dec.decode(r.stdout).trim(), err: dec.decode(r.stderr).trim() };
  } catch {
    return { ok: false, out: "", err: "git is not installed" };
  }
}

/** The repository top level if `dir` is inside a git work tree with at least one commit. */
export async function gitTopLevel(dir: string): Promise<string | undefined> {
  const top = await git(dir, "rev-parse", "--show-toplevel");
  if (!top.ok) return undefined;
  const head = await git(dir, "rev-parse", "--verify", "-q", "HEAD");
  return head.ok ? top.out : undefined;
}

export const branchFor = (agent: string) => `tt/${agent}`;

export interface Worktree {
  workdir: string;
  branch: string;
}

/** Creates (or reuses) the agent's worktree on branch tt/<agent>, starting from HEAD. */
export async function createWorktree(root: string, agent: string): Promise<Worktree | undefined> {
  const top = await gitTopLevel(root);
  if (!top) return undefined;
  const branch = branchFor(agent);
  const workdir = `${root}/.tt/worktrees/${agent}`;
  try {
    await Deno.stat(`${workdir}/.git`);
    return { workdir, branch }; // already there (restart of a pruned-then-respawned agent)
  } catch { /* create it */ }
  await Deno.mkdir(`${root}/.tt/worktrees`, { recursive: true });
  const exists = (await git(top, "rev-parse", "--verify", "-q", `refs/heads/${branch}`)).ok;
  const r = exists
    ? await git(top, "worktree", "add", workdir, branch)
    : await git(top, "worktree", "add", "-b", branch, workdir, "HEAD");
  if (!r.ok) {
    throw new TtError(`could not create the worktree for '${agent}': ${r.err.split("\n").pop()}`);
  }
  return { workdir, branch };
}

export interface WorktreeStatus {
  branch: string;
  ahead: number;
  behind: number;
  dirty: number;
}

/** Commits ahead/behind the town's current branch, and uncommitted changes. */
export async function worktreeStatus(
  root: string,
  workdir: string,
  branch: string,
): Promise<WorktreeStatus | undefined> {
  const base = await git(root, "rev-parse", "--abbrev-ref", "HEAD");
  if (!base.ok) return undefined;
  const counts = await git(root, "rev-list", "--left-right", "--count", `${base.out}...${branch}`);
  const dirty = await git(workdir, "status", "--porcelain");
  if (!counts.ok) return undefined;
  const [behind, ahead] = counts.out.split(/\s+/).map(Number);
  return {
    branch,
    ahead,
    behind,
    dirty: dirty.ok ? dirty.out.split("\n").filter(Boolean).length : 0,
  };
}

/**
 * Removes the worktree and its branch when nothing would be lost: no uncommitted changes and no
 * commits that the town's current branch lacks. Returns why it was kept otherwise.
 */
export async function removeWorktreeIfMerged(
  root: string,
  workdir: string,
  branch: string,
): Promise<{ removed: true } | { removed: false; why: string }> {
  const st = await worktreeStatus(root, workdir, branch);
  if (!st) {
    await git(root, "worktree", "prune");
    return { removed: true };
  }
  if (st.dirty) return { removed: false, why: `${st.dirty} uncommitted change(s) in ${workdir}` };
  if (st.ahead) return { removed: false, why: `${st.ahead} commit(s) on ${branch} not merged` };
  const rm = await git(root, "worktree", "remove", workdir);
  if (!rm.ok) {
    return { removed: false, why: rm.err.split("\n").pop() ?? "git worktree remove failed" };
  }
  await git(root, "branch", "-D", branch);
  return { removed: true };
}
