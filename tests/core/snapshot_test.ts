import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createAgent, setAgentState } from "../../src/core/agents.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import {
  readSnapshot,
  restoreSnapshot,
  type Snapshot,
  type SnapshotV1,
  takeSnapshot,
  writeSnapshot,
} from "../../src/core/snapshot.ts";
import { emitEvent } from "../../src/core/events.ts";
import { toRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask } from "../../src/core/tasks.ts";
import { lexScore, verifyTaskIndexes } from "../../src/core/task_index.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { ConflictError } from "../../src/core/errors.ts";
import type { TownContext } from "../../src/core/town.ts";
import { snapshotTown, testTown, withTestTown } from "../helpers.ts";

async function populate(t: TownContext) {
  const a = await createAgent(t, { name: "alpha", cli: "claude", role: "worker" });
  await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, "héllo $(rm -rf /) 🚀", "task"));
  await sendMessage(t, textMessage(a.id, SUPERVISOR_ID, "ok", "ack"), { urgent: true });
  await t.redis.zadd(t.keys.tasks, 5, "t1", 7.25, "t2");
  await t.redis.rpush(t.keys.backlog, "t1");
  await t.redis.hset(t.keys.plan, "entry-1", "t2");
  await t.redis.rpush(t.keys.wake(a.id), "1");
  return a;
}

Deno.test("take → change → restore gives back exactly the saved town, stream ids included", async () => {
  await withTestTown(async (t) => {
    const a = await populate(t);
    const saved = await snapshotTown(t);
    const savedEvents = await t.redis.xrange(t.keys.events, "-", "+");
    const snap = await takeSnapshot(t);
    assert.equal(snap.town, t.name);
    assert.equal(snap.keys.length, Object.keys(saved).length);

    await setAgentState(t, a.id, "stopped");
    await createAgent(t, { name: "newcomer", cli: "claude" });
    await t.redis.del(t.keys.inbox(a.id));
    await emitEvent(t, { type: "noise", message: "after the snapshot" });

    const r = await restoreSnapshot(t, snap);
    assert.equal(r.restored, snap.keys.length);
    assert.deepEqual(await snapshotTown(t), saved);
    assert.deepEqual(await t.redis.xrange(t.keys.events, "-", "+"), savedEvents);
  });
});

Deno.test("a snapshot whose task carries a forged score copy restores with the copy and indexes right", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "claude" });
    const task = await assignTask(t, toRecipient(a), { description: "x" });
    const snap = await takeSnapshot(t);
    // An edited snapshot: its task claims to sort first, which its next transition would act on.
    const entry = snap.keys.find((k) => k.key === `task:${task.id}`)!;
    (entry.value as Record<string, string>).score = "00000000000000.000";
    await restoreSnapshot(t, snap);
    assert.equal(
      await t.redis.hget(t.keys.task(task.id), "score"),
      lexScore((await t.redis.zscore(t.keys.tasks, task.id))!),
    );
    await completeTask(t, task.id, { by: a.id });
    assert.deepEqual(await verifyTaskIndexes(t), { tasks: 1, wrong: 0 });
  });
});

Deno.test("TTLs survive a save and restore; keys without one stay persistent", async () => {
  await withTestTown(async (t) => {
    await t.redis.rpush(t.keys.backlog, "t1");
    await t.redis.pexpire(t.keys.backlog, 600_000);
    await t.redis.hset(t.keys.plan, "p", "t1");
    const snap = await takeSnapshot(t);
    const lease = snap.keys.find((k) => k.key === "backlog")!;
    assert.ok(lease.ttl_ms > 590_000 && lease.ttl_ms <= 600_000, `${lease.ttl_ms}`);
    await restoreSnapshot(t, snap);
    const ttl = await t.redis.pttl(t.keys.backlog);
    assert.ok(ttl > 580_000 && ttl <= 600_000, `${ttl}`);
    assert.equal(await t.redis.pttl(t.keys.plan), -1);
  });
});

