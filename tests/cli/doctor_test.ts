/**
 * `tt doctor` black box, the town's processes: a healthy town passes and --json lists every check
 * the human output shows; Redis unreachable (managed and external, refused and stalled) and a dead
 * or stopped supervisor each fail with their fix. The town's configuration and agents (CLIs,
 * secrets, worktrees, identity, sandbox): doctor_town_test.ts.
 */
import assert from "node:assert/strict";
import { AgentTown, fakeCli, waitUntil } from "../agent_helpers.ts";
import { Sandbox } from "../helpers.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { managedPaths, pingSocket } from "../../src/redis/server.ts";
import { doctor, type Report } from "./doctor_helpers.ts";

const MARKS: Record<string, string> = { ok: "✓", fail: "✗", warn: "!", skip: "-" };

Deno.test("tt doctor: a healthy town with a running agent exits 0; --json lists every check the text shows", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const d = await doctor(at.sb);
    assert.equal(d.code, 0, d.human + d.stderr);
    assert.equal(d.report.ok, true);
    assert.deepEqual(d.report.checks.map((c) => c.name), [
      "deno",
      "redis-server",
      "town",
      "redis",
      "identity",
      "supervisor",
      "default cli",
      "agent w1",
      "sandbox",
      "townhall keys",
      "task counters",
      "secrets",
      "worktrees",
      "disk",
    ]);
    for (const c of d.report.checks) {
      assert.deepEqual(Object.keys(c).sort(), ["fix", "message", "name", "status"]);
      assert.notEqual(c.status, "fail", `${c.name}: ${c.message}`);
      assert.equal(c.fix === null, c.status === "ok" || c.status === "skip", c.name);
    }
    const sup = (await supervisorInfo(at.t))!;
    assert.match(d.by("supervisor").message, new RegExp(`^pid ${sup.pid} on `));
    assert.equal(d.by("redis").status, "ok");
    assert.match(d.by("redis").message, /\(from REDIS_URL\): Redis \d+\.\d+/);
    assert.match(d.by("agent w1").message, /: \/.*\bsh$/);
    // One line per check, in the same order, each with its mark.
    const lines = d.human.trimEnd().split("\n");
    assert.equal(lines.length, d.report.checks.length);
    d.report.checks.forEach((c, i) => {
      assert.ok(lines[i].startsWith(`${MARKS[c.status]} ${c.name} `), lines[i]);
      assert.ok(lines[i].includes(c.message), lines[i]);
    });
  } finally {
    await at.cleanup();
  }
});

Deno.test("tt doctor: an external Redis that refuses, or accepts and never answers, fails within the bound", async () => {
  const sb = new Sandbox();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) held.push(c); // accepted, never answered
  })();
  try {
    await sb.init();
    const refused = await doctor(sb, { REDIS_URL: "unix:///nonexistent/tt-doctor.sock" });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^tt: 1 of \d+ checks failed: redis$/m);
    const r = refused.by("redis");
    assert.equal(r.status, "fail");
    assert.match(r.message, /unix:\/\/\/nonexistent\/tt-doctor\.sock \(from REDIS_URL\)/);
    assert.match(r.fix!, /REDIS_URL/);
    for (const name of ["supervisor", "agents", "townhall keys", "worktrees"]) {
      assert.equal(refused.by(name).status, "skip", name);
      assert.match(refused.by(name).message, /Redis is unreachable/);
    }
    assert.match(refused.human, /^✗ redis .*— fix: .*REDIS_URL/m);

    const port = (listener.addr as Deno.NetAddr).port;
    const started = Date.now();
    const stalled = await sb.tt(["doctor", "--json"], {
      env: { REDIS_URL: `redis://127.0.0.1:${port}` },
    });
    assert.equal(stalled.code, 1);
    const s = (JSON.parse(stalled.stdout) as Report).checks.find((c) => c.name === "redis")!;
    assert.equal(s.status, "fail");
    assert.match(s.message, /no answer within 2 s/);
    assert.ok(held.length >= 1, "the doctor never connected to the stalled server");
    // Bounded: two runs of at most ~2 s each plus start-up, nowhere near a hang.
    assert.ok(Date.now() - started < 30_000);
  } finally {
    listener.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
    sb.cleanup();
  }
});

