/**
 * Black-box: `[budget] agent_usd` stops an agent before the round that would start over its
 * budget (its work stays queued), `tt status`/`tt budget` show it, and raising the budget in
 * tinytown.toml resumes it by itself; `tt usage` sums exactly what the fake CLIs reported.
 */
import assert from "node:assert/strict";
import { waitForEvent, waitUntil } from "../agent_helpers.ts";
import { fakeTown } from "./helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { recentEvents } from "../../src/core/events.ts";
import { Town } from "../../src/mod.ts";
import type { UsageReport } from "../../src/core/usage/report.ts";

type TaskJson = { id: string; state: string };
Deno.test("agent_usd = 1.00 at $0.40 a round: rounds 1-3 run, the 4th task stays queued, the agent is over_budget; raising the budget resumes it", async () => {
  const { at, env, path, state, done } = await fakeTown(
    '[budget]\nagent_usd = 1.00\nwindow = "1d"\n[notify]\ncommand = "cat >> \\"$FAKE_STATE/notify.jsonl\\""',
    { FAKE_COST_USD: "0.40" },
  );
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    const tasks: TaskJson[] = [];
    for (let i = 1; i <= 3; i++) {
      const task = await at.sb.json<TaskJson>(["assign", "w1", `task ${i}`]);
      tasks.push(task);
      await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
    }
    const over = await waitForEvent(at.t, (e) => e.type === "agent_over_budget");
    assert.match(over.message, /agent_usd: \$1\.20 of \$1\.00 over 1d \(20% over\)/);
    const fourth = await at.sb.json<TaskJson>(["assign", "w1", "task 4"]);
    const w1 = await resolveAgent(at.t, "w1");
    assert.equal(w1.state, "over_budget");
    assert.equal(w1.rounds_completed, 3);
    assert.equal((await getTask(at.t, fourth.id))?.state, "assigned", "queued, not started");
    assert.equal(await at.t.redis.llen(at.t.keys.inbox(w1.id)), 1, "its assignment waits");

    const status = (await at.sb.ok(["status"])).stdout;
    assert.match(status, /over_budget/);
    assert.match(status, /Spent: \$1\.20 of \$1\.00 over 1d/);
    const budget = (await at.sb.ok(["budget"])).stdout;
    assert.match(budget, /w1.*\$1\.20 of \$1\.00 over 1d.*OVER/);
    const left = await at.sb.json<{ agents: { left: { agent_usd: number } }[] }>(["budget"]);
    assert.equal(left.agents[0].left.agent_usd, 0);
    await waitUntil(() => Deno.stat(`${state}/notify.jsonl`).then(() => true, () => false));
    const note = JSON.parse((await Deno.readTextFile(`${state}/notify.jsonl`)).split("\n")[0]);
    assert.equal(note.type, "agent_over_budget");
    assert.equal(note.state, "over_budget");
    assert.match(note.reason, /agent_usd: \$1\.20 of \$1\.00 over 1d \(20% over\)/);

    const usage = await at.sb.json<UsageReport>(["usage"]);
    assert.equal(usage.total.rounds, 3);
    assert.equal(usage.total.input, 3 * 1200, "input + cache creation, as claude reports");
    assert.equal(usage.total.output, 3 * 50);
    assert.equal(usage.total.cached, 3 * 300);
    assert.ok(Math.abs(usage.total.usd - 1.2) < 1e-9, String(usage.total.usd));
    assert.equal(usage.rows[0].key, w1.id);
    const byTask = await at.sb.json<UsageReport>(["usage", "--by", "task"]);
    assert.deepEqual(byTask.rows.map((r) => r.key).sort(), tasks.map((t) => t.id).sort());
    const show = (await at.sb.ok(["task", "show", tasks[0].id])).stdout;
    assert.match(show, /Usage: 1200 in \/ 50 out tokens, \$0\.4000/);
    const ev = (await recentEvents(at.t, { count: 200 })).filter((e) => e.type === "round_usage");
    assert.equal(ev.length, 3);
    assert.equal(ev[0].usage?.model, "claude-fake");

    // Raising the budget in tinytown.toml wakes the agent (no restart, no tt command).
    await Deno.writeTextFile(
      path,
      (await Deno.readTextFile(path)).replace(/^agent_usd = 1\.00$/m, "agent_usd = 2.00"),
    );
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === fourth.id);
    await waitForEvent(at.t, (e) => e.type === "agent_budget_ok");
  } finally {
    await done();
  }
});

