/**
 * `tt doctor` black box, the town's configuration and agents: a missing agent CLI, a secret in
 * tinytown.toml or tasks.toml, a lost worktree, no town or a bad tinytown.toml, a name claimed by
 * another town, and the sandbox setting each fail (or warn) with their fix. The town's processes
 * (Redis, the supervisor) and the healthy case: doctor_test.ts.
 */
import assert from "node:assert/strict";
import { Sandbox, townOf, uniqueName } from "../helpers.ts";
import { thisHost } from "../../src/core/control.ts";
import { createAgent } from "../../src/core/agents.ts";
import { findSecrets } from "../../src/core/doctor/town.ts";
import { programOf } from "../../src/core/doctor/clis.ts";
import { doctor } from "./doctor_helpers.ts";

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
