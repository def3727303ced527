/**
 * GitHub behind one small interface: issues, their native dependencies, their comments. REST
 * over fetch; base URL from GITHUB_API_URL (GitHub Enterprise, or a test's fake), token from
 * GITHUB_TOKEN / GH_TOKEN / `gh auth token`; conditional requests (ETag: a 304 costs no rate
 * limit); rate limits and 5xx back off, and give up with a one-line error past a bound.
 */
import { z } from "zod";
import { TtError } from "../errors.ts";

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
}

export interface GitHubSource {
  issue(ref: IssueRef): Promise<Issue>;
  /** A pull request's merge, checks and review state; undefined when it is no pull request. */
  pullState?(ref: IssueRef): Promise<PullState | undefined>;
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
const PASSED = new Set(["success", "neutral", "skipped"]);

export class GitHubError extends TtError {
  override name = "GitHubError";
  constructor(message: string, readonly status?: number) {
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
    token: await githubToken(),
    ...opts,
  });
}

export class GitHubRest implements GitHubSource {
  readonly baseUrl: string;
  #etags = new Map<string, { etag: string; body: unknown; link: string | null }>();
  #o: Required<Omit<GitHubOptions, "token" | "baseUrl">> & { token?: string };
  /** Requests answered 304 from the cache (no rate limit spent). */
  notModified = 0;

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
    };
  }

  /** GET with ETag, rate-limit and 5xx handling. 404 ⇒ undefined. */
  async get(path: string): Promise<{ body: unknown; link: string | null } | undefined> {
    const url = path.startsWith("http") ? path : `${this.baseUrl}${path}`;
    for (let attempt = 0;; attempt++) {
      const headers: Record<string, string> = {
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
        "user-agent": "tt-missions",
      };
      if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
      const cached = this.#etags.get(url);
      if (cached) headers["if-none-match"] = cached.etag;
      let res: Response;
      try {
        res = await this.#o.fetch(url, { headers, signal: AbortSignal.timeout(this.#o.timeoutMs) });
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
      if (res.ok) {
        const body = await res.json();
        const etag = res.headers.get("etag");
        if (etag) this.#etags.set(url, { etag, body, link: res.headers.get("link") });
        return { body, link: res.headers.get("link") };
      }
      const text = await res.text();
      if (res.status === 404) return undefined;
      const limited = (res.status === 403 || res.status === 429) &&
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

  pullState(ref: IssueRef): Promise<PullState | undefined> {
    return pullStateOf(this, ref);
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

/** Reads a pull request's state in 3 conditional requests (a 304 costs no rate limit). */
async function pullStateOf(gh: GitHubRest, ref: IssueRef): Promise<PullState | undefined> {
  const base = `/repos/${ref.owner}/${ref.repo}`;
  const pr = await gh.get(`${base}/pulls/${ref.number}`);
  if (!pr) return undefined;
  const p = GhPull.parse(pr.body);
  const [runs, reviews] = await Promise.all([
    gh.get(`${base}/commits/${p.head.sha}/check-runs?per_page=100`),
    gh.list(`${base}/pulls/${ref.number}/reviews`),
  ]);
  const checkRuns = runs ? GhCheckRuns.parse(runs.body).check_runs : [];
  const failing = checkRuns.filter((r) =>
    r.status === "completed" && !PASSED.has(r.conclusion ?? "")
  )
    .map((r) => r.name);
  const pending = checkRuns.some((r) => r.status !== "completed");
  const latest = new Map<string, z.infer<typeof GhReview>>();
  for (const r of z.array(GhReview).parse(reviews)) {
    if (r.state === "COMMENTED" || r.state === "PENDING") continue;
    latest.set(r.user?.login ?? `#${r.id}`, r);
  }
  const asked = [...latest.values()].filter((r) => r.state === "CHANGES_REQUESTED").at(-1);
  const approved = [...latest.values()].some((r) => r.state === "APPROVED");
  return {
    ref,
    state: p.state,
    merged: !!p.merged,
    mergeState: (p.mergeable_state ?? "unknown").toLowerCase(),
    headSha: p.head.sha,
    checks: failing.length
      ? "failure"
      : pending
      ? "pending"
      : checkRuns.length
      ? "success"
      : "none",
    failingChecks: failing,
    review: asked ? "changes_requested" : approved ? "approved" : "none",
    changeRequest: asked ? { id: asked.id, body: asked.body ?? "" } : undefined,
  };
}

function refFromIssue(i: z.infer<typeof GhIssue>, fallback: IssueRef): IssueRef {
  const m = (i.repository_url ?? i.html_url).match(
    /\/repos\/([^/]+)\/([^/]+)$|\/([^/]+)\/([^/]+)\/(?:issues|pull)\/\d+$/,
  );
  if (m) return { owner: m[1] ?? m[3], repo: m[2] ?? m[4], number: i.number };
  return { ...fallback, number: i.number };
}

function message(text: string): string {
  try {
    const m = JSON.parse(text)?.message;
    if (typeof m === "string") return m.replace(/\s+/g, " ").slice(0, 200);
  } catch { /* not JSON */ }
  return text.replace(/\s+/g, " ").slice(0, 200) || "(no body)";
}
