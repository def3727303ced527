/**
 * `tt doctor` black box: a healthy town passes; Redis unreachable (managed and external, refused
 * and stalled), a dead supervisor, a missing agent CLI, a secret in tinytown.toml and a lost
 * worktree each fail with their fix, and --json lists every check the human output shows.
 */
import assert from "node:assert/strict";
import { AgentTown, fakeCli, waitUntil } from "../agent_helpers.ts";
import { Sandbox, townOf, uniqueName } from "../helpers.ts";
import { supervisorInfo, thisHost } from "../../src/core/control.ts";
import { createAgent } from "../../src/core/agents.ts";
import { managedPaths, pingSocket } from "../../src/redis/server.ts";
import { findSecrets } from "../../src/core/doctor/town.ts";
import { programOf } from "../../src/core/doctor/clis.ts";
import type { CheckResult } from "../../src/core/doctor/mod.ts";

interface Report {
  ok: boolean;
  checks: CheckResult[];
}

/** Runs `tt doctor --json` (any exit code) and its human form; both must agree. */
async function doctor(sb: Sandbox, env: Record<string, string> = {}) {
  const json = await sb.tt(["doctor", "--json"], { env });
  const human = await sb.tt(["doctor"], { env });
  assert.equal(human.code, json.code, human.stderr);
  const report = JSON.parse(json.stdout) as Report;
  const by = (name: string) => {
    const c = report.checks.find((x) => x.name === name);
    assert.ok(c, `no check '${name}' in ${report.checks.map((x) => x.name).join(", ")}`);
    return c;
  };
  return { code: json.code, report, by, human: human.stdout, stderr: human.stderr };
}

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

