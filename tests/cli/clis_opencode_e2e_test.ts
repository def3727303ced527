/**
 * The real opencode (pinned, installed by scripts/env.sh tt_ensure_clis) as a tt agent with the
 * `opencode` preset, against tests/fixtures/stub_anthropic.ts as a custom provider (its config in
 * OPENCODE_CONFIG_CONTENT: npm "@ai-sdk/anthropic", options.baseURL; OPENCODE_DISABLE_MODELS_FETCH
 * so it does not reach models.dev): it completes a task through `tt` with its bash tool, tt reads
 * its JSON events (session id, token usage), a second round resumes the session (`--session`),
 * and a provider answering 401 puts the agent in `error` with opencode's own words. Skipped,
 * saying so, when opencode is not installed.
 */
import assert from "node:assert/strict";
import { AgentTown } from "../agent_helpers.ts";
import { startStub } from "../fixtures/stub_anthropic.ts";
import { refusedRound, skipReason, twoRounds } from "../fixtures/clis/e2e.ts";

const WHY = skipReason("tests/cli/clis_opencode_e2e_test.ts", "opencode");
const SKIP = WHY ? ` (skipped: ${WHY})` : "";

function opencodeEnv(stubUrl: string): Record<string, string> {
  const config = {
    provider: {
      stub: {
        npm: "@ai-sdk/anthropic",
        name: "stub",
        options: { baseURL: `${stubUrl}/v1`, apiKey: "test" },
        models: { "stub-model": { name: "stub model", tool_call: true } },
      },
    },
    model: "stub/stub-model",
  };
  return {
    OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
    OPENCODE_DISABLE_MODELS_FETCH: "true",
    OPENCODE_DISABLE_AUTOUPDATE: "true",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "true",
  };
}

Deno.test({
  name: `real opencode: a task end to end, the second round resumes the session${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startStub();
    const at = await AgentTown.create();
    try {
      const r = await twoRounds(at, "opencode", opencodeEnv(stub.url), stub);
      assert.match(r.first.session_id!, /^ses_[A-Za-z0-9]+$/);
      // Every step_finish's tokens: the stub's 1000+n input and 20 output per answer.
      assert.ok(r.first.tokens_in > 2000, `tokens in: ${r.first.tokens_in}`);
      assert.ok(r.first.tokens_out >= 40, `tokens out: ${r.first.tokens_out}`);
      assert.match(r.log, /^→ bash \(completed\)$/m);
      assert.match(r.log, /^Stub: task done \(request \d+\)\.$/m);
      assert.match(r.log, /^\[step done: \d+ in \/ 20 out tokens, \$0\.0000\]$/m);
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});

Deno.test({
  name:
    `real opencode: a 401 from its provider puts the agent in error with opencode's words${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startStub({ status: 401 });
    const at = await AgentTown.create();
    try {
      const failed = await refusedRound(at, "opencode", opencodeEnv(stub.url));
      assert.match(failed.message, /opencode: .*invalid x-api-key/);
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});
