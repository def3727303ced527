/**
 * A pull request's state for the watches, read over REST (3 conditional requests per pull
 * request: the fallback where GraphQL cannot be used) — and the rules both readers share, so
 * REST and GraphQL give the same PullState for the same pull request.
 */
import { z } from "zod";
import type { GitHubRest, IssueRef, PullState } from "./github.ts";

const GhPull = z.object({
  state: z.string(),
  merged: z.boolean().nullish(),
  mergeable_state: z.string().nullish(),
  head: z.object({ sha: z.string() }),
});
const GhReview = z.object({
  id: z.number(),
  user: z.object({ login: z.string() }).nullish(),
  body: z.string().nullish(),
  state: z.string(),
});
const GhCheckRuns = z.object({
  check_runs: z.array(z.object({
    name: z.string(),
    status: z.string(),
    conclusion: z.string().nullish(),
  })),
});

/** Check conclusions that count as passing (REST lower case, GraphQL upper case alike). */
const PASSED = new Set(["success", "neutral", "skipped"]);

/** One check as both APIs report it: a check run, or (GraphQL only) a commit status. */
export interface CheckInfo {
  name: string;
  /** Lower case: completed, in_progress, queued… */
  status: string;
  conclusion?: string | null;
}

/** Overall checks and the failing ones' names: any failure wins, then pending, else success. */
export function checksOf(runs: CheckInfo[]): Pick<PullState, "checks" | "failingChecks"> {
  const failing = runs.filter((r) =>
    r.status === "completed" && !PASSED.has((r.conclusion ?? "").toLowerCase())
  ).map((r) => r.name);
  const pending = runs.some((r) => r.status !== "completed");
  return {
    checks: failing.length ? "failure" : pending ? "pending" : runs.length ? "success" : "none",
    failingChecks: failing,
  };
}

export interface ReviewInfo {
  id: number;
  login: string;
  /** APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING */
  state: string;
  body: string;
}

/** The review verdict from each reviewer's latest opinion (comments and pending reviews skipped). */
export function reviewOf(reviews: ReviewInfo[]): Pick<PullState, "review" | "changeRequest"> {
  const latest = new Map<string, ReviewInfo>();
  for (const r of reviews) {
    if (r.state === "COMMENTED" || r.state === "PENDING") continue;
    latest.set(r.login, r);
  }
  const asked = [...latest.values()].filter((r) => r.state === "CHANGES_REQUESTED").at(-1);
  const approved = [...latest.values()].some((r) => r.state === "APPROVED");
  return {
    review: asked ? "changes_requested" : approved ? "approved" : "none",
    changeRequest: asked ? { id: asked.id, body: asked.body } : undefined,
  };
}

/** Reads a pull request's state in 3 conditional requests (a 304 costs no rate limit). */
export async function pullStateRest(gh: GitHubRest, ref: IssueRef): Promise<PullState | undefined> {
  const base = `/repos/${ref.owner}/${ref.repo}`;
  const pr = await gh.get(`${base}/pulls/${ref.number}`);
  if (!pr) return undefined;
  const p = GhPull.parse(pr.body);
  const [runs, reviews] = await Promise.all([
    gh.get(`${base}/commits/${p.head.sha}/check-runs?per_page=100`),
    gh.list(`${base}/pulls/${ref.number}/reviews`),
  ]);
  const checkRuns = runs ? GhCheckRuns.parse(runs.body).check_runs : [];
  return {
    ref,
    state: p.state,
    merged: !!p.merged,
    mergeState: (p.mergeable_state ?? "unknown").toLowerCase(),
    headSha: p.head.sha,
    ...checksOf(checkRuns),
    ...reviewOf(
      z.array(GhReview).parse(reviews).map((r) => ({
        id: r.id,
        login: r.user?.login ?? `#${r.id}`,
        state: r.state,
        body: r.body ?? "",
      })),
    ),
  };
}
