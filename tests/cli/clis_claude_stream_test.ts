/**
 * claude's stream-json as the real claude 2.1.328 printed it against tests/fixtures/stub_anthropic.ts
 * (a Bash tool call, its result, the final text and the result event), and its `api_retry` events:
 * a retry is no progress, a refused key (401) ends the round at once as an auth error, through the
 * same LineFeed the supervisor uses.
 */
import assert from "node:assert/strict";
import { FAMILIES } from "../../src/supervisor/clis/mod.ts";
import { LineFeed } from "../../src/supervisor/clis/feed.ts";

const SID = "f2f79f45-f137-458e-a459-c8264b113bc5";
const enc = (lines: string[]) => new TextEncoder().encode(lines.map((l) => `${l}\n`).join(""));

/** Captured from the real claude 2.1.328 (fields it prints beyond these are left out). */
const ROUND = [
  `{"type":"system","subtype":"init","cwd":"/tmp/w","session_id":"${SID}","tools":["Task","Bash"],"mcp_servers":[],"model":"claude-opus-5-5","permissionMode":"bypassPermissions","apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.328","analytics_disabled":true}`,
  `{"type":"assistant","message":{"id":"msg_stub_1","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_stub_1","name":"Bash","input":{"command":"tt task complete 1111 --result \\"done\\"","description":"Report the task as done"}}],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1001,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":100},"context_management":null},"parent_tool_use_id":null,"session_id":"${SID}"}`,
  `{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"Completed task 1111","is_error":false,"tool_use_id":"toolu_stub_1"}]},"parent_tool_use_id":null,"session_id":"${SID}"}`,
  `{"type":"assistant","message":{"id":"msg_stub_2","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"text","text":"Stub: task done (request 2)."}],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1002,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":100}},"parent_tool_use_id":null,"session_id":"${SID}"}`,
  `{"duration_api_ms":109,"stop_reason":"end_turn","session_id":"${SID}","total_cost_usd":0.008852,"usage":{"input_tokens":2003,"cache_creation_input_tokens":0,"cache_read_input_tokens":200,"output_tokens":40,"service_tier":"standard"},"modelUsage":{"claude-opus-5-5":{"inputTokens":2003,"outputTokens":40,"costUSD":0.008852}},"permission_denials":[],"terminal_reason":"completed","is_error":false,"num_turns":2,"subtype":"success","api_error_status":null,"result":"Stub: task done (request 2).","type":"result","duration_ms":375}`,
];

const retry = (attempt: number, status: number | null, error: string) =>
  `{"type":"system","subtype":"api_retry","attempt":${attempt},"max_retries":10,"retry_delay_ms":573,"error_status":${status},"error":"${error}","session_id":"${SID}","uuid":"03d09291-aca4-47f7-bf95-d1317bc70a09"}`;

Deno.test("real claude round: final text, session id, usage with cache, cost", () => {
  const feed = new LineFeed(FAMILIES.claude.parser());
  assert.equal(feed.push(enc(ROUND), "stdout"), true);
  const out = feed.finish(0);
  assert.equal(out.error, undefined);
  assert.equal(out.text, "Stub: task done (request 2).");
  assert.equal(out.sessionId, SID);
  assert.deepEqual(out.usage, { input: 2003, output: 40, cached: 200 });
  assert.equal(out.costUsd, 0.008852);
  const shown = ROUND.map((l) => FAMILIES.claude.render(l)).filter(Boolean);
  assert.deepEqual(shown, [
    `[claude session ${SID}, model claude-opus-5-5]`,
    '→ Bash {"command":"tt task complete 1111 --result \\"done\\"","description":"Report the task as done"}',
    "Stub: task done (request 2).",
    "[result: done, $0.0089, 2003 in / 40 out tokens]",
  ]);
});

Deno.test("claude api_retry: an unreachable API is no progress; an API asking to wait is; neither is fatal", () => {
  const feed = new LineFeed(FAMILIES.claude.parser());
  assert.equal(feed.push(enc([ROUND[0]]), "stdout"), true);
  // What claude printed in the sandbox when its API host refused the connection.
  assert.equal(
    feed.push(enc([retry(1, null, "unknown"), retry(2, null, "unknown")]), "stdout"),
    false,
  );
  assert.equal(feed.push(enc([retry(3, 529, "server_error")]), "stdout"), true);
  assert.equal(feed.push(enc([retry(4, 429, "rate_limit")]), "stdout"), true);
  const out = feed.finish(null);
  assert.notEqual(out.error?.kind, "auth");
});

Deno.test("claude api_retry of a 401: the round ends at once with an auth error", () => {
  const feed = new LineFeed(FAMILIES.claude.parser());
  feed.push(enc([ROUND[0]]), "stdout");
  assert.equal(feed.push(enc([retry(1, 401, "authentication_failed")]), "stdout"), "end");
  // Ended by a signal: the exit code says nothing, the reported error stays.
  const out = feed.finish(143);
  assert.equal(out.error?.kind, "auth");
  assert.match(
    out.error!.message,
    /^API error 401 authentication_failed \(claude would retry it 10 times/,
  );
  assert.equal(out.sessionId, SID);
});

Deno.test("claude api_retry: an odd error code or status is data, not a crash", () => {
  const feed = new LineFeed(FAMILIES.claude.parser());
  const odd =
    `{"type":"system","subtype":"api_retry","attempt":"x","error_status":"401","error":{"a":1}}`;
  assert.equal(
    feed.push(enc([odd, retry(1, 403, "\\u001b[31mforbidden\\u0007")]), "stdout"),
    "end",
  );
  const out = feed.finish(1);
  assert.equal(out.error?.kind, "auth");
  const controls = [...out.error!.message].filter((c) => c.charCodeAt(0) < 32);
  assert.deepEqual(controls, [], out.error!.message);
});
