import assert from "node:assert/strict";
import { createAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { assignTask, createTask } from "../../src/core/tasks.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID, townKeys } from "../../src/core/keys.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { managedPaths } from "../../src/redis/server.ts";
import type { TownContext } from "../../src/core/town.ts";
import { Sandbox, snapshotTown, townOf } from "../helpers.ts";

async function populate(t: Pick<TownContext, "redis" | "keys">) {
  const a = await createAgent(t, { name: "alpha", cli: "claude", role: "worker" });
  await assignTask(t, toRecipient(a), { description: "assigned work" });
  await createTask(t, { description: "backlog work" }, { kind: "backlog" });
  await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, "héllo $(id) 🚀", "task"), {
    urgent: true,
  });
  await sendMessage(t, textMessage(a.id, SUPERVISOR_ID, "fyi", "info"));
  return a;
}

/** Changes that a restore must undo. */
async function scribble(t: Pick<TownContext, "redis" | "keys">, agentId: string) {
  await setAgentState(t, agentId, "stopped");
  await createAgent(t, { name: "intruder", cli: "claude" });
  await t.redis.del(t.keys.urgent(agentId));
  await t.redis.set(`${t.keys.prefix}stray`, "x");
}

Deno.test("tt save, change things, tt restore: the town is exactly as saved", async () => {
  const sb = new Sandbox();
  try {
    const name = await sb.init();
    const t = await townOf(name);
    try {
      const a = await populate(t);
      const saved = await snapshotTown(t);
      const out = await sb.json<{ path: string; keys: number }>(["save"]);
      assert.match(out.path, new RegExp(`/\\.tt/snapshots/${name}-[0-9T-]+Z\\.json$`));
      assert.equal(out.keys, Object.keys(saved).length);
      assert.equal((await Deno.stat(out.path)).mode! & 0o777, 0o600);

      await scribble(t, a.id);
      assert.notDeepEqual(await snapshotTown(t), saved);
      const r = await sb.ok(["restore", out.path]);
      assert.match(r.stdout, new RegExp(`^Restored ${out.keys} keys into town ${name} from `));
      assert.deepEqual(await snapshotTown(t), saved);

      // An explicit file name, relative to the working directory.
      await sb.ok(["save", "mine.json"]);
      await sb.ok(["reset", "--force"]);
      await sb.ok(["restore", `${sb.dir}/mine.json`]);
      assert.deepEqual(await snapshotTown(t), saved);
    } finally {
      await t.close();
    }
  } finally {
    sb.cleanup();
  }
});

Deno.test("tt save and restore work on the town's managed redis-server too", async () => {
  const sb = new Sandbox(null);
  try {
    const name = await sb.init();
    const redis = await connectRedis(`unix://${managedPaths(await Deno.realPath(sb.dir)).socket}`);
    const t = { redis, keys: townKeys(name) } as TownContext;
    try {
      const a = await populate(t);
      const saved = await snapshotTown(t);
      await sb.ok(["save", "snap.json"]);
      await scribble(t, a.id);
      await sb.ok(["restore", "snap.json"]);
      assert.deepEqual(await snapshotTown(t), saved);
    } finally {
      redis.disconnect();
    }
  } finally {
    await sb.tt(["stop"]);
    sb.cleanup();
  }
});

Deno.test("tt restore refuses bad files and other towns' snapshots with one line, changing nothing", async () => {
  const sb = new Sandbox();
  const other = new Sandbox();
  try {
    const t = await townOf(await sb.init());
    const o = await townOf(await other.init());
    try {
      await populate(t);
      await populate(o);
      const theirs = (await other.json<{ path: string }>(["save"])).path;
      const before = await snapshotTown(t);
      const fails = async (args: string[], re: RegExp) => {
        const r = await sb.tt(args);
        assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, re);
        assert.deepEqual(await snapshotTown(t), before);
      };
      await Deno.writeTextFile(`${sb.dir}/garbage.json`, "{ nope");
      await Deno.writeTextFile(`${sb.dir}/other.json`, '{"format":"something-else"}');
      const good = JSON.parse(await Deno.readTextFile(theirs));
      await Deno.writeTextFile(
        `${sb.dir}/truncated.json`,
        JSON.stringify({ ...good, keys: [{ key: "agents", ttl_ms: 0, type: "set" }] }),
      );
      await fails(["restore", "missing.json"], /^tt: no such file: missing\.json\n$/);
      await fails(["restore", "garbage.json"], /garbage\.json: not a tt snapshot \(invalid JSON/);
      await fails(["restore", "other.json"], /other\.json: not a tt snapshot/);
      await fails(["restore", "truncated.json"], /truncated\.json: keys\.0\.value: /);
      await fails(["restore", theirs], /snapshot is of town '.*', this is '.*': pass --force/);
      await fails(["save", "no/such/dir/s.json"], /cannot write .*: its directory does not exist/);
      const r = await sb.tt(["restore"]);
      assert.equal(r.code, 2);

      await sb.ok(["restore", theirs, "--force"]);
      const mine = await snapshotTown(t);
      const rename = (k: string) => t.keys.prefix + k.slice(o.keys.prefix.length);
      assert.deepEqual(
        mine,
        Object.fromEntries(Object.entries(await snapshotTown(o)).map(([k, v]) => [rename(k), v])),
      );
    } finally {
      await t.close();
      await o.close();
    }
  } finally {
    sb.cleanup();
    other.cleanup();
  }
});
