/**
 * Black-box: agents running the presets' real commands against fake CLIs (tests/fixtures/clis,
 * first on PATH) that print each family's JSON shapes. Checks what tt makes of them: final
 * text, session resumed, tokens, readable logs, and the reaction to each failure.
 */
import assert from "node:assert/strict";
import { AgentTown, waitForEvent } from "../agent_helpers.ts";
import { ROOT } from "../helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { recentEvents } from "../../src/core/events.ts";

type TaskJson = { id: string; state: string };
const FIXTURES = `${ROOT}/tests/fixtures/clis`;

async function fakeTown(settings = "", extraEnv: Record<string, string> = {}) {
  const at = await AgentTown.create(settings);
  const state = await Deno.makeTempDir();
  const env = {
    PATH: `${FIXTURES}:${Deno.env.get("PATH")}`,
    FAKE_STATE: state,
    ...extraEnv,
  };
  return { at, state, env };
}

Deno.test("claude preset: task done, readable logs (--raw the stream), tokens, next round resumes the session", async () => {
  const { at, state, env } = await fakeTown();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    const one = await at.sb.json<TaskJson>(["assign", "w1", "first task"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal((await getTask(at.t, one.id))?.state, "completed");
    const a1 = await resolveAgent(at.t, "w1");
    assert.match(a1.session_id ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(a1.tokens_in, 1200);
    assert.equal(a1.tokens_out, 50);
    assert.equal(a1.cost_usd, 0.0123);

    const readable = (await at.sb.ok(["logs", "w1"])).stdout;
    assert.match(readable, /^All tasks completed\.$/m);
    assert.match(readable, /\[result: done, \$0\.0123, 1000 in \/ 50 out tokens\]/);
    assert.doesNotMatch(readable, /"type":/, "no JSON in the readable log");
    const raw = (await at.sb.ok(["logs", "w1", "--raw"])).stdout;
    assert.match(raw, /^\{"type":"result",/m);

    const two = await at.sb.json<TaskJson>(["assign", "w1", "second task"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal((await getTask(at.t, two.id))?.state, "completed");
    const argv = (await Deno.readTextFile(`${state}/argv`)).trim().split("\n");
    assert.equal(argv.length, 2);
    assert.doesNotMatch(argv[0], /--resume/);
    assert.ok(argv[1].endsWith(`--resume ${a1.session_id}`), argv[1]);
    assert.match(argv[0], /--output-format stream-json --verbose/);
    const a2 = await resolveAgent(at.t, "w1");
    assert.equal(a2.session_id, a1.session_id);
    assert.equal(a2.tokens_in, 2400);
    const deep = (await at.sb.ok(["status", "--deep"])).stdout;
    assert.match(deep, new RegExp(`session ${a1.session_id}, tokens 2400 in / 100 out`));
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("every JSON preset gets its prompt (stdin, --instruction-file, $TT_PROMPT_FILE) and completes", async () => {
  const { at, state, env } = await fakeTown();
  try {
    const clis = ["codex", "gemini", "opencode", "copilot", "auggie"];
    for (const cli of clis) await at.sb.ok(["spawn", `w-${cli}`, "--cli", cli], { env });
    const tasks = [];
    for (const cli of clis) {
      tasks.push(await at.sb.json<TaskJson>(["assign", `w-${cli}`, `task for ${cli}`]));
    }
    await at.sb.ok(["wait", ...clis.map((c) => `w-${c}`), "--timeout", "90"]);
    for (const [i, cli] of clis.entries()) {
      const t = await getTask(at.t, tasks[i].id);
      assert.equal(t?.state, "completed", cli);
      assert.match(t?.result ?? "", new RegExp(`done by ${cli}`));
      const a = await resolveAgent(at.t, `w-${cli}`);
      assert.ok(a.session_id, `${cli} session id recorded`);
    }
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("no login: the agent goes to error at once (no retries), status quotes the CLI, the task goes to the backlog", async () => {
  const { at, state, env } = await fakeTown();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    const task = await at.sb.json<TaskJson>(["assign", "w1", "fake:auth please"]);
    const failed = await waitForEvent(at.t, (e) => e.type === "agent_failed");
    assert.match(failed.message, /claude: Not logged in · Please run \/login/);
    const a = await resolveAgent(at.t, "w1");
    assert.equal(a.state, "error");
    assert.equal(a.reason, "claude: Not logged in · Please run /login");
    await waitForEvent(at.t, (e) => e.type === "work_released");
    const t = await getTask(at.t, task.id);
    assert.equal(t?.state, "pending");
    assert.equal(t?.assigned_to, undefined);
    const rounds = (await recentEvents(at.t, { count: 1000 })).filter((e) =>
      e.agent_id === a.id && e.type === "round_failed"
    );
    assert.equal(rounds.length, 1, "one round, no retries");
    const status = (await at.sb.ok(["status"])).stdout;
    assert.match(status, /error — .*\n {4}Why: claude: Not logged in · Please run \/login/);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("usage limit: rate_limited until the reported reset, then it resumes by itself and finishes", async () => {
  const { at, state, env } = await fakeTown("", { FAKE_RESET_SECS: "2" });
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "codex"], { env });
    const task = await at.sb.json<TaskJson>(["assign", "w1", "fake:limitonce"]);
    const limited = await waitForEvent(at.t, (e) => e.type === "agent_rate_limited");
    assert.equal(limited.new_state, "rate_limited");
    assert.match(limited.message, /codex: You've hit your usage limit/);
    const over = await waitForEvent(at.t, (e) => e.type === "agent_rate_limit_over");
    assert.ok(Date.parse(over.ts) - Date.parse(limited.ts) >= 1500, "waited for the reset");
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
    assert.equal((await getTask(at.t, task.id))?.state, "completed");
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("a CLI that only retries (codex Reconnecting…) stalls after stall_timeout_secs; its work is requeued", async () => {
  const { at, state, env } = await fakeTown("stall_timeout_secs = 1\nkill_grace_secs = 1");
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "codex"], { env });
    const task = await at.sb.json<TaskJson>(["assign", "w1", "fake:reconnect"]);
    const ev = await waitForEvent(at.t, (e) => e.type === "round_failed");
    assert.match(ev.reason ?? "", /^stalled: no progress for 1 s; last: codex: Reconnecting/);
    // A CLI that hangs silently (claude after its init line) stalls the same way.
    await at.sb.ok(["spawn", "w2", "--cli", "claude"], { env });
    await at.sb.json<TaskJson>(["assign", "w2", "fake:hang"]);
    const w2 = await resolveAgent(at.t, "w2");
    const hung = await waitForEvent(at.t, (e) => e.type === "round_failed" && e.agent_id === w2.id);
    assert.equal(hung.reason, "stalled: no progress for 1 s");
    const t = await getTask(at.t, task.id);
    assert.ok(t && ["assigned", "running"].includes(t.state), t?.state);
    // tt wait says what it waits for (the agent retries the requeued task meanwhile).
    const w = await at.sb.tt(["wait", "w1", "--timeout", "1"]);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /^tt: waiting for w1 \((working, round \d+|idle)\) to be idle$/m);
    assert.equal(t?.assigned_to, (await resolveAgent(at.t, "w1")).id);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});
