/**
 * Rolling windows with an injected clock: usage recorded at chosen times, budgets judged at
 * chosen times (src/core/usage/), overrides by role and agent, the town's daily budget.
 */
import assert from "node:assert/strict";
import { withTestTown } from "../helpers.ts";
import { createAgent } from "../../src/core/agents.ts";
import { recordRoundUsage } from "../../src/core/usage/record.ts";
import { agentBudgets } from "../../src/core/usage/budget.ts";
import { parseWindow, slotMinutesFor } from "../../src/core/usage/schema.ts";
import { BudgetConfig } from "../../src/core/usage/config_schema.ts";
import { usageReport } from "../../src/core/usage/report.ts";
import type { TownContext } from "../../src/core/town.ts";
import { checkKey, type TypedKey } from "../../src/core/snapshot_format.ts";

const T0 = Date.parse("2026-12-01T10:00:30Z");
const MIN = 60_000;

async function spend(t: TownContext, agentId: string, atMs: number, usd: number, tokens = 100) {
  await recordRoundUsage(t, {
    agentId,
    cli: "claude",
    model: "m1",
    tokens: { input: tokens, output: 0 },
    costUsd: usd,
    durationMs: 1000,
    round: 1,
    taskIds: [],
    pricing: {},
    keepSecs: 86400,
    slotMinutes: 1,
    nowMs: atMs,
  });
}

const agent = (t: TownContext, name: string, role?: string) =>
  createAgent(t, { name, cli: "claude", role, host: "h", max_rounds: 10 });

Deno.test("a 30m window: over after $1.00 in the window, under again once the oldest spend leaves it, at the computed time", async () => {
  await withTestTown(async (t) => {
    const a = await agent(t, "w1");
    const cfg = BudgetConfig.parse({ agent_usd: 1.0, window: "30m" });
    await spend(t, a.id, T0, 0.6);
    await spend(t, a.id, T0 + 10 * MIN, 0.5);
    const now = T0 + 12 * MIN;
    const b = (await agentBudgets(t, [a], cfg, now)).get(a.id)!;
    assert.ok(Math.abs(b.spent.agent_usd - 1.1) < 1e-9);
    assert.equal(b.over?.budget, "agent_usd");
    assert.match(b.over!.text, /\$1\.10 of \$1\.00 over 30m \(10% over\)/);
    // Slots are whole minutes: the first spend leaves the window 30 minutes after its minute began.
    const expected = Math.floor(T0 / MIN) * MIN + 30 * MIN;
    assert.equal(b.over!.resumeAtMs, expected);
    const before = (await agentBudgets(t, [a], cfg, expected - 1)).get(a.id)!;
    assert.ok(before.over, "still over a moment before");
    const after = (await agentBudgets(t, [a], cfg, expected)).get(a.id)!;
    assert.equal(after.over, undefined);
    assert.ok(Math.abs(after.spent.agent_usd - 0.5) < 1e-9);
    assert.ok(Math.abs(after.left.agent_usd! - 0.5) < 1e-9);
  });
});

Deno.test("role and agent overrides; agent_tokens; town_usd_per_day resets at UTC midnight", async () => {
  await withTestTown(async (t) => {
    const plain = await agent(t, "plain");
    const rev = await agent(t, "rev", "reviewer");
    const boss = await agent(t, "boss", "reviewer");
    const cfg = BudgetConfig.parse({
      agent_usd: 1.0,
      window: "1d",
      town_usd_per_day: 5,
      roles: { reviewer: { agent_usd: 0.1 } },
      agents: { boss: { agent_usd: 3, agent_tokens: 150 } },
    });
    for (const a of [plain, rev, boss]) await spend(t, a.id, T0, 0.5, 100);
    let b = await agentBudgets(t, [plain, rev, boss], cfg, T0 + MIN);
    assert.equal(b.get(plain.id)!.over, undefined);
    assert.equal(b.get(rev.id)!.over?.budget, "agent_usd", "the role's $0.10");
    assert.equal(b.get(boss.id)!.over, undefined, "its own $3 and 150 tokens");
    await spend(t, boss.id, T0 + MIN, 0.1, 60);
    b = await agentBudgets(t, [boss], cfg, T0 + 2 * MIN);
    assert.equal(b.get(boss.id)!.over?.budget, "agent_tokens");
    assert.match(b.get(boss.id)!.over!.text, /160 tokens of 150 tokens/);

    await spend(t, plain.id, T0 + 2 * MIN, 0.4);
    await spend(t, rev.id, T0 + 2 * MIN, 3.5);
    b = await agentBudgets(t, [plain], { ...cfg, agent_usd: 100 }, T0 + 3 * MIN);
    const town = b.get(plain.id)!.over!;
    assert.equal(town.budget, "town_usd_per_day");
    assert.equal(town.resumeAtMs, Date.parse("2026-12-02T00:00:00Z"));
    const tomorrow = await agentBudgets(t, [plain], { ...cfg, agent_usd: 100 }, town.resumeAtMs!);
    assert.equal(tomorrow.get(plain.id)!.spent.town_usd, 0);

    const r = await usageReport(t, { by: "day", since: "2026-12-01", nowMs: T0 + 3 * MIN });
    assert.equal(r.rows.length, 1);
    assert.ok(Math.abs(r.total.usd - (0.5 * 3 + 0.1 + 0.4 + 3.5)) < 1e-9);
  });
});

