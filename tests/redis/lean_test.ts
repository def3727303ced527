/**
 * The lean client (src/redis/lean.ts) against ioredis on a real redis-server: the same core
 * functions, the same raw commands, pipelines and transactions, the same errors, read through
 * both clients and compared. Writes go through the lean client and are read back with ioredis
 * (and the other way round), so a reply shape the core depends on cannot differ unnoticed.
 */
import assert from "node:assert/strict";
import { connectRedis, preferLeanClient, type Redis } from "../../src/redis/connection.ts";
import { isLean } from "../../src/redis/lean.ts";
import { defineScript, runScript, scriptSha } from "../../src/redis/script.ts";
import { avoidFunctions, functionName } from "../../src/redis/functions.ts";
import { createAgent, listAgents, resolveRecipient, toRecipient } from "../../src/core/agents.ts";
import {
  assignTask,
  completeTask,
  currentTask,
  listTasks,
  resolveTask,
  startTask,
} from "../../src/core/tasks.ts";
import { peekInbox, resolveSender, sendMessage, textMessage } from "../../src/core/messages.ts";
import { addToBacklog, claimTask, listBacklog } from "../../src/core/backlog.ts";
import { recentEvents } from "../../src/core/events.ts";
import { townStatus } from "../../src/core/status.ts";
import type { TownContext } from "../../src/core/town.ts";
import { snapshotTown, testRedisUrl, testTown, uniqueName } from "../helpers.ts";

async function leanConnect(url = testRedisUrl(), name = "tt-lean-test"): Promise<Redis> {
  preferLeanClient(true);
  try {
    return await connectRedis(url, { name });
  } finally {
    preferLeanClient(false);
  }
}

/** Two contexts on one town: `full` through ioredis, `lean` through the lean client. */
async function bothClients(fn: (full: TownContext, lean: TownContext) => Promise<void>) {
  const full = await testTown(uniqueName("lean"));
  const redis = await leanConnect();
  const lean: TownContext = { ...full, redis, close: async () => void await redis.quit() };
  try {
    assert.ok(isLean(lean.redis), "the lean context must use the lean client");
    assert.ok(!isLean(full.redis), "the full context must use ioredis");
    await fn(full, lean);
  } finally {
    await lean.close();
    await full.close();
  }
}

/** Runs a read through both clients and checks they answer the same. */
async function same<T>(full: TownContext, lean: TownContext, read: (t: TownContext) => Promise<T>) {
  const a = await read(full);
  const b = await read(lean);
  assert.deepEqual(b, a);
  return a;
}

const TRICKY = `fix "auth" & $(rm -rf /); \`id\`\r\n\ttabs — 日本語 🚀 \\n %s ${
  "x".repeat(60_000)
}`;

Deno.test("core reads give the same answers through the lean client and ioredis", async () => {
  await bothClients(async (full, lean) => {
    const a = await createAgent(lean, { name: "alpha", cli: "claude", role: "backend" });
    const b = await createAgent(full, { name: "beta", cli: "codex" });
    const ta = await assignTask(lean, toRecipient(a), { description: TRICKY, tags: ["x", "y"] });
    await assignTask(full, toRecipient(b), { description: "second", verify: "true" });
    await startTask(lean, ta.id, a.id);
    const sender = await resolveSender(lean, "beta", {});
    await sendMessage(lean, textMessage(sender.id, a.id, "urgent hi", "query"), { urgent: true });
    await sendMessage(full, textMessage(sender.id, b.id, "plain", "info"));
    await addToBacklog(lean, { description: "in the backlog", tags: ["later"] });
    await addToBacklog(full, { description: "second in the backlog" });

    const agents = await same(full, lean, listAgents);
    assert.equal(agents.length, 2);
    const tasks = await same(full, lean, (t) => listTasks(t, {}));
    assert.ok(tasks.some((x) => x.description === TRICKY), "long, multi-byte text must survive");
    await same(full, lean, (t) => listTasks(t, { state: "running" }));
    await same(full, lean, (t) => resolveTask(t, ta.id.slice(0, 8)));
    await same(full, lean, (t) => resolveRecipient(t, "alpha"));
    await same(full, lean, (t) => currentTask(t, a.id));
    await same(full, lean, (t) => peekInbox(t, a.id));
    await same(full, lean, listBacklog);
    const status = await same(full, lean, (t) => townStatus(t));
    assert.ok(JSON.stringify(status).includes("alpha"));
    const events = await same(full, lean, (t) => recentEvents(t, { count: 100 }));
    assert.ok(events.length >= 4, `events: ${events.length}`);

    // Writes through the lean client end in the same state as through ioredis.
    const [first] = await listBacklog(full);
    const claimed = await claimTask(lean, first.id, b);
    assert.equal(claimed.assigned_to, b.id, "the lean client claims from the backlog");
    await completeTask(lean, ta.id, { result: "done", by: a.id });
    const after = await same(full, lean, (t) => resolveTask(t, ta.id));
    assert.equal(after.state, "completed");
    assert.deepEqual(await snapshotTown(lean), await snapshotTown(full));
  });
});

