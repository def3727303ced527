/**
 * Black-box: one agent's usage limit stops every agent on the same CLI account until the reset,
 * then all resume; an agent cannot touch budgets or usage through its channel, and a CLI that
 * reports negative usage does not lower what was spent.
 */
import assert from "node:assert/strict";
import { waitForEvent } from "../agent_helpers.ts";
import { fakeTown } from "./helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";

type TaskJson = { id: string; state: string };
Deno.test("a usage limit hit by one claude agent holds the other agent on the same account until the reset; both resume", async () => {
  const { at, state, env, done } = await fakeTown("", { FAKE_RESET_SECS: "15" });
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    await at.sb.ok(["spawn", "w2", "--cli", "claude"], { env });
    const w1 = await resolveAgent(at.t, "w1");
    const w2 = await resolveAgent(at.t, "w2");
    const first = await at.sb.json<TaskJson>(["assign", "w1", "big job fake:limitonce"]);
    await waitForEvent(at.t, (e) => e.type === "agent_rate_limited" && e.agent_id === w1.id);
    const second = await at.sb.json<TaskJson>(["assign", "w2", "small job"]);
    const held = await waitForEvent(
      at.t,
      (e) => e.type === "agent_rate_limited" && e.agent_id === w2.id,
    );
    assert.match(held.message, /usage limit of the claude account \(hit by w1\)/);
    const limited = await resolveAgent(at.t, "w2");
    assert.equal(limited.state, "rate_limited");
    assert.ok(limited.resume_at, "has a reset time");
    assert.equal(limited.resume_at, (await resolveAgent(at.t, "w1")).resume_at, "w1's reset");
    assert.equal((await getTask(at.t, second.id))?.state, "assigned", "not started");
    const argv = (await Deno.readTextFile(`${state}/argv`)).trim().split("\n");
    assert.equal(argv.length, 1, "w2 ran no round: " + argv.join(" | "));
    assert.ok(Date.parse(limited.resume_at!) > Date.now() + 2000, "the reset is still ahead");
    const status = (await at.sb.ok(["status"])).stdout;
    assert.match(status, /rate limited until \d\d:\d\d \(claude\)/);
    // A new spawn on the account waits too; another CLI's account does not.
    await at.sb.ok(["spawn", "w3", "--cli", "claude"], { env });
    const w3 = await resolveAgent(at.t, "w3");
    await waitForEvent(at.t, (e) => e.type === "agent_rate_limited" && e.agent_id === w3.id);
    await at.sb.ok(["spawn", "c1", "--cli", "codex"], { env });
    const other = await at.sb.json<TaskJson>(["assign", "c1", "codex work"]);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === other.id);
    assert.equal((await resolveAgent(at.t, "w2")).state, "rate_limited", "still held");

    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === second.id);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === first.id);
    assert.ok(
      Date.now() >= Date.parse(limited.resume_at!) - 50,
      "w2 waited for the reset",
    );
  } finally {
    await done();
  }
});

Deno.test("attack: an agent's tt cannot read or change budgets or usage through its channel; negative usage from a CLI is ignored", async () => {
  const { at, state, env, done } = await fakeTown('[budget]\nagent_usd = 1.00\nwindow = "1d"');
  try {
    const script = `${state}/agent.sh`;
    await Deno.writeTextFile(
      script,
      `#!/bin/sh
cat >/dev/null
[ -e "$FAKE_STATE/tries" ] && exit 0
for c in "budget" "usage" "usage --by agent" "resume w1"; do
  tt $c >"$FAKE_STATE/out" 2>&1
  echo "$c => $? $(head -c 300 "$FAKE_STATE/out")" >>"$FAKE_STATE/tries"
done
`,
    );
    await Deno.chmod(script, 0o755);
    await at.sb.ok(["spawn", "evil", "--cli", script], { env });
    await at.sb.json<TaskJson>(["assign", "evil", "try to raise your budget"]);
    await waitForEvent(at.t, (e) => e.type === "round_completed");
    const tries = (await Deno.readTextFile(`${state}/tries`)).trim().split("\n");
    assert.equal(tries.length, 4);
    for (const line of tries) assert.match(line, /=> [12] tt: refused/, line);

    await at.sb.ok(["spawn", "neg", "--cli", "claude"], { env });
    const neg = await resolveAgent(at.t, "neg");
    const task = await at.sb.json<TaskJson>(["assign", "neg", "report fake:negcost"]);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
    await waitForEvent(at.t, (e) => e.type === "round_completed" && e.agent_id === neg.id);
    const after = await resolveAgent(at.t, "neg");
    assert.equal(after.tokens_in, 0);
    assert.equal(after.cost_usd, 0);
    const budget = await at.sb.json<{ agents: { agent: string; spent: { agent_usd: number } }[] }>(
      ["budget"],
    );
    assert.equal(budget.agents.find((a) => a.agent === "neg")?.spent.agent_usd, 0);
  } finally {
    await done();
  }
});
