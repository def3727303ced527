import assert from "node:assert/strict";
import type { Task } from "../../src/core/schemas.ts";
import type { TownContext } from "../../src/core/town.ts";
import { Sandbox, snapshotTown, withAgents } from "../helpers.ts";

const TRICKY = `fix "auth" & $(rm -rf /); \`id\` 'x' | > /dev/null\n\ttabs — 日本語 🚀 \\n %s *`;

/** Runs a failing command and checks it changed nothing and said one line. */
async function refused(
  sb: Sandbox,
  t: TownContext,
  args: string[],
  code: number,
  re: RegExp,
  env?: Record<string, string>,
) {
  const before = await snapshotTown(t);
  const r = await sb.tt(args, { env });
  assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.deepEqual(await snapshotTown(t), before);
}

Deno.test("tt assign queues the task in the agent's inbox; task list/show print it", async () => {
  await withAgents(["w1"], async (x) => {
    const task = await x.sb.json<Task>([
      "assign",
      "w1",
      "build the API",
      "--tag",
      "api",
      "--tag",
      "v2,be",
    ]);
    assert.equal(task.state, "assigned");
    assert.equal(task.assigned_to, x.ids.w1);
    assert.deepEqual(task.tags, ["api", "v2", "be"]);
    const inbox = await x.sb.ok(["inbox", "w1"]);
    assert.match(inbox.stdout, new RegExp(`task ${task.id.slice(0, 8)}: build the API`));

    const list = await x.sb.ok(["task", "list"]);
    assert.match(
      list.stdout.trim(),
      new RegExp(`^📋 ${task.id.slice(0, 8)} assigned +build the API \\[\\S+ \\[w1\\]\\]$`),
    );
    assert.deepEqual((await x.sb.json<Task[]>(["task", "list"])).map((t) => t.id), [task.id]);
    assert.deepEqual(await x.sb.json<Task[]>(["task", "list", "--state", "Completed"]), []);
    assert.deepEqual(
      (await x.sb.json<Task[]>(["task", "list", "--agent", "w1"])).map((t) => t.id),
      [task.id],
    );
    const show = await x.sb.ok(["task", "show", task.id.slice(0, 5)]);
    assert.match(show.stdout, /^build the API$/m);
    assert.match(show.stdout, /tags +api, v2, be/);
    assert.equal((await x.sb.json<Task>(["task", "show", task.id])).id, task.id);
  });
});

Deno.test("unicode and shell metacharacters round-trip exactly through the CLI", async () => {
  await withAgents(["w1"], async (x) => {
    const task = await x.sb.json<Task>(["assign", "w1", TRICKY]);
    assert.equal(task.description, TRICKY);
    assert.equal((await x.sb.json<Task>(["task", "show", task.id])).description, TRICKY);
    const added = await x.sb.json<Task>(["backlog", "add", TRICKY]);
    assert.equal((await x.sb.json<Task[]>(["backlog", "list"]))[0].description, TRICKY);
    assert.equal(added.description, TRICKY);
  });
});

Deno.test("task current shows the agent's task and the exact command; complete counts once", async () => {
  await withAgents(["w1"], async (x) => {
    const env = { TINYTOWN_AGENT_ID: x.ids.w1 };
    const none = await x.sb.ok(["task", "current"], { env });
    assert.match(none.stdout, /has no current task/);
    const task = await x.sb.json<Task>(["assign", "w1", "do it"]);
    const cur = await x.sb.ok(["task", "current"], { env });
    assert.match(cur.stdout, new RegExp(`tt task complete ${task.id} --result "\\.\\.\\."`));
    const byName = await x.sb.json<{ task: Task }>(["task", "current"], {
      env: { TINYTOWN_AGENT_NAME: "w1" },
    });
    assert.equal(byName.task.id, task.id);
    assert.equal((await x.sb.json<{ task: Task }>(["task", "current", "w1"])).task.id, task.id);
    await refused(x.sb, x.t, ["task", "current"], 2, /no current agent/);

    const done = await x.sb.json<Task>(
      ["task", "complete", task.id.slice(0, 6), "--result", "ok"],
      {
        env,
      },
    );
    assert.equal(done.state, "completed");
    assert.equal(done.result, "ok");
    await refused(x.sb, x.t, ["task", "complete", task.id], 1, /already completed/, env);
    // An agent's report by whole id, as its prompt says to run it: one line, counted once.
    const next = await x.sb.json<Task>(["assign", "w1", "then this"]);
    const line = await x.sb.ok(["task", "complete", next.id.toUpperCase(), "--result", "did"], {
      env,
    });
    assert.equal(line.stdout.trim(), `✅ Task ${next.id.slice(0, 8)} completed: did`);
    await refused(
      x.sb,
      x.t,
      ["task", "complete", crypto.randomUUID()],
      1,
      /^tt: no task '[0-9a-f-]{36}': 'tt task list' shows the tasks/,
      env,
    );
    const agents = await x.sb.json<{ name: string; tasks_completed: number }[]>(["list"]);
    assert.equal(agents.find((a) => a.name === "w1")?.tasks_completed, 2);
  });
});

