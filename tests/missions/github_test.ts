/**
 * The GitHub source against a fake GitHub whose responses are checked against GitHub's OpenAPI
 * description: issue dependencies (native and text), pagination, ETags, rate limits, 5xx.
 */
import assert from "node:assert/strict";
import { FakeGitHub, validateResponse } from "./fake_github.ts";
import {
  issueItems,
  parseIssueRef,
  repoOfRemote,
  textDependencies,
} from "../../src/core/missions/issues.ts";
import { compileGraph } from "../../src/core/missions/graph.ts";
import { UsageError } from "../../src/core/errors.ts";
import { AgentTown, waitForEvent } from "../agent_helpers.ts";
import { recentEvents } from "../../src/core/events.ts";
import { fakeClient as client, holdCli, type MissionJson, withGitHub } from "./helpers.ts";

const ref = (number: number) => ({ owner: "acme", repo: "rocket", number });

Deno.test("github: the fake's bodies follow GitHub's OpenAPI description (and a broken one is caught)", () => {
  const gh = new FakeGitHub();
  try {
    gh.add({ number: 1, title: "One", body: null });
    validateResponse("GET /repos/{owner}/{repo}/issues/{issue_number}", gh.issueJson(1));
    const broken = { ...gh.issueJson(1), number: "1" };
    assert.throws(
      () => validateResponse("GET /repos/{owner}/{repo}/issues/{issue_number}", broken),
      /breaks the OpenAPI schema/,
    );
    const { title: _, ...untitled } = gh.issueJson(1);
    assert.throws(
      () => validateResponse("GET /repos/{owner}/{repo}/issues/{issue_number}", untitled),
      /title/,
    );
  } finally {
    gh.close();
  }
});

