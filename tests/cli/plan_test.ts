import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { createAgent, setAgentState } from "../../src/core/agents.ts";
import type { Task } from "../../src/core/schemas.ts";
import { Sandbox, snapshotTown, townOf } from "../helpers.ts";

const PLAN = `[meta]
description = "demo plan"

[[tasks]]
id = "api"
description = "build the API"
agent = "backend"

[[tasks]]
id = "docs"
description = "write the docs"
tags = ["doc"]

[[tasks]]
id = "setup"
description = "set up CI"
status = "completed"
`;

Deno.test("tt plan needs no Redis; --init refuses to overwrite without --force", async () => {
  const sb = new Sandbox("redis://127.0.0.1:1");
  try {
    await Deno.writeTextFile(`${sb.dir}/tinytown.toml`, 'name = "offline"\n');
    const none = await sb.ok(["plan"]);
    assert.match(none.stdout, /No tasks\.toml.*tt plan --init/);
    await sb.ok(["plan", "--init"]);
    const first = await sb.ok(["plan"]);
    assert.match(first.stdout, /^ {2}⏳ \[unassigned\] example-1 - /m);
    await Deno.writeTextFile(`${sb.dir}/tasks.toml`, PLAN);
    const r = await sb.tt(["plan", "--init"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists: use --force/);
    assert.equal(await Deno.readTextFile(`${sb.dir}/tasks.toml`), PLAN);
    const plan = await sb.json<{ tasks: { id: string; status: string }[] }>(["plan"]);
    assert.deepEqual(plan.tasks.map((e) => [e.id, e.status]), [
      ["api", "pending"],
      ["docs", "pending"],
      ["setup", "completed"],
    ]);
    assert.match((await sb.ok(["plan"])).stdout, /✅ \[unassigned\] setup - set up CI/);
    await sb.ok(["plan", "--init", "--force"]);
    assert.match(await Deno.readTextFile(`${sb.dir}/tasks.toml`), /example-1/);
  } finally {
    sb.cleanup();
  }
});

Deno.test("tt sync push is idempotent; tt sync pull writes states and assignees back", async () => {
  const sb = new Sandbox();
  const t = await townOf(await sb.init());
  try {
    const be = await createAgent(t, { name: "backend", cli: "claude" });
    await setAgentState(t, be.id, "stopped");
    await Deno.writeTextFile(`${sb.dir}/tasks.toml`, PLAN);
    const pushed = await sb.ok(["sync", "push"]);
    assert.match(
      pushed.stdout,
      /3 created \(1 assigned, 1 to the backlog, 1 already finished\), 0 updated, 0 unchanged/,
    );
    const again = await sb.json<{ created: Task[]; unchanged: number }>(["sync"]);
    assert.deepEqual([again.created.length, again.unchanged], [0, 3]);
    const tasks = await sb.json<Task[]>(["task", "list"]);
    assert.equal(tasks.length, 3);
    const api = tasks.find((x) => x.plan_id === "api")!;
    assert.equal(api.assigned_to, be.id);
    await sb.ok(["task", "complete", api.id, "--result", "shipped"]);
    const docs = tasks.find((x) => x.plan_id === "docs")!;
    await sb.ok(["backlog", "claim", docs.id, "backend"]);

    const pulled = await sb.ok(["sync", "pull"]);
    assert.match(pulled.stdout, /Updated 2 entries .*: api, docs/);
    const file = parse(await Deno.readTextFile(`${sb.dir}/tasks.toml`)) as {
      meta: { description: string };
      tasks: { id: string; status: string; agent?: string; tags: string[] }[];
    };
    assert.equal(file.meta.description, "demo plan");
    assert.deepEqual(file.tasks.map((e) => [e.id, e.status, e.agent ?? null]), [
      ["api", "completed", "backend"],
      ["docs", "assigned", "backend"],
      ["setup", "completed", null],
    ]);
    assert.deepEqual(file.tasks[1].tags, ["doc"]);
    const third = await sb.json<{ created: Task[]; unchanged: number }>(["sync", "push"]);
    assert.deepEqual([third.created.length, third.unchanged], [0, 3]);
  } finally {
    await t.close();
    sb.cleanup();
  }
});

Deno.test("malformed tasks.toml, unknown agents and bad directions change nothing", async () => {
  const sb = new Sandbox();
  const t = await townOf(await sb.init());
  try {
    const cases: [string | undefined, string[], number, RegExp][] = [
      [
        '[[tasks]]\nid = "a"\ndescription = "x"\nstatus = "done"\n',
        ["sync", "push"],
        1,
        /tasks\.toml:4:1: tasks\.0\.status: /,
      ],
      ['[[tasks]]\nid = "a"\ndescription = \n', ["sync", "push"], 1, /tasks\.toml:3:\d+: invalid/],
      ['[[tasks]]\nid = "a"\ndescription = "x"\ncolour = 1\n', ["plan"], 1, /:4:1: .*colour/],
      [PLAN, ["sync", "push"], 1, /no agent 'backend'/],
      [undefined, ["sync", "push"], 1, /no tasks\.toml.*tt plan --init/],
      [undefined, ["sync", "pull"], 1, /no tasks\.toml/],
      [PLAN, ["sync", "sideways"], 2, /unknown sync direction 'sideways'/],
    ];
    for (const [text, args, code, re] of cases) {
      await Deno.remove(`${sb.dir}/tasks.toml`).catch(() => {});
      if (text !== undefined) await Deno.writeTextFile(`${sb.dir}/tasks.toml`, text);
      const before = await snapshotTown(t);
      const r = await sb.tt(args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.deepEqual(await snapshotTown(t), before);
    }
  } finally {
    await t.close();
    sb.cleanup();
  }
});