Deno.test("windows parse as durations of at least a minute; task budgets are refused, not ignored", () => {
  assert.equal(parseWindow("30m"), 1800);
  assert.equal(parseWindow("5h"), 18000);
  assert.equal(parseWindow("1d"), 86400);
  assert.equal(parseWindow("10s"), undefined);
  assert.equal(parseWindow("soon"), undefined);
  assert.throws(() => BudgetConfig.parse({ window: "1 fortnight" }), /a duration/);
  assert.throws(() => BudgetConfig.parse({ task_usd: 1 }), /task budgets are not enforced yet/);
  // Slots are a hundredth of the shortest window, at least a minute.
  assert.equal(slotMinutesFor(BudgetConfig.parse({})), 14);
  assert.equal(slotMinutesFor(BudgetConfig.parse({ window: "5h" })), 3);
  assert.equal(
    slotMinutesFor(BudgetConfig.parse({ window: "1d", agents: { a: { window: "30m" } } })),
    1,
  );
});

Deno.test("snapshots know the usage keys and refuse bad values in them", () => {
  const ok = (key: string, type: "hash" | "string", value: unknown) =>
    checkKey({ key, ttl_ms: 0, type, value } as TypedKey);
  assert.equal(
    ok("usage:day:2026-12-01", "hash", { "town||usd": "0.4", "agent|x|in": "12" }),
    undefined,
  );
  assert.equal(ok("usage:totals", "hash", { "a|m|input": "5" }), undefined);
  assert.equal(ok("usage:slots:abc", "hash", { "29400000|usd": "1e-3" }), undefined);
  const limit = { reset_at: "2026-12-01T14:05:00Z", family: "claude", agent: "w1", message: "m" };
  assert.equal(ok("usage:limit:0123456789abcdef", "string", JSON.stringify(limit)), undefined);
  assert.match(ok("usage:day:2026-12-01", "hash", { "town||usd": "lots" })!, /bad value/);
  assert.match(ok("usage:limit:0123456789abcdef", "string", "{}")!, /bad value/);
  assert.match(ok("usage:whatever", "hash", { a: "1" })!, /not a key of a tt town/);
});

Deno.test("usage by mission and by task: a round's usage is split evenly among its tasks", async () => {
  await withTestTown(async (t) => {
    const a = await agent(t, "w1");
    const [t1, t2] = ["11111111-aaaa", "22222222-bbbb"];
    await t.redis.hset(t.keys.missionTasks, t1, JSON.stringify({ mission: "m-1", item: "x" }));
    await recordRoundUsage(t, {
      agentId: a.id,
      cli: "claude",
      tokens: { input: 100, output: 10 },
      costUsd: 0.5,
      durationMs: 1,
      round: 1,
      taskIds: [t1, t2],
      pricing: {},
      keepSecs: 86400,
      slotMinutes: 1,
      nowMs: T0,
    });
    const byTask = await usageReport(t, { by: "task", since: "2026-12-01", nowMs: T0 });
    assert.deepEqual(byTask.rows.map((r) => [r.key, r.input, r.usd, r.rounds]).sort(), [
      [t1, 50, 0.25, 0.5],
      [t2, 50, 0.25, 0.5],
    ]);
    const byMission = await usageReport(t, { by: "mission", since: "2026-12-01", nowMs: T0 });
    assert.deepEqual(byMission.rows.map((r) => [r.key, r.input]), [["m-1", 50]]);
    const byModel = await usageReport(t, { by: "model", since: "2026-12-01", nowMs: T0 });
    assert.deepEqual(byModel.rows.map((r) => r.key), ["unknown"], "no model reported");
    assert.equal(byModel.total.usd, 0.5);
  });
});

Deno.test("a day of one round a minute keeps about 100 slots with a 1d window (the cost is bounded by the window, not the rounds)", async () => {
  await withTestTown(async (t) => {
    const a = await agent(t, "w1");
    const cfg = BudgetConfig.parse({ agent_usd: 1000, window: "1d" });
    const start = Date.parse("2026-12-01T00:00:00Z");
    for (let i = 0; i < 3000; i += 3) {
      await recordRoundUsage(t, {
        agentId: a.id,
        cli: "claude",
        tokens: { input: 1, output: 0 },
        costUsd: 0.01,
        durationMs: 1,
        round: i,
        taskIds: [],
        pricing: {},
        keepSecs: 86400,
        slotMinutes: slotMinutesFor(cfg),
        nowMs: start + i * MIN,
      });
    }
    const fields = await t.redis.hlen(t.keys.usageSlots(a.id));
    assert.ok(fields <= 2 * (Math.ceil(1440 / 14) + 2), `${fields} slot fields`);
    const b = (await agentBudgets(t, [a], cfg, start + 3000 * MIN)).get(a.id)!;
    // About the last day's 480 rounds (one slot early at most: 14 minutes' worth).
    assert.ok(Math.abs(b.spent.agent_usd - 4.8) <= 0.05 + 1e-9, String(b.spent.agent_usd));
  });
});
