/**
 * Pull request watches against the fake GitHub (responses checked against GitHub's OpenAPI
 * description): checks fail then pass, changes requested, approved and mergeable, rate limits.
 */
import assert from "node:assert/strict";
import { withTestTown } from "../helpers.ts";
import type { Ctx } from "../../src/core/agents.ts";
import type { TownContext } from "../../src/core/town.ts";
import { completeTask, getTask, listTasks } from "../../src/core/tasks.ts";
import { compileGraph } from "../../src/core/missions/graph.ts";
import { createMission, loadMission, type MissionView } from "../../src/core/missions/store.ts";
import { onTaskEnded, type SchedCtx, scheduleMission } from "../../src/core/missions/scheduler.ts";
import { checkWatches, prRefs } from "../../src/core/missions/watch.ts";
import { GitHubRest } from "../../src/core/missions/github.ts";
import { recentEvents } from "../../src/core/events.ts";
import { FakeGitHub, type FakePull } from "./fake_github.ts";
import { idleAgent, lease } from "./helpers.ts";

const view = async (t: Ctx, id: string) => (await loadMission(t, id)) as MissionView;

async function setup(t: TownContext) {
  await idleAgent(t, "w1");
  const s = await lease(t);
  const m = await createMission(t, {
    source: "test",
    items: compileGraph([{ id: "api", title: "Build the API" }, {
      id: "docs",
      title: "Docs",
      depends_on: ["api"],
    }]),
    reviewer: false,
    watchInterval: 0.05,
  });
  await scheduleMission(s, m.id);
  return { s, mid: m.id };
}

/** Completes the item's current task with `result`, then lets the scheduler react. */
async function submit(s: SchedCtx, mid: string, item: string, result: string) {
  const task = (await view(s.t, mid)).live.get(item)!.task!;
  await completeTask(s.t, task, { result });
  await onTaskEnded(s, { mission: mid, item, role: "work" }, task);
  await scheduleMission(s, mid);
  return task;
}

/** Runs the due watch check now (the dispatcher does this when the check's timer fires). */
async function tick(s: SchedCtx, gh: GitHubRest, mid: string) {
  await s.t.redis.hset(s.t.keys.missionItems(mid), "api:next_check", "0");
  const r = await checkWatches(s, gh, mid);
  await scheduleMission(s, mid);
  return r;
}

Deno.test("watch: failing checks ⇒ one fix per cause; changes requested ⇒ a fix; approved and clean ⇒ done", async () => {
  const gh = new FakeGitHub();
  try {
    await withTestTown(async (t) => {
      const { s, mid } = await setup(t);
      const client = new GitHubRest({ baseUrl: gh.url, sleep: () => Promise.resolve() });
      const pr: FakePull = {
        number: 42,
        headSha: "a".repeat(40),
        mergeState: "blocked",
        checks: [{ name: "ci/test", status: "completed", conclusion: "failure" }, {
          name: "lint",
          status: "completed",
          conclusion: "success",
        }],
        reviews: [],
      };
      gh.pull(pr);
      const first = await submit(
        s,
        mid,
        "api",
        `opened ${gh.url.replace("http://", "https://")}/acme/rocket/pull/42`,
      );
      let v = await view(t, mid);
      assert.equal(v.live.get("api")!.status, "watch");
      assert.deepEqual(v.live.get("api")!.prs, ["acme/rocket#42"]);

      // Checks fail: the item goes back to work with the failing checks named.
      assert.equal((await tick(s, client, mid)).fixes, 1);
      v = await view(t, mid);
      assert.equal(v.live.get("api")!.status, "active");
      const fix = (await getTask(t, v.live.get("api")!.task!))!;
      assert.notEqual(fix.id, first);
      assert.match(
        fix.description,
        /checks fail on pull request acme\/rocket#42 \(commit aaaaaaa\): ci\/test/,
      );
      // The fix is submitted but the same commit still fails: no second fix for that cause.
      await submit(s, mid, "api", "pushed a fix");
      assert.equal(
        (await view(t, mid)).live.get("api")!.status,
        "watch",
        "a fix goes back to the watch",
      );
      assert.equal((await tick(s, client, mid)).fixes, 0);
      assert.equal((await view(t, mid)).live.get("api")!.status, "watch");
      assert.equal((await listTasks(t)).length, 2);

      // New commit, checks pass, a reviewer asks for changes: a fix for that review.
      pr.headSha = "b".repeat(40);
      pr.checks = [{ name: "ci/test", status: "completed", conclusion: "success" }];
      pr.reviews = [{
        id: 7,
        login: "carol",
        state: "CHANGES_REQUESTED",
        body: "please handle the empty list",
      }];
      assert.equal((await tick(s, client, mid)).fixes, 1);
      v = await view(t, mid);
      const fix2 = (await getTask(t, v.live.get("api")!.task!))!;
      assert.match(
        fix2.description,
        /changes requested on pull request acme\/rocket#42: please handle the empty list/,
      );
      await submit(s, mid, "api", "handled it");

      // Checks pending: still watching.
      pr.headSha = "c".repeat(40);
      pr.checks = [{ name: "ci/test", status: "in_progress" }];
      pr.reviews.push({ id: 8, login: "carol", state: "APPROVED", body: "thanks" });
      assert.deepEqual(await tick(s, client, mid), { checked: 1, done: 0, fixes: 0, errors: 0 });
      // Approved, checks green, but behind its base: not mergeable yet (mergeable_state, not `mergeable`).
      pr.checks = [{ name: "ci/test", status: "completed", conclusion: "success" }];
      pr.mergeState = "behind";
      assert.equal((await tick(s, client, mid)).done, 0);
      pr.mergeState = "clean";
      assert.equal((await tick(s, client, mid)).done, 1);
      v = await view(t, mid);
      assert.equal(v.live.get("api")!.status, "done");
      assert.equal(v.live.get("docs")!.status, "active", "the pipeline advanced");
      const types = (await recentEvents(t, { count: 1000 })).filter((e) => e.item_id === "api").map(
        (e) => e.type,
      );
      assert.equal(types.filter((x) => x === "mission_fix_needed").length, 2);
      assert.equal(types.at(-1), "mission_item_done");
    });
  } finally {
    await gh.close();
  }
});