Deno.test("raw commands, pipelines and MULTI answer like ioredis, errors included", async () => {
  await bothClients(async (full, lean) => {
    const k = (s: string) => `${full.keys.owner}:${s}`;
    const run = async (r: Redis) => {
      await r.del(k("h"), k("l"), k("s"), k("z"), k("str"), k("x"), k("big"));
      const out: unknown[] = [];
      out.push(await r.hset(k("h"), { a: "1", b: "日本", constructor: "c", __proto__: "p" }));
      out.push(await r.hgetall(k("h")), await r.hgetall(k("missing")));
      out.push(await r.rpush(k("l"), "a", 2, "c"), await r.lrange(k("l"), 0, -1));
      out.push(await r.set(k("str"), "v", "NX", "GET"), await r.set(k("str"), "w", "NX", "GET"));
      out.push(await r.get(k("nope")), await r.mget(k("str"), k("nope")));
      const big = "ü🚀".repeat(100_000); // 600 KB: replies that span many reads
      out.push(await r.set(k("big"), big), (await r.get(k("big"))) === big);
      out.push(
        await r.zadd(k("z"), 1, "one", 2, "two"),
        await r.zrange(k("z"), "0", "-1", "WITHSCORES"),
      );
      out.push(await r.call("SADD", k("s"), "m"), await r.smembers(k("s")));
      out.push(await r.xadd(k("x"), "MAXLEN", "~", 10, "1-1", "e", "{}"));
      out.push(await r.xrevrange(k("x"), "+", "-", "COUNT", 5));
      const p = await r.pipeline().get(k("str")).hgetall(k("h")).incr(k("h")).llen(k("l")).exec();
      out.push(p?.map(([e, v]) => [e ? [e.name, e.message] : null, v]));
      // The commands given up front, as src/core/missions/store.ts does.
      const given = await r.pipeline([["hget", k("h"), "a"], ["llen", k("l")]]).exec();
      out.push(given?.map(([e, v]) => [e ? [e.name, e.message] : null, v]));
      const m = await r.multi().hgetall(k("h")).lpush(k("str"), "x").rpop(k("l")).exec();
      out.push(m?.map(([e, v]) => [e ? [e.name, e.message] : null, v]));
      out.push(await r.eval("return {1, 'two', {3}}", 0).catch((e: Error) => e.message));
      out.push(await r.evalsha("0".repeat(40), 0).catch((e: Error) => [e.name, e.message]));
      out.push(await r.call("NOSUCHCMD").catch((e: Error) => [e.name, e.message.split(",")[0]]));
      const aborted = await r.multi().set(k("str"), "1").call("GET").exec().catch((e) => e);
      out.push([aborted.message, aborted.previousErrors?.length]);
      return out;
    };
    assert.deepEqual(await run(lean.redis), await run(full.redis));
  });
});

