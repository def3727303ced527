/**
 * What the dashboard reads and draws, against a real Redis: bounded task pages (cursor, state
 * filter, search), the attention list, and the missions graph (layout along dependencies, text
 * escaped inside the SVG).
 */
import assert from "node:assert/strict";
import { withAgents } from "../helpers.ts";
import { recordRoundUsage } from "../../src/core/usage/record.ts";
import { setAgentState, toRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask } from "../../src/core/tasks.ts";
import { getAgent } from "../../src/core/agents.ts";
import { overview, SCAN_LIMIT, taskPage } from "../../src/townhall/dashboard/data.ts";
import { layoutMission, MissionsPanel } from "../../src/townhall/dashboard/missions.tsx";
import { AgentsTable, canFor } from "../../src/townhall/dashboard/panels.tsx";
import { branchesSettled } from "../../src/townhall/dashboard/branches.ts";
import { createWorktree } from "../../src/supervisor/worktree.ts";
import type { MissionJson } from "../../src/core/missions/json.ts";

Deno.test("task pages: newest first, a cursor goes on, state filter and search; a filter that matches nothing stops after SCAN_LIMIT ids", async () => {
  await withAgents(["w1"], async ({ t, ids }) => {
    const to = toRecipient((await getAgent(t, ids.w1))!);
    const made: string[] = [];
    for (let i = 0; i < 60; i++) {
      made.push((await assignTask(t, to, { description: `task number ${i}` })).id);
    }
    for (const id of made.filter((_, i) => i % 10 === 0)) {
      await completeTask(t, id, { force: true, result: "ok" });
    }
    const first = await taskPage(t, { limit: 25 });
    assert.equal(first.tasks.length, 25);
    assert.equal(first.total, 60);
    assert.equal(first.tasks[0].description, "task number 59");
    assert.equal(first.next, 25);
    const second = await taskPage(t, { limit: 25, cursor: first.next });
    assert.equal(second.tasks[0].description, "task number 34");
    const last = await taskPage(t, { limit: 25, cursor: 50 });
    assert.equal(last.tasks.length, 10);
    assert.equal(last.next, undefined);

    const done = await taskPage(t, { state: "completed" });
    assert.deepEqual(
      done.tasks.map((x) => x.description),
      [50, 40, 30, 20, 10, 0].map((i) => `task number ${i}`),
    );
    const found = await taskPage(t, { q: "NUMBER 4" });
    assert.deepEqual(
      found.tasks.map((x) => x.description),
      [
        "task number 49",
        "task number 48",
        "task number 47",
        "task number 46",
        "task number 45",
        "task number 44",
        "task number 43",
        "task number 42",
        "task number 41",
        "task number 40",
        "task number 4",
      ],
    );

    // Enough tasks that a filter matching none must give up: one page looks at SCAN_LIMIT ids.
    const pipe = t.redis.pipeline();
    const base = Date.now();
    for (let i = 0; i < SCAN_LIMIT + 200; i++) {
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      pipe.hset(t.keys.task(id), {
        id,
        description: "filler",
        state: "pending",
        created_at: new Date(base + i).toISOString(),
        updated_at: new Date(base + i).toISOString(),
      });
      pipe.zadd(t.keys.tasks, base + i, id);
    }
    await pipe.exec();
    const none = await taskPage(t, { q: "no such words" });
    assert.equal(none.tasks.length, 0);
    assert.equal(none.scanned, SCAN_LIMIT, "bounded work per request");
    assert.equal(none.next, SCAN_LIMIT, "and a cursor to look further");
  });
});

Deno.test("attention list: needs_input with its question, rate_limited with its reset time, errors", async () => {
  await withAgents(["asker", "limited", "broken", "fine"], async ({ t, ids }) => {
    await setAgentState(t, ids.asker, "needs_input", { why: "<b>May I</b> delete build/?" });
    const reset = "2030-01-01T00:00:00.000Z";
    await setAgentState(t, ids.limited, "rate_limited", { why: "usage limit", resumeAt: reset });
    await setAgentState(t, ids.broken, "error", { why: "CLI not found" });
    await setAgentState(t, ids.fine, "idle");
    const ov = await overview(t);
    const kinds = ov.attention.map((x) => [x.kind, x.agent?.agent.name]);
    assert.deepEqual(kinds, [
      ["needs_input", "asker"],
      ["error", "broken"],
      ["rate_limited", "limited"],
    ]);
    assert.equal(ov.attention[0].detail, "<b>May I</b> delete build/?");
    assert.equal(ov.attention[2].until, reset);
    assert.equal(ov.agents.length, 4);
  });
});

type Item = MissionJson["items"][number];
const item = (id: string, title: string, depends_on: string[], status: Item["status"]): Item => ({
  id,
  title,
  kind: "implement",
  role: undefined,
  depends_on,
  verify: undefined,
  source: undefined,
  status,
  task: undefined,
  review_task: undefined,
  agent: undefined,
  attempts: 0,
  feedback: undefined,
  prs: [],
});