Deno.test("tt doctor: an agent whose CLI is missing fails with the fix; a preset CLI without a login warns", async () => {
  const sb = new Sandbox();
  const bin = Deno.makeTempDirSync({ prefix: "tt-bin-" });
  try {
    const name = await sb.init();
    await Deno.writeTextFile(
      `${sb.dir}/tinytown.toml`,
      `\n[agent_clis.mycli]\ncommand = "FOO='a b' missing-tool-qq --run"\n`,
      { append: true },
    );
    Deno.writeTextFileSync(`${bin}/claude`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const t = await townOf(name);
    try {
      for (
        const [agent, cli] of [["ghost", "no-such-cli-zz --flag"], ["custom", "mycli"], [
          "ai",
          "claude",
        ]]
      ) {
        await createAgent(t, { name: agent, cli, host: thisHost() });
      }
    } finally {
      await t.close();
    }
    const env = {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
      ANTHROPIC_API_KEY: "",
      CLAUDE_CODE_OAUTH_TOKEN: "",
    };
    const d = await doctor(sb, env);
    assert.equal(d.code, 1);
    const ghost = d.by("agent ghost");
    assert.equal(ghost.status, "fail");
    assert.match(ghost.message, /needs 'no-such-cli-zz', which is not on PATH/);
    assert.match(ghost.fix!, /^install no-such-cli-zz .*tt spawn ghost --cli/);
    const custom = d.by("agent custom");
    assert.equal(custom.status, "fail");
    assert.match(custom.message, /'mycli' needs 'missing-tool-qq'/);
    assert.match(custom.fix!, /\[agent_clis\.mycli\] command in tinytown\.toml/);
    const ai = d.by("agent ai");
    assert.equal(ai.status, "warn");
    assert.match(ai.message, new RegExp(`claude: ${bin}/claude, but no sign of a login`));
    assert.match(ai.fix!, /ANTHROPIC_API_KEY/);
    assert.match(d.stderr, /checks failed: .*agent ghost, agent custom/);
    assert.match(d.human, /^✗ agent ghost .*— fix: install no-such-cli-zz/m);

    const loggedIn = await doctor(sb, { ...env, ANTHROPIC_API_KEY: "x" });
    assert.equal(loggedIn.by("agent ai").status, "ok");
    assert.match(loggedIn.by("agent ai").message, /\(\$ANTHROPIC_API_KEY is set\)$/);
  } finally {
    Deno.removeSync(bin, { recursive: true });
    sb.cleanup();
  }
});

Deno.test("tt doctor: secrets in tinytown.toml or tasks.toml fail, named by line and never printed", async () => {
  const sb = new Sandbox();
  try {
    await sb.init();
    const secrets = [
      "hunter2hunter2",
      "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
      "ghp_" + "a".repeat(36),
    ];
    const toml = await Deno.readTextFile(`${sb.dir}/tinytown.toml`);
    await Deno.writeTextFile(
      `${sb.dir}/tinytown.toml`,
      toml.replace(
        '# url = "redis://user@host:6379/0"',
        `url = "redis://tt:${secrets[0]}@localhost:6379"`,
      ) +
        `\n[agent_clis.x]\ncommand = "x"\nenv = { ANTHROPIC_API_KEY = "${secrets[1]}" }\n`,
    );
    await Deno.writeTextFile(
      `${sb.dir}/tasks.toml`,
      `# token: ${secrets[2]} in a comment is still\n`,
    );
    const d = await doctor(sb);
    assert.equal(d.code, 1);
    const s = d.by("secrets");
    assert.equal(s.status, "fail");
    assert.match(s.message, /tinytown\.toml line \d+: a password in a URL/);
    assert.match(s.message, /tinytown\.toml line \d+: an API key/);
    assert.match(s.message, /tasks\.toml line 1: a GitHub token/);
    for (const secret of secrets) {
      assert.ok(!d.human.includes(secret) && !JSON.stringify(d.report).includes(secret), secret);
    }
    // The template's own comments and settings are not secrets.
    assert.deepEqual(findSecrets(toml), []);
    assert.deepEqual(findSecrets('[townhall]\nauth = "api_key"\n# password = "x"\n'), []);
    assert.deepEqual(findSecrets('token = "abc"\nkey = 1\n'), ["line 1: a value for token"]);
  } finally {
    sb.cleanup();
  }
});

Deno.test("tt doctor: an agent's lost git worktree fails with the git commands that repair it", async () => {
  const sb = new Sandbox();
  try {
    const git = async (...args: string[]) => {
      const r = await new Deno.Command("git", {
        args: ["-c", "user.email=t@t", "-c", "user.name=t", ...args],
        cwd: sb.dir,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
    };
    await git("init", "-q");
    await git("commit", "-q", "--allow-empty", "-m", "start");
    const name = await sb.init(uniqueName("wt"));
    const root = await Deno.realPath(sb.dir);
    const workdir = `${root}/.tt/worktrees/w1`;
    await git("worktree", "add", "-q", "-b", "tt/w1", workdir);
    const t = await townOf(name);
    try {
      await createAgent(t, { name: "w1", cli: "sh", host: thisHost(), workdir, branch: "tt/w1" });
    } finally {
      await t.close();
    }
    let d = await doctor(sb);
    assert.equal(d.by("worktrees").status, "ok");
    assert.match(d.by("worktrees").message, /^1 agent worktree\(s\) consistent/);

    await Deno.remove(workdir, { recursive: true });
    d = await doctor(sb);
    const w = d.by("worktrees");
    assert.equal(w.status, "fail");
    assert.match(w.message, /w1's worktree .*\/\.tt\/worktrees\/w1 is missing/);
    assert.match(w.fix!, /'git worktree prune', then 'git worktree add .*w1 tt\/w1'/);
    assert.equal(d.code, 1);
  } finally {
    sb.cleanup();
  }
});

Deno.test("doctor: the program of an agent command line", () => {
  assert.equal(programOf("claude --print"), "claude");
  assert.equal(programOf("FAKE_STATE='/tmp/a b' sh 'x.sh' complete"), "sh");
  assert.equal(programOf('env FOO=1 "/opt/my tools/cli" -x'), "/opt/my tools/cli");
  assert.equal(programOf("  "), undefined);
});

Deno.test("tt doctor outside a town fails 'town' with 'tt init' and skips the town's checks; a bad tinytown.toml is named", async () => {
  const sb = new Sandbox();
  try {
    let d = await doctor(sb);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /^tt: 1 of 13 checks failed: town$/m);
    assert.match(d.by("town").message, /^no town here: no tinytown\.toml in /);
    assert.match(d.by("town").fix!, /^run 'tt init'/);
    for (
      const c of d.report.checks.filter((c) =>
        !["deno", "redis-server", "town", "sandbox"].includes(c.name)
      )
    ) {
      assert.equal(c.status, "skip", c.name);
    }
    await Deno.writeTextFile(`${sb.dir}/tinytown.toml`, 'name = "x"\nbogus = 1\n');
    d = await doctor(sb);
    assert.equal(d.code, 1);
    assert.match(d.by("town").message, /tinytown\.toml: .*"bogus"/);
    assert.match(d.by("town").fix!, /^correct tinytown\.toml/);
  } finally {
    sb.cleanup();
  }
});

Deno.test("tt doctor: a name claimed by another town on the shared Redis fails 'identity'; a lost claim warns", async () => {
  const sb = new Sandbox();
  try {
    const name = await sb.init();
    const t = await townOf(name);
    try {
      assert.equal((await doctor(sb)).by("identity").status, "ok");
      const other = {
        id: crypto.randomUUID(),
        path: "/elsewhere/other-town",
        host: "other-host",
        created_at: new Date().toISOString(),
      };
      await t.redis.set(t.keys.owner, JSON.stringify(other));
      const d = await doctor(sb);
      assert.equal(d.code, 1);
      const c = d.by("identity");
      assert.equal(c.status, "fail");
      assert.match(c.message, /belongs to another town.*\/elsewhere\/other-town on other-host/);
      assert.match(c.fix ?? "", /tt init --force --name/);
      // The doctor only reads: the other town's claim is untouched.
      assert.equal(await t.redis.get(t.keys.owner), JSON.stringify(other));

      await t.redis.del(t.keys.owner);
      const lost = (await doctor(sb)).by("identity");
      assert.equal(lost.status, "warn");
      assert.match(lost.message, /not claimed/);
      assert.equal(await t.redis.get(t.keys.owner), null, "the doctor claimed the name itself");
    } finally {
      await t.close();
    }
  } finally {
    sb.cleanup();
  }
});

Deno.test('tt doctor: the sandbox check follows [agent] sandbox, and fails for "on" where no sandbox can be made', async () => {
  const sb = new Sandbox();
  try {
    await sb.init(); // the test harness sets sandbox = "off"
    let d = await doctor(sb);
    assert.equal(d.by("sandbox").status, "warn");
    assert.match(d.by("sandbox").message, /sandbox = "off"/);
    const path = `${sb.dir}/tinytown.toml`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replace('sandbox = "off"', 'sandbox = "on"'));
    // A bwrap that cannot create anything, first on PATH.
    const bin = await Deno.makeTempDir();
    await Deno.writeTextFile(
      `${bin}/bwrap`,
      "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n",
    );
    await Deno.chmod(`${bin}/bwrap`, 0o755);
    d = await doctor(sb, { PATH: `${bin}:${Deno.env.get("PATH")}` });
    assert.equal(d.code, 1);
    assert.equal(d.by("sandbox").status, "fail", d.by("sandbox").message);
    assert.match(d.by("sandbox").message, /no sandbox can be created here/);
    await Deno.remove(bin, { recursive: true });
  } finally {
    sb.cleanup();
  }
});
