/**
 * The state of many pull requests in one GraphQL query (one aliased `repository.pullRequest` per
 * pull request; names and numbers travel as variables, never in the query text): merge state
 * (`mergeStateStatus`, `mergeable`), the checks rollup, the review decision and latest reviews,
 * and unresolved review threads. tests/fixtures/github/graphql-subset.graphql is extracted from
 * GitHub's published schema with this very query, and the tests' fake GitHub validates and
 * executes every query against it.
 */
import { z } from "zod";
import type { IssueRef, PullState } from "./github.ts";
import { checksOf, reviewOf } from "./pulls.ts";
import { TtError } from "../errors.ts";

/** What the query reads of each pull request. */
export const PULL_FRAGMENT = `fragment pullState on PullRequest {
  number
  state
  merged
  mergeable
  mergeStateStatus
  reviewDecision
  headRefOid
  statusCheckRollup {
    state
    contexts(first: 100) {
      totalCount
      nodes {
        __typename
        ... on CheckRun { name status conclusion }
        ... on StatusContext { context state }
      }
    }
  }
  latestOpinionatedReviews(first: 100) {
    nodes { fullDatabaseId state body author { login } }
  }
  reviewThreads(first: 100) {
    totalCount
    nodes { isResolved }
  }
}`;

/** The query for `n` pull requests: variables $o<i>, $r<i>, $n<i> (owner, repository, number). */
export function pullStatesQuery(n: number): string {
  const vars: string[] = [];
  const sel: string[] = [];
  for (let i = 0; i < n; i++) {
    vars.push(`$o${i}: String!, $r${i}: String!, $n${i}: Int!`);
    sel.push(
      `  p${i}: repository(owner: $o${i}, name: $r${i}) { pullRequest(number: $n${i}) { ...pullState } }`,
    );
  }
  return `query PullStates(${vars.join(", ")}) {\n  rateLimit { cost remaining resetAt }\n${
    sel.join("\n")
  }\n}\n${PULL_FRAGMENT}\n`;
}

export function pullStatesVariables(refs: IssueRef[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  refs.forEach((r, i) => {
    out[`o${i}`] = r.owner;
    out[`r${i}`] = r.repo;
    out[`n${i}`] = r.number;
  });
  return out;
}

const Context = z.union([
  z.object({
    __typename: z.literal("CheckRun"),
    name: z.string(),
    status: z.string(),
    conclusion: z.string().nullish(),
  }),
  z.object({ __typename: z.literal("StatusContext"), context: z.string(), state: z.string() }),
]);
const GqlPull = z.object({
  number: z.number().int(),
  state: z.string(),
  merged: z.boolean(),
  mergeable: z.string(),
  mergeStateStatus: z.string(),
  reviewDecision: z.string().nullish(),
  headRefOid: z.string(),
  statusCheckRollup: z.object({
    state: z.string(),
    contexts: z.object({ totalCount: z.number(), nodes: z.array(Context.nullable()).nullish() }),
  }).nullish(),
  latestOpinionatedReviews: z.object({
    nodes: z.array(
      z.object({
        fullDatabaseId: z.union([z.string(), z.number()]).nullish(),
        state: z.string(),
        body: z.string(),
        author: z.object({ login: z.string() }).nullish(),
      }).nullable(),
    ).nullish(),
  }).nullish(),
  reviewThreads: z.object({
    totalCount: z.number(),
    nodes: z.array(z.object({ isResolved: z.boolean() }).nullable()).nullish(),
  }),
});
export const GqlError = z.object({
  type: z.string().optional(),
  message: z.string(),
  path: z.array(z.union([z.string(), z.number()])).optional(),
});
export const GqlResponse = z.object({
  data: z.record(z.string(), z.unknown()).nullish(),
  errors: z.array(GqlError).optional(),
});
const Repo = z.object({ pullRequest: GqlPull.nullable() }).nullable();

/** GraphQL answered with an error; `unusable`: the query itself was refused (use REST). */
export class GraphqlRefused extends TtError {
  override name = "GraphqlRefused";
  constructor(message: string, readonly unusable: boolean) {
    super(message);
  }
}

/**
 * The pull requests' states from one GraphQL answer. NOT_FOUND (no such repository or pull
 * request, e.g. the number is an issue) ⇒ undefined; an answer without data (the query itself
 * refused, as on an older GitHub Enterprise without these fields) ⇒ GraphqlRefused(unusable);
 * any other error ⇒ GraphqlRefused.
 */
export function pullStatesFrom(refs: IssueRef[], body: unknown): (PullState | undefined)[] {
  const res = GqlResponse.safeParse(body);
  if (!res.success) throw new GraphqlRefused("GitHub sent an unreadable GraphQL answer", false);
  const errors = res.data.errors ?? [];
  for (const e of errors) {
    if (e.type !== "NOT_FOUND") {
      const msg = `GitHub GraphQL: ${e.message.replace(/\s+/g, " ").slice(0, 200)}`;
      throw new GraphqlRefused(msg, !res.data.data);
    }
  }
  const data = res.data.data;
  if (!data) throw new GraphqlRefused("GitHub sent a GraphQL answer without data", true);
  return refs.map((ref, i) => {
    const repo = Repo.safeParse(data[`p${i}`] ?? null);
    if (!repo.success) {
      const name = `${ref.owner}/${ref.repo}#${ref.number}`;
      throw new GraphqlRefused(`GitHub sent an unreadable pull request ${name}`, false);
    }
    const p = repo.data?.pullRequest;
    return p ? toPullState(ref, p) : undefined;
  });
}

function toPullState(ref: IssueRef, p: z.infer<typeof GqlPull>): PullState {
  const contexts = (p.statusCheckRollup?.contexts.nodes ?? []).flatMap((c) =>
    !c
      ? []
      : c.__typename === "CheckRun"
      ? [{ name: c.name, status: c.status.toLowerCase(), conclusion: c.conclusion }]
      : [{
        name: c.context,
        status: c.state === "PENDING" || c.state === "EXPECTED" ? "pending" : "completed",
        conclusion: c.state === "SUCCESS" ? "success" : "failure",
      }]
  );
  const checks = checksOf(contexts);
  // More contexts than one page: the rollup's own verdict stands for the rest.
  const rollup = p.statusCheckRollup?.state;
  if (
    p.statusCheckRollup && p.statusCheckRollup.contexts.totalCount > contexts.length &&
    checks.checks !== "failure"
  ) {
    if (rollup === "FAILURE" || rollup === "ERROR") checks.checks = "failure";
    else if (rollup === "PENDING" || rollup === "EXPECTED") checks.checks = "pending";
  }
  const reviews = reviewOf((p.latestOpinionatedReviews?.nodes ?? []).flatMap((r, k) =>
    r
      ? [{
        id: Number(r.fullDatabaseId ?? -k - 1),
        login: r.author?.login ?? `#${k}`,
        state: r.state,
        body: r.body,
      }]
      : []
  ));
  // A required review not yet given (branch protection) is no approval, whoever approved.
  if (p.reviewDecision === "REVIEW_REQUIRED" && reviews.review === "approved") {
    reviews.review = "none";
  }
  const threads = p.reviewThreads.nodes ?? [];
  return {
    ref,
    state: p.merged ? "closed" : p.state.toLowerCase(),
    merged: p.merged,
    mergeState: p.mergeStateStatus.toLowerCase(),
    headSha: p.headRefOid,
    ...checks,
    ...reviews,
    unresolvedThreads: threads.filter((t) => t && !t.isResolved).length,
  };
}
