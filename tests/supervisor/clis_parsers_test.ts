/**
 * The CLI families' output parsers, on the fake CLIs of tests/fixtures/clis (which print each
 * family's JSON shapes) and on output captured from the real CLIs without credentials.
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers.ts";
import { FAMILIES, familyOf } from "../../src/supervisor/clis/mod.ts";
import { LineFeed } from "../../src/supervisor/clis/feed.ts";
import type { CliOutcome } from "../../src/supervisor/clis/types.ts";

const FIXTURES = `${ROOT}/tests/fixtures/clis`;

/** Runs fake `cli` on a prompt asking for `mode` and parses its output with its family. */
async function fake(cli: string, mode: string): Promise<{ code: number; out: CliOutcome }> {
  const dir = await Deno.makeTempDir();
  try {
    const promptFile = `${dir}/prompt.md`;
    await Deno.writeTextFile(promptFile, `Round 1. fake:${mode}\n`);
    const args = cli === "auggie" ? ["--instruction-file", promptFile] : [];
    const child = new Deno.Command(`${FIXTURES}/${cli}`, {
      args,
      env: { TT_PROMPT_FILE: promptFile, FAKE_RESET_SECS: "120" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(`Round 1. fake:${mode}\n`)).catch(() => {});
    await w.close().catch(() => {});
    const r = await child.output();
    const feed = new LineFeed(FAMILIES[cli].parser());
    feed.push(r.stdout, "stdout");
    feed.push(r.stderr, "stderr");
    return { code: r.code, out: feed.finish(r.code) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const JSON_CLIS = ["claude", "codex", "gemini", "opencode", "copilot", "auggie"];

for (const cli of JSON_CLIS) {
  Deno.test(`${cli}: success gives the final text and the session id`, async () => {
    const { code, out } = await fake(cli, "ok");
    assert.equal(code, 0);
    assert.equal(out.error, undefined);
    assert.ok(out.text.length > 0, "final text");
    assert.match(out.sessionId ?? "", /^[0-9a-f-]{36}$/);
  });

  Deno.test(`${cli}: no login is an auth error quoting the CLI`, async () => {
    const { code, out } = await fake(cli, "auth");
    assert.notEqual(code, 0);
    assert.equal(out.error?.kind, "auth", JSON.stringify(out.error));
    assert.ok((out.error?.message.length ?? 0) > 10);
  });
}

Deno.test("token usage and cost, where each CLI reports them", async () => {
  const claude = (await fake("claude", "ok")).out;
  assert.deepEqual(claude.usage, { input: 1200, output: 50, cached: 300 });
  assert.equal(claude.costUsd, 0.0123);
  assert.equal(claude.text, "All tasks completed.");
  const codex = (await fake("codex", "ok")).out;
  assert.deepEqual(codex.usage, { input: 2400, output: 80, cached: 1200 });
  assert.equal(codex.text, "Done: the task is complete.");
  const gemini = (await fake("gemini", "ok")).out;
  assert.deepEqual(gemini.usage, { input: 1500, output: 100, cached: 700 });
  assert.equal(gemini.text, "Task completed.", "delta pieces joined");
  const opencode = (await fake("opencode", "ok")).out;
  assert.deepEqual(opencode.usage, { input: 900, output: 60, cached: 100 });
  assert.equal(opencode.costUsd, 0.0042);
});

for (const cli of ["claude", "codex", "gemini"]) {
  Deno.test(`${cli}: a usage limit carries its reset time`, async () => {
    const before = Date.now();
    const { out } = await fake(cli, "limit");
    assert.equal(out.error?.kind, "usage_limit", JSON.stringify(out.error));
    const reset = Date.parse(out.error?.resetAt ?? "");
    assert.ok(reset >= before + 119_000 && reset <= Date.now() + 121_000, out.error?.resetAt);
  });
}

Deno.test("claude: permission denials are listed, and are no error", async () => {
  const { code, out } = await fake("claude", "deny");
  assert.equal(code, 0);
  assert.equal(out.error, undefined);
  assert.deepEqual(out.permissionDenials, ['Bash {"command":"rm -rf build"}']);
  assert.match(out.text, /May I\?/);
});

Deno.test("codex: Reconnecting… lines are no progress, and name a network error", () => {
  const p = FAMILIES.codex.parser();
  assert.equal(p.line('{"type":"thread.started","thread_id":"t-1"}', "stdout"), true);
  const retry =
    '{"type":"error","message":"Reconnecting... 2/5 (stream disconnected before completion: failed to lookup address information: Name does not resolve)"}';
  assert.equal(p.line(retry, "stdout"), false);
  const out = p.finish(null);
  assert.equal(out.error?.kind, "network");
  assert.equal(out.sessionId, "t-1");
});

// Lines captured from the real CLIs (versions pinned in scripts/env.sh), without credentials.
Deno.test("real claude 2.1.328 output without a login is an auth error", () => {
  const p = FAMILIES.claude.parser();
  for (
    const l of [
      '{"type":"system","subtype":"init","cwd":"/tmp/x","session_id":"02928d6a-b914-4f59-9247-e8f7c9cccbd4","tools":["Bash"],"model":"claude-opus-5-5","permissionMode":"bypassPermissions","apiKeySource":"none"}',
      '{"type":"assistant","message":{"id":"22a2","model":"<synthetic>","role":"assistant","stop_reason":"stop_sequence","type":"message","usage":{"input_tokens":0,"output_tokens":0},"content":[{"type":"text","text":"Not logged in · Please run /login"}]},"parent_tool_use_id":null,"session_id":"02928d6a-b914-4f59-9247-e8f7c9cccbd4","error":"authentication_failed","is_api_error_message":true}',
      '{"duration_api_ms":0,"stop_reason":"stop_sequence","session_id":"02928d6a-b914-4f59-9247-e8f7c9cccbd4","total_cost_usd":0,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0},"permission_denials":[],"terminal_reason":"api_error","is_error":true,"num_turns":1,"subtype":"success","api_error_status":null,"result":"Not logged in · Please run /login","type":"result","duration_ms":167}',
    ]
  ) p.line(l, "stdout");
  const out = p.finish(1);
  assert.deepEqual(out.error, { kind: "auth", message: "Not logged in · Please run /login" });
  assert.equal(out.sessionId, "02928d6a-b914-4f59-9247-e8f7c9cccbd4");
});

Deno.test("real claude as root: the refusal is a setup error that says what to do", () => {
  const p = FAMILIES.claude.parser();
  p.line(
    "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons",
    "stderr",
  );
  const out = p.finish(1);
  assert.equal(out.error?.kind, "setup");
  assert.match(out.error!.message, /root\/sudo.*non-root user/);
});

Deno.test("real gemini 0.61 without an auth method (exit 41) and untrusted (exit 55)", () => {
  const p = FAMILIES.gemini.parser();
  p.line("YOLO mode is enabled. All tool calls will be automatically approved.", "stderr");
  p.line(
    "Please set an Auth method in your /root/.gemini/settings.json or specify one of the following environment variables before running: GEMINI_API_KEY, GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA",
    "stderr",
  );
  assert.equal(p.finish(41).error?.kind, "auth");
  const q = FAMILIES.gemini.parser();
  q.line("Gemini CLI is not running in a trusted directory.", "stderr");
  assert.equal(q.finish(55).error?.kind, "setup");
});

Deno.test("real copilot 1.0 and auggie 0.36 without a login", () => {
  const c = FAMILIES.copilot.parser();
  c.line("Error: No authentication information found.", "stderr");
  c.line(
    "  • Set the COPILOT_GITHUB_TOKEN, GH_TOKEN, or GITHUB_TOKEN environment variable",
    "stderr",
  );
  assert.equal(c.finish(1).error?.kind, "auth");
  const a = FAMILIES.auggie.parser();
  a.line(
    "❌ No auth provided. Please log in with `auggie login` or set the AUGMENT_SESSION_AUTH environment variable.",
    "stderr",
  );
  assert.equal(a.finish(1).error?.kind, "auth");
});

Deno.test("plain text CLIs: the output's tail is the final text; JSON is just text there", () => {
  const p = FAMILIES.aider.parser();
  p.line('{"type":"result","result":"not parsed"}', "stdout");
  p.line("Applied edit to main.py", "stdout");
  const out = p.finish(0);
  assert.equal(out.text, '{"type":"result","result":"not parsed"}\nApplied edit to main.py');
  assert.equal(out.error, undefined);
});

Deno.test("LineFeed joins lines split across chunks and multi-byte characters", () => {
  const seen: string[] = [];
  const feed = new LineFeed({
    line: (l) => (seen.push(l), true),
    finish: () => ({ text: "", permissionDenials: [] }),
  });
  const bytes = new TextEncoder().encode("héllo\r\nwor");
  feed.push(bytes.subarray(0, 2), "stdout"); // splits the é
  feed.push(bytes.subarray(2), "stdout");
  feed.push(new TextEncoder().encode("ld\n"), "stdout");
  feed.push(new TextEncoder().encode("tail"), "stderr");
  feed.finish(0);
  assert.deepEqual(seen, ["héllo", "world", "tail"]);
});

Deno.test("familyOf reads the program name, after env assignments and a path", () => {
  assert.equal(familyOf("claude --print").name, "claude");
  assert.equal(familyOf("FOO=1 /usr/local/bin/codex exec -").name, "codex");
  assert.equal(familyOf("sh ./my-agent.sh").name, "plain");
  assert.equal(familyOf("plain").name, "plain");
  assert.equal(familyOf("").name, "plain");
});

// The attacker's tests: a CLI's output is data, and it decides the next round's command line.
Deno.test("an option-like or odd session id is not kept (it would go into the resume command)", () => {
  for (const evil of ["--help", "-x", "a b", "x'; touch /tmp/p; '", "", "a".repeat(200)]) {
    const feed = new LineFeed(FAMILIES.codex.parser());
    feed.push(
      new TextEncoder().encode(`${JSON.stringify({ type: "thread.started", thread_id: evil })}\n`),
      "stdout",
    );
    assert.equal(feed.finish(0).sessionId, undefined, evil);
  }
  const ok = new LineFeed(FAMILIES.opencode.parser());
  ok.push(
    new TextEncoder().encode('{"type":"step_start","sessionID":"ses_3aF9:x-1.2"}\n'),
    "stdout",
  );
  assert.equal(ok.finish(0).sessionId, "ses_3aF9:x-1.2");
});

Deno.test("terminal escapes and control characters never reach a reason", () => {
  const p = FAMILIES.claude.parser();
  p.line(
    JSON.stringify({
      type: "result",
      is_error: true,
      result:
        "Not logged in\u001b]0;owned\u0007\u001b[31m red\u001b[0m\u0000\u0008 · Please run /login",
    }),
    "stdout",
  );
  const err = p.finish(1).error!;
  assert.equal(err.kind, "auth");
  assert.equal(err.message, "Not logged in red · Please run /login");
});

Deno.test("wrongly typed fields are ignored, not trusted; a 5 MiB line without newline stays bounded", () => {
  const p = FAMILIES.claude.parser();
  p.line(
    '{"type":"result","result":42,"total_cost_usd":"1e9","usage":"lots","is_error":"yes"}',
    "stdout",
  );
  const out = p.finish(0);
  assert.equal(out.costUsd, undefined);
  assert.equal(out.usage, undefined);
  assert.equal(out.error, undefined);
  let longest = 0;
  const feed = new LineFeed({
    line: (l) => (longest = Math.max(longest, l.length), true),
    finish: () => ({ text: "", permissionDenials: [] }),
  });
  const chunk = new TextEncoder().encode("y".repeat(64 * 1024));
  for (let i = 0; i < 80; i++) feed.push(chunk, "stdout");
  feed.push(new TextEncoder().encode("\nend\n"), "stdout");
  feed.finish(0);
  assert.ok(longest > 0 && longest <= (1 << 20) + 64 * 1024, `longest line ${longest}`);
});
