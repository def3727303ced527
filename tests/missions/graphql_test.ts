/**
 * Pull request states over GitHub's GraphQL API against the fake GitHub, whose GraphQL endpoint
 * validates and executes every query against the subset of GitHub's published schema: one query
 * for many pull requests, the same answers as REST, REST as the fallback, rate limits, and
 * names from agents' text kept out of the query.
 */
import assert from "node:assert/strict";
import { parse, validate } from "graphql";
import type { FakePull } from "./fake_github.ts";
import { GRAPHQL_SCHEMA } from "./fake_github_graphql.ts";
import { GitHubRest, graphqlUrlOf, type PullState } from "../../src/core/missions/github.ts";
import { pullStatesQuery } from "../../src/core/missions/pulls_graphql.ts";
import { fakeClient as client, withGitHub } from "./helpers.ts";

const ref = (number: number) => ({ owner: "acme", repo: "rocket", number });
const sha = (c: string) => c.repeat(40);

/** One pull request of each kind the watches tell apart. */
const PULLS: FakePull[] = [
  {
    number: 1,
    headSha: sha("a"),
    mergeState: "blocked",
    checks: [
      { name: "ci/test", status: "completed", conclusion: "failure" },
      { name: "lint", status: "completed", conclusion: "success" },
    ],
    reviews: [],
  },
  {
    number: 2,
    headSha: sha("b"),
    mergeState: "clean",
    checks: [{ name: "ci", status: "in_progress" }],
    reviews: [{ id: 8, login: "carol", state: "APPROVED", body: "ok" }],
  },
  {
    number: 3,
    headSha: sha("c"),
    mergeState: "behind",
    checks: [{ name: "ci", status: "completed", conclusion: "skipped" }],
    reviews: [
      { id: 9, login: "carol", state: "APPROVED", body: "" },
      { id: 10, login: "dave", state: "COMMENTED", body: "nit" },
      { id: 11, login: "dave", state: "CHANGES_REQUESTED", body: "handle the empty list" },
    ],
    threads: [false, true, false],
  },
  {
    number: 4,
    headSha: sha("d"),
    mergeState: "clean",
    checks: [],
    reviews: [
      { id: 12, login: "erin", state: "CHANGES_REQUESTED", body: "no" },
      { id: 13, login: "erin", state: "APPROVED", body: "now yes" },
    ],
  },
  { number: 5, headSha: sha("e"), mergeState: "dirty", checks: [], reviews: [] },
  { number: 6, headSha: sha("f"), mergeState: "unknown", merged: true, checks: [], reviews: [] },
];

const withoutThreads = (p?: PullState) => {
  if (!p) return p;
  const { unresolvedThreads: _, ...rest } = p;
  return rest;
};

Deno.test("graphql: the client's query is valid against GitHub's schema; the fake refuses what GitHub would", async () => {
  assert.deepEqual(validate(GRAPHQL_SCHEMA, parse(pullStatesQuery(3))), []);
  await withGitHub(async (gh) => {
    const post = (query: string, variables = {}) =>
      fetch(`${gh.url}/graphql`, {
        method: "POST",
        headers: { authorization: "Bearer x", "content-type": "application/json" },
        body: JSON.stringify({ query, variables }),
      }).then((r) => r.json());
    // A field GitHub's PullRequest does not have.
    const bad = await post(`{ repository(owner: "acme", name: "rocket") {
      pullRequest(number: 1) { mergeableState } } }`);
    assert.match(
      bad.errors[0].message,
      /Cannot query field "mergeableState" on type "PullRequest"/,
    );
    // More than 100 records a page.
    gh.pull(PULLS[0]);
    const many = await post(`{ repository(owner: "acme", name: "rocket") {
      pullRequest(number: 1) { reviewThreads(first: 101) { totalCount } } } }`);
    assert.equal(many.errors[0].type, "EXCESSIVE_PAGINATION");
    assert.equal(gh.graphqlRefused.length, 1);
    // No token: GitHub's GraphQL API answers 401.
    const anon = await fetch(`${gh.url}/graphql`, { method: "POST", body: "{}" });
    assert.equal(anon.status, 401);
    await anon.body?.cancel();
    // A fake pull request whose merge state GitHub never sends breaks the schema (caught).
    gh.pull({ ...PULLS[0], number: 99, mergeState: "weird" });
    const weird = await fetch(`${gh.url}/graphql`, {
      method: "POST",
      headers: { authorization: "Bearer x" },
      body: JSON.stringify({
        query: `{ repository(owner: "acme", name: "rocket") { pullRequest(number: 99) {
        mergeStateStatus } } }`,
      }),
    });
    assert.equal(weird.status, 500);
    await weird.body?.cancel();
    assert.match(gh.broken.pop()!, /breaks the schema: Enum "MergeStateStatus" cannot represent/);
  });
});