Deno.test("completing another agent's task needs --force; a human may complete any task", async () => {
  await withAgents(["alice", "bob"], async (x) => {
    const bob = { TINYTOWN_AGENT_ID: x.ids.bob };
    const a = await x.sb.json<Task>(["assign", "alice", "alice's"]);
    await refused(x.sb, x.t, ["task", "complete", a.id], 1, /assigned to alice.*--force/, bob);
    await refused(x.sb, x.t, ["task", "fail", a.id], 1, /--force/, bob);
    assert.equal(
      (await x.sb.json<Task>(["task", "complete", a.id, "--force"], { env: bob })).state,
      "completed",
    );
    const b = await x.sb.json<Task>(["assign", "alice", "another"]);
    const done = await x.sb.ok(["task", "complete", b.id]);
    assert.match(done.stdout, /completed: Completed/);
  });
});

Deno.test("tt task fail and cancel record the reason", async () => {
  await withAgents(["w1"], async (x) => {
    const a = await x.sb.json<Task>(["assign", "w1", "a"]);
    const failed = await x.sb.json<Task>(["task", "fail", a.id, "--reason", "tests red"]);
    assert.deepEqual([failed.state, failed.result], ["failed", "tests red"]);
    const b = await x.sb.json<Task>(["backlog", "add", "b"]);
    const cancelled = await x.sb.json<Task>(["task", "cancel", b.id, "--reason", "dup"]);
    assert.deepEqual([cancelled.state, cancelled.result], ["cancelled", "dup"]);
    assert.deepEqual(await x.sb.json(["backlog", "list"]), []);
    const list = await x.sb.ok(["task", "list"]);
    assert.match(list.stdout, /^❌ \S+ failed/m);
    assert.match(list.stdout, /^🚫 \S+ cancelled .*\[unassigned\]$/m);
  });
});

Deno.test("bad input: one-line errors, usage exit 2, and nothing changes", async () => {
  await withAgents(["w1", "w2"], async (x) => {
    const task = await x.sb.json<Task>(["assign", "w1", "x"]);
    await refused(x.sb, x.t, ["assign", "nobody", "x"], 1, /no agent 'nobody'/);
    await refused(x.sb, x.t, ["assign", "w1", "  "], 2, /description must not be empty/);
    await refused(x.sb, x.t, ["assign", "w1", "é".repeat(33_000)], 2, /limit is 65536/);
    await refused(x.sb, x.t, ["backlog", "add", ""], 2, /must not be empty/);
    await refused(x.sb, x.t, ["task", "show", "zzzz"], 1, /no task 'zzzz'/);
    await refused(x.sb, x.t, ["task", "complete", task.id.slice(0, 3)], 2, /too short/);
    await refused(x.sb, x.t, ["task", "list", "--state", "done"], 2, /unknown task state 'done'/);
    await refused(x.sb, x.t, ["task", "complete"], 2, /missing required argument/);
    await refused(
      x.sb,
      x.t,
      ["task", "complete", task.id, "--result", "r".repeat(70_000)],
      2,
      /limit is 65536/,
    );
  });
});