Deno.test("scripts load on first use (function not found, NOSCRIPT) through the lean client", async () => {
  await bothClients(async (full, lean) => {
    const script = defineScript("lean-test", 1, `return {KEYS[1], ARGV[1], '${uniqueName()}'}`);
    const keys = [full.keys.tasks];
    const first = await runScript(lean.redis, script, keys, ["a"]);
    assert.deepEqual(await runScript(full.redis, script, keys, ["a"]), first);
    // Only this script's library: the other tests' share the server.
    await full.redis.call("FUNCTION", "DELETE", functionName(await scriptSha(script)));
    assert.deepEqual(await runScript(lean.redis, script, keys, ["a"]), first);
    // Where functions are refused (a named ACL user, Redis 6): EVALSHA, loaded on first use.
    avoidFunctions(lean.redis);
    assert.deepEqual(await runScript(lean.redis, script, keys, ["a"]), first);
    await full.redis.script("FLUSH");
    assert.deepEqual(await runScript(lean.redis, script, keys, ["a"]), first);
  });
});

Deno.test("a blocking command on a lean duplicate is woken, and a disconnect ends it at once", async () => {
  await bothClients(async (full, lean) => {
    const key = `${full.keys.owner}:wake`;
    const blocked = lean.redis.duplicate();
    await blocked.connect();
    const woken = blocked.blpop(key, 5);
    await full.redis.rpush(key, "go");
    assert.deepEqual(await woken, [key, "go"]);
    const pending = blocked.blpop(key, 0).then(() => "answered", (e: Error) => e.message);
    blocked.disconnect();
    assert.equal(await pending, "Connection is closed.");
    await assert.rejects(() => blocked.get(key), /Connection is closed/);
  });
});

async function failure(url: string, lean: boolean): Promise<string> {
  try {
    const c = lean ? await leanConnect(url) : await connectRedis(url, { name: "tt-lean-test" });
    await c.quit();
    return "connected";
  } catch (e) {
    return `${(e as Error).message} [${(e as { code?: string }).code}]`;
  }
}

Deno.test("connection failures read the same with both clients (socket missing, refused, auth)", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tt-lean-" });
  const sock = `${dir}/pw.sock`;
  const server = new Deno.Command("redis-server", {
    args: ["--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--save", ""]
      .concat(["--appendonly", "no", "--requirepass", "pw-42", "--dir", dir]),
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 200; i++) { // bounded wait for the socket (up to 10 s)
      try {
        if ((await Deno.stat(sock)).isSocket) break;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close(); // a port nobody listens on
    const urls = [
      `unix://${dir}/missing.sock`,
      `redis://127.0.0.1:${port}`,
      `unix://${sock}`,
      `unix://:wrong@localhost${sock}`,
      `unix://someone:pw-42@localhost${sock}`,
      `unix://:pw-42@localhost${sock}`,
      `unix://:pw-42@localhost${sock}?db=3`,
    ];
    for (const url of urls) {
      const want = await failure(url, false);
      assert.equal(await failure(url, true), want, url);
    }
    assert.match(await failure(urls[0], true), /socket .* does not exist/);
    assert.match(await failure(urls[3], true), /authentication failed.*WRONGPASS/);
    assert.equal(await failure(urls[5], true), "connected");
  } finally {
    server.kill("SIGTERM");
    await server.status;
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("daemons, TLS and topologies keep ioredis even when the lean client is preferred", async () => {
  preferLeanClient(true);
  try {
    const persistent = await connectRedis(testRedisUrl(), {
      name: "tt-lean-test",
      persistent: true,
    });
    assert.ok(!isLean(persistent));
    persistent.disconnect();
    const oneShot = await connectRedis(testRedisUrl(), { name: "tt-lean-test" });
    assert.ok(isLean(oneShot));
    await oneShot.quit();
  } finally {
    preferLeanClient(false);
  }
});
