/**
 * Agents' branches ahead/behind the town's branch for the dashboard, without a git call per agent
 * per render: each render takes what is cached and starts, in the background, a refresh of the
 * entries older than MAX_AGE_MS (one at a time per agent). So a page shows figures at most a few
 * seconds old, and its server time never includes git.
 */
import type { Agent } from "../../core/schemas.ts";
import { type WorktreeStatus, worktreeStatus } from "../../supervisor/worktree.ts";

/** How old a cached figure may be before a render refreshes it (in the background). */
export const MAX_AGE_MS = 5000;

interface Entry {
  at: number;
  status?: WorktreeStatus;
  refreshing?: Promise<void>;
}

const cache = new Map<string, Entry>();

const keyOf = (root: string, a: Pick<Agent, "id">) => `${root}\0${a.id}`;

/** The cached figures of `agents` (by agent id); stale or missing ones are refreshed for later. */
export function branchStatuses(
  root: string,
  agents: Pick<Agent, "id" | "workdir" | "branch">[],
  now = Date.now(),
): Map<string, WorktreeStatus> {
  const out = new Map<string, WorktreeStatus>();
  for (const a of agents) {
    if (!a.workdir || !a.branch) continue;
    const key = keyOf(root, a);
    const e = cache.get(key) ?? { at: 0 };
    cache.set(key, e);
    if (e.status) out.set(a.id, e.status);
    if (now - e.at >= MAX_AGE_MS && !e.refreshing) {
      const { workdir, branch } = a;
      e.refreshing = worktreeStatus(root, workdir, branch).then((st) => {
        e.status = st;
      }).catch(() => {
        e.status = undefined; // the worktree went away: show nothing rather than old figures
      }).finally(() => {
        e.at = Date.now();
        e.refreshing = undefined;
      });
    }
  }
  return out;
}

/** Resolves once every refresh in flight has finished (tests; a first render can await it). */
export async function branchesSettled(): Promise<void> {
  await Promise.all([...cache.values()].map((e) => e.refreshing));
}
