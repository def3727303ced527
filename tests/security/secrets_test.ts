/**
 * Issue 9 item 4: secrets stay out of committed files. A real redis-server that requires a
 * password (started here, on a private unix socket), the real `tt` in temp dirs.
 */
import assert from "node:assert/strict";
import { Sandbox, uniqueName } from "../helpers.ts";

const PASSWORD = "s3cret-Pw.42";

interface PasswordRedis {
  /** URL with the password. */
  url: string;
  /** The same server without the password. */
  bare: string;
  stop(): Promise<void>;
}

/** A redis-server of this test alone that refuses clients without the password. */
async function passwordRedis(): Promise<PasswordRedis> {
  const dir = Deno.makeTempDirSync({ prefix: "tt-pwredis-" });
  const sock = `${dir}/r.sock`;
  const child = new Deno.Command("redis-server", {
    args: ["--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--save", ""]
      .concat(["--appendonly", "no", "--requirepass", PASSWORD, "--dir", dir]),
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 200; i++) { // bounded wait for the socket (up to 10 s)
    try {
      if ((await Deno.stat(sock)).isSocket) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `unix://:${PASSWORD}@localhost${sock}`,
    bare: `unix://localhost${sock}`,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

const mode = async (p: string) => (await Deno.stat(p)).mode! & 0o777;

Deno.test("tt init never writes the password of ~/.tt/config.toml into tinytown.toml; commands still connect", async () => {
  const redis = await passwordRedis();
  const sb = new Sandbox(null); // no REDIS_URL: the URL comes from the user's config
  try {
    const set = await sb.ok(["config", "redis_url", redis.url, "--json"]);
    for (const args of [["config"], ["config", "redis_url"]]) {
      const shown = await sb.ok([...args, "--json"]);
      assert.match(shown.stdout, /\*\*\*\*/);
      assert.doesNotMatch(set.stdout + shown.stdout + shown.stderr, new RegExp(PASSWORD));
    }
    const name = uniqueName("sec");
    const init = await sb.ok(["init", "--name", name]);
    assert.doesNotMatch(init.stdout + init.stderr, new RegExp(PASSWORD));
    const toml = await Deno.readTextFile(`${sb.dir}/tinytown.toml`);
    assert.doesNotMatch(toml, new RegExp(PASSWORD));
    assert.match(toml, new RegExp(`^url = "${redis.bare.replaceAll("/", "\\/")}"$`, "m"));
    // The password comes from ~/.tt/config.toml (same socket and user), not from the file.
    const st = await sb.json<{ town: string }>(["status"]);
    assert.ok(JSON.stringify(st).includes(name));
    const add = await sb.ok(["backlog", "add", "a task"]);
    assert.equal(add.stderr, "", "no warning for a password-less tinytown.toml");
    // A password-less REDIS_URL for the same server gets its password the same way.
    const viaEnv = await sb.tt(["status"], { env: { REDIS_URL: redis.bare } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
  } finally {
    sb.cleanup();
    await redis.stop();
  }
});

Deno.test("a password-less URL with no password anywhere fails in one line saying where to put it", async () => {
  const redis = await passwordRedis();
  const sb = new Sandbox(null);
  try {
    await sb.ok(["config", "redis_url", redis.url]);
    await sb.init();
    await sb.ok(["config", "redis_url", ""]); // the user's config loses the password
    const r = await sb.tt(["status"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^tt: Redis authentication failed .*REDIS_URL.*~\/\.tt\/config\.toml/);
    // REDIS_URL with the password works for the same town.
    const ok = await sb.tt(["status"], { env: { REDIS_URL: redis.url } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(ok.stdout + ok.stderr, new RegExp(PASSWORD));
  } finally {
    sb.cleanup();
    await redis.stop();
  }
});

Deno.test("the password of another server or user is never sent", async () => {
  const redis = await passwordRedis();
  const sb = new Sandbox(null);
  try {
    await sb.ok(["config", "redis_url", redis.url]);
    await sb.init();
    // The user's config now names another user on that server: its password must not be used.
    await sb.ok(["config", "redis_url", redis.url.replace("unix://:", "unix://bob:")]);
    const r = await sb.tt(["status"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /authentication failed/);
  } finally {
    sb.cleanup();
    await redis.stop();
  }
});

Deno.test("a password in tinytown.toml: every command warns once, in one line, without showing it", async () => {
  const redis = await passwordRedis();
  const sb = new Sandbox(null);
  try {
    await sb.ok(["config", "redis_url", redis.url]);
    await sb.init();
    const file = `${sb.dir}/tinytown.toml`;
    const toml = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, toml.replace(`url = "${redis.bare}"`, `url = "${redis.url}"`));
    await sb.ok(["config", "redis_url", ""]);
    for (const args of [["status"], ["backlog", "list"], ["stop"]]) {
      const r = await sb.tt(args);
      assert.equal(r.code, 0, r.stderr);
      const warnings = r.stderr.split("\n").filter((l) => l.includes("password"));
      assert.equal(warnings.length, 1, `tt ${args.join(" ")}: ${r.stderr}`);
      assert.match(warnings[0], /^tt: warning: .*tinytown\.toml holds a Redis password.*REDIS_URL/);
      assert.doesNotMatch(r.stderr + r.stdout, new RegExp(PASSWORD));
    }
  } finally {
    sb.cleanup();
    await redis.stop();
  }
});

Deno.test("~/.tt is 0700 and its files 0600, also when an older tt made them 0755/0644", async () => {
  const sb = new Sandbox();
  try {
    const home = `${sb.home}/.tt`;
    await sb.ok(["config", "default_cli", "codex"]);
    await sb.init();
    assert.equal(await mode(home), 0o700);
    assert.equal(await mode(`${home}/config.toml`), 0o600);
    assert.equal(await mode(`${home}/towns.toml`), 0o600);
    // Files left world-readable by an older version are fixed when tt rewrites them.
    await Deno.chmod(home, 0o755);
    await Deno.chmod(`${home}/config.toml`, 0o644);
    await Deno.chmod(`${home}/towns.toml`, 0o644);
    await sb.ok(["config", "redis_url", "redis://:pw@127.0.0.1:6379"]);
    assert.equal(await mode(home), 0o700);
    assert.equal(await mode(`${home}/config.toml`), 0o600);
    await sb.ok(["config", "redis_url", ""]);
    const other = Deno.makeTempDirSync({ prefix: "tt-town-" });
    try {
      await sb.ok(["init", "--name", uniqueName("sec2")], { cwd: other });
      assert.equal(await mode(`${home}/towns.toml`), 0o600);
    } finally {
      Deno.removeSync(other, { recursive: true });
    }
  } finally {
    sb.cleanup();
  }
});
