import assert from "node:assert/strict";
import { Sandbox } from "../helpers.ts";

Deno.test("tt init writes tinytown.toml, .tt/, .gitignore once, and registers the town", async () => {
  const sb = new Sandbox();
  try {
    await sb.ok(["init", "--name", "My-Town"]);
    const toml = await Deno.readTextFile(`${sb.dir}/tinytown.toml`);
    assert.match(toml, /^name = "My-Town"$/m);
    assert.match(toml, /^id = "[0-9a-f-]{36}"/m);
    assert.equal((await Deno.stat(`${sb.dir}/.tt`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.readTextFile(`${sb.dir}/.gitignore`)).match(/^\.tt\/$/gm)?.length, 1);
    const towns = await sb.json<{ name: string; path: string }[]>(["towns"]);
    assert.deepEqual(towns.map((t) => t.name), ["My-Town"]);
    assert.equal(towns[0].path, await Deno.realPath(sb.dir));
  } finally {
    sb.cleanup();
  }
});

Deno.test("tt init refuses to re-init without --force and changes nothing", async () => {
  const sb = new Sandbox();
  try {
    await sb.ok(["init", "--name", "one"]);
    const before = await Deno.readTextFile(`${sb.dir}/tinytown.toml`);
    const r = await sb.tt(["init", "--name", "two"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists.*--force/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.equal(await Deno.readTextFile(`${sb.dir}/tinytown.toml`), before);
    await sb.ok(["init", "--name", "two", "--force"]);
    assert.match(await Deno.readTextFile(`${sb.dir}/tinytown.toml`), /name = "two"/);
  } finally {
    sb.cleanup();
  }
});

Deno.test("an unreachable REDIS_URL fails fast with a clear message and writes no town", async () => {
  const sb = new Sandbox("redis://:s3cret@127.0.0.1:1");
  try {
    const t0 = Date.now();
    const r = await sb.tt(["init", "--name", "x"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^tt: Failed to connect to configured Redis at redis:\/\/:\*\*\*\*@127\.0\.0\.1:1/,
    );
    assert.doesNotMatch(r.stderr + r.stdout, /s3cret/);
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(Deno.stat(`${sb.dir}/tinytown.toml`));
  } finally {
    sb.cleanup();
  }
});

Deno.test("commands outside a town say so; unknown commands are usage errors", async () => {
  const sb = new Sandbox();
  try {
    const r = await sb.tt(["start"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no town here.*tt init/);
    const u = await sb.tt(["frobnicate"]);
    assert.equal(u.code, 2);
  } finally {
    sb.cleanup();
  }
});

Deno.test("malformed tinytown.toml names the file, line and problem", async () => {
  const sb = new Sandbox();
  try {
    await Deno.writeTextFile(`${sb.dir}/tinytown.toml`, 'name = "x"\n[agent\nmax_rounds = 3\n');
    const r = await sb.tt(["start"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tinytown\.toml:2:\d+: invalid TOML/);
    await Deno.writeTextFile(
      `${sb.dir}/tinytown.toml`,
      'name = "x"\n[agent]\nmax_rounds = "three"\n',
    );
    const r2 = await sb.tt(["start"]);
    assert.match(r2.stderr, /tinytown\.toml: agent\.max_rounds: /);
  } finally {
    sb.cleanup();
  }
});

Deno.test("managed Redis: concurrent starts make exactly one server; stop persists and restarts", async () => {
  const sb = new Sandbox(null);
  try {
    await sb.ok(["init", "--name", "managed"]);
    await sb.ok(["stop"]);
    const results = await Promise.all([1, 2, 3, 4].map(() => sb.tt(["start"])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const ps = new TextDecoder().decode(
      (await new Deno.Command("pgrep", {
        args: ["-f", `${sb.dir}/.tt/redis.sock`],
        stdout: "piped",
      }).output())
        .stdout,
    ).trim().split("\n").filter(Boolean);
    assert.equal(ps.length, 1);
    assert.equal((await Deno.stat(`${sb.dir}/.tt/redis.sock`)).mode! & 0o777, 0o700);
    await sb.ok(["stop"]);
    await assert.rejects(Deno.stat(`${sb.dir}/.tt/redis.pid`));
  } finally {
    await sb.tt(["stop"]);
    sb.cleanup();
  }
});