Deno.test("github: dependencies from native blocked_by first, text patterns on top; prose ignored", async () => {
  await withGitHub(async (gh) => {
    gh.add(
      { number: 1, title: "Design the API", body: "RFC for the rocket API.", blockedBy: [] },
      {
        number: 2,
        title: "Build the API server",
        body: "Depends on #1.\n\nWe'll do this after #9 is out of the way.",
        blockedBy: [],
      },
      {
        number: 3,
        title: "Write tests",
        body: "blocked by acme/rocket#2 and #1, requires #77",
        blockedBy: [1],
      },
      { number: 4, title: "Ship it", body: "After #3", blockedBy: undefined },
      { number: 5, title: "Docs", body: "Natively blocked only", blockedBy: [4, 9] },
    );
    const c = client(gh);
    const { items, refs } = await issueItems([
      "acme/rocket#1",
      "2",
      "https://github.example/acme/rocket/issues/3",
      "#4",
      "acme/rocket#5",
    ], {
      cwd: "/",
      github: c,
      defaultRepo: { owner: "acme", repo: "rocket" },
    });
    assert.deepEqual(refs, [1, 2, 3, 4, 5].map((n) => `acme/rocket#${n}`));
    const graph = compileGraph(items);
    const deps = Object.fromEntries(graph.map((i) => [i.id, i.depends_on.sort()]));
    assert.deepEqual(deps, {
      "issue-1": [],
      "issue-2": ["issue-1"], // "after #9" in prose is not a dependency (and #9 is not in the mission)
      "issue-3": ["issue-1", "issue-2"], // native #1, text #2 and #1; #77 is outside the mission
      "issue-4": ["issue-3"], // blocked_by answered 404: the text pattern "After #3" counts
      "issue-5": ["issue-4"],
    });
    const byId = Object.fromEntries(graph.map((i) => [i.id, i]));
    assert.equal(byId["issue-1"].kind, "design");
    assert.equal(byId["issue-2"].role, "backend");
    assert.equal(byId["issue-3"].kind, "test");
    assert.match(
      byId["issue-2"].body,
      /\(GitHub issue acme\/rocket#2: https:\/\/github\.example\/acme\/rocket\/issues\/2\)$/,
    );
    assert.ok(gh.hits.every((h) => h.authorization === "Bearer t0ken"));
  });
});

Deno.test("github: a cycle through native dependencies is refused by the graph, naming it", async () => {
  await withGitHub(async (gh) => {
    gh.add({ number: 1, title: "A", blockedBy: [2] }, { number: 2, title: "B", blockedBy: [1] });
    const { items } = await issueItems(["acme/rocket#1", "acme/rocket#2"], {
      cwd: "/",
      github: client(gh),
    });
    assert.throws(
      () => compileGraph(items),
      /cycle: issue-(1 → issue-2 → issue-1|2 → issue-1 → issue-2)/,
    );
  });
});

Deno.test("github: comments are read past the first page (75 comments, 30 a page)", async () => {
  await withGitHub(async (gh) => {
    gh.add({ number: 7, title: "Chatty", comments: 75 });
    const c = client(gh, { perPage: 30 });
    const comments = await c.comments(ref(7));
    assert.equal(comments.length, 75);
    assert.deepEqual(comments.map((x) => x.body).slice(28, 32), [
      "comment 29",
      "comment 30",
      "comment 31",
      "comment 32",
    ]);
    assert.equal(new Set(comments.map((x) => x.id)).size, 75);
    assert.equal(gh.hits.filter((h) => h.path.includes("/comments")).length, 3);
  });
});

Deno.test("github: a second read is conditional (ETag) and a 304 is served from the cache", async () => {
  await withGitHub(async (gh) => {
    gh.add({ number: 1, title: "Same" });
    const c = client(gh);
    const a = await c.issue(ref(1));
    const b = await c.issue(ref(1));
    assert.deepEqual(a, b);
    assert.deepEqual(gh.hits.map((h) => [h.status, !!h.ifNoneMatch]), [[200, false], [304, true]]);
    assert.equal(c.notModified, 1);
    gh.add({ number: 1, title: "Changed" });
    assert.equal((await c.issue(ref(1))).title, "Changed");
  });
});

Deno.test("github: a rate limit (403 + reset headers) waits for the reset; too long ⇒ one-line error", async () => {
  await withGitHub(async (gh) => {
    gh.add({ number: 1, title: "Limited" });
    const reset = String(Math.ceil(Date.now() / 1000) + 20);
    const limited = {
      "x-ratelimit-remaining": "0",
      "x-ratelimit-reset": reset,
      "x-ratelimit-limit": "60",
    };
    gh.troubles.push({ match: /issues\/1$/, status: 403, headers: limited, times: 1 });
    const waits: number[] = [];
    assert.equal((await client(gh, { waits }).issue(ref(1))).title, "Limited");
    assert.equal(waits.length, 1);
    assert.ok(waits[0] > 15_000 && waits[0] <= 21_500, `waited ${waits[0]} ms`);
    // A reset an hour away is not waited for: the caller gets an error saying when to retry.
    const later = String(Math.ceil(Date.now() / 1000) + 3600);
    gh.troubles.push({
      match: /issues\/1$/,
      status: 403,
      headers: { ...limited, "x-ratelimit-reset": later },
      times: 1,
    });
    const err = await client(gh).issue(ref(1)).catch((e) => e as Error);
    assert.ok(err instanceof Error);
    assert.match(err.message, /^GitHub rate limit reached: it resets at \d{4}-.*; try again then/);
    assert.ok(!err.message.includes("\n"));
    // 429 with retry-after (secondary limits) too.
    gh.troubles.push({
      match: /issues\/1$/,
      status: 429,
      headers: { "retry-after": "3" },
      times: 1,
    });
    const w2: number[] = [];
    await client(gh, { waits: w2 }).issue(ref(1));
    assert.deepEqual(w2, [3000]);
  });
});

Deno.test("github: 5xx answers back off and retry; persistent ones fail with the status", async () => {
  await withGitHub(async (gh) => {
    gh.add({ number: 1, title: "Flaky" });
    gh.troubles.push({ match: /issues\/1$/, status: 502, times: 2 });
    const waits: number[] = [];
    assert.equal((await client(gh, { waits }).issue(ref(1))).title, "Flaky");
    assert.deepEqual(waits, [1000, 2000]);
    gh.troubles.push({ match: /issues\/1$/, status: 500, times: 10 });
    const w2: number[] = [];
    await assert.rejects(
      () => client(gh, { waits: w2 }).issue(ref(1)),
      /GitHub answered 500 .*Server Error/,
    );
    assert.deepEqual(w2, [1000, 2000, 4000]);
  });
});

Deno.test("github: issue references and remotes", () => {
  const repo = { owner: "o", repo: "r" };
  assert.deepEqual(parseIssueRef("12", repo), { owner: "o", repo: "r", number: 12 });
  assert.deepEqual(parseIssueRef("x-y/z.js#3"), { owner: "x-y", repo: "z.js", number: 3 });
  assert.deepEqual(parseIssueRef("https://github.com/a/b/issues/9#issuecomment-1"), {
    owner: "a",
    repo: "b",
    number: 9,
  });
  assert.throws(
    () => parseIssueRef("12"),
    (e: Error) => e instanceof UsageError && /owner\/repo#12/.test(e.message),
  );
  assert.throws(() => parseIssueRef("a/b#x"), UsageError);
  assert.throws(() => parseIssueRef("../../etc#1"), UsageError);
  assert.deepEqual(repoOfRemote("git@github.com:acme/rocket.git"), {
    owner: "acme",
    repo: "rocket",
  });
  assert.deepEqual(repoOfRemote("https://github.com/acme/rocket\n"), {
    owner: "acme",
    repo: "rocket",
  });
  assert.deepEqual(
    textDependencies("Depends on #1, #2 & #3 and o/r#4", ref(9)).map((r) =>
      `${r.owner}/${r.repo}#${r.number}`
    ),
    [
      "acme/rocket#1",
      "acme/rocket#2",
      "acme/rocket#3",
      "o/r#4",
    ],
  );
  assert.deepEqual(textDependencies("Let's meet after #3 is merged", ref(9)), []);
});

Deno.test("tt mission start --issue: a mission from GitHub issues (fake GitHub via GITHUB_API_URL)", async () => {
  const at = await AgentTown.create();
  const gh = new FakeGitHub();
  try {
    gh.add(
      { number: 10, title: "Design login", body: "", blockedBy: [] },
      { number: 11, title: "Build login", body: "Depends on #10", blockedBy: [] },
    );
    const env = { GITHUB_API_URL: gh.url, GITHUB_TOKEN: "secret-token" };
    const m = await at.sb.json<MissionJson>(
      [
        "mission",
        "start",
        "--issue",
        "acme/rocket#10",
        "--issue",
        `${gh.url}/acme/rocket/issues/11`,
        "--no-reviewer",
      ],
      { env },
    );
    assert.deepEqual(m.items.map((i) => [i.id, i.title, i.status]), [
      ["issue-10", "Design login", "pending"],
      ["issue-11", "Build login", "pending"],
    ]);
    const shown = await at.sb.json<MissionJson>([
      "mission",
      "show",
      m.id,
    ]);
    assert.deepEqual(shown.items.map((i) => i.depends_on), [[], ["issue-10"]]);
    assert.ok(gh.hits.every((h) => h.authorization === "Bearer secret-token"));
    // A missing issue: one line on stderr, exit 1, no mission written.
    const r = await at.sb.tt(["mission", "start", "--issue", "acme/rocket#404"], { env });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      "tt: GitHub has no issue acme/rocket#404 (or the token cannot see it)",
    );
    assert.equal((await at.sb.json<unknown[]>(["mission", "list", "--all"])).length, 1);
  } finally {
    await gh.close();
    await at.cleanup();
  }
});

