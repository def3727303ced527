import assert from "node:assert/strict";
import type { Task } from "../../src/core/schemas.ts";
import { snapshotTown, withAgents } from "../helpers.ts";

Deno.test("backlog add/list/claim/remove through the CLI", async () => {
  await withAgents(["w1"], async ({ sb, t, ids }) => {
    const a = await sb.json<Task>(["backlog", "add", "first", "--tags", "api, be"]);
    const b = await sb.json<Task>(["backlog", "add", "second"]);
    const c = await sb.json<Task>(["backlog", "add", "third"]);
    assert.deepEqual(a.tags, ["api", "be"]);
    const list = await sb.ok(["backlog", "list"]);
    assert.equal(
      list.stdout,
      `${a.id.slice(0, 8)} first [api, be]\n${b.id.slice(0, 8)} second\n${
        c.id.slice(0, 8)
      } third\n`,
    );
    const claimed = await sb.json<Task>(["backlog", "claim", b.id.slice(0, 6), "w1"]);
    assert.equal(claimed.state, "assigned");
    assert.equal(claimed.assigned_to, ids.w1);
    const inbox = await sb.json<{ inbox: { task_id: string; body: string }[] }>(["inbox", "w1"]);
    assert.deepEqual(inbox.inbox.map((m) => [m.task_id, m.body]), [[b.id, "second"]]);
    const removed = await sb.ok(["backlog", "remove", c.id]);
    assert.match(removed.stdout, /Removed task .*third/);
    assert.equal(await t.redis.exists(t.keys.task(c.id)), 0);
    assert.deepEqual((await sb.json<Task[]>(["backlog", "list"])).map((x) => x.id), [a.id]);
  });
});

Deno.test("refused claims and removals change nothing and say why in one line", async () => {
  await withAgents(["w1"], async ({ sb, t }) => {
    const a = await sb.json<Task>(["backlog", "add", "a"]);
    const assigned = await sb.json<Task>(["assign", "w1", "direct"]);
    for (
      const [args, code, re] of [
        [["backlog", "claim", a.id, "nobody"], 1, /no agent 'nobody'/],
        [["backlog", "claim", assigned.id, "w1"], 1, /not in the backlog/],
        [["backlog", "claim", "zzzzzz", "w1"], 1, /no task 'zzzzzz'/],
        [["backlog", "remove", assigned.id], 1, /not in the backlog/],
        [["backlog", "assign-all", "nobody"], 1, /no agent 'nobody'/],
        [["backlog", "claim", a.id], 2, /missing required argument 'agent'/],
      ] as const
    ) {
      const before = await snapshotTown(t);
      const r = await sb.tt([...args]);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.deepEqual(await snapshotTown(t), before);
    }
  });
});

Deno.test("backlog assign-all hands every task, in order, to one agent", async () => {
  await withAgents(["w1"], async ({ sb }) => {
    const ids = [];
    for (const d of ["one", "two", "three"]) {
      ids.push((await sb.json<Task>(["backlog", "add", d])).id);
    }
    const got = await sb.json<Task[]>(["backlog", "assign-all", "w1"]);
    assert.deepEqual(got.map((x) => x.id), ids);
    assert.deepEqual(await sb.json(["backlog", "list"]), []);
    const human = await sb.ok(["backlog", "assign-all", "w1"]);
    assert.match(human.stdout, /Assigned 0 task\(s\)/);
  });
});

Deno.test("8 concurrent tt backlog claim processes: exactly one wins", async () => {
  const names = Array.from({ length: 8 }, (_, i) => `w${i}`);
  await withAgents(names, async ({ sb, t, ids }) => {
    const task = await sb.json<Task>(["backlog", "add", "contended"]);
    const results = await Promise.all(names.map((n) => sb.tt(["backlog", "claim", task.id, n])));
    const winners = names.filter((_, i) => results[i].code === 0);
    assert.equal(winners.length, 1, results.map((r) => r.stderr).join(""));
    for (const r of results.filter((r) => r.code !== 0)) {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not in the backlog/);
    }
    const owner = (await sb.json<Task>(["task", "show", task.id])).assigned_to;
    assert.equal(owner, ids[winners[0]]);
    const queued = await Promise.all(names.map((n) => t.redis.llen(t.keys.inbox(ids[n]))));
    assert.equal(queued.reduce((x, y) => x + y, 0), 1);
  });
});
