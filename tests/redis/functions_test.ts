/**
 * tt's scripts as Redis functions (src/redis/functions.ts), on a private real redis-server (TCP,
 * so ACL users can log in by URL, and its command counts are this file's alone): every script of
 * tt loads as a library; tasks go through FCALL; a named ACL user, or a user refused FCALL or
 * FUNCTION, gets EVALSHA; a flushed library is loaded again; no script ever runs twice.
 */
import assert from "node:assert/strict";
import { connectRedis, namedUser, type Redis } from "../../src/redis/connection.ts";
import {
  definedScripts,
  defineScript,
  requireReplicas,
  runScript,
  scriptSha,
} from "../../src/redis/script.ts";
import { functionName, libraryOf } from "../../src/redis/functions.ts";
import { townKeys } from "../../src/core/keys.ts";
import { createAgent, type Ctx, getAgent, toRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask, getTask } from "../../src/core/tasks.ts";
import { recentEvents } from "../../src/core/events.ts";
import { cannotRun, startSingle, type Topology } from "../../bench/lib/topology.ts";
import { report, ROOT, uniqueName } from "../helpers.ts";

const skip = cannotRun();
if (skip) report(`skipped the Redis functions tests: ${skip}`);

/** Imports every module of src/ that defines a script, so definedScripts() holds them all. */
async function loadAllScripts() {
  const walk = async (dir: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) out.push(...await walk(p));
      else if (p.endsWith(".ts") && (await Deno.readTextFile(p)).includes("defineScript(")) {
        out.push(p);
      }
    }
    return out;
  };
  for (const f of await walk(`${ROOT}/src`)) await import(`file://${f}`);
}

async function withServer(fn: (topo: Topology, url: string, admin: Redis) => Promise<void>) {
  const topo = await startSingle();
  const url = `redis://127.0.0.1:${topo.servers[0].port}`;
  const admin = await connectRedis(url, { name: "tt-functions-test" });
  try {
    await fn(topo, url, admin);
  } finally {
    await admin.quit();
    await topo.stop();
  }
}

/** Calls and refusals of a command since the last CONFIG RESETSTAT. */
async function calls(admin: Redis, cmd: string): Promise<{ calls: number; rejected: number }> {
  const m = new RegExp(`cmdstat_${cmd.replace("|", "\\|")}:calls=(\\d+).*rejected_calls=(\\d+)`)
    .exec(
      await admin.info("commandstats"),
    );
  return { calls: Number(m?.[1] ?? 0), rejected: Number(m?.[2] ?? 0) };
}

/** An agent, one task assigned to it and completed: whether it completed exactly once. */
async function oneTask(redis: Redis) {
  const t: Ctx = { redis, keys: townKeys(uniqueName("fn")) };
  const agent = await createAgent(t, { name: "worker", cli: "true" });
  const task = await assignTask(t, toRecipient(agent), { description: "add the endpoint" });
  const done = await completeTask(t, task.id, { result: "added" });
  assert.equal(done.state, "completed");
  assert.equal((await getTask(t, task.id))?.state, "completed");
  assert.equal((await getAgent(t, agent.id))?.tasks_completed, 1);
  const ended = (await recentEvents(t, { count: 50 })).filter((e) => e.type === "task_completed");
  assert.equal(ended.length, 1);
}

Deno.test({
  name: "every script of tt that writes loads as a function library; all compile as EVAL scripts",
  ignore: !!skip,
  async fn() {
    await loadAllScripts();
    const scripts = definedScripts();
    assert.ok(scripts.length >= 40, `only ${scripts.length} scripts found`);
    await withServer(async (_topo, _url, admin) => {
      for (const s of scripts) {
        await admin.script("LOAD", s.lua);
        // Read-only ones stay EVAL scripts (functions.ts): a server refusing writes runs them.
        if (s.readOnly) continue;
        const name = functionName(await scriptSha(s));
        await admin.call("FUNCTION", "LOAD", "REPLACE", libraryOf(s, name)).catch((e) => {
          throw new Error(`${s.name} does not load as a library: ${(e as Error).message}`);
        });
      }
      assert.ok(scripts.some((s) => s.readOnly) && scripts.some((s) => !s.readOnly));
      // A prelude that runs code when it loads fails there (only `redis` is in scope then).
      const bad = defineScript("fn-bad", 1, "local N = #string.rep('x', 3)\n", "return N");
      await assert.rejects(
        () => admin.call("FUNCTION", "LOAD", libraryOf(bad, "tt_bad")),
        /nonexistent global variable 'string'/,
      );
    });
  },
});

Deno.test({
  name: "a read-only script runs as EVALSHA while the server refuses writes (no library to load)",
  ignore: !!skip,
  async fn() {
    await withServer(async (_topo, url, admin) => {
      const redis = await connectRedis(url, { name: "tt-fn-readonly" });
      try {
        const read = defineScript(
          "fn-read",
          1,
          "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
        );
        const write = defineScript("fn-write", 1, "return redis.call('INCR', KEYS[1])");
        await admin.set("{r}k", "7");
        await admin.call("REPLICAOF", "127.0.0.1", "1"); // a replica (of nothing): read-only
        assert.equal(await runScript(redis, read, ["{r}k"], []), "7");
        await assert.rejects(() => runScript(redis, write, ["{r}k"], []), /READONLY/);
        await admin.call("REPLICAOF", "NO", "ONE");
        assert.equal(await runScript(redis, write, ["{r}k"], []), 8);
      } finally {
        await redis.quit();
      }
    });
  },
});

