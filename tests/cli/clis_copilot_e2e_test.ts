/**
 * The real copilot (pinned, installed by scripts/env.sh tt_ensure_clis) as a tt agent with the
 * `copilot` preset, against tests/fixtures/stub_anthropic.ts as its BYOK model provider
 * (COPILOT_PROVIDER_TYPE=anthropic, COPILOT_PROVIDER_BASE_URL, COPILOT_OFFLINE=true: no GitHub
 * login, no other network): it reads the round's prompt file with its bash tool, completes the
 * task through `tt`, a second round resumes the session (`--resume`), and a provider answering 401
 * puts the agent in `error` with copilot's own words. Skipped, saying so, when copilot is not
 * installed.
 */
import assert from "node:assert/strict";
import { AgentTown } from "../agent_helpers.ts";
import { startStub } from "../fixtures/stub_anthropic.ts";
import { refusedRound, skipReason, twoRounds } from "../fixtures/clis/e2e.ts";

const WHY = skipReason("tests/cli/clis_copilot_e2e_test.ts", "copilot");
const SKIP = WHY ? ` (skipped: ${WHY})` : "";
const PKG_CACHE = `${Deno.env.get("TMPDIR") ?? "/tmp"}/tt-test-copilot-pkg-${Deno.uid() ?? "u"}`;

function copilotEnv(stubUrl: string): Record<string, string> {
  return {
    COPILOT_OFFLINE: "true",
    COPILOT_PROVIDER_TYPE: "anthropic",
    COPILOT_PROVIDER_BASE_URL: stubUrl,
    COPILOT_MODEL: "claude-sonnet-4.5",
    // The pinned binary unpacks its JavaScript (~230 MB, ~5 s) into this cache on first run: one
    // per user across runs instead of one in every test's fresh HOME.
    COPILOT_PKG_CACHE_HOME: PKG_CACHE,
  };
}

Deno.test({
  name: `real copilot: a task end to end, the second round resumes the session${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startStub();
    const at = await AgentTown.create();
    try {
      const r = await twoRounds(at, "copilot", copilotEnv(stub.url), stub);
      const a1 = r.first;
      assert.match(a1.session_id!, /^[0-9a-f-]{36}$/, "copilot's session id");
      assert.equal(r.round2, 3, "read the prompt file, complete the task, final text");
      const log = r.log;
      assert.match(
        log,
        /^→ bash \{"command":"cat [^"]+","description":"Read the instructions"\}$/m,
      );
      assert.match(log, /^→ bash \{"command":"tt task complete /m);
      assert.match(log, /^Stub: task done \(request \d+\)\.$/m);
      assert.match(log, new RegExp(`^\\[copilot session ${a1.session_id}: exit 0\\]$`, "m"));
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});

Deno.test({
  name:
    `real copilot: a 401 from its model provider puts the agent in error with copilot's words${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startStub({ status: 401 });
    const at = await AgentTown.create();
    try {
      const failed = await refusedRound(at, "copilot", copilotEnv(stub.url));
      assert.match(
        failed.message,
        /copilot: Authentication failed with provider at http:\/\/127\.0\.0\.1:\d+ \(HTTP 401\)/,
      );
      // copilot's own two retries within its one round; tt starts no second round.
      assert.ok(stub.requests.length <= 3, `requests: ${stub.requests.length}`);
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});
