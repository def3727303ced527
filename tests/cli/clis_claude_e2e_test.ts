/**
 * The real claude (pinned, installed by scripts/env.sh tt_ensure_clis) as a tt agent with the
 * `claude` preset, against a stub of the Anthropic Messages API on 127.0.0.1
 * (tests/fixtures/stub_anthropic.ts, reached through ANTHROPIC_BASE_URL with ANTHROPIC_API_KEY=test):
 * it completes a task end to end through `tt` (the stub's Bash tool call runs `tt task complete`),
 * tt reads its stream-json (session id, usage, cost, final text), a second round resumes the session
 * (`--resume`), and a stub answering 401 puts the agent in `error` at once with claude's own words.
 *
 * As root, claude refuses `--dangerously-skip-permissions` unless IS_SANDBOX=1, which tt sets only
 * inside its agent sandbox: so the rounds run in the sandbox (`[agent] sandbox = "on"`, the stub's
 * address in `allow_hosts`) wherever it works, and as a non-root user without it otherwise.
 * Skipped, saying so, when claude is not installed or neither is possible.
 */
import assert from "node:assert/strict";
import { AgentTown } from "../agent_helpers.ts";
import { probeSandbox } from "../../src/supervisor/sandbox/mod.ts";
import { startStub } from "../fixtures/stub_anthropic.ts";
import { refusedRound, skipReason, twoRounds } from "../fixtures/clis/e2e.ts";

const probe = await probeSandbox();
const SANDBOXED = probe.ok;
const WHY = skipReason(
  "tests/cli/clis_claude_e2e_test.ts",
  "claude",
  !SANDBOXED && Deno.uid() === 0
    ? `running as root without tt's agent sandbox (${probe.reason}): claude refuses --dangerously-skip-permissions`
    : "",
);
const SKIP = WHY ? ` (skipped: ${WHY})` : "";

/**
 * Where the stub listens. Inside the sandbox the CLI reaches the network only through the
 * sandbox's proxy, and NO_PROXY there names 127.0.0.1 (a direct connection, which fails in the
 * sandbox's own network namespace): any other loopback address goes through the proxy, which lets
 * it through because it is in `allow_hosts`.
 */
const STUB_HOST = SANDBOXED ? "127.0.0.2" : "127.0.0.1";

/** A town whose agents run claude against the stub (in the sandbox where there is one). */
async function claudeTown(): Promise<AgentTown> {
  return await AgentTown.create(
    SANDBOXED ? `sandbox = "on"\nallow_hosts = ["${STUB_HOST}"]` : "",
  );
}

function claudeEnv(stubUrl: string): Record<string, string> {
  return {
    ANTHROPIC_BASE_URL: stubUrl,
    ANTHROPIC_API_KEY: "test",
    // No update check, telemetry or error reports: this machine reaches no other host.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  };
}

Deno.test({
  name: `real claude: a task end to end, the second round resumes the session${SKIP}`,
  ignore: !!WHY,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stub = startStub({ hostname: STUB_HOST });
    const at = await claudeTown();
    try {
      const r = await twoRounds(at, "claude", claudeEnv(stub.url), stub);
      const a1 = r.first;
      assert.match(a1.session_id!, /^[0-9a-f-]{36}$/, "claude's session id");
      // The stub's two answers: 1001 + 1002 input tokens, 20 output each (claude's result sums).
      assert.ok(a1.tokens_in >= 2003, `tokens in: ${a1.tokens_in}`);
      assert.ok(a1.tokens_out >= 40, `tokens out: ${a1.tokens_out}`);
      assert.ok(a1.cost_usd > 0, `claude's total_cost_usd: ${a1.cost_usd}`);
      assert.ok(r.round2 >= 2, `requests: ${stub.paths.join(", ")}`);
      const log = r.log;
      assert.match(log, new RegExp(`^\\[claude session ${a1.session_id}, model [^\\]]+\\]$`, "m"));
      assert.match(log, /^→ Bash \{"command":"tt task complete /m);
      assert.match(log, /^Stub: task done \(request \d+\)\.$/m);
      assert.match(log, /^\[result: done, \$\d+\.\d{4}, \d+ in \/ \d+ out tokens\]$/m);
      if (SANDBOXED) {
        const deep = await at.sb.ok(["status", "--deep"]);
        assert.match(deep.stdout, /, sandboxed/);
      }
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});

Deno.test({
  name:
    `real claude: a 401 from the model service puts the agent in error with claude's words${SKIP}`,
  ignore: !!WHY,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stub = startStub({ status: 401, hostname: STUB_HOST });
    const at = await claudeTown();
    try {
      const failed = await refusedRound(at, "claude", claudeEnv(stub.url));
      // claude itself would retry the 401 ten times over minutes; tt ends the round at the first.
      assert.match(failed.message, /claude: API error 401 authentication_failed/);
      assert.equal(stub.requests.length, 1, `no retries: ${stub.paths.join(", ")}`);
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});