Deno.test({
  name: "tasks go through FCALL on the default user, with no EVALSHA",
  ignore: !!skip,
  async fn() {
    await withServer(async (_topo, url, admin) => {
      const redis = await connectRedis(url, { name: "tt-fn-default" });
      try {
        await admin.config("RESETSTAT");
        await oneTask(redis);
        assert.ok((await calls(admin, "fcall")).calls >= 3);
        assert.equal((await calls(admin, "evalsha")).calls, 0);
      } finally {
        await redis.quit();
      }
    });
  },
});

Deno.test({
  name:
    "attack: a named ACL user never FCALLs (another user could replace a library), EVALSHA only",
  ignore: !!skip,
  async fn() {
    await withServer(async (_topo, url, admin) => {
      await admin.call("ACL", "SETUSER", "town", "on", ">pw-town", "~*", "&*", "+@all");
      const redis = await connectRedis(url.replace("//", "//town:pw-town@"), { name: "tt-fn-acl" });
      try {
        await admin.config("RESETSTAT");
        await oneTask(redis);
        const dup = await (await import("../../src/redis/connection.ts")).duplicateConnection(
          redis,
        );
        await runScript(dup, defineScript("fn-dup", 1, "return 1"), ["{x}k"], []);
        dup.disconnect();
        assert.equal((await calls(admin, "fcall")).calls, 0);
        assert.ok((await calls(admin, "evalsha")).calls >= 4);
      } finally {
        await redis.quit();
      }
    });
  },
});

Deno.test({
  name:
    "a user refused FCALL, or FUNCTION, falls back to EVALSHA after one refusal; nothing runs twice",
  ignore: !!skip,
  async fn() {
    await withServer(async (_topo, url, admin) => {
      for (const rules of [["-fcall"], ["-function"]]) {
        await admin.call("FUNCTION", "FLUSH");
        await admin.call("ACL", "SETUSER", "limited", "reset", "on", ">pw", "~*", "&*", "+@all");
        await admin.call("ACL", "SETUSER", "limited", ...rules);
        // Logged in without a user name in the URL (so tt tries functions), then as `limited`.
        const redis = await connectRedis(url, { name: "tt-fn-limited" });
        try {
          await redis.call("AUTH", "limited", "pw");
          await admin.config("RESETSTAT");
          await oneTask(redis);
          const counter = defineScript("fn-counter", 1, "return redis.call('INCR', KEYS[1])");
          assert.equal(await runScript(redis, counter, ["{c}n"], []), 1);
          assert.equal(await runScript(redis, counter, ["{c}n"], []), 2);
          const fcall = await calls(admin, "fcall");
          const fn = await calls(admin, "function|load");
          // One refusal: of FCALL itself, or of the FUNCTION LOAD after FCALL found nothing.
          assert.equal(
            fcall.rejected + fn.rejected,
            1,
            `${rules}: ${JSON.stringify({ fcall, fn })}`,
          );
          assert.ok((await calls(admin, "evalsha")).calls >= 4);
          await admin.del("{c}n");
        } finally {
          await redis.quit();
        }
      }
    });
  },
});

Deno.test({
  name: "a flushed library is loaded again, alone or with WAIT behind it, and runs once",
  ignore: !!skip,
  async fn() {
    await withServer(async (_topo, url, admin) => {
      const redis = await connectRedis(url, { name: "tt-fn-flush" });
      try {
        const counter = defineScript("fn-flushed", 1, "return redis.call('INCR', KEYS[1])");
        assert.equal(await runScript(redis, counter, ["{f}n"], []), 1);
        await admin.call("FUNCTION", "FLUSH");
        assert.equal(await runScript(redis, counter, ["{f}n"], []), 2);
        // Durable (wait_replicas): FCALL and WAIT in one pipeline. This server has no replica,
        // so the change is refused as unacknowledged, but it ran, once, after the reload.
        requireReplicas(redis, 1, 50);
        await admin.call("FUNCTION", "FLUSH");
        await assert.rejects(() => runScript(redis, counter, ["{f}n"], []), /only 0 of 1/);
        assert.equal(await admin.get("{f}n"), "3");
      } finally {
        await redis.quit();
      }
    });
  },
});

Deno.test("a named ACL user is seen in every kind of Redis URL (cluster and sentinel ones too)", () => {
  const named = [
    "redis://tt:pw@127.0.0.1:6379",
    "rediss://t%40t:pw@example.com:6380/2",
    "redis+cluster://tt:pw@127.0.0.1:7000,127.0.0.1:7001",
    "rediss+cluster://tt:pw@h1:7000,h2:7000",
    "redis+sentinel://tt:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster",
  ];
  const unnamed = [
    "unix:///tmp/r.sock",
    "redis://:pw@127.0.0.1:6379",
    "redis://default:pw@127.0.0.1:6379",
    "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
    "redis+sentinel://:pw@127.0.0.1:26379/mymaster",
  ];
  assert.deepEqual(named.filter((u) => !namedUser(u)), []);
  assert.deepEqual(unnamed.filter(namedUser), []);
});