Deno.test("watch: a rate limit or outage shows in the mission and backs off, never stops it", async () => {
  const gh = new FakeGitHub();
  try {
    await withTestTown(async (t) => {
      const { s, mid } = await setup(t);
      const client = new GitHubRest({
        baseUrl: gh.url,
        sleep: () => Promise.resolve(),
        maxWaitMs: 10,
        retries: 1,
      });
      gh.pull({ number: 5, headSha: "d".repeat(40), mergeState: "clean", checks: [], reviews: [] });
      await submit(s, mid, "api", "see acme/rocket#5");
      const reset = String(Math.ceil(Date.now() / 1000) + 3600);
      gh.troubles.push({
        match: /pulls\/5$/,
        status: 403,
        headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset },
        times: 1,
      });
      const before = Date.now();
      assert.equal((await tick(s, client, mid)).errors, 1);
      let l = (await view(t, mid)).live.get("api")!;
      assert.equal(l.status, "watch");
      assert.equal(l.watchFailures, 1);
      assert.ok(l.nextCheck! >= before + 100, "backed off");
      const err = (await recentEvents(t, { count: 100 })).find((e) =>
        e.type === "mission_watch_error"
      )!;
      assert.match(err.reason!, /GitHub rate limit reached/);
      // Two 503s: the request and its one retry (retries: 1).
      gh.troubles.push({ match: /pulls\/5$/, status: 503, times: 2 });
      assert.equal((await tick(s, client, mid)).errors, 1);
      assert.equal((await view(t, mid)).live.get("api")!.watchFailures, 2);
      // Back: no review, no checks, clean ⇒ still waiting for an approval; then approved ⇒ done.
      assert.equal((await tick(s, client, mid)).done, 0);
      l = (await view(t, mid)).live.get("api")!;
      assert.equal(l.watchFailures, 0);
      gh.pulls.get(5)!.reviews = [{ id: 1, login: "dave", state: "APPROVED", body: "" }];
      assert.equal((await tick(s, client, mid)).done, 1);
      assert.ok(gh.hits.some((h) => h.status === 304), "unchanged PRs are served as 304s");
    });
  } finally {
    await gh.close();
  }
});

Deno.test("watch: pull request references in a work result", () => {
  assert.deepEqual(
    prRefs(
      "Opened https://github.com/acme/rocket/pull/12 and acme/rocket#13; see also https://github.com/acme/rocket/pull/12/files",
    ),
    ["acme/rocket#12", "acme/rocket#13"],
  );
  assert.deepEqual(prRefs("fixed it in 3 files, issue #4"), []);
  assert.deepEqual(prRefs("path/to/file#12 is not a ref of a repo? it is: path/to#12"), [
    "path/to#12",
  ]);
});