Deno.test("tt usage equals what each family's fake CLI reported; [pricing] prices a CLI that reports no cost", async () => {
  const { at, done, env } = await fakeTown(
    "[pricing.codex]\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 10.0\ncached_usd_per_mtok = 0.1",
  );
  try {
    for (const cli of ["codex", "gemini", "opencode"]) {
      await at.sb.ok(["spawn", `a-${cli}`, "--cli", cli], { env });
      const task = await at.sb.json<TaskJson>(["assign", `a-${cli}`, `work for ${cli}`]);
      await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
    }
    for (const cli of ["codex", "gemini", "opencode"]) {
      const a = await resolveAgent(at.t, `a-${cli}`);
      await waitForEvent(at.t, (e) => e.type === "round_usage" && e.agent_id === a.id);
    }
    const r = await at.sb.json<UsageReport>(["usage", "--by", "cli"]);
    const by = Object.fromEntries(r.rows.map((x) => [x.key, x]));
    assert.deepEqual(
      [by.codex.input, by.codex.output, by.codex.cached],
      [2400, 80, 1200],
    );
    assert.ok(Math.abs(by.codex.usd - (2400 * 1 + 80 * 10 + 1200 * 0.1) / 1e6) < 1e-12);
    assert.deepEqual([by.gemini.input, by.gemini.output, by.gemini.cached, by.gemini.usd], [
      1500,
      100,
      700,
      0,
    ]);
    assert.deepEqual([by.opencode.input, by.opencode.output, by.opencode.cached], [900, 60, 100]);
    assert.ok(Math.abs(by.opencode.usd - 0.0042) < 1e-12);
    assert.equal(r.total.input, 2400 + 1500 + 900);
    const models = await at.sb.json<UsageReport>(["usage", "--by", "model"]);
    assert.ok(models.rows.some((x) => x.key === "gemini-fake" && x.input === 1500));
    // The library gives the same numbers (town.usage()).
    const town = await Town.connect(await at.pinRedis());
    try {
      const lib = await town.usage({ by: "cli", since: "1d" });
      assert.deepEqual(lib.total, r.total);
    } finally {
      await town.close();
    }
    const bad = await at.sb.tt(["usage", "--since", "yesterday-ish"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since 'yesterday-ish' is neither a duration/);
  } finally {
    await done();
  }
});

Deno.test("hard = true ends a running round once its streamed cost crosses the cap; the task stays queued", async () => {
  const { at, state, env, done } = await fakeTown(
    '[budget]\nagent_usd = 0.50\nhard = true\nwindow = "1d"',
    { FAKE_COST_USD: "0.75" },
  );
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "opencode"], { env });
    const task = await at.sb.json<TaskJson>(["assign", "w1", "spend fake:spendhang"]);
    const cut = await waitForEvent(at.t, (e) => e.type === "round_interrupted");
    assert.match(cut.reason ?? "", /hard budget: agent_usd \$0\.75 of \$0\.50 reached mid-round/);
    await waitForEvent(at.t, (e) => e.type === "agent_over_budget");
    assert.equal((await resolveAgent(at.t, "w1")).state, "over_budget");
    assert.equal((await getTask(at.t, task.id))?.state, "assigned");
    const usage = await at.sb.json<UsageReport>(["usage"]);
    assert.ok(Math.abs(usage.total.usd - 0.75) < 1e-9, "the cut round's usage counts");
    assert.equal((await Deno.readTextFile(`${state}/argv`)).trim().split("\n").length, 1);
    const w = await at.sb.tt(["wait", "w1", "--timeout", "30"]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /w1: over_budget/);
  } finally {
    await done();
  }
});

Deno.test("the window rolling resumes an over_budget agent by itself (a timer to the window's edge)", async () => {
  // The supervisor's usage clock is set to 45 s past a minute, so the 1m window rolls soon.
  const offset = (45_000 - (Date.now() % 60_000) + 60_000) % 60_000;
  const { at, env, done } = await fakeTown('[budget]\nagent_usd = 0.50\nwindow = "1m"', {
    FAKE_COST_USD: "0.40",
    TT_CLOCK_OFFSET_MS: String(offset),
  });
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    for (let i = 1; i <= 2; i++) {
      const task = await at.sb.json<TaskJson>(["assign", "w1", `task ${i}`]);
      await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
    }
    const over = await waitForEvent(at.t, (e) => e.type === "agent_over_budget");
    assert.match(over.message, /\$0\.80 of \$0\.50 over 1m.*resumes at/);
    const third = await at.sb.json<TaskJson>(["assign", "w1", "task 3"]);
    assert.equal((await getTask(at.t, third.id))?.state, "assigned");
    await waitForEvent(at.t, (e) => e.type === "agent_budget_ok", 120_000);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === third.id);
  } finally {
    await done();
  }
});
