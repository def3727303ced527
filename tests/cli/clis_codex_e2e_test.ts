/**
 * The real codex (pinned, installed by scripts/env.sh tt_ensure_clis) as a tt agent, against a
 * stub of the Responses API on 127.0.0.1 (tests/fixtures/stub_responses.ts): it completes a task
 * end to end through `tt`, a second round resumes its session, and a stub answering 401 puts the
 * agent in `error` with codex's own message. Skipped, saying so, when codex is not installed.
 */
import assert from "node:assert/strict";
import { AgentTown } from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { codexHome, startStub } from "../fixtures/stub_responses.ts";
import { refusedRound, skipReason, withClis } from "../fixtures/clis/e2e.ts";

const WHY = skipReason("tests/cli/clis_codex_e2e_test.ts", "codex");
const SKIP = WHY ? ` (skipped: ${WHY})` : "";
type TaskJson = { id: string; state: string };

Deno.test({
  name: `real codex: a task end to end, the second round resumes the session${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startStub();
    const home = await codexHome(stub.url);
    const at = await AgentTown.create();
    try {
      await at.sb.ok(["spawn", "w1", "--cli", "codex"], { env: withClis({ CODEX_HOME: home }) });
      const one = await at.sb.json<TaskJson>(["assign", "w1", "write the first file"]);
      await at.sb.ok(["wait", "w1", "--timeout", "120"]);
      const t1 = await getTask(at.t, one.id);
      assert.equal(t1?.state, "completed", JSON.stringify(t1));
      assert.equal(t1?.result, "done by codex against the stub");
      const a1 = await resolveAgent(at.t, "w1");
      assert.match(a1.session_id ?? "", /^[0-9a-f-]{36}$/, "codex's thread id");
      assert.ok(a1.tokens_in > 2000, `tokens: ${a1.tokens_in}`);
      const requestsOfRound1 = stub.requests.length;

      const two = await at.sb.json<TaskJson>(["assign", "w1", "write the second file"]);
      await at.sb.ok(["wait", "w1", "--timeout", "120"]);
      assert.equal((await getTask(at.t, two.id))?.state, "completed");
      const a2 = await resolveAgent(at.t, "w1");
      assert.equal(a2.session_id, a1.session_id, "same session");
      // Round 2's first request carries round 1's conversation: codex resumed it.
      const resumed = JSON.stringify(stub.requests[requestsOfRound1].input);
      assert.ok(resumed.includes(one.id), "round 1's task is in round 2's context");
      assert.ok(resumed.includes(two.id));
      const log = (await at.sb.ok(["logs", "w1"])).stdout;
      assert.match(log, new RegExp(`^\\[codex session ${a1.session_id}\\]$`, "m"));
      assert.match(log, /^Stub: task done \(request \d+\)\.$/m);
    } finally {
      await at.cleanup();
      await stub.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    `real codex: a 401 from the model service puts the agent in error with codex's message${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startStub({ status: 401 });
    const home = await codexHome(stub.url);
    const at = await AgentTown.create();
    try {
      const failed = await refusedRound(at, "codex", { CODEX_HOME: home });
      assert.match(
        failed.message,
        /codex: unexpected status 401 Unauthorized: Incorrect API key provided/,
      );
      assert.equal(stub.requests.length, 1, "no retries");
    } finally {
      await at.cleanup();
      await stub.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