Deno.test("graphql: six pull requests in one query give the same states as REST's 18 requests", async () => {
  await withGitHub(async (gh) => {
    for (const p of PULLS) gh.pull(p);
    gh.add({ number: 7, title: "An issue, not a pull request" });
    const refs = [...PULLS.map((p) => ref(p.number)), ref(7)];
    const viaGraphql = await client(gh).pullStates(refs);
    assert.equal(gh.graphqlHits.length, 1);
    assert.equal(gh.restPullHits.length, 0);
    assert.deepEqual(gh.graphqlRefused, []);
    const rest = new GitHubRest({ baseUrl: gh.url, sleep: () => Promise.resolve() });
    assert.match(rest.graphqlOff!, /no token/);
    const viaRest = await rest.pullStates(refs);
    assert.equal(gh.graphqlHits.length, 1, "no token: no GraphQL");
    assert.equal(gh.restPullHits.length, 6 * 3 + 1, "3 a pull request, 1 for the issue");
    assert.deepEqual(viaGraphql.map(withoutThreads), viaRest);
    const [one, two, three, four, five, six, seven] = viaGraphql;
    assert.deepEqual([one!.checks, one!.failingChecks], ["failure", ["ci/test"]]);
    assert.equal(two!.checks, "pending");
    assert.equal(two!.review, "approved");
    assert.equal(three!.review, "changes_requested");
    assert.deepEqual(three!.changeRequest, { id: 11, body: "handle the empty list" });
    assert.equal(three!.mergeState, "behind");
    assert.equal(three!.unresolvedThreads, 2);
    assert.equal(four!.review, "approved", "a reviewer's latest opinion counts");
    assert.equal(five!.mergeState, "dirty");
    assert.deepEqual([six!.merged, six!.state], [true, "closed"]);
    assert.equal(seven, undefined, "an issue number is no pull request");
  });
});

Deno.test("graphql: a required review not given yet is no approval", async () => {
  await withGitHub(async (gh) => {
    gh.pull({ ...PULLS[3], number: 8, reviews: [], reviewRequired: true });
    const [p] = await client(gh).pullStates([ref(8)]);
    assert.equal(p!.review, "none");
  });
});

Deno.test("graphql: 120 pull requests are read in ceil(120/50) queries", async () => {
  await withGitHub(async (gh) => {
    for (let n = 1; n <= 120; n++) {
      gh.pull({ ...PULLS[n % PULLS.length], number: n, headSha: n.toString(16).padStart(40, "0") });
    }
    const states = await client(gh).pullStates(Array.from({ length: 120 }, (_, i) => ref(i + 1)));
    assert.equal(gh.graphqlHits.length, 3);
    assert.deepEqual(
      states.map((s) => s?.ref.number),
      Array.from({ length: 120 }, (_, i) => i + 1),
    );
    assert.equal(states[119]!.headSha, (120).toString(16).padStart(40, "0"));
  });
});

Deno.test("graphql: where the endpoint refuses the query or is missing, REST takes over", async () => {
  await withGitHub(async (gh) => {
    gh.pull(PULLS[1]);
    // An older GitHub Enterprise whose schema lacks a field: errors and no data.
    gh.troubles.push({
      match: /^\/graphql$/,
      status: 200,
      times: 1,
      graphqlError: "undefinedField",
    });
    const c = client(gh);
    const [p] = await c.pullStates([ref(2)]);
    assert.equal(p!.checks, "pending");
    assert.match(c.graphqlOff!, /GitHub GraphQL/);
    assert.equal(gh.restPullHits.length, 3);
    await c.pullStates([ref(2)]);
    assert.equal(gh.graphqlHits.length, 1, "not asked again");
    // No GraphQL endpoint at all (404).
    const d = client(gh, { graphqlUrl: `${gh.url}/api/graphql` });
    assert.equal((await d.pullStates([ref(2)]))[0]!.review, "approved");
    assert.match(d.graphqlOff!, /no GraphQL API at/);
  });
  assert.equal(
    graphqlUrlOf("https://ghe.example.com/api/v3/"),
    "https://ghe.example.com/api/graphql",
  );
  assert.equal(graphqlUrlOf("https://api.github.com"), "https://api.github.com/graphql");
});

Deno.test("graphql: rate limits (RATE_LIMITED, 403 with retry-after) wait or fail in one line; 5xx retries", async () => {
  await withGitHub(async (gh) => {
    gh.pull(PULLS[0]);
    const waits: number[] = [];
    const c = client(gh, { maxWaitMs: 120_000, waits });
    const soon = String(Math.ceil(Date.now() / 1000) + 30);
    gh.troubles.push({
      match: /^\/graphql$/,
      status: 200,
      times: 1,
      graphqlError: "RATE_LIMITED",
      headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": soon },
    });
    gh.troubles.push({
      match: /^\/graphql$/,
      status: 403,
      times: 1,
      headers: { "retry-after": "7" },
    });
    gh.troubles.push({ match: /^\/graphql$/, status: 502, times: 1 });
    assert.equal((await c.pullStates([ref(1)]))[0]!.checks, "failure");
    assert.equal(waits.length, 3);
    assert.ok(waits[0] > 20_000 && waits[0] <= 31_500, `waited for the reset (${waits[0]})`);
    assert.equal(waits[1], 7000);
    assert.equal(c.graphqlOff, undefined, "a rate limit is no reason to leave GraphQL");
    const late = String(Math.ceil(Date.now() / 1000) + 3600);
    gh.troubles.push({
      match: /^\/graphql$/,
      status: 200,
      times: 1,
      graphqlError: "RATE_LIMITED",
      headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": late },
    });
    await assert.rejects(
      c.pullStates([ref(1)]),
      /^GitHubError: GitHub rate limit reached: it resets at/,
    );
  });
});

Deno.test("graphql (attacker): names from an agent's text travel as variables, never in the query", async () => {
  await withGitHub(async (gh) => {
    gh.pull(PULLS[0]);
    const evil = {
      owner:
        'acme", name: "rocket") { x: pullRequest(number: 1) { number } } q: repository(owner: "',
      repo: 'rocket\\" } #',
      number: 1,
    };
    const states = await client(gh).pullStates([evil, ref(1)]);
    assert.equal(states[0], undefined, "no such repository");
    assert.equal(states[1]!.checks, "failure");
    assert.deepEqual(gh.graphqlRefused, []);
    const sent = gh.graphqlBodies[0];
    assert.ok(!sent.query.includes("acme") && !sent.query.includes("rocket"), sent.query);
    assert.equal(sent.variables!.o0, evil.owner);
  });
});