Deno.test("dispatcher: a submitted PR is watched on its interval and advances the mission once mergeable", async () => {
  const at = await AgentTown.create();
  const gh = new FakeGitHub();
  try {
    gh.pull({
      number: 9,
      headSha: "e".repeat(40),
      mergeState: "clean",
      checks: [{ name: "ci", status: "in_progress" }],
      reviews: [{ id: 3, login: "erin", state: "APPROVED", body: "" }],
    });
    const env = { GITHUB_API_URL: gh.url };
    const state = await Deno.makeTempDir({ dir: at.sb.dir });
    const cli = `FAKE_PR='https://github.example/acme/rocket/pull/9' ${holdCli(state, "pr")}`;
    await at.sb.ok(["spawn", "w1", "--cli", cli], { env }); // the supervisor inherits GITHUB_API_URL
    const plan = `${at.sb.dir}/m.toml`;
    await Deno.writeTextFile(
      plan,
      `watch_interval = 0.1\nreviewer = false\n[[items]]\nid = "api"\ntitle = "Build the API"\n`,
    );
    const m = await at.sb.json<MissionJson>(["mission", "start", "--plan", plan], { env });
    await waitForEvent(at.t, (e) => e.type === "mission_watch_checked" && e.mission_id === m.id);
    const watching = await at.sb.json<MissionJson>(["mission", "show", m.id]);
    assert.equal(watching.items[0].status, "watch");
    assert.deepEqual(watching.items[0].prs, ["acme/rocket#9"]);
    gh.pulls.get(9)!.checks = [{ name: "ci", status: "completed", conclusion: "success" }];
    await waitForEvent(at.t, (e) => e.type === "mission_completed" && e.mission_id === m.id);
    const evs = (await recentEvents(at.t, { count: 10_000 })).filter((e) => e.mission_id === m.id);
    const done = evs.find((e) => e.type === "mission_item_done")!;
    assert.match(done.reason!, /acme\/rocket#9 approved, clean/);
    // Each check was started by a wake-up event of the dispatcher's timer.
    assert.ok(evs.some((e) => e.type === "mission_wake"));
  } finally {
    await gh.close();
    await at.cleanup();
  }
});
