/**
 * The agent channel against a malicious agent (tests/fixtures/malicious-agent.sh): every
 * channel-level attack of issue 10 is refused, the town is intact afterwards, the agent's
 * environment and shim hold no Redis address, and `tt history` shows each refusal. With the
 * sandbox off (none exists yet), this is what the channel alone guarantees.
 */
import assert from "node:assert/strict";
import { AgentTown, assertTownIntact, fakeCli } from "../agent_helpers.ts";
import {
  assertChannelOutcomes,
  NO_CHANNEL,
  readAttacks,
  refusalsInHistory,
  REFUSED,
  runMaliciousRound,
} from "../fixtures/malicious_attacks.ts";
import { ROOT, Sandbox, testRedisUrl } from "../helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";

const MALICIOUS = `${ROOT}/tests/fixtures/malicious-agent.sh`;

/** Attacks the channel itself answers with "refused" (and an agent_refused event). */

Deno.test("a malicious agent: every channel-level attack is refused, the town is intact, history shows each refusal", async () => {
  const at = await AgentTown.create("kill_grace_secs = 1");
  const other = new Sandbox();
  const state = await Deno.makeTempDir({ prefix: "tt-mal-" });
  try {
    await other.init();
    await at.sb.ok(["spawn", "victim", "--cli", fakeCli("complete")]);
    await at.sb.ok(["interrupt", "victim"]); // paused: its task stays in its inbox, untouched
    const vt = await at.sb.json<{ id: string }>(["assign", "victim", "the victim's own task"]);
    const cli = `MAL_STATE='${state}' MAL_VICTIM=victim MAL_VICTIM_TASK=${vt.id} ` +
      `MAL_OTHER_TOWN='${other.dir}' sh '${MALICIOUS}'`;
    const { mal, task, before, after } = await runMaliciousRound(at, cli, 120_000);
    const victim = await resolveAgent(at.t, "victim");

    // Each attack's outcome, as the agent saw it.
    const attacks = await readAttacks(state);
    const { err, out } = attacks;
    assertChannelOutcomes(attacks);
    for (const name of NO_CHANNEL) assert.match(err(name), /TT_CHANNEL and TT_CHANNEL_TOKEN/);
    assert.match(err("no_verify_env"), /--no-verify is for humans/);
    assert.match(err("force_other"), /--force is for humans/);
    assert.match(err("other_town"), /--town is not available/);
    assert.match(err("kill_other"), /'tt kill' needs the 'kill' power/);
    assert.match(err("auth_gen_key"), /'tt auth gen-key' is not available to agents/);
    assert.match(err("inbox_other"), /another agent's inbox/);
    assert.match(err("spawn_raw"), /'tt spawn' needs the 'spawn' power/);
    assert.match(err("bad_token"), /wrong channel token/);
    assert.match(out("ok_report"), /reported: tt checks `false` after this round/);
    assert.match(out("ok_inbox"), /mal/);
    assert.match(out("ok_current"), new RegExp(task.id.slice(0, 8)));

    // The town is intact: no new key but the round's own, nothing of the victim changed.
    await assertTownIntact(
      at.t,
      {
        agentId: mal.id,
        taskId: task.id,
        victimId: victim.id,
        victimTaskId: vt.id,
      },
      before,
      after,
    );
    for (const f of ["pwned", "dump.json"]) {
      await assert.rejects(Deno.stat(`${state}/${f}`), Deno.errors.NotFound, `${f} exists`);
    }

    // Nothing of Redis in the agent's environment or its tt shim (REDIS_URL is set outside).
    const socket = testRedisUrl().replace(/^unix:\/\//, "");
    for (const f of ["env.txt", "shim.txt"]) {
      const text = await Deno.readTextFile(`${state}/${f}`);
      assert.ok(!text.includes(socket), `${f} holds the Redis socket`);
      assert.doesNotMatch(text, /REDIS|redis:\/\/|unix:\/\/|\.tt\/redis/i, f);
    }

    // The operator sees each refusal in history, with the agent and the reason.
    const refusals = await refusalsInHistory(at, mal.id);
    for (const name of REFUSED) {
      const reason = err(name).replace(/^tt: refused: /, "").trim();
      assert.ok(refusals.some((e) => e.reason === reason), `no event for ${name}: ${reason}`);
    }
    const text = (await at.sb.ok(["history", "-n", "1000", "--agent", "mal"])).stdout;
    assert.match(text, /refused 'tt kill victim'/);
    assert.match(text, /refused 'tt reset --force'/);
  } finally {
    await at.cleanup();
    other.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});
