/** Error kinds and usage-limit reset times from CLIs' own words. */
import assert from "node:assert/strict";
import { errorFrom, kindOf, resetTime } from "../../src/supervisor/clis/classify.ts";

const NOW = new Date("2026-12-01T10:00:00Z");

Deno.test("messages of real CLIs are classified", () => {
  const cases: [string, string | undefined][] = [
    ["Not logged in · Please run /login", "auth"],
    ["unexpected status 401 Unauthorized: Missing bearer authentication in header", "auth"],
    ["Invalid API key · Fix external API key", "auth"],
    ["You've hit your usage limit. Try again Aug 18.", "usage_limit"],
    ["Claude AI usage limit reached|1796126400", "usage_limit"],
    ["Reconnecting... 3/5 (stream disconnected before completion)", "network"],
    ["--dangerously-skip-permissions cannot be used with root/sudo privileges", "setup"],
    ["Gemini CLI is not running in a trusted directory. use `--skip-trust`", "setup"],
    ["Applied edit to main.py", undefined],
  ];
  for (const [m, kind] of cases) assert.equal(kindOf(m), kind, m);
});

Deno.test("reset times: relative, clock, dated, epoch, ISO", () => {
  const at = (m: string) => resetTime(m, NOW)?.toISOString();
  assert.equal(at("try again in 3 days 6 hours 57 minutes."), "2026-12-04T16:57:00.000Z");
  assert.equal(at("Your quota will reset after 90s."), "2026-12-01T10:01:30.000Z");
  // gemini's wording for a 429
  assert.equal(
    at("You have exhausted your capacity on this model. Your quota will reset after 5h30m52s."),
    "2026-12-01T15:30:52.000Z",
  );
  assert.equal(at("Claude AI usage limit reached|1796126400"), "2026-12-01T12:00:00.000Z");
  assert.equal(at("limit resets at 2026-12-01T13:30:00Z"), "2026-12-01T13:30:00.000Z");
  // A wall-clock time in a named zone: the next one after now.
  assert.equal(at("You've hit your limit · resets 3pm (Europe/Paris)"), "2026-12-01T14:00:00.000Z");
  assert.equal(at("resets 9am (UTC)"), "2026-12-02T09:00:00.000Z", "tomorrow when past");
  const local = resetTime("or try again at 3:28 PM.", NOW)!;
  assert.equal(local.getHours(), 15);
  assert.equal(local.getMinutes(), 28);
  assert.ok(local > NOW && local.getTime() - NOW.getTime() <= 86_400_000);
  const dated = resetTime("try again at Aug 8th, 2027 12:30 PM", NOW)!;
  assert.deepEqual([dated.getFullYear(), dated.getMonth(), dated.getDate(), dated.getHours()], [
    2027,
    7,
    8,
    12,
  ]);
  assert.equal(at("You've hit your usage limit. Limits reset every 5h and every week."), undefined);
});

Deno.test("errorFrom keeps one line and adds the reset of a usage limit", () => {
  const e = errorFrom("You've hit your usage limit.\n  try again in 5 minutes", "cli", NOW);
  assert.deepEqual(e, {
    kind: "usage_limit",
    message: "You've hit your usage limit. try again in 5 minutes",
    resetAt: "2026-12-01T10:05:00.000Z",
  });
  assert.equal(errorFrom("boom").kind, "cli");
});

Deno.test("the resume command quotes the session id; prompts never become arguments", async () => {
  const { roundCommand } = await import("../../src/supervisor/cli.ts");
  const { PRESETS } = await import("../../src/core/presets.ts");
  const r = roundCommand(PRESETS.claude, "/t/p'x.md", "abc'; rm -rf ~; '");
  assert.equal(r.resumed, true);
  assert.equal(r.stdin, true);
  assert.ok(r.command.endsWith(`--resume 'abc'\\''; rm -rf ~; '\\'''`), r.command);
  const a = roundCommand(PRESETS.auggie, "/t/p'x.md");
  assert.equal(a.stdin, false);
  assert.ok(a.command.includes(`--instruction-file '/t/p'\\''x.md'`), a.command);
  const c = roundCommand(PRESETS.copilot, "/t/p.md");
  assert.equal(c.stdin, false, "copilot reads $TT_PROMPT_FILE");
  assert.equal(roundCommand(PRESETS.aider, "/t/p.md", "s1").resumed, false, "no resume command");
});
