/**
 * The real agent CLIs (from npm, no credentials) start inside the sandbox and get as far as their
 * own login or network error: proof that the binds and hosts they need are there. Installed by
 * the clis helper (scripts/env.sh tt_ensure_clis) into $TT_CLIS_BIN or $TT_TOOLS_DIR/clis.
 */
import { match as assertMatch, ok as assert } from "node:assert/strict";
import { CLI_PRESETS } from "../../src/core/presets.ts";
import { report, ROOT } from "../helpers.ts";
import { makeTown, noSandbox } from "./fixture.ts";

const BIN = Deno.env.get("TT_CLIS_BIN") ??
  `${Deno.env.get("TT_TOOLS_DIR") ?? `${ROOT}/.tools`}/clis/node_modules/.bin`;

/** What each CLI says when it got that far: its own login error, or its API host unreachable. */
const REACHED: Record<string, { re: RegExp; extra?: string }> = {
  claude: { re: /Not logged in|Invalid API key|Please run \/login/ },
  gemini: { re: /Please set an Auth method|GEMINI_API_KEY/ },
  // This machine reaches no model API: the proxy let the CLI through and the upstream failed.
  codex: { re: /HTTP CONNECT failed with status 502|Reconnecting/ },
  opencode: {
    re: /Bad Gateway|APICallError|ConnectionRefused|Unable to connect/,
    extra: " --print-logs",
  },
};

/** Errors that would mean the sandbox, not the CLI, stopped it. */
const SANDBOX_ERRORS = /EROFS|read-only file system|EACCES|permission denied|ENOENT: no such file/i;

const present = Object.keys(REACHED).filter((c) => {
  try {
    Deno.statSync(`${BIN}/${c}`);
    return true;
  } catch {
    report(`tests/sandbox/clis_test.ts: ${c} skipped: not installed in ${BIN}`);
    return false;
  }
});

Deno.test({
  name: `sandbox: real CLIs reach their own login/network error (${present.join(", ") || "none"})`,
  ignore: noSandbox || present.length === 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t = await makeTown();
    try {
      const results = await Promise.all(present.map(async (cli) => {
        const cmd = CLI_PRESETS[cli].replaceAll("{prompt_file}", '"$TMPDIR/prompt.md"') +
          (REACHED[cli].extra ?? "");
        // codex and opencode retry a failing API for minutes: their first error is enough.
        const r = await t.run(
          `export PATH=${BIN}:$PATH GEMINI_CLI_TRUST_WORKSPACE=true; ` +
            `echo "say hi" > "$TMPDIR/prompt.md"; ` +
            `timeout -k 2 30 ${cmd} < "$TMPDIR/prompt.md"; echo "exit=$?"`,
          { cli },
        );
        return { cli, out: r.out };
      }));
      for (const { cli, out } of results) {
        assertMatch(out, REACHED[cli].re, `${cli}:\n${out.slice(-2000)}`);
        assert(!SANDBOX_ERRORS.test(out), `${cli} hit the sandbox:\n${out.slice(-2000)}`);
      }
    } finally {
      await t.close();
    }
  },
});
