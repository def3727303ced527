/**
 * Powers granted in tinytown.toml, end to end through the real supervisor: a "lead" agent spawns
 * a helper (an [agent_clis] name) and assigns it work through its channel; the helper completes
 * it; a worker without the powers is refused, and history says so.
 */
import assert from "node:assert/strict";
import { AgentTown, FAKE_AGENT, waitForEvent, waitUntil } from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { listTasks } from "../../src/core/tasks.ts";

/** An agent CLI (a shell command; the prompt on stdin) that delegates, then reports its task. */
const delegate = (helper: string) =>
  `ids=$(sed -n 's/^ *- Task ID: \\([0-9a-f-]*\\)$/\\1/p'); ` +
  `tt spawn ${helper} --cli fake >/dev/null 2>"$TT_STATE_ERR" && ` +
  `tt assign ${helper} "sub-task for ${helper}" >/dev/null 2>>"$TT_STATE_ERR"; ` +
  `echo "$?" > "$TT_STATE_CODE"; for id in $ids; do tt task complete "$id" --result delegated; done`;

Deno.test("channel powers: a lead spawns and assigns through its channel; a worker may not", async () => {
  const at = await AgentTown.create("kill_grace_secs = 1");
  const state = await Deno.makeTempDir({ prefix: "tt-lead-" });
  try {
    await Deno.writeTextFile(
      `${at.sb.dir}/tinytown.toml`,
      `\n[agent.powers]\nlead = ["spawn", "assign"]\n\n[agent_clis.fake]\ncommand = "sh '${FAKE_AGENT}' complete"\n`,
      { append: true },
    );
    const env = (who: string) =>
      `TT_STATE_ERR='${state}/${who}.err' TT_STATE_CODE='${state}/${who}.code' `;
    await at.sb.ok(["spawn", "boss", "--role", "lead", "--cli", env("boss") + delegate("helper")]);
    await at.sb.ok(["spawn", "grunt", "--cli", env("grunt") + delegate("minion")]);
    await at.sb.ok(["assign", "boss", "split the work"]);
    await at.sb.ok(["assign", "grunt", "try to split the work"]);
    await waitUntil(async () => {
      const done = (await listTasks(at.t)).filter((x) => x.state === "completed");
      return done.length === 3; // boss's, grunt's and the helper's
    }, 120_000);
    const tasks = await listTasks(at.t);
    const helper = await resolveAgent(at.t, "helper");
    const boss = await resolveAgent(at.t, "boss");
    const sub = tasks.find((x) => x.description === "sub-task for helper");
    assert.equal(sub?.state, "completed");
    assert.equal(sub?.assigned_to, helper.id);
    assert.equal(sub?.created_by, boss.id);
    assert.equal(sub?.result, "done by helper");
    assert.equal(await Deno.readTextFile(`${state}/boss.code`), "0\n");
    // The worker got one refusal line, and spawned nothing.
    assert.equal(await Deno.readTextFile(`${state}/grunt.code`), "1\n");
    assert.match(
      await Deno.readTextFile(`${state}/grunt.err`),
      /^tt: refused: 'tt spawn' needs the 'spawn' power/,
    );
    await assert.rejects(resolveAgent(at.t, "minion"));
    const grunt = await resolveAgent(at.t, "grunt");
    const ev = await waitForEvent(at.t, (e) => e.type === "agent_refused");
    assert.equal(ev.agent_id, grunt.id);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});
