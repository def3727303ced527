/**
 * Black-box: needs_input and `tt reply`, `[notify] command`, `tt restart --fresh`, `tt wait`
 * reporting what it waits for, and a supervisor that comes back by itself after kill -9.
 */
import assert from "node:assert/strict";
import { AgentTown, alive, waitForEvent, waitUntil } from "../agent_helpers.ts";
import { ROOT } from "../helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { supervisorInfo } from "../../src/core/control.ts";

type TaskJson = { id: string; state: string };
const FIXTURES = `${ROOT}/tests/fixtures/clis`;

async function fakeTown(settings = "", extraToml = "") {
  const at = await AgentTown.create(settings);
  if (extraToml) {
    const path = `${at.sb.dir}/tinytown.toml`;
    await Deno.writeTextFile(path, `${await Deno.readTextFile(path)}\n${extraToml}\n`);
  }
  const state = await Deno.makeTempDir();
  const env = { PATH: `${FIXTURES}:${Deno.env.get("PATH")}`, FAKE_STATE: state };
  return { at, state, env };
}

Deno.test("a permission denial puts the agent in needs_input; tt reply resumes the same session with the answer; notify gets the event", async () => {
  const { at, state, env } = await fakeTown(
    "",
    '[notify]\ncommand = "cat >> \\"$FAKE_STATE/notify.jsonl\\""',
  );
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    const task = await at.sb.json<TaskJson>(["assign", "w1", "clean up fake:denyonce"]);
    const asked = await waitForEvent(at.t, (e) => e.type === "agent_needs_input");
    assert.match(
      asked.message,
      /permission denied for Bash \{"command":"rm -rf build"\}: .*May I\?/,
    );
    const a = await resolveAgent(at.t, "w1");
    assert.equal(a.state, "needs_input");
    assert.equal((await getTask(at.t, task.id))?.state, "assigned", "nothing counted against it");
    const status = (await at.sb.ok(["status"])).stdout;
    assert.match(status, /needs_input — .*\n {4}Why: permission denied for Bash/);
    // tt wait does not wait on an agent that cannot run until a human answers.
    const w = await at.sb.tt(["wait", "w1", "--timeout", "30"]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /w1: needs_input/);

    await waitUntil(() => Deno.stat(`${state}/notify.jsonl`).then(() => true, () => false));
    const note = JSON.parse((await Deno.readTextFile(`${state}/notify.jsonl`)).split("\n")[0]);
    assert.equal(note.type, "agent_needs_input");
    assert.equal(note.agent, "w1");
    assert.match(note.reason, /rm -rf build/);

    const bad = await at.sb.tt(["reply", "w1", ""]);
    assert.equal(bad.code, 2);
    await at.sb.ok(["reply", "w1", "yes, remove it"]);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
    const argv = (await Deno.readTextFile(`${state}/argv`)).trim().split("\n");
    assert.ok(argv[1].endsWith(`--resume ${a.session_id}`), argv[1]);
    assert.match(await Deno.readTextFile(`${state}/prompt_claude`), /The answer: yes, remove it/);
    const again = await at.sb.tt(["reply", "w1", "more"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not waiting for an answer/);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("tt restart --fresh starts a new CLI session; a plain restart resumes the old one", async () => {
  const { at, state, env } = await fakeTown();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    await at.sb.json<TaskJson>(["assign", "w1", "one"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const first = (await resolveAgent(at.t, "w1")).session_id!;
    await at.sb.ok(["kill", "w1"]);
    await at.sb.ok(["restart", "w1"]);
    assert.equal((await resolveAgent(at.t, "w1")).session_id, first);
    await at.sb.ok(["kill", "w1"]);
    const r = await at.sb.ok(["restart", "w1", "--fresh"]);
    assert.match(r.stdout, /new CLI session/);
    await at.sb.json<TaskJson>(["assign", "w1", "two"]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const argv = (await Deno.readTextFile(`${state}/argv`)).trim().split("\n");
    assert.doesNotMatch(argv.at(-1)!, /--resume/);
    const second = (await resolveAgent(at.t, "w1")).session_id!;
    assert.notEqual(second, first);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("supervisor killed -9: the next tt command (its heartbeat still there) starts a new one at once", async () => {
  const { at, state, env } = await fakeTown();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const old = (await supervisorInfo(at.t))!;
    Deno.kill(old.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(old.pid)));
    assert.equal((await supervisorInfo(at.t))?.pid, old.pid, "its heartbeat outlives it");
    // (With the fake CLIs on PATH: this command starts the new supervisor.)
    const task = await at.sb.json<TaskJson>(["assign", "w1", "after the crash"], { env });
    const now = await supervisorInfo(at.t);
    assert.ok(now && now.pid !== old.pid && await alive(now.pid), "a new supervisor at once");
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    assert.equal((await getTask(at.t, task.id))?.state, "completed");
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("tt service install --no-enable writes the user unit; status says so; uninstall removes it", async () => {
  const at = await AgentTown.create();
  const xdg = await Deno.makeTempDir();
  try {
    const env = { XDG_CONFIG_HOME: xdg };
    const r = await at.sb.json<{ path: string; unit: string; enabled: boolean }>(
      ["service", "install", "--no-enable"],
      { env },
    );
    assert.equal(r.path, `${xdg}/systemd/user/tt-${at.name}.service`);
    assert.equal(r.enabled, false);
    const unit = await Deno.readTextFile(r.path);
    assert.match(unit, new RegExp(`^ExecStart=.* "--town" "${at.sb.dir}" "supervise"$`, "m"));
    assert.equal((await Deno.stat(r.path)).mode! & 0o777, 0o600);
    const s = await at.sb.json<{ service: { installed: boolean } }>(["status"], { env });
    assert.equal(s.service.installed, true);
    assert.match((await at.sb.ok(["status"], { env })).stdout, /service tt-.* installed/);
    await at.sb.ok(["service", "uninstall"], { env });
    await assert.rejects(Deno.stat(r.path));
    const again = await at.sb.tt(["service", "uninstall"], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^tt: no service installed for town /);
  } finally {
    await at.cleanup();
    await Deno.remove(xdg, { recursive: true });
  }
});

Deno.test('[agent] on_stop = "fail": a stopped agent\'s unfinished task fails, saying why', async () => {
  const { at, state, env } = await fakeTown('on_stop = "fail"');
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    const task = await at.sb.json<TaskJson>(["assign", "w1", "fake:auth"]);
    await waitForEvent(at.t, (e) => e.type === "work_released" && e.reason === "fail");
    const t = await getTask(at.t, task.id);
    assert.equal(t?.state, "failed");
    assert.match(t?.result ?? "", /^agent stopped: claude: Not logged in/);
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), []);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("tt kill with no supervisor left still moves the agent's work to the backlog", async () => {
  const { at, state, env } = await fakeTown();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", "claude"], { env });
    const task = await at.sb.json<TaskJson>(["assign", "w1", "fake:hang"]);
    await waitUntil(async () => !!(await resolveAgent(at.t, "w1")).round_pgid);
    const sup = (await supervisorInfo(at.t))!;
    Deno.kill(sup.pid, "SIGKILL");
    await waitUntil(async () => !(await alive(sup.pid)));
    await at.t.redis.del(at.t.keys.supervisor(sup.host));
    await at.sb.ok(["kill", "w1"]);
    assert.equal((await resolveAgent(at.t, "w1")).state, "stopped");
    const t = await getTask(at.t, task.id);
    assert.equal(t?.state, "pending");
    assert.deepEqual(await at.t.redis.lrange(at.t.keys.backlog, 0, -1), [task.id]);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});
