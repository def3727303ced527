import assert from "node:assert/strict";
import { createAgent, toRecipient } from "../../src/core/agents.ts";
import { assignTask, createTask } from "../../src/core/tasks.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { TownContext } from "../../src/core/town.ts";
import { Sandbox, snapshotTown, townOf } from "../helpers.ts";

async function withPopulatedTown(fn: (sb: Sandbox, t: TownContext) => Promise<void>) {
  const sb = new Sandbox();
  try {
    const t = await townOf(await sb.init());
    try {
      const a = await createAgent(t, { name: "alpha", cli: "claude" });
      await createAgent(t, { name: "beta", cli: "claude" });
      await assignTask(t, toRecipient(a), { description: "assigned work" });
      await createTask(t, { description: "backlog work" }, { kind: "backlog" });
      await sendMessage(t, textMessage(a.id, SUPERVISOR_ID, "hello boss", "info"));
      await fn(sb, t);
    } finally {
      await t.close();
    }
  } finally {
    sb.cleanup();
  }
}

Deno.test("tt reset without --force shows what it would delete and deletes nothing", async () => {
  await withPopulatedTown(async (sb, t) => {
    const before = await snapshotTown(t);
    const r = await sb.ok(["reset"]);
    assert.match(
      r.stdout,
      new RegExp(
        `^Would delete ${
          Object.keys(before).length
        } keys of town .*: 2 agent\\(s\\), 2 task\\(s\\), 1 backlog entries, events\\nNothing deleted\\. Run 'tt reset --force'`,
      ),
    );
    const p = await sb.json<{ agents: number; keys: number; deleted: number }>([
      "reset",
      "--agents-only",
    ]);
    assert.equal(p.agents, 2);
    assert.equal(p.deleted, 0);
    assert.match((await sb.ok(["reset", "--agents-only"])).stdout, /--agents-only --force/);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("tt reset --agents-only --force: agents and every mailbox go; tasks, backlog, events stay", async () => {
  await withPopulatedTown(async (sb, t) => {
    const tasksBefore = await t.redis.zrange(t.keys.tasks, "0", "-1");
    const r = await sb.ok(["reset", "--agents-only", "--force"]);
    assert.match(
      r.stdout,
      /^Deleted \d+ keys of town .* \(agents and mailboxes; tasks and events kept\)/,
    );
    assert.match((await sb.ok(["list"])).stdout, /^No agents\./);
    assert.match(
      (await sb.ok(["inbox", "supervisor"])).stdout,
      /0 urgent, 0 queued, 0 in progress/,
    );
    assert.deepEqual(await t.redis.zrange(t.keys.tasks, "0", "-1"), tasksBefore);
    assert.equal(await t.redis.llen(t.keys.backlog), 1);
    const history = (await sb.ok(["history"])).stdout.trim().split("\n");
    assert.ok(history.length > 2);
    assert.match(history.at(-1)!, /🧹 system Agents reset: \d+ keys deleted/);
  });
});

Deno.test("tt reset --force deletes the whole town; history then starts with the reset", async () => {
  await withPopulatedTown(async (sb, t) => {
    const n = Object.keys(await snapshotTown(t)).length;
    const r = await sb.json<{ deleted: number }>(["reset", "--force"]);
    assert.equal(r.deleted, n);
    assert.deepEqual(Object.keys(await snapshotTown(t)), [t.keys.events]);
    const history = (await sb.ok(["history"])).stdout.trim().split("\n");
    assert.equal(history.length, 1);
    assert.match(history[0], new RegExp(`🧹 system Town reset: ${n} keys deleted$`));
    const s = await sb.json<{ agents: unknown[]; tasks: { total: number } }>(["status"]);
    assert.deepEqual([s.agents.length, s.tasks.total], [0, 0]);
  });
});