Deno.test("tt doctor: a stopped managed Redis fails with 'tt start', and the doctor does not start it", async () => {
  const sb = new Sandbox(null);
  try {
    await sb.init();
    await sb.ok(["stop"]);
    const socket = managedPaths(await Deno.realPath(sb.dir)).socket;
    const d = await doctor(sb);
    assert.equal(d.code, 1);
    assert.equal(d.by("redis").status, "fail");
    assert.match(
      d.by("redis").message,
      /managed redis-server on unix:\/\/.*redis\.sock is not running/,
    );
    assert.match(d.by("redis").fix!, /tt start/);
    assert.equal(await pingSocket(socket), false, "tt doctor started the town's Redis");
    // The fix works: after 'tt start' the same check passes.
    await sb.ok(["start"]);
    assert.equal((await doctor(sb)).by("redis").status, "ok");
  } finally {
    await sb.tt(["stop"]);
    sb.cleanup();
  }
});

Deno.test("tt doctor: a SIGKILLed supervisor whose heartbeat is left behind fails, then 'not running' fails, and 'tt start' fixes it", async () => {
  const at = await AgentTown.create();
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const { sup, key } = await at.killSupervisorKeepingHeartbeat();
    let d = await doctor(at.sb);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /checks failed: supervisor$/m);
    assert.equal(d.by("supervisor").status, "fail");
    assert.match(
      d.by("supervisor").message,
      new RegExp(`pid ${sup.pid}\\) is dead but its heartbeat`),
    );
    assert.match(d.by("supervisor").fix!, /tt start/);

    await at.t.redis.del(key); // the heartbeat expired
    d = await doctor(at.sb);
    assert.equal(d.code, 1);
    assert.match(d.by("supervisor").message, /not running on .*1 active agent\(s\) \(w1\)/);
    assert.match(d.by("supervisor").fix!, /^'tt start' starts it/);

    await at.sb.ok(["start"]);
    d = await doctor(at.sb);
    assert.equal(d.code, 0, d.human);
    assert.equal(d.by("supervisor").status, "ok");
  } finally {
    await at.cleanup();
  }
});

Deno.test("tt doctor: a supervisor stopped by SIGSTOP fails with 'kill -CONT', also once its heartbeat is gone", async () => {
  const at = await AgentTown.create();
  let stopped: number | undefined;
  try {
    await at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    const sup = (await supervisorInfo(at.t))!;
    Deno.kill(sup.pid, "SIGSTOP");
    stopped = sup.pid;
    let d = await doctor(at.sb);
    assert.equal(d.code, 1);
    assert.match(
      d.by("supervisor").message,
      new RegExp(`\\(pid ${sup.pid}\\) is stopped by a signal`),
    );
    assert.equal(d.by("supervisor").fix, `resume it with 'kill -CONT ${sup.pid}'`);
    // Its heartbeat expires while it is stopped: the process is still found, and named.
    await at.t.redis.del(at.t.keys.supervisor(sup.host));
    d = await doctor(at.sb);
    assert.equal(d.code, 1);
    assert.match(
      d.by("supervisor").message,
      new RegExp(`\\(pid ${sup.pid}\\) runs on .* but has no heartbeat`),
    );
    assert.match(d.by("supervisor").fix!, /kill -CONT/);
    Deno.kill(sup.pid, "SIGCONT");
    stopped = undefined;
    await waitUntil(async () => !!(await supervisorInfo(at.t)));
    d = await doctor(at.sb);
    assert.equal(d.by("supervisor").status, "ok", d.by("supervisor").message);
  } finally {
    if (stopped) Deno.kill(stopped, "SIGCONT");
    await at.cleanup();
  }
});
