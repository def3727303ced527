/**
 * `tt restore` as an attack surface: another town's snapshot, forged files, huge files, restoring
 * under a running supervisor. Black box: the real tt in temp towns on the test Redis.
 */
import assert from "node:assert/strict";
import { createAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { assignTask, getTask } from "../../src/core/tasks.ts";
import { buildMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { thisHost } from "../../src/core/control.ts";
import { generateKey, verifyKey } from "../../src/core/auth.ts";
import { alive, waitUntil } from "../agent_helpers.ts";
import { Sandbox, snapshotTown, townOf, ttBounded } from "../helpers.ts";
import type { TownContext } from "../../src/core/town.ts";

/** Two sandboxed towns on the test Redis: `a` is saved, `b` restores. */
async function twoTowns(
  fn: (a: Sandbox, ta: TownContext, b: Sandbox, tb: TownContext) => Promise<void>,
) {
  const a = new Sandbox();
  const b = new Sandbox();
  try {
    const ta = await townOf(await a.init());
    const tb = await townOf(await b.init());
    try {
      await fn(a, ta, b, tb);
    } finally {
      await ta.close();
      await tb.close();
    }
  } finally {
    a.cleanup();
    b.cleanup();
  }
}

Deno.test("another town's snapshot: no liveness keys, no paths or process groups of that town; tt recover frees its 'working' agents", async () => {
  await twoTowns(async (a, ta, b, tb) => {
    const aRoot = await Deno.realPath(a.dir);
    const bRoot = await Deno.realPath(b.dir);
    // A process group of town A's running round: nothing town B does may signal it.
    const round = new Deno.Command("sleep", { args: ["300"], detached: true, stdout: "null" })
      .spawn();
    try {
      const w = await createAgent(ta, { name: "w1", cli: "claude", host: thisHost() });
      const task = await assignTask(ta, toRecipient(w), { description: "in flight" });
      // What A looks like mid-round: the assignment taken, the task running, a live supervisor.
      await ta.redis.lmove(ta.keys.inbox(w.id), ta.keys.processing(w.id), "LEFT", "RIGHT");
      await ta.redis.hset(ta.keys.task(task.id), { state: "running" });
      await setAgentState(ta, w.id, "working");
      await ta.redis.hset(ta.keys.agent(w.id), {
        workdir: `${aRoot}/.tt/worktrees/w1`,
        branch: "tt/w1",
        round: 1,
        round_started_at: new Date().toISOString(),
        round_pgid: round.pid,
      });
      const beat = JSON.stringify({
        pid: Deno.pid,
        host: thisHost(),
        started_at: new Date().toISOString(),
        version: "0",
        agents: 1,
      });
      await ta.redis.set(ta.keys.supervisor(thisHost()), beat, "EX", 600);
      await ta.redis.rpush(ta.keys.control(thisHost()), '{"op":"wake","agent_id":""}');
      await ta.redis.rpush(ta.keys.ready("nonce-1"), "ok");
      // Each town's claim on the shared Redis (tt init made it) is never carried by a snapshot.
      const ownerOfB = await tb.redis.get(tb.keys.owner);
      assert.ok(ownerOfB, "town B has claimed its name");
      const { key: keyOfA } = await generateKey(ta, { name: "a-ci", scopes: ["admin"] });
      await generateKey(tb, { name: "b-ci", scopes: ["town.read"] });
      const bKeys = await tb.redis.hgetall(tb.keys.authKeys);

      await a.ok(["save", "a.json"]);
      const text = await Deno.readTextFile(`${a.dir}/a.json`);
      assert.ok(!text.includes(aRoot), "the snapshot holds an absolute path of town A");
      for (const k of ["supervisor:", "control:", "ready:", '"owner"', "round_pgid"]) {
        assert.ok(!text.includes(k), `the snapshot holds ${k}`);
      }

      const r = await b.ok(["restore", `${a.dir}/a.json`, "--force"]);
      assert.match(r.stdout, /1 agent\(s\) were active when saved.*'tt recover'/);
      assert.match(r.stdout, /No work directory here yet for w1/);
      const agent = await tb.redis.hgetall(tb.keys.agent(w.id));
      assert.equal(agent.workdir, `${bRoot}/.tt/worktrees/w1`);
      assert.equal(agent.round_pgid, undefined);
      assert.equal(await tb.redis.exists(tb.keys.supervisor(thisHost())), 0);
      assert.equal(await tb.redis.exists(tb.keys.control(thisHost())), 0);
      assert.equal(await tb.redis.get(tb.keys.owner), ownerOfB);
      // Town A's API keys do not open town B's townhall.
      assert.deepEqual(await tb.redis.hgetall(tb.keys.authKeys), bKeys);
      assert.equal(await verifyKey(tb, keyOfA), undefined);

      // Nothing runs B's copy of the agent: recover stops it and puts its work back.
      const rec = await b.json<{ recovered: { name: string }[] }>(["recover"]);
      assert.deepEqual(rec.recovered.map((x) => x.name), ["w1"]);
      assert.equal((await tb.redis.hgetall(tb.keys.agent(w.id))).state, "stopped");
      // [agent] on_stop = "backlog" (the default): the stopped agent's task waits in the backlog.
      assert.equal((await getTask(tb, task.id))?.state, "pending");
      assert.deepEqual(await tb.redis.lrange(tb.keys.backlog, 0, -1), [task.id]);
      assert.equal(await tb.redis.llen(tb.keys.processing(w.id)), 0);
      assert.equal(await tb.redis.llen(tb.keys.inbox(w.id)), 0);
      // Town A is untouched, its round's process group still alive.
      assert.equal((await ta.redis.hgetall(ta.keys.agent(w.id))).state, "working");
      assert.ok(await alive(round.pid), "town B's recover killed town A's round");
    } finally {
      try {
        Deno.kill(-round.pid, "SIGKILL");
      } catch { /* gone */ }
      await round.status;
    }
  });
});

Deno.test("restore refuses while this town's supervisor runs (heartbeat or lock), changing nothing", async () => {
  await twoTowns(async (a, ta, b, tb) => {
    await createAgent(ta, { name: "x", cli: "claude" });
    await a.ok(["save", "a.json"]);
    await createAgent(tb, { name: "mine", cli: "claude" });
    const before = await snapshotTown(tb);
    const refused = async (why: RegExp) => {
      const r = await b.tt(["restore", `${a.dir}/a.json`, "--force"]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /supervisor of town .* is running .*'tt stop'.*nothing was changed/);
      assert.match(r.stderr, why);
      assert.deepEqual(await snapshotTown(tb), before);
    };
    // A supervisor on this host: it holds the town's supervisor lock for its whole life.
    await Deno.mkdir(`${b.dir}/.tt`, { recursive: true });
    const lock = await Deno.open(`${b.dir}/.tt/supervisor.lock`, { create: true, write: true });
    try {
      await lock.lock(true);
      await refused(/supervisor\.lock/);
    } finally {
      lock.close();
    }
    // A supervisor whose heartbeat is fresh (on this host or another).
    const beat = { pid: 4242, host: "elsewhere", started_at: "now", version: "0", agents: 1 };
    await tb.redis.set(tb.keys.supervisor("elsewhere"), JSON.stringify(beat), "EX", 60);
    const withBeat = await snapshotTown(tb);
    before[tb.keys.supervisor("elsewhere")] = withBeat[tb.keys.supervisor("elsewhere")];
    await refused(/pid 4242 on elsewhere/);
    await tb.redis.del(tb.keys.supervisor("elsewhere"));
    await b.ok(["restore", `${a.dir}/a.json`, "--force"]);
  });
});

/** A version 1 snapshot entry: the DUMP payload of a value written on a scratch key. */
async function dumpOf(t: TownContext, write: (key: string) => Promise<unknown>): Promise<string> {
  const scratch = `${t.keys.prefix}scratch`;
  await write(scratch);
  const dump = await t.redis.dumpBuffer(scratch);
  await t.redis.del(scratch);
  return dump!.toString("base64");
}

Deno.test("forged snapshots (wrong key types, bad fields, foreign keys, escaping paths) are refused before anything is written", async () => {
  await twoTowns(async (a, ta, b, tb) => {
    const w = await createAgent(ta, { name: "w1", cli: "claude" });
    await assignTask(ta, toRecipient(w), { description: "real work" });
    await a.ok(["save", "good.json"]);
    const good = JSON.parse(await Deno.readTextFile(`${a.dir}/good.json`));
    await createAgent(tb, { name: "mine", cli: "claude" });
    const before = await snapshotTown(tb);
    const refused = async (name: string, snap: unknown, re: RegExp) => {
      await Deno.writeTextFile(`${b.dir}/${name}.json`, JSON.stringify(snap));
      const r = await b.tt(["restore", `${name}.json`, "--force"]);
      assert.equal(r.code, 1, `${name}: ${r.stdout} ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, re, name);
      assert.deepEqual(await snapshotTown(tb), before, name);
    };
    // Version 1 (DUMP payloads), as today's files are: the set of agents forged as a string.
    const v1 = {
      ...good,
      version: 1,
      keys: [{ key: "agents", ttl_ms: 0, dump: await dumpOf(ta, (k) => ta.redis.set(k, "x")) }],
    };
    await refused("v1-wrong-type", v1, /snapshot key 'agents' is a string; tt keeps it as a set/);
    const task = good.keys.find((k: { key: string }) => k.key.startsWith("task:"));
    await refused("v1-task-as-list", {
      ...v1,
      keys: [{
        key: task.key,
        ttl_ms: 0,
        dump: await dumpOf(ta, (k) => ta.redis.rpush(k, "x")),
      }],
    }, /is a list; tt keeps it as a hash/);
    const agent = good.keys.find((k: { key: string }) => k.key.startsWith("agent:"));
    const withAgent = (value: Record<string, string>) => ({
      ...good,
      keys: [...good.keys.filter((k: { key: string }) => k !== agent), { ...agent, value }],
    });
    await refused(
      "bad-state",
      withAgent({ ...agent.value, state: "pwned" }),
      /'agent:.*' has a bad value at state/,
    );
    await refused(
      "other-id",
      withAgent({ ...agent.value, id: "someone-else" }),
      /holds id 'someone-else'/,
    );
    await refused(
      "escaping-workdir",
      withAgent({ ...agent.value, workdir: "../../etc" }),
      /work directory '\.\.\/\.\.\/etc', outside any tt town/,
    );
    await refused(
      "foreign-workdir",
      withAgent({ ...agent.value, workdir: "/home/victim/project" }),
      /outside any tt town/,
    );
    await refused("unknown-key", {
      ...good,
      keys: [...good.keys, { key: "x:y", ttl_ms: 0, type: "string", value: "1" }],
    }, /'x:y' is not a key of a tt town/);
    await refused("inbox-garbage", {
      ...good,
      keys: [...good.keys, {
        key: `inbox:${SUPERVISOR_ID}`,
        ttl_ms: 0,
        type: "list",
        value: ["{"],
      }],
    }, /'inbox:.*' has a bad value at 0: not JSON/);
    await refused("stream-order", {
      ...good,
      keys: [
        ...good.keys.filter((k: { key: string }) => k.key !== "events"),
        {
          key: "events",
          ttl_ms: 0,
          type: "stream",
          value: [["5-0", ["e", "{}"]], ["4-0", ["e", "{}"]]],
        },
      ],
    }, /not increasing at 4-0/);
    // The town still works: no WRONGTYPE anywhere.
    assert.equal((await b.json<unknown[]>(["list"])).length, 1);
    const ok = await b.ok(["restore", `${a.dir}/good.json`, "--force"]);
    assert.match(ok.stdout, /^Restored /);
    const m = buildMessage({ from: SUPERVISOR_ID, to: w.id, type: "task", body: "still fine" });
    await tb.redis.rpush(tb.keys.inbox(w.id), JSON.stringify(m));
    assert.equal((await b.json<unknown[]>(["list"])).length, 1);
  });
});

Deno.test("the file size is bounded before it is read: /dev/zero and a 300 MB file are refused at once", async () => {
  const sb = new Sandbox();
  try {
    await sb.init();
    const zero = await ttBounded(sb, ["restore", "/dev/zero"]);
    assert.equal(zero.code, 1, zero.stderr);
    assert.match(zero.stderr, /^tt: \/dev\/zero is not a regular file/);
    // Sparse: 300 MB long, no disk used.
    const big = `${sb.dir}/big.json`;
    const f = await Deno.open(big, { create: true, write: true });
    await f.truncate(300 * 1024 * 1024);
    f.close();
    const r = await ttBounded(sb, ["restore", big]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /big\.json is larger than 256 MiB, the most 'tt restore' reads/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  } finally {
    sb.cleanup();
  }
});

Deno.test("a restored agent left 'working' is served again by 'tt start' (its stale round is cut off, it ends idle)", async () => {
  await twoTowns(async (a, ta, b, tb) => {
    const w = await createAgent(ta, { name: "w1", cli: "true", host: thisHost() });
    await setAgentState(ta, w.id, "working");
    await ta.redis.hset(ta.keys.agent(w.id), {
      round: 1,
      round_started_at: new Date().toISOString(),
    });
    await a.ok(["save", "a.json"]);
    await b.ok(["restore", `${a.dir}/a.json`, "--force"]);
    try {
      await b.ok(["start"]);
      await waitUntil(async () => (await tb.redis.hget(tb.keys.agent(w.id), "state")) === "idle");
    } finally {
      await b.tt(["stop", "--now"]);
    }
  });
});
