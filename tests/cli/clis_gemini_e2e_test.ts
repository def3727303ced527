/**
 * The real gemini (pinned, installed by scripts/env.sh tt_ensure_clis) as a tt agent with the
 * `gemini` preset, against a stub of the Gemini API (tests/fixtures/stub_gemini.ts) through
 * GOOGLE_GEMINI_BASE_URL, with GEMINI_API_KEY=test and `security.auth.selectedType` set to
 * "gemini-api-key" in its settings (with only the base URL it picks its "gateway" auth, which
 * 0.61 then refuses as "Invalid auth method selected."): it completes a task through `tt` with its
 * run_shell_command tool, tt reads its stream-json (session id, token usage), a second round
 * resumes the session (`--resume`), and a stub answering 401 puts the agent in `error`. Skipped,
 * saying so, when gemini is not installed.
 */
import assert from "node:assert/strict";
import { AgentTown } from "../agent_helpers.ts";
import { geminiConversation, startGeminiStub } from "../fixtures/stub_gemini.ts";
import { refusedRound, skipReason, twoRounds } from "../fixtures/clis/e2e.ts";

const WHY = skipReason("tests/cli/clis_gemini_e2e_test.ts", "gemini");
const SKIP = WHY ? ` (skipped: ${WHY})` : "";

/** A town whose operator HOME has gemini's settings choosing API-key auth. */
async function geminiTown(): Promise<AgentTown> {
  const at = await AgentTown.create();
  await Deno.mkdir(`${at.sb.home}/.gemini`, { recursive: true });
  await Deno.writeTextFile(
    `${at.sb.home}/.gemini/settings.json`,
    JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }),
  );
  return at;
}

const geminiEnv = (url: string) => ({ GOOGLE_GEMINI_BASE_URL: url, GEMINI_API_KEY: "test" });

Deno.test({
  name: `real gemini: a task end to end, the second round resumes the session${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startGeminiStub();
    const at = await geminiTown();
    try {
      const r = await twoRounds(at, "gemini", geminiEnv(stub.url), stub, geminiConversation);
      assert.match(r.first.session_id!, /^[0-9a-f-]{36}$/, "gemini's session id");
      // The result's stats: the stub's 1000+n prompt and 20 output tokens per answer.
      assert.ok(r.first.tokens_in > 2000, `tokens in: ${r.first.tokens_in}`);
      assert.ok(r.first.tokens_out >= 40, `tokens out: ${r.first.tokens_out}`);
      assert.match(
        r.log,
        new RegExp(`^\\[gemini session ${r.first.session_id}, model [^\\]]+\\]$`, "m"),
      );
      assert.match(r.log, /^→ run_shell_command \{"command":"tt task complete /m);
      assert.match(r.log, /^Stub: task done \(request \d+\)\.$/m);
      assert.match(r.log, /^\[result: success, \d+ in \/ \d+ out tokens\]$/m);
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});

Deno.test({
  name: `real gemini: a 401 from the model service puts the agent in error${SKIP}`,
  ignore: !!WHY,
  fn: async () => {
    const stub = startGeminiStub({ status: 401 });
    const at = await geminiTown();
    try {
      const failed = await refusedRound(at, "gemini", geminiEnv(stub.url), 150_000);
      assert.match(failed.message, /gemini: .*(API key not valid|401)/);
    } finally {
      await at.cleanup();
      await stub.close();
    }
  },
});
