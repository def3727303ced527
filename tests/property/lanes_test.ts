/**
 * The backlog scan (Lua, src/core/autoclaim.ts) and matchesLane (TypeScript, used for prompts)
 * agree on every description and tag list: random text of keywords, ASCII separators, upper
 * case and non-ASCII characters. And an idle agent's claim costs the same with 5,000 tasks
 * waiting as with 5.
 */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import type { Agent } from "../../src/core/schemas.ts";
import { addToBacklog } from "../../src/core/backlog.ts";
import {
  backlogSnapshot,
  claimForAgent,
  laneKeywords,
  matchesLane,
  SCAN_WINDOW,
} from "../../src/core/autoclaim.ts";
import { getTasks } from "../../src/core/tasks.ts";
import { inFlight } from "../../bench/lib/town.ts";
import { withTestTown } from "../helpers.ts";
import { countCalls } from "../redis_calls.ts";
import { assertProperty, fc } from "./prop.ts";

const ROLES = ["frontend", "backend", "tester", "reviewer", "docs", "devops", "security", "worker"];
const PIECES = [
  "api",
  "API",
  "Api",
  "ui",
  "css",
  "tests",
  "test",
  "qa",
  "docs",
  "readme",
  "ci",
  "ops",
  "deploy",
  "security",
  "apis",
  "xapi",
  "é",
  "日本",
  "—",
  "🚀",
  "_",
  "-",
  ".",
  "/",
  " ",
  "\n",
  "\t",
  "'",
  "(",
  ")",
  "0",
  "K",
  "\u212a",
  "İ",
];
const text = fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((p) => p.join(""));
const taskArb = fc.record({
  description: text.filter((s) => s.trim().length > 0),
  tags: fc.array(fc.constantFrom("API", "backend", "Frontend", "qa", "docs", "x", "CI"), {
    maxLength: 3,
  }),
});

Deno.test("the backlog scan in Redis and matchesLane agree on every task and lane", async () => {
  await withTestTown(async (t) => {
    const agents: Agent[] = [];
    for (const role of ROLES) {
      agents.push(await createAgent(t, { name: `a-${role}`, cli: "x", role }));
    }
    let matched = 0;
    await assertProperty("scan vs matchesLane", 60, [
      fc.array(taskArb, { minLength: 1, maxLength: 20 }),
    ], async (list) => {
      await t.redis.del(t.keys.backlog);
      const ids: string[] = [];
      for (const x of list) ids.push((await addToBacklog(t, x)).id);
      const tasks = await getTasks(t, ids);
      for (const a of agents) {
        const snap = await backlogSnapshot(t, a, SCAN_WINDOW);
        const want = tasks.filter((x) => matchesLane(x, laneKeywords(a))).map((x) => x.id);
        assert.deepEqual(
          snap.matching.map((x) => x.id),
          want,
          `${a.role}: ${JSON.stringify(list)}`,
        );
        assert.equal(snap.matched, want.length);
        assert.equal(snap.total, ids.length);
        matched += want.length;
      }
    });
    assert.ok(matched > 100, `${matched}`);
  });
});

Deno.test("an idle agent's claim costs the same round trips with 5,000 backlog tasks as with 5", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "tester", cli: "x", role: "tester" });
    const calls = () =>
      countCalls(t, async (counted) => {
        assert.ok(await claimForAgent(counted, a), "a matching task was claimed");
      });
    const fill = (n: number, what: string) =>
      inFlight(n, 100, async () => {
        await addToBacklog(t, { description: what });
      });
    // Non-matching work first, then the tester's: the scan has to skip the others.
    await fill(5, "paint the logo");
    await fill(3, "write the regression tests");
    await calls(); // loads the scripts (NOSCRIPT, then EVAL): not part of the steady cost
    const few = await calls();
    await fill(5000, "paint the logo");
    await fill(1, "write the regression tests");
    const many = await calls();
    assert.equal(many, few);
    // The tester's remaining task sits behind 5,005 others: beyond the window, so not seen.
    assert.equal(await claimForAgent(t, a), undefined);
    const snap = await backlogSnapshot(t, a);
    assert.equal(snap.scanned, SCAN_WINDOW);
    assert.equal(snap.total, 5006);
  });
});
