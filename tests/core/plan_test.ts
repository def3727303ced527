import assert from "node:assert/strict";
import { createAgent, getAgent } from "../../src/core/agents.ts";
import {
  initPlan,
  loadPlan,
  parsePlan,
  PLAN_TEMPLATE,
  pullPlan,
  pushPlan,
} from "../../src/core/plan.ts";
import { completeTask, listTasks } from "../../src/core/tasks.ts";
import { listBacklog } from "../../src/core/backlog.ts";
import { peekInbox } from "../../src/core/messages.ts";
import { ConflictError, NotFoundError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

const PLAN = `[meta]
description = "demo"

[[tasks]]
id = "api"
description = "build the API"
agent = "backend"
tags = ["be"]

[[tasks]]
id = "docs"
description = "write docs"
parent = "api"

[[tasks]]
id = "setup"
description = "set up CI"
status = "completed"
agent = "ghost"

[[tasks]]
id = "spike"
description = "try X"
status = "failed"
`;

async function tempRoot(text?: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tt-plan-" });
  if (text !== undefined) await Deno.writeTextFile(`${dir}/tasks.toml`, text);
  return dir;
}

Deno.test("parsePlan fills defaults and accepts the template", () => {
  const p = parsePlan(PLAN, "tasks.toml");
  assert.equal(p.tasks[1].status, "pending");
  assert.deepEqual(p.tasks[1].tags, []);
  assert.equal(p.tasks[0].agent, "backend");
  const tpl = parsePlan(PLAN_TEMPLATE, "tasks.toml");
  assert.deepEqual(tpl.tasks.map((t) => t.id), ["example-1"]);
  assert.deepEqual(parsePlan("", "tasks.toml"), { meta: { description: "" }, tasks: [] });
});

Deno.test("malformed tasks.toml errors name the file, line and column", () => {
  const bad = (text: string, re: RegExp) =>
    assert.throws(() => parsePlan(text, "/x/tasks.toml"), (e: Error) => re.test(e.message));
  bad('[[tasks]]\nid = "a"\ndescription = \n', /^\/x\/tasks\.toml:3:\d+: invalid TOML/);
  bad(
    '[[tasks]]\nid = "a"\ndescription = "x"\n\n[[tasks]]\nid = "b"\ndescription = "y"\n  status = "done"\n',
    /^\/x\/tasks\.toml:8:3: tasks\.1\.status: Invalid option/,
  );
  bad(
    '[[tasks]]\nid = "a"\ndescription = "x"\n[[tasks]]\nid = "a"\ndescription = "y"\n',
    /tasks\.toml:5:1: tasks\.1\.id: duplicate id 'a'/,
  );
  bad('[[tasks]]\nid = "a"\ndescription = "x"\nparent = "b"\n', /:4:1: .*not the id of an earlier/);
  bad('[[tasks]]\nid = "a"\ndescription = " "\n', /:3:1: tasks\.0\.description: must not be/);
  bad('[[tasks]]\nid = "a"\n', /:1:1: tasks\.0\.description: /);
  bad('[meta]\ndescription = "d"\nowner = "me"\n', /:3:1: meta\.owner: Unrecognized key/);
  bad('[[tasks]]\nid = "a b"\ndescription = "x"\n', /:2:1: tasks\.0\.id: use up to 100/);
});

Deno.test("initPlan writes the template once; --force overwrites", async () => {
  const root = await tempRoot();
  try {
    const path = await initPlan(root);
    assert.equal(await Deno.readTextFile(path), PLAN_TEMPLATE);
    await Deno.writeTextFile(path, "# mine\n");
    await assert.rejects(initPlan(root), ConflictError);
    assert.equal(await Deno.readTextFile(path), "# mine\n");
    await initPlan(root, true);
    assert.equal(await Deno.readTextFile(path), PLAN_TEMPLATE);
    assert.equal((await loadPlan(root))?.tasks.length, 1);
    assert.equal(await loadPlan(await tempRoot()), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pushPlan creates each entry in its place, and a second push duplicates nothing", async () => {
  await withTestTown(async (t) => {
    const be = await createAgent(t, { name: "backend", cli: "claude" });
    const plan = parsePlan(PLAN, "tasks.toml");
    const first = await pushPlan(t, plan);
    assert.equal(first.created.length, 4);
    const tasks = await listTasks(t);
    const byPlan = Object.fromEntries(tasks.map((x) => [x.plan_id, x]));
    assert.equal(byPlan.api.state, "assigned");
    assert.equal(byPlan.api.assigned_to, be.id);
    assert.deepEqual(byPlan.api.tags, ["be", "plan:api"]);
    assert.equal((await peekInbox(t, be.id)).inbox[0].task_id, byPlan.api.id);
    assert.equal(byPlan.docs.state, "pending");
    assert.equal(byPlan.docs.parent_id, byPlan.api.id);
    assert.deepEqual((await listBacklog(t)).map((x) => x.id), [byPlan.docs.id]);
    assert.equal(byPlan.setup.state, "completed");
    assert.equal(byPlan.setup.result, "Completed via sync");
    assert.equal(byPlan.spike.state, "failed");

    const again = await pushPlan(t, plan);
    assert.deepEqual([again.created.length, again.updated.length, again.unchanged], [0, 0, 4]);
    assert.equal((await listTasks(t)).length, 4);

    plan.tasks[1].description = "write better docs";
    plan.tasks[1].tags = ["doc"];
    const third = await pushPlan(t, plan);
    assert.deepEqual(third.updated.map((x) => [x.id, x.description, x.tags]), [
      [byPlan.docs.id, "write better docs", ["doc", "plan:docs"]],
    ]);
    assert.equal((await listTasks(t)).length, 4);

    // A check added to an entry reaches its task; removing it drops it.
    plan.tasks[0].verify = "deno task test";
    const fourth = await pushPlan(t, plan);
    assert.deepEqual(fourth.updated.map((x) => [x.id, x.verify]), [
      [byPlan.api.id, "deno task test"],
    ]);
    delete plan.tasks[0].verify;
    assert.equal((await pushPlan(t, plan)).updated[0].verify, undefined);
  });
});

Deno.test("a plan entry's verify must not be empty", () => {
  assert.throws(
    () => parsePlan(`[[tasks]]\nid = "a"\ndescription = "x"\nverify = " "\n`, "tasks.toml"),
    /verify.*must not be empty/,
  );
});

Deno.test("concurrent pushes of one plan create each task once", async () => {
  await withTestTown(async (t) => {
    await createAgent(t, { name: "backend", cli: "claude" });
    const plan = parsePlan(PLAN, "tasks.toml");
    await Promise.all(Array.from({ length: 5 }, () => pushPlan(t, plan)));
    assert.deepEqual(
      (await listTasks(t)).map((x) => x.plan_id).sort(),
      ["api", "docs", "setup", "spike"],
    );
  });
});

Deno.test("an unknown agent in the plan fails the push before anything is written", async () => {
  await withTestTown(async (t) => {
    const before = await snapshotTown(t);
    await assert.rejects(pushPlan(t, parsePlan(PLAN, "tasks.toml")), NotFoundError);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("meta.default_agent takes pending entries without an agent", async () => {
  await withTestTown(async (t) => {
    const w = await createAgent(t, { name: "w", cli: "claude" });
    await pushPlan(
      t,
      parsePlan('[meta]\ndefault_agent = "w"\n[[tasks]]\nid = "a"\ndescription = "x"\n', "p"),
    );
    assert.equal((await listTasks(t))[0].assigned_to, w.id);
    assert.equal(await t.redis.llen(t.keys.backlog), 0);
  });
});

Deno.test("pullPlan writes states and assignees back, atomically, only when they changed", async () => {
  await withTestTown(async (t) => {
    const be = await createAgent(t, { name: "backend", cli: "claude" });
    const root = await tempRoot(
      PLAN + '\n[[tasks]]\nid = "later"\ndescription = "not pushed yet"\n',
    );
    try {
      await pushPlan(t, parsePlan(PLAN, "tasks.toml"));
      const api = (await listTasks(t)).find((x) => x.plan_id === "api")!;
      await completeTask(t, api.id, { result: "shipped" });
      const r = await pullPlan(t, root);
      assert.deepEqual(r.updated, ["api"]);
      assert.deepEqual(r.notPushed, ["later"]);
      const plan = (await loadPlan(root))!;
      const entry = (id: string) => plan.tasks.find((x) => x.id === id)!;
      assert.equal(entry("api").status, "completed");
      assert.equal(entry("api").agent, "backend");
      assert.equal(entry("setup").agent, "ghost");
      assert.equal(entry("docs").status, "pending");
      assert.equal(entry("later").status, "pending");
      assert.equal(plan.meta.description, "demo");
      assert.equal((await getAgent(t, be.id))?.tasks_completed, 1);

      const text = await Deno.readTextFile(`${root}/tasks.toml`);
      const second = await pullPlan(t, root);
      assert.deepEqual(second.updated, []);
      assert.equal(await Deno.readTextFile(`${root}/tasks.toml`), text);
      assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["tasks.toml"]);
      const pushedAgain = await pushPlan(t, plan);
      assert.equal(pushedAgain.created.length, 1);
      assert.equal(pushedAgain.unchanged, 4);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});
