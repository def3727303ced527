/**
 * The fake GitHub's GraphQL endpoint (POST /graphql). Each query is parsed, validated and
 * executed by graphql-js against tests/fixtures/github/graphql-subset.graphql — the part of
 * GitHub's published schema the missions use — so a field GitHub does not have, a wrong
 * argument, an enum value GitHub never sends or a null where the schema forbids one all fail
 * here as they would there. Answers follow GitHub's shape: errors carry a `type` (NOT_FOUND,
 * RATE_LIMITED…), data sits beside them, and the endpoint needs a token.
 */
import { buildSchema, execute, GraphQLError, parse, validate } from "graphql";
import { z } from "zod";
import { ROOT } from "../helpers.ts";
import type { FakePull } from "./fake_github.ts";

export const GRAPHQL_SCHEMA = buildSchema(
  await Deno.readTextFile(`${ROOT}/tests/fixtures/github/graphql-subset.graphql`),
);

const Body = z.object({
  query: z.string(),
  variables: z.record(z.string(), z.unknown()).nullish(),
  operationName: z.string().nullish(),
});

export interface GraphqlSource {
  owner: string;
  repo: string;
  pulls: Map<number, FakePull>;
}

export interface GraphqlAnswer {
  status: number;
  body: unknown;
  /** The query was refused (syntax or schema): a test expecting a valid client fails on it. */
  refused?: string;
}

const fail = (message: string, type: string) => new GraphQLError(message, { extensions: { type } });

/** Cursor pagination as GitHub enforces it: `first` or `last` is required, at most 100. */
function connection(name: string, list: unknown[]) {
  return (args: { first?: number; last?: number }) => {
    const n = args.first ?? args.last;
    if (n === undefined) {
      throw fail(
        `You must provide a \`first\` or \`last\` value to properly paginate the \`${name}\` connection.`,
        "MISSING_PAGINATION_BOUNDARIES",
      );
    }
    if (n > 100) {
      throw fail(
        `Requesting ${n} records on the \`${name}\` connection exceeds the \`${
          args.first !== undefined ? "first" : "last"
        }\` limit of 100 records.`,
        "EXCESSIVE_PAGINATION",
      );
    }
    const nodes = args.first !== undefined ? list.slice(0, n) : list.slice(-n);
    return { totalCount: list.length, nodes };
  };
}

/** A fake pull request as GitHub's GraphQL types describe it (enums in GitHub's upper case). */
function pullObject(p: FakePull) {
  const runs = p.checks.map((c) => ({
    __typename: "CheckRun",
    name: c.name,
    status: c.status.toUpperCase(),
    conclusion: c.status === "completed" ? (c.conclusion ?? "success").toUpperCase() : null,
  }));
  const failed = runs.some((r) =>
    r.conclusion && !["SUCCESS", "NEUTRAL", "SKIPPED"].includes(r.conclusion)
  );
  const pending = runs.some((r) => r.status !== "COMPLETED");
  const latest = new Map<string, FakePull["reviews"][number]>();
  for (const r of p.reviews) if (r.state !== "COMMENTED") latest.set(r.login, r);
  const opinions = [...latest.values()];
  return {
    number: p.number,
    state: p.merged ? "MERGED" : "OPEN",
    merged: !!p.merged,
    mergeable: p.mergeState === "dirty"
      ? "CONFLICTING"
      : p.mergeState === "unknown"
      ? "UNKNOWN"
      : "MERGEABLE",
    mergeStateStatus: p.mergeState.toUpperCase(),
    reviewDecision: opinions.some((r) => r.state === "CHANGES_REQUESTED")
      ? "CHANGES_REQUESTED"
      : opinions.some((r) => r.state === "APPROVED")
      ? "APPROVED"
      : p.reviewRequired
      ? "REVIEW_REQUIRED"
      : null,
    headRefOid: p.headSha,
    statusCheckRollup: runs.length
      ? {
        state: failed ? "FAILURE" : pending ? "PENDING" : "SUCCESS",
        contexts: connection("contexts", runs),
      }
      : null,
    latestOpinionatedReviews: connection(
      "latestOpinionatedReviews",
      opinions.map((r) => ({
        fullDatabaseId: String(r.id),
        state: r.state,
        body: r.body,
        author: { __typename: "User", login: r.login },
      })),
    ),
    reviewThreads: connection(
      "reviewThreads",
      (p.threads ?? []).map((resolved) => ({ isResolved: resolved })),
    ),
  };
}

/** Answers one POST /graphql the way GitHub would. */
export async function answerGraphql(src: GraphqlSource, req: Request): Promise<GraphqlAnswer> {
  if (!req.headers.get("authorization")) {
    return {
      status: 401,
      body: {
        message: "This endpoint requires you to be authenticated.",
        documentation_url:
          "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql",
      },
    };
  }
  const body = Body.safeParse(await req.json().catch(() => undefined));
  if (!body.success) {
    return {
      status: 400,
      body: {
        message: "Problems parsing JSON",
        documentation_url: "https://docs.github.com/graphql",
      },
      refused: "unparsable body",
    };
  }
  let document;
  try {
    document = parse(body.data.query);
  } catch (e) {
    const message = (e as Error).message;
    return { status: 200, body: { errors: [{ message }] }, refused: message };
  }
  const invalid = validate(GRAPHQL_SCHEMA, document);
  if (invalid.length) {
    const errors = invalid.map((e) => ({ message: e.message, locations: e.locations }));
    return { status: 200, body: { errors }, refused: invalid.map((e) => e.message).join("; ") };
  }
  const rootValue = {
    rateLimit: {
      cost: 1,
      remaining: 4999,
      resetAt: new Date(Date.now() + 3_600_000).toISOString(),
    },
    repository: ({ owner, name }: { owner: string; name: string }) => {
      if (owner.toLowerCase() !== src.owner || name.toLowerCase() !== src.repo) {
        throw fail(
          `Could not resolve to a Repository with the name '${owner}/${name}'.`,
          "NOT_FOUND",
        );
      }
      return {
        pullRequest: ({ number }: { number: number }) => {
          const p = src.pulls.get(number);
          if (!p) {
            throw fail(
              `Could not resolve to a PullRequest with the number of ${number}.`,
              "NOT_FOUND",
            );
          }
          return pullObject(p);
        },
      };
    },
  };
  const result = await execute({
    schema: GRAPHQL_SCHEMA,
    document,
    rootValue,
    variableValues: body.data.variables ?? {},
    operationName: body.data.operationName ?? undefined,
  });
  if (!("data" in result)) throw new Error("fake GitHub: a streamed GraphQL result");
  if (result.data == null && result.errors) {
    // A request error (variables of the wrong type…): no data, as GitHub answers it.
    const errors = result.errors.map((e) => ({ message: e.message, locations: e.locations }));
    return { status: 200, body: { errors }, refused: errors.map((e) => e.message).join("; ") };
  }
  const errors = result.errors?.map((e) => ({
    type: (e.extensions?.type as string | undefined) ?? "INTERNAL",
    path: e.path,
    locations: e.locations,
    message: e.message,
  }));
  // An error the resolvers did not mean (a value the schema forbids) is the fake's own bug.
  const own = errors?.find((e) => e.type === "INTERNAL");
  if (own) throw new Error(`fake GitHub: GraphQL answer breaks the schema: ${own.message}`);
  return {
    status: 200,
    body: errors ? { data: result.data ?? null, errors } : { data: result.data },
  };
}
