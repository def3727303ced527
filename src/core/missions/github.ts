/**
 * GitHub behind one small interface: issues, their native dependencies, their comments, pull
 * requests' states. REST over fetch; base URL from GITHUB_API_URL (GitHub Enterprise, or a test's
 * fake), token from GITHUB_TOKEN / GH_TOKEN / `gh auth token`; conditional requests (ETag: a 304
 * costs no rate limit); many pull requests in one GraphQL query (REST the fallback: no token, or
 * a GraphQL endpoint that refuses the query); rate limits and 5xx back off, and give up with a
 * one-line error past a bound.
 */
import { z } from "zod";
import { TtError } from "../errors.ts";
import { pullStateRest } from "./pulls.ts";
import {
  GqlResponse,
  GraphqlRefused,
  pullStatesFrom,
  pullStatesQuery,
  pullStatesVariables,
} from "./pulls_graphql.ts";

export interface IssueRef {
  owner: string;
  repo: string;
  number: number;
}
export const refText = (r: IssueRef) => `${r.owner}/${r.repo}#${r.number}`;

export interface Issue {
  ref: IssueRef;
  title: string;
  body: string;
  url: string;
  state: string;
  pullRequest: boolean;
}

export interface Comment {
  id: number;
  author: string;
  body: string;
  created_at: string;
}

/** What a mission needs to know about a pull request. */
export interface PullState {
  ref: IssueRef;
  state: string;
  merged: boolean;
  /** GitHub's mergeable_state (GraphQL mergeStateStatus): clean, blocked, behind, dirty… */
  mergeState: string;
  headSha: string;
  /** Over every check run of the head commit; "none" when there are none. */
  checks: "success" | "failure" | "pending" | "none";
  failingChecks: string[];
  /** From each reviewer's latest review. */
  review: "approved" | "changes_requested" | "none";
  /** The change request that holds the PR back (id and text), when review is changes_requested. */
  changeRequest?: { id: number; body: string };
  /** Review threads not resolved (GraphQL only: REST has no such field). */
  unresolvedThreads?: number;
}

export interface GitHubSource {
  issue(ref: IssueRef): Promise<Issue>;
  /** A pull request's merge, checks and review state; undefined when it is no pull request. */
  pullState?(ref: IssueRef): Promise<PullState | undefined>;
  /** Many pull requests' states at once (one GraphQL query per page), in the order given. */
  pullStates?(refs: IssueRef[]): Promise<(PullState | undefined)[]>;
  /** Issues blocking this one (native dependencies); undefined where the API has none (404). */
  blockedBy(ref: IssueRef): Promise<IssueRef[] | undefined>;
  /** Every comment, all pages. */
  comments(ref: IssueRef): Promise<Comment[]>;
}

const GhIssue = z.object({
  number: z.number().int(),
  title: z.string(),
  body: z.string().nullish(),
  html_url: z.string(),
  state: z.string(),
  repository_url: z.string().optional(),
  pull_request: z.object({}).passthrough().nullish(),
});
const GhComment = z.object({
  id: z.number(),
  body: z.string().nullish(),
  user: z.object({ login: z.string() }).nullish(),
  created_at: z.string(),
});

export class GitHubError extends TtError {
  override name = "GitHubError";
  constructor(message: string, readonly status?: number, readonly rateLimited = false) {
    super(message);
  }
}

export interface GitHubOptions {
  baseUrl?: string;
  token?: string;
  fetch?: typeof fetch;
  /** How to wait (tests record the waits instead). */
  sleep?: (ms: number) => Promise<void>;
  /** Longest single wait for a rate limit reset or a retry; longer ⇒ give up with an error. */
  maxWaitMs?: number;
  /** Retries of a 5xx or network error (back-off 1 s, 2 s, 4 s… capped by maxWaitMs). */
  retries?: number;
  retryBaseMs?: number;
  perPage?: number;
  /** Abort a request after this long (a network error, retried). */
  timeoutMs?: number;
  /** GraphQL endpoint (default: GITHUB_GRAPHQL_URL, else derived from the base URL). */
  graphqlUrl?: string;
  /** Pull requests per GraphQL query. */
  graphqlPage?: number;
}

/** GitHub's GraphQL endpoint beside a REST base URL: …/api/v3 ⇒ …/api/graphql (Enterprise). */
export function graphqlUrlOf(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, "");
  return /\/api\/v3$/.test(base) ? base.replace(/\/v3$/, "/graphql") : `${base}/graphql`;
}

