/**
 * Watches over GraphQL: a mission's due pull requests cost one GraphQL query per poll (counted
 * at the fake GitHub), not 3 REST requests each; in the scheduler and through the real supervisor.
 */
import assert from "node:assert/strict";
import { withTestTown } from "../helpers.ts";
import { completeTask } from "../../src/core/tasks.ts";
import { compileGraph } from "../../src/core/missions/graph.ts";
import { createMission, loadMission, type MissionView } from "../../src/core/missions/store.ts";
import { onTaskEnded, scheduleMission } from "../../src/core/missions/scheduler.ts";
import { checkWatches } from "../../src/core/missions/watch.ts";
import { GitHubRest } from "../../src/core/missions/github.ts";
import { recentEvents } from "../../src/core/events.ts";
import { AgentTown, waitForEvent } from "../agent_helpers.ts";
import { FakeGitHub } from "./fake_github.ts";
import { holdCli, idleAgent, lease, type MissionJson } from "./helpers.ts";

const N = 30;
const sha = (n: number) => n.toString(16).padStart(40, "0");

Deno.test("watch: a mission with 30 pull requests costs 1 GraphQL query per poll (3 with pages of 10), no REST", async () => {
  const gh = new FakeGitHub();
  try {
    await withTestTown(async (t) => {
      for (const name of ["w1", "w2", "w3"]) await idleAgent(t, name);
      const s = await lease(t);
      const items = Array.from(
        { length: N },
        (_, i) => ({ id: `pr${i + 1}`, title: `PR ${i + 1}` }),
      );
      const m = await createMission(t, {
        source: "test",
        items: compileGraph(items),
        reviewer: false,
        maxParallel: 3,
        watchInterval: 60,
      });
      await scheduleMission(s, m.id);
      const view = async () => (await loadMission(t, m.id)) as MissionView;
      // Each item's work opens one pull request (checks pending, so each stays watched).
      for (let submitted = 0; submitted < N;) {
        const v = await view();
        const active = [...v.live].filter(([, l]) => l.status === "active" && l.task);
        assert.ok(active.length > 0, "the scheduler keeps assigning");
        for (const [id, l] of active) {
          const n = Number(id.slice(2));
          gh.pull({
            number: n,
            headSha: sha(n),
            mergeState: "clean",
            checks: [{ name: "ci", status: "in_progress" }],
            reviews: [{ id: n, login: "carol", state: "APPROVED", body: "" }],
          });
          await completeTask(t, l.task!, { result: `opened acme/rocket#${n}` });
          await onTaskEnded(s, { mission: m.id, item: id, role: "work" }, l.task!);
          submitted++;
        }
        await scheduleMission(s, m.id);
      }
      const v = await view();
      assert.equal([...v.live.values()].filter((l) => l.status === "watch").length, N);

      const poll = async (client: GitHubRest) => {
        // Every watch due now (they were submitted over a few moments; one poll takes them all).
        const fields = Object.fromEntries(items.map((i) => [`${i.id}:next_check`, "0"]));
        await t.redis.hset(t.keys.missionItems(m.id), fields);
        const before = gh.graphqlHits.length;
        const r = await checkWatches(s, client, m.id);
        return { r, queries: gh.graphqlHits.length - before };
      };
      const c = new GitHubRest({ baseUrl: gh.url, token: "t", sleep: () => Promise.resolve() });
      let p = await poll(c);
      assert.deepEqual(p, { r: { checked: N, done: 0, fixes: 0, errors: 0 }, queries: 1 });
      p = await poll(c);
      assert.equal(p.queries, 1, "every poll: one query");
      const paged = new GitHubRest({
        baseUrl: gh.url,
        token: "t",
        graphqlPage: 10,
        sleep: () => Promise.resolve(),
      });
      assert.equal((await poll(paged)).queries, 3);
      assert.equal(gh.restPullHits.length, 0, "no REST request for any pull request");
      assert.deepEqual(gh.graphqlRefused, []);
      // Checks go green: the next poll finishes all 30 items, still in one query.
      for (const pr of gh.pulls.values()) {
        pr.checks = [{ name: "ci", status: "completed", conclusion: "success" }];
      }
      p = await poll(c);
      assert.deepEqual(p, { r: { checked: N, done: N, fixes: 0, errors: 0 }, queries: 1 });
      const done = (await recentEvents(t, { count: 10_000 })).filter((e) =>
        e.type === "mission_item_done" && e.mission_id === m.id
      );
      assert.equal(done.length, N);
      assert.deepEqual(gh.broken, []);
    });
  } finally {
    await gh.close();
  }
});

Deno.test("dispatcher: with a token, a watched item naming 30 pull requests costs one GraphQL query per check", async () => {
  const at = await AgentTown.create();
  const gh = new FakeGitHub();
  try {
    const urls: string[] = [];
    for (let n = 1; n <= N; n++) {
      gh.pull({
        number: n,
        headSha: sha(n),
        mergeState: "clean",
        checks: [{ name: "ci", status: "in_progress" }],
        reviews: [{ id: n, login: "erin", state: "APPROVED", body: "" }],
        threads: n === 7 ? [false] : [],
      });
      urls.push(`https://github.example/acme/rocket/pull/${n}`);
    }
    const env = { GITHUB_API_URL: gh.url, GITHUB_TOKEN: "secret-token" };
    const state = await Deno.makeTempDir({ dir: at.sb.dir });
    const cli = `FAKE_PR='${urls.join(" ")}' ${holdCli(state, "pr")}`;
    await at.sb.ok(["spawn", "w1", "--cli", cli], { env }); // the supervisor inherits the env
    const plan = `${at.sb.dir}/m.toml`;
    await Deno.writeTextFile(
      plan,
      `watch_interval = 0.2\nreviewer = false\n[[items]]\nid = "api"\ntitle = "Build the API"\n`,
    );
    const m = await at.sb.json<MissionJson>(["mission", "start", "--plan", plan], { env });
    const checked = await waitForEvent(
      at.t,
      (e) => e.type === "mission_watch_checked" && e.mission_id === m.id,
    );
    assert.match(
      checked.message,
      /acme\/rocket#7: checks pending, review approved, clean, 1 unresolved/,
    );
    const shown = await at.sb.json<MissionJson>(["mission", "show", m.id]);
    assert.equal(shown.items[0].prs.length, N);
    for (const pr of gh.pulls.values()) {
      pr.checks = [{ name: "ci", status: "completed", conclusion: "success" }];
    }
    await waitForEvent(at.t, (e) => e.type === "mission_completed" && e.mission_id === m.id);
    const evs = (await recentEvents(at.t, { count: 10_000 })).filter((e) => e.mission_id === m.id);
    const polls = evs.filter((e) =>
      e.type === "mission_watch_checked" || e.type === "mission_item_done"
    ).length;
    assert.ok(polls >= 2);
    assert.equal(gh.graphqlHits.length, polls, "one GraphQL query per check of 30 PRs");
    assert.equal(gh.restPullHits.length, 0);
    assert.ok(gh.graphqlHits.every((h) => h.authorization === "Bearer secret-token"));
    assert.deepEqual(gh.graphqlRefused, []);
    assert.deepEqual(gh.broken, []);
  } finally {
    await gh.close();
    await at.cleanup();
  }
});
