/**
 * Redis down, as the CLI meets it: nothing listening, a server that accepts but never answers, a
 * missing socket file, the managed socket deleted under a running server, the server killed
 * during a command. Each must end in one line naming the socket or URL (password masked), fast.
 */
import assert from "node:assert/strict";
import { denoRunArgs, Sandbox, ttBounded, type TtResult } from "../helpers.ts";
import { alive, waitUntil } from "../agent_helpers.ts";

/** tt with a hard limit of 30 s (a hang fails the test), timed. */
const ttTimed = (sb: Sandbox, args: string[], env: Record<string, string> = {}, limitMs = 30_000) =>
  ttBounded(sb, args, { env, limitMs });

function oneLine(r: TtResult, re: RegExp) {
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, /s3cret|internal error|\n\s+at /);
}

/** A town whose tinytown.toml exists (made with the test Redis), then pointed elsewhere. */
async function townPointedAt(fn: (sb: Sandbox) => Promise<void>) {
  const sb = new Sandbox();
  try {
    await sb.init();
    await fn(sb);
  } finally {
    sb.cleanup();
  }
}

Deno.test("external Redis down: nothing listening, a silent listener, a missing socket: one line naming it, password masked, within seconds", async () => {
  await townPointedAt(async (sb) => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const refused = await ttTimed(sb, ["status"], {
      REDIS_URL: `redis://u:s3cret@127.0.0.1:${closed}`,
    });
    oneLine(
      refused,
      new RegExp(`at redis://u:\\*\\*\\*\\*@127\\.0\\.0\\.1:${closed}.*ECONNREFUSED`),
    );
    assert.ok(refused.ms < 10_000, `${refused.ms} ms`);

    // Accepts connections and never says a word (a stopped server, a proxy without backend).
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      try {
        for await (const c of silent) held.push(c);
      } catch { /* closed */ }
    })();
    try {
      const port = (silent.addr as Deno.NetAddr).port;
      const r = await ttTimed(sb, ["task", "list"], {
        REDIS_URL: `redis://:s3cret@127.0.0.1:${port}`,
      });
      oneLine(r, new RegExp(`at redis://:\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}.*no answer`));
      assert.ok(r.ms < 15_000, `${r.ms} ms`);
    } finally {
      silent.close();
      for (const c of held) c.close();
      await accepting;
    }

    const missing = `${sb.dir}/nothing-here.sock`;
    const r = await ttTimed(sb, ["list"], { REDIS_URL: `unix://${missing}` });
    oneLine(r, /socket .*nothing-here\.sock does not exist/);
  });
});

Deno.test("managed Redis: a deleted socket is named as such at once; a server killed during a command is named with its log", async () => {
  const sb = new Sandbox(null);
  const pid = async () => Number((await Deno.readTextFile(`${sb.dir}/.tt/redis.pid`)).trim());
  try {
    await sb.ok(["init", "--name", "gone"]);
    const first = await pid();
    await Deno.remove(`${sb.dir}/.tt/redis.sock`);
    const r = await ttTimed(sb, ["status"]);
    oneLine(r, /^tt: socket \.tt\/redis\.sock is gone .*redis-server \(pid \d+\) still runs/);
    assert.ok(r.ms < 10_000, `${r.ms} ms (the slow-server wait is 30 s)`);
    Deno.kill(first, "SIGTERM");
    await waitUntil(async () => !(await alive(first)));
    await sb.ok(["status"]); // a new server, on a new socket

    // Killed while `tt events --follow` blocks on it.
    const follow = new Deno.Command(Deno.execPath(), {
      args: [...denoRunArgs("main.ts"), "events", "--follow"],
      cwd: sb.dir,
      env: { ...sb.env(), DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).spawn();
    const second = await pid();
    // Wait until the follower is connected (its client shows up in CLIENT LIST).
    await waitUntil(async () => {
      const out = await new Deno.Command("redis-cli", {
        args: ["-s", `${sb.dir}/.tt/redis.sock`, "client", "list"],
        stdout: "piped",
      }).output();
      return (new TextDecoder().decode(out.stdout).match(/cmd=xread/g) ?? []).length > 0;
    });
    Deno.kill(second, "SIGKILL");
    const out = await follow.output();
    oneLine(
      { code: out.code, stdout: "", stderr: new TextDecoder().decode(out.stderr) },
      /redis-server on \.tt\/redis\.sock exited during the command .*see .*\.tt\/redis\.log/,
    );
  } finally {
    try {
      Deno.kill(await pid(), "SIGKILL");
    } catch { /* gone */ }
    sb.cleanup();
  }
});

Deno.test("a managed redis-server that keeps dying is restarted with a growing back-off, then refused with its log named", async () => {
  const sb = new Sandbox(null);
  const pid = async () => Number((await Deno.readTextFile(`${sb.dir}/.tt/redis.pid`)).trim());
  try {
    await sb.ok(["init", "--name", "crashy"]);
    const took: number[] = [];
    let refused: TtResult | undefined;
    for (let i = 0; i < 8 && !refused; i++) {
      const p = await pid();
      Deno.kill(p, "SIGKILL"); // its pid file and socket stay behind, as after a crash
      await waitUntil(async () => !(await alive(p)));
      const r = await ttTimed(sb, ["status"]);
      if (r.code === 0) took.push(r.ms);
      else refused = r;
    }
    assert.ok(refused, `restarted every time: ${took.map(Math.round)} ms`);
    oneLine(
      refused,
      /redis-server exited soon after each of its last 5 starts: not starting it again .*\.tt\/redis\.log/,
    );
    assert.equal(took.length, 5);
    // Waits of 0, 0.25, 0.5, 1 and 2 s before the restarts: the last took longer than the first.
    assert.ok(took[4] - took[0] > 1500, `${took.map(Math.round)} ms`);
    // After the back-off window it starts again by itself.
    await waitUntil(async () => (await sb.tt(["status"])).code === 0, 60_000);
  } finally {
    await sb.tt(["stop"]);
    sb.cleanup();
  }
});