/** Token from the environment, else from the GitHub CLI when it is installed and logged in. */
export async function githubToken(): Promise<string | undefined> {
  const env = Deno.env.get("GITHUB_TOKEN") || Deno.env.get("GH_TOKEN");
  if (env) return env;
  try {
    const out = await new Deno.Command("gh", {
      args: ["auth", "token"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    const token = new TextDecoder().decode(out.stdout).trim();
    return out.success && token ? token : undefined;
  } catch {
    return undefined;
  }
}

export async function githubFromEnv(opts: GitHubOptions = {}): Promise<GitHubRest> {
  return new GitHubRest({
    baseUrl: Deno.env.get("GITHUB_API_URL") || undefined,
    graphqlUrl: Deno.env.get("GITHUB_GRAPHQL_URL") || undefined,
    token: await githubToken(),
    ...opts,
  });
}

export class GitHubRest implements GitHubSource {
  readonly baseUrl: string;
  #etags = new Map<string, { etag: string; body: unknown; link: string | null }>();
  readonly graphqlUrl: string;
  #o: Required<Omit<GitHubOptions, "token" | "baseUrl" | "graphqlUrl">> & { token?: string };
  /** Requests answered 304 from the cache (no rate limit spent). */
  notModified = 0;
  /** Why pull request states are read over REST (no token, or GraphQL refused the query). */
  graphqlOff?: string;

  constructor(opts: GitHubOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
    this.#o = {
      token: opts.token,
      fetch: opts.fetch ?? fetch,
      sleep: opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      maxWaitMs: opts.maxWaitMs ?? 60_000,
      retries: opts.retries ?? 3,
      retryBaseMs: opts.retryBaseMs ?? 1000,
      perPage: opts.perPage ?? 100,
      timeoutMs: opts.timeoutMs ?? 30_000,
      graphqlPage: Math.max(1, opts.graphqlPage ?? 50),
    };
    this.graphqlUrl = opts.graphqlUrl ?? graphqlUrlOf(this.baseUrl);
    if (!opts.token) this.graphqlOff = "no token (GitHub's GraphQL API needs one)";
  }

  /** GET with ETag, rate-limit and 5xx handling. 404 ⇒ undefined. */
  get(path: string): Promise<{ body: unknown; link: string | null } | undefined> {
    return this.#send(path);
  }

  /** POST of a JSON body (no ETag), with the same rate-limit and 5xx handling. 404 ⇒ undefined. */
  async post(url: string, json: unknown): Promise<unknown> {
    return (await this.#send(url, JSON.stringify(json)))?.body;
  }

  async #send(
    path: string,
    post?: string,
  ): Promise<{ body: unknown; link: string | null } | undefined> {
    const url = path.startsWith("http") ? path : `${this.baseUrl}${path}`;
    for (let attempt = 0;; attempt++) {
      const headers: Record<string, string> = {
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
        "user-agent": "tt-missions",
      };
      if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
      const cached = post === undefined ? this.#etags.get(url) : undefined;
      if (cached) headers["if-none-match"] = cached.etag;
      if (post !== undefined) {
        headers["content-type"] = "application/json";
        // mergeStateStatus was once behind this preview; asking for it costs nothing where GA.
        headers.accept =
          "application/vnd.github.merge-info-preview+json, application/vnd.github+json";
      }
      let res: Response;
      try {
        res = await this.#o.fetch(url, {
          method: post === undefined ? "GET" : "POST",
          headers,
          body: post,
          signal: AbortSignal.timeout(this.#o.timeoutMs),
        });
      } catch (e) {
        if (attempt >= this.#o.retries) {
          throw new GitHubError(`GitHub unreachable at ${this.baseUrl}: ${(e as Error).message}`);
        }
        await this.#backoff(attempt, "network error");
        continue;
      }
      if (res.status === 304 && cached) {
        await res.body?.cancel();
        this.notModified++;
        return { body: cached.body, link: cached.link };
      }
      let limited = false;
      if (res.ok) {
        const body = await res.json();
        // GraphQL's primary rate limit is a 200 whose errors say RATE_LIMITED.
        limited = post !== undefined && rateLimited(body);
        if (!limited) {
          const etag = post === undefined ? res.headers.get("etag") : null;
          if (etag) this.#etags.set(url, { etag, body, link: res.headers.get("link") });
          return { body, link: res.headers.get("link") };
        }
      }
      const text = limited ? "" : await res.text();
      if (res.status === 404) return undefined;
      limited ||= (res.status === 403 || res.status === 429) &&
        (res.headers.get("x-ratelimit-remaining") === "0" || res.headers.has("retry-after"));
      if (limited) {
        const retryAfter = Number(res.headers.get("retry-after"));
        const reset = Number(res.headers.get("x-ratelimit-reset")) * 1000;
        const wait = retryAfter > 0 ? retryAfter * 1000 : Math.max(0, reset - Date.now()) + 500;
        if (wait > this.#o.maxWaitMs || attempt >= this.#o.retries) {
          throw new GitHubError(
            `GitHub rate limit reached: it resets at ${
              new Date(Date.now() + wait).toISOString()
            }; try again then (a token in GITHUB_TOKEN raises the limit)`,
            res.status,
            true,
          );
        }
        await this.#o.sleep(wait);
        continue;
      }
      if (res.status >= 500 && attempt < this.#o.retries) {
        await this.#backoff(attempt, `HTTP ${res.status}`);
        continue;
      }
      throw new GitHubError(
        `GitHub answered ${res.status} for ${path}: ${message(text)}`,
        res.status,
      );
    }
  }

  async #backoff(attempt: number, _why: string) {
    await this.#o.sleep(Math.min(this.#o.retryBaseMs * 2 ** attempt, this.#o.maxWaitMs));
  }

  /** Every page of a list (following Link rel="next"). */
  async list(path: string): Promise<unknown[]> {
    const out: unknown[] = [];
    let next: string | undefined = `${path}${
      path.includes("?") ? "&" : "?"
    }per_page=${this.#o.perPage}`;
    for (let page = 0; next && page < 1000; page++) {
      const res = await this.get(next);
      if (!res) return out;
      if (!Array.isArray(res.body)) throw new GitHubError(`GitHub sent no list for ${path}`);
      out.push(...res.body);
      next = res.link?.match(/<([^>]+)>\s*;\s*rel="next"/)?.[1];
    }
    return out;
  }

  async issue(ref: IssueRef): Promise<Issue> {
    const res = await this.get(`/repos/${ref.owner}/${ref.repo}/issues/${ref.number}`);
    if (!res) {
      throw new GitHubError(
        `GitHub has no issue ${refText(ref)} (or the token cannot see it)`,
        404,
      );
    }
    const r = GhIssue.safeParse(res.body);
    if (!r.success) throw new GitHubError(`GitHub sent an unreadable issue for ${refText(ref)}`);
    return {
      ref,
      title: r.data.title,
      body: r.data.body ?? "",
      url: r.data.html_url,
      state: r.data.state,
      pullRequest: !!r.data.pull_request,
    };
  }

  async blockedBy(ref: IssueRef): Promise<IssueRef[] | undefined> {
    const path = `/repos/${ref.owner}/${ref.repo}/issues/${ref.number}/dependencies/blocked_by`;
    const first = await this.get(`${path}?per_page=${this.#o.perPage}`);
    if (!first) return undefined;
    const all = first.link ? await this.list(path) : first.body as unknown[];
    return z.array(GhIssue).parse(all).map((i) => refFromIssue(i, ref));
  }

  async pullState(ref: IssueRef): Promise<PullState | undefined> {
    return (await this.pullStates([ref]))[0];
  }

  /**
   * Pull requests' states: one GraphQL query per `graphqlPage` of them. Without a token, or once
   * the GraphQL endpoint refused the query itself (missing, or an older schema), REST: 3
   * conditional requests per pull request.
   */
  async pullStates(refs: IssueRef[]): Promise<(PullState | undefined)[]> {
    const out: (PullState | undefined)[] = [];
    const page = this.#o.graphqlPage;
    for (let i = 0; i < refs.length; i += page) {
      const part = refs.slice(i, i + page);
      out.push(
        ...(this.graphqlOff === undefined ? await this.#graphql(part) : undefined) ??
          await Promise.all(part.map((r) => pullStateRest(this, r))),
      );
    }
    return out;
  }

  /** One page over GraphQL; undefined when GraphQL is unusable here (then REST, from now on). */
  async #graphql(refs: IssueRef[]): Promise<(PullState | undefined)[] | undefined> {
    let body: unknown;
    try {
      body = await this.post(this.graphqlUrl, {
        query: pullStatesQuery(refs.length),
        variables: pullStatesVariables(refs),
      });
    } catch (e) {
      // 401/403 (not a rate limit) or 400/422: this endpoint will not answer the query.
      const status = (e as GitHubError).status ?? 0;
      if ((e as GitHubError).rateLimited || ![400, 401, 403, 422].includes(status)) throw e;
      this.graphqlOff = `GraphQL answered ${status}`;
      return undefined;
    }
    if (body === undefined) {
      this.graphqlOff = `no GraphQL API at ${this.graphqlUrl}`;
      return undefined;
    }
    try {
      return pullStatesFrom(refs, body);
    } catch (e) {
      if (e instanceof GraphqlRefused && e.unusable) {
        this.graphqlOff = e.message;
        return undefined;
      }
      throw new GitHubError((e as Error).message);
    }
  }

  async comments(ref: IssueRef): Promise<Comment[]> {
    const all = await this.list(`/repos/${ref.owner}/${ref.repo}/issues/${ref.number}/comments`);
    return z.array(GhComment).parse(all).map((c) => ({
      id: c.id,
      author: c.user?.login ?? "ghost",
      body: c.body ?? "",
      created_at: c.created_at,
    }));
  }
}

function refFromIssue(i: z.infer<typeof GhIssue>, fallback: IssueRef): IssueRef {
  const m = (i.repository_url ?? i.html_url).match(
    /\/repos\/([^/]+)\/([^/]+)$|\/([^/]+)\/([^/]+)\/(?:issues|pull)\/\d+$/,
  );
  if (m) return { owner: m[1] ?? m[3], repo: m[2] ?? m[4], number: i.number };
  return { ...fallback, number: i.number };
}

function rateLimited(body: unknown): boolean {
  const r = GqlResponse.safeParse(body);
  return r.success && !!r.data.errors?.some((e) => e.type === "RATE_LIMITED");
}

function message(text: string): string {
  try {
    const m = JSON.parse(text)?.message;
    if (typeof m === "string") return m.replace(/\s+/g, " ").slice(0, 200);
  } catch { /* not JSON */ }
  return text.replace(/\s+/g, " ").slice(0, 200) || "(no body)";
}
