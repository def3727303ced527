/**
 * A fake GitHub REST API served by the test (Deno.serve on 127.0.0.1), reached through
 * GITHUB_API_URL. Every JSON body it sends is first validated against GitHub's own OpenAPI
 * description (the subset in tests/fixtures/github, extracted from @octokit/openapi), so the
 * fixtures cannot drift from what GitHub really returns. POST /graphql answers GraphQL queries,
 * validated and executed against GitHub's published GraphQL schema (fake_github_graphql.ts).
 */
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { ROOT } from "../helpers.ts";
import { answerGraphql } from "./fake_github_graphql.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const SUBSET = JSON.parse(
  await Deno.readTextFile(`${ROOT}/tests/fixtures/github/openapi-subset.json`),
);

const ajv = new Ajv({ strict: false, allErrors: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validators = new Map<string, ReturnType<Ajv["compile"]>>();

/** Throws unless `body` is what GitHub's description says `operation` returns. */
export function validateResponse(operation: string, body: unknown) {
  let v = validators.get(operation);
  if (!v) {
    const schema = SUBSET.responses[operation] ?? { $ref: `#/definitions/${operation}` };
    v = ajv.compile({ definitions: SUBSET.definitions, ...schema });
    validators.set(operation, v);
  }
  if (!v(body)) {
    throw new Error(
      `fake GitHub: ${operation} body breaks the OpenAPI schema: ${ajv.errorsText(v.errors)}`,
    );
  }
}

export interface FakeIssue {
  number: number;
  title: string;
  body?: string | null;
  /** Native dependencies (blocked_by); undefined ⇒ the endpoint answers 404 (older GHES). */
  blockedBy?: number[];
  comments?: number;
}

export interface FakePull {
  number: number;
  headSha: string;
  /** mergeable_state: clean, blocked, behind, dirty, unstable, unknown… */
  mergeState: string;
  merged?: boolean;
  checks: { name: string; status: "queued" | "in_progress" | "completed"; conclusion?: string }[];
  reviews: {
    id: number;
    login: string;
    state: "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED";
    body: string;
  }[];
  /** Review threads, each resolved or not (GraphQL only). */
  threads?: boolean[];
  /** Branch protection wants a review not yet given (GraphQL reviewDecision REVIEW_REQUIRED). */
  reviewRequired?: boolean;
}

export interface Hit {
  method: string;
  path: string;
  ifNoneMatch: string | null;
  authorization: string | null;
  status: number;
}

/** Scripted failures: the next responses to a path pattern. */
export type Trouble = {
  match: RegExp;
  status: number;
  headers?: Record<string, string>;
  times: number;
  /** GraphQL: answer 200 with an error of this type (RATE_LIMITED…) instead. */
  graphqlError?: string;
};

export class FakeGitHub {
  hits: Hit[] = [];
  troubles: Trouble[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;
  issues = new Map<number, FakeIssue>();
  pulls = new Map<number, FakePull>();
  /** Every GraphQL request's body, in order. */
  graphqlBodies: { query: string; variables?: Record<string, unknown> }[] = [];
  /** GraphQL queries refused as invalid (a test of a correct client expects none). */
  graphqlRefused: string[] = [];
  /** Answers that broke the schema (the fake's own bug; answered 500). */
  broken: string[] = [];

  constructor(readonly owner = "acme", readonly repo = "rocket") {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) =>
        this.#handle(req).catch((e) => {
          this.broken.push((e as Error).message);
          return new Response("fake GitHub failed", { status: 500 });
        }),
    );
  }

  /** GraphQL requests served (POST /graphql). */
  get graphqlHits() {
    return this.hits.filter((h) => h.method === "POST" && h.path === "/graphql");
  }

  /** REST requests for pull requests (the 3-per-PR path). */
  get restPullHits() {
    return this.hits.filter((h) => /\/(pulls|commits)\//.test(h.path));
  }

  get url() {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  add(...issues: FakeIssue[]) {
    for (const i of issues) this.issues.set(i.number, i);
    return this;
  }

  pull(p: FakePull) {
    this.pulls.set(p.number, p);
    return this;
  }

  async close() {
    await this.#server.shutdown();
  }

  issueJson(n: number): Json {
    const i = this.issues.get(n) ?? { number: n, title: `Issue ${n} (elsewhere)` };
    const api = `${this.url}/repos/${this.owner}/${this.repo}`;
    const ex = structuredClone(SUBSET.examples.issue);
    return {
      ...ex,
      id: 1000 + n,
      number: n,
      title: i.title,
      body: i.body ?? null,
      url: `${api}/issues/${n}`,
      repository_url: api,
      html_url: `https://github.example/${this.owner}/${this.repo}/issues/${n}`,
      comments: i.comments ?? 0,
    };
  }

  commentJson(issue: number, k: number): Json {
    const ex = structuredClone(SUBSET.examples["issue-comment"]);
    return {
      ...ex,
      id: issue * 10_000 + k,
      body: `comment ${k}`,
      issue_url: `${this.url}/issues/${issue}`,
    };
  }

  #reply(
    req: Request,
    path: string,
    status: number,
    body: unknown,
    operation?: string,
    headers: Record<string, string> = {},
  ) {
    if (operation && status === 200) validateResponse(operation, body);
    if (status >= 400 && body) validateResponse("basic-error", body);
    this.hits.push({
      method: req.method,
      path,
      ifNoneMatch: req.headers.get("if-none-match"),
      authorization: req.headers.get("authorization"),
      status,
    });
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  }

  async #handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const path = u.pathname + u.search;
    const trouble = this.troubles.find((t) => t.times > 0 && t.match.test(path));
    if (trouble) {
      trouble.times--;
      if (trouble.graphqlError) {
        const message = trouble.graphqlError === "RATE_LIMITED"
          ? "API rate limit exceeded for user ID 1."
          : `Field 'mergeStateStatus' doesn't exist on type 'PullRequest'`;
        const errors = [{ type: trouble.graphqlError, message }];
        this.hits.push({
          method: req.method,
          path,
          ifNoneMatch: null,
          authorization: req.headers.get("authorization"),
          status: 200,
        });
        return Response.json({ errors }, { headers: trouble.headers });
      }
      return this.#reply(
        req,
        path,
        trouble.status,
        {
          message: trouble.status === 403
            ? "API rate limit exceeded for 127.0.0.1."
            : "Server Error",
          documentation_url: "https://docs.github.com/rest",
        },
        undefined,
        trouble.headers,
      );
    }
    if (req.method === "POST" && u.pathname === "/graphql") {
      const text = await req.clone().text();
      try {
        this.graphqlBodies.push(JSON.parse(text));
      } catch { /* answered as unparsable below */ }
      const a = await answerGraphql(this, req);
      if (a.refused) this.graphqlRefused.push(a.refused);
      if (a.status >= 400) return this.#reply(req, path, a.status, a.body);
      this.hits.push({
        method: req.method,
        path,
        ifNoneMatch: null,
        authorization: req.headers.get("authorization"),
        status: a.status,
      });
      return Response.json(a.body, { status: a.status });
    }
    const pulls = this.#pulls(req, u, path);
    if (pulls) return pulls;
    const base = `/repos/${this.owner}/${this.repo}/issues/`;
    const m = u.pathname.startsWith(base)
      ? u.pathname.slice(base.length).match(/^(\d+)(\/.*)?$/)
      : null;
    const issue = m ? this.issues.get(Number(m[1])) : undefined;
    const notFound = () =>
      this.#reply(req, path, 404, {
        message: "Not Found",
        documentation_url: "https://docs.github.com/rest",
      });
    if (!m || !issue) return notFound();
    const rest = m[2] ?? "";
    if (rest === "") {
      const body = this.issueJson(issue.number);
      const etag = `"issue-${issue.number}-${JSON.stringify(body).length}"`;
      if (req.headers.get("if-none-match") === etag) return this.#reply(req, path, 304, undefined);
      return this.#reply(req, path, 200, body, "GET /repos/{owner}/{repo}/issues/{issue_number}", {
        etag,
      });
    }
    if (rest === "/dependencies/blocked_by") {
      if (!issue.blockedBy) return notFound();
      return this.#reply(
        req,
        path,
        200,
        issue.blockedBy.map((n) => this.issueJson(n)),
        "GET /repos/{owner}/{repo}/issues/{issue_number}/dependencies/blocked_by",
      );
    }
    if (rest === "/comments") {
      const per = Math.min(Number(u.searchParams.get("per_page") ?? 30), 100);
      const page = Number(u.searchParams.get("page") ?? 1);
      const total = issue.comments ?? 0;
      const list = Array.from(
        { length: Math.max(0, Math.min(per, total - (page - 1) * per)) },
        (_, k) => this.commentJson(issue.number, (page - 1) * per + k + 1),
      );
      const headers: Record<string, string> = {};
      if (page * per < total) {
        headers.link = `<${this.url}${u.pathname}?per_page=${per}&page=${page + 1}>; rel="next"`;
      }
      return this.#reply(
        req,
        path,
        200,
        list,
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
        headers,
      );
    }
    return notFound();
  }

  #pulls(req: Request, u: URL, path: string): Response | undefined {
    const repo = `/repos/${this.owner}/${this.repo}`;
    const api = `${this.url}${repo}`;
    let m = u.pathname.match(new RegExp(`^${repo}/pulls/(\\d+)(/reviews)?$`));
    if (m) {
      const p = this.pulls.get(Number(m[1]));
      if (!p) {
        return this.#reply(req, path, 404, {
          message: "Not Found",
          documentation_url: "https://docs.github.com/rest",
        });
      }
      if (m[2]) {
        const ex = SUBSET.examples["pull-request-review"];
        const list = p.reviews.map((r) => ({
          ...structuredClone(ex),
          id: r.id,
          state: r.state,
          body: r.body,
          user: { ...structuredClone(ex.user), login: r.login },
          pull_request_url: `${api}/pulls/${p.number}`,
        }));
        return this.#reply(
          req,
          path,
          200,
          list,
          "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        );
      }
      const ex = structuredClone(SUBSET.examples["pull-request"]);
      const body = {
        ...ex,
        number: p.number,
        state: p.merged ? "closed" : "open",
        merged: !!p.merged,
        mergeable: p.mergeState === "dirty" ? false : p.mergeState === "unknown" ? null : true,
        mergeable_state: p.mergeState,
        head: { ...ex.head, sha: p.headSha },
        // GitHub's own example predates the schema's required team `type`: no teams here.
        requested_teams: [],
        url: `${api}/pulls/${p.number}`,
      };
      const etag = `"pull-${p.number}-${JSON.stringify(body).length}-${p.headSha}-${p.mergeState}"`;
      if (req.headers.get("if-none-match") === etag) return this.#reply(req, path, 304, undefined);
      return this.#reply(req, path, 200, body, "GET /repos/{owner}/{repo}/pulls/{pull_number}", {
        etag,
      });
    }
    m = u.pathname.match(new RegExp(`^${repo}/commits/([0-9a-f]+)/check-runs$`));
    if (m) {
      const p = [...this.pulls.values()].find((x) => x.headSha === m![1]);
      const ex = SUBSET.examples["check-run"];
      const runs = (p?.checks ?? []).map((c, i) => ({
        ...structuredClone(ex),
        id: i + 1,
        name: c.name,
        head_sha: m![1],
        status: c.status,
        conclusion: c.status === "completed" ? c.conclusion ?? "success" : null,
        completed_at: c.status === "completed" ? ex.completed_at : null,
      }));
      return this.#reply(
        req,
        path,
        200,
        { total_count: runs.length, check_runs: runs },
        "GET /repos/{owner}/{repo}/commits/{ref}/check-runs",
      );
    }
    return undefined;
  }
}