const mission = (title: string): MissionJson => ({
  id: "m1234567",
  title,
  state: "running",
  reason: undefined,
  source: "items",
  max_parallel: 2,
  reviewer: false,
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
  help_reason: undefined,
  watch_interval: 60,
  counts: { total: 3, done: 1, watch: 0, active: 1, ready: 0, review: 1, failed: 0 },
  items: [
    item("schema", "DB schema", [], "done"),
    item("api", "<script>x()</script>", ["schema"], "review"),
    item("ui", "UI", ["api", "schema"], "active"),
  ],
});

Deno.test("missions graph: laid out along dependencies; titles escaped in the SVG; review buttons by scope", () => {
  const m = mission("Ship <img src=x onerror=alert(1)>");
  const laid = layoutMission(m);
  const x = Object.fromEntries(laid.nodes.map((n) => [n.id, n.x]));
  assert.ok(x.schema < x.api && x.api < x.ui, JSON.stringify(x));
  assert.equal(laid.edges.length, 3);
  const writer = String(MissionsPanel({ missions: [m], can: canFor(["town.write"]) }));
  assert.ok(!writer.includes("<script>x()"), "item titles are escaped");
  assert.ok(!writer.includes("<img src=x"), "mission titles are escaped");
  assert.match(writer, /&lt;script&gt;/);
  assert.match(writer, /data-act="approve"/);
  const reader = String(MissionsPanel({ missions: [m], can: canFor(["town.read"]) }));
  assert.doesNotMatch(reader, /data-act="approve"/);
  assert.match(reader, /<svg/);
});

Deno.test("overview: task counts come from the counters; an agent's spend is shown against its [budget], read fresh from tinytown.toml", async () => {
  await withAgents(["spender", "free"], async ({ sb, t: town, ids }) => {
    const t = { ...town, root: sb.dir }; // the test town's context has no directory of its own
    const to = toRecipient((await getAgent(t, ids.spender))!);
    const done = await assignTask(t, to, { description: "one" });
    await assignTask(t, to, { description: "two" });
    await completeTask(t, done.id, { force: true, result: "ok" });
    await recordRoundUsage(t, {
      agentId: ids.spender,
      cli: "claude",
      costUsd: 1.2,
      tokens: { input: 100, output: 20 },
      durationMs: 10,
      round: 1,
      taskIds: [done.id],
      pricing: {},
      keepSecs: 86400,
      slotMinutes: 14,
    });
    let ov = await overview(t);
    assert.equal(ov.tasks.total, 2);
    assert.equal(ov.tasks.by_state.completed, 1);
    assert.equal(ov.tasks.by_state.assigned, 1);
    assert.equal(ov.agents.find((r) => r.agent.name === "spender")?.budget, undefined);

    const toml = `${sb.dir}/tinytown.toml`;
    await Deno.writeTextFile(toml, `\n[budget]\nagent_usd = 1.00\nwindow = "1d"\n`, {
      append: true,
    });
    ov = await overview(t);
    const row = ov.agents.find((r) => r.agent.name === "spender")!;
    assert.equal(row.budget?.line, "$1.20 of $1.00 over 1d");
    assert.equal(row.budget?.over?.budget, "agent_usd");
    assert.equal(
      ov.agents.find((r) => r.agent.name === "free")?.budget?.line,
      "$0.00 of $1.00 over 1d",
    );
  });
});

Deno.test("overview: an agent's branch ahead/behind comes from a cache refreshed in the background (no git call in a render)", async () => {
  await withAgents(["builder"], async ({ sb, t: town, ids }) => {
    const t = { ...town, root: sb.dir };
    const git = async (cwd: string, ...args: string[]) => {
      const r = await new Deno.Command("git", {
        args: ["-c", "user.name=t", "-c", "user.email=t@t", ...args],
        cwd,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
    };
    await git(sb.dir, "init", "-q", "-b", "main");
    await git(sb.dir, "commit", "-q", "--allow-empty", "-m", "start");
    const wt = (await createWorktree(sb.dir, "builder"))!;
    for (const n of [1, 2]) {
      await Deno.writeTextFile(`${wt.workdir}/f${n}.txt`, `${n}`);
      await git(wt.workdir, "add", ".");
      await git(wt.workdir, "commit", "-q", "-m", `work ${n}`);
    }
    await Deno.writeTextFile(`${wt.workdir}/scratch.txt`, "not committed");
    await t.redis.hset(t.keys.agent(ids.builder), { workdir: wt.workdir, branch: wt.branch });

    const first = await overview(t);
    assert.equal(first.agents[0].worktree, undefined, "the first render waits for no git call");
    await branchesSettled();
    const row = (await overview(t)).agents[0];
    assert.deepEqual(row.worktree, { branch: "tt/builder", ahead: 2, behind: 0, dirty: 1 });
    const html = String(AgentsTable({ rows: [row], can: canFor(["town.read"]), now: Date.now() }));
    assert.match(html, /tt\/builder \(2 ahead, 1 uncommitted\)/);
  });
});