Deno.test("a snapshot of another town is refused unless forced, then lands in this town's keys", async () => {
  const source = await testTown();
  try {
    await populate(source);
    const snap = await takeSnapshot(source);
    await withTestTown(async (t) => {
      await createAgent(t, { name: "mine", cli: "claude" });
      const before = await snapshotTown(t);
      await assert.rejects(restoreSnapshot(t, snap), ConflictError);
      assert.deepEqual(await snapshotTown(t), before);
      await restoreSnapshot(t, snap, { force: true });
      const rename = (o: Record<string, unknown>, from: string, to: string) =>
        Object.fromEntries(Object.entries(o).map(([k, v]) => [to + k.slice(from.length), v]));
      assert.deepEqual(
        await snapshotTown(t),
        rename(await snapshotTown(source), source.keys.prefix, t.keys.prefix),
      );
    });
  } finally {
    await source.close();
  }
});

/** The same town as a version 1 file (tt before typed snapshots): DUMP payloads. */
async function asVersion1(t: TownContext, snap: Snapshot): Promise<SnapshotV1> {
  const keys = [];
  for (const k of snap.keys) {
    const dump = await t.redis.dumpBuffer(t.keys.prefix + k.key);
    keys.push({ key: k.key, ttl_ms: k.ttl_ms, dump: dump!.toString("base64") });
  }
  return { ...snap, version: 1, keys };
}

Deno.test("a version 1 snapshot (DUMP payloads) still restores; a damaged payload is caught before anything changes", async () => {
  await withTestTown(async (t) => {
    await populate(t);
    const saved = await snapshotTown(t);
    const v1 = await asVersion1(t, await takeSnapshot(t));
    await createAgent(t, { name: "later", cli: "claude" });
    await restoreSnapshot(t, v1);
    assert.deepEqual(await snapshotTown(t), saved);

    await createAgent(t, { name: "later", cli: "claude" });
    const before = await snapshotTown(t);
    const bad: SnapshotV1 = structuredClone(v1);
    const last = bad.keys.at(-1)!;
    const bytes = Buffer.from(last.dump, "base64");
    bytes[0] ^= 0xff;
    last.dump = bytes.toString("base64");
    await assert.rejects(
      restoreSnapshot(t, bad),
      new RegExp(`snapshot key '${last.key}' was refused by Redis.*nothing was changed`),
    );
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("restoring an empty town's snapshot empties the town", async () => {
  await withTestTown(async (t) => {
    const empty = await takeSnapshot(t);
    assert.deepEqual(empty.keys, []);
    await populate(t);
    const r = await restoreSnapshot(t, empty);
    assert.ok(r.deleted > 0);
    assert.deepEqual(await snapshotTown(t), {});
  });
});

Deno.test("snapshot files: written owner-only and read back; bad files are one clear error", async () => {
  await withTestTown(async (t) => {
    await populate(t);
    const dir = await Deno.makeTempDir();
    try {
      const snap = await takeSnapshot(t);
      const path = `${dir}/s.json`;
      await writeSnapshot(path, snap);
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.deepEqual(await readSnapshot(path), snap);
      await assert.rejects(writeSnapshot(`${dir}/no/such/dir.json`, snap), /does not exist/);

      const cases: [string, RegExp][] = [
        ["{not json", /s\.json: not a tt snapshot \(invalid JSON/],
        ['{"hello": 1}', /not a tt snapshot/],
        [JSON.stringify({ ...snap, version: 3 }), /s\.json: version: /],
        [JSON.stringify({ ...snap, created_at: "yesterday" }), /created_at/],
        [
          JSON.stringify({
            ...snap,
            version: 1,
            keys: [{ key: "agents", ttl_ms: 0, dump: "@@not base64@@" }],
          }),
          /keys\.0\.dump/,
        ],
        [JSON.stringify({ ...snap, keys: [{ ...snap.keys[0], ttl_ms: -5 }] }), /keys\.0\.ttl_ms/],
        [JSON.stringify({ ...snap, keys: [snap.keys[0], snap.keys[0]] }), /duplicate key/],
        [JSON.stringify({ ...snap, extra: true }), /unrecognized key/i],
      ];
      for (const [text, re] of cases) {
        await Deno.writeTextFile(path, text);
        await assert.rejects(readSnapshot(path), re, text.slice(0, 40));
      }
      await assert.rejects(readSnapshot(`${dir}/missing.json`), /no such file/);
      await assert.rejects(readSnapshot(dir), /is a directory/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
