/**
 * copilot's JSON stream as the real copilot 1.0.102 printed it (tests/fixtures/clis/copilot-*.jsonl,
 * captured against tests/fixtures/stub_anthropic.ts through its BYOK provider settings): a round
 * with two shell calls and a final message, and a provider answering 401 (copilot retries it
 * twice, then `session.error` with errorType "authentication").
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers.ts";
import { FAMILIES } from "../../src/supervisor/clis/mod.ts";
import { LineFeed } from "../../src/supervisor/clis/feed.ts";

const dir = `${ROOT}/tests/fixtures/clis`;
const lines = async (name: string) =>
  (await Deno.readTextFile(`${dir}/${name}`)).split("\n").filter(Boolean);

Deno.test("real copilot round: final text and the session id of the result event", async () => {
  const raw = await lines("copilot-1.0.102-round.jsonl");
  const p = FAMILIES.copilot.parser();
  for (const l of raw) p.line(l, "stdout");
  const out = p.finish(0);
  assert.equal(out.error, undefined);
  assert.equal(out.text, "Stub: task done (request 3).");
  assert.equal(out.sessionId, "faf685b1-2d92-4644-9b11-89268f0a1e14");
  assert.equal(out.usage, undefined, "copilot reports no token counts");
  const shown = raw.map((l) => FAMILIES.copilot.render(l)).filter(Boolean);
  assert.deepEqual(shown, [
    '→ bash {"command":"cat /tmp/w/prompt.md","description":"Read the instructions"}',
    '→ bash {"command":"tt task complete 11111111-2222-3333-4444-555555555555 --result \\"done by the CLI against the stub\\"","description":"Report the task as done"}',
    "Stub: task done (request 3).",
    "[copilot session faf685b1-2d92-4644-9b11-89268f0a1e14: exit 0]",
  ]);
});

Deno.test("real copilot and a provider refusing its key: an auth error in copilot's words; retries are no progress", async () => {
  const raw = await lines("copilot-1.0.102-401.jsonl");
  const feed = new LineFeed(FAMILIES.copilot.parser());
  const progress = raw.map((l) => feed.push(new TextEncoder().encode(`${l}\n`), "stdout"));
  const retries = raw.map((l, i) => [JSON.parse(l).type, progress[i]] as const)
    .filter(([type]) => type === "assistant.turn_retry" || type === "model.call_failure");
  assert.equal(retries.length, 5);
  assert.ok(retries.every(([, p]) => p === false), JSON.stringify(retries));
  const out = feed.finish(1);
  assert.equal(out.error?.kind, "auth");
  assert.match(
    out.error!.message,
    /^Authentication failed with provider at http:\/\/127\.0\.0\.1:\d+ \(HTTP 401\)\. Check your COPILOT_PROVIDER_API_KEY/,
  );
  assert.equal(out.sessionId, "f32798c8-8788-4902-94ce-fcb68c1edf49");
});

Deno.test("copilot: a session.error naming a rate limit is a usage limit; odd fields are data", () => {
  const p = FAMILIES.copilot.parser();
  p.line(
    '{"type":"session.error","data":{"errorType":"rate_limit","message":"Rate limit exceeded, try again in 2 minutes","statusCode":"429"}}',
    "stdout",
  );
  p.line('{"type":"result","sessionId":["not","a","string"],"exitCode":"x"}', "stdout");
  const out = p.finish(1);
  assert.equal(out.error?.kind, "usage_limit");
  assert.ok(out.error?.resetAt, "reset time from the message");
  assert.equal(out.sessionId, undefined);
});
