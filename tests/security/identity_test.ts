/**
 * Issue 9 item 5: a town is one town. Two directories on one shared Redis (the test harness's)
 * that pick one name must not share, or reset, each other's state. Real `tt`, real Redis.
 */
import assert from "node:assert/strict";
import { Sandbox, snapshotTown, townOf, uniqueName } from "../helpers.ts";
import { townKeys } from "../../src/core/keys.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function fileId(sb: Sandbox): Promise<string | undefined> {
  const toml = await Deno.readTextFile(`${sb.dir}/tinytown.toml`);
  return /^id = "([^"]+)"/m.exec(toml)?.[1];
}

async function owner(name: string): Promise<Record<string, string> | null> {
  const t = await townOf(name);
  try {
    const raw = await t.redis.get(townKeys(name).owner);
    return raw === null ? null : JSON.parse(raw);
  } finally {
    await t.close();
  }
}

const oneLine = (s: string) => assert.equal(s.trim().split("\n").length, 1, s);

Deno.test("tt init gives the town an id and claims its name; a second town with that name is refused, naming the first", async () => {
  const a = new Sandbox();
  const b = new Sandbox();
  try {
    const name = await a.init();
    const id = await fileId(a);
    assert.match(id ?? "", UUID);
    const o = await owner(name);
    assert.equal(o?.id, id);
    assert.equal(o?.path, await Deno.realPath(a.dir));
    assert.equal(o?.host, Deno.hostname());
    await a.ok(["backlog", "add", "A's task"]);

    const r = await b.tt(["init", "--name", name]);
    assert.equal(r.code, 1);
    oneLine(r.stderr);
    assert.ok(r.stderr.includes(await Deno.realPath(a.dir)), r.stderr);
    assert.ok(r.stderr.includes(Deno.hostname()), r.stderr);
    assert.match(r.stderr, /--name/);
    await assert.rejects(Deno.stat(`${b.dir}/tinytown.toml`)); // nothing half-made
    await assert.rejects(Deno.stat(`${b.dir}/.tt`));
    assert.equal((await owner(name))?.id, id);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

Deno.test("a tinytown.toml whose id does not own the name refuses every command, and its reset deletes nothing", async () => {
  const a = new Sandbox();
  const b = new Sandbox();
  try {
    const name = await a.init();
    await a.ok(["backlog", "add", "A's task"]);
    // B: same name, its own id (e.g. a town made elsewhere, pointed at this Redis).
    await Deno.writeTextFile(
      `${b.dir}/tinytown.toml`,
      `name = "${name}"\nid = "${crypto.randomUUID()}"\n`,
    );
    const t = await townOf(name);
    try {
      const before = await snapshotTown(t);
      for (const args of [["backlog", "list"], ["reset", "--force"], ["backlog", "add", "x"]]) {
        const r = await b.tt(args);
        assert.equal(r.code, 1, `tt ${args.join(" ")}: ${r.stdout}`);
        oneLine(r.stderr);
        assert.match(r.stderr, /taken on this Redis by another town/);
        assert.ok(r.stderr.includes(await Deno.realPath(a.dir)), r.stderr);
      }
      assert.deepEqual(await snapshotTown(t), before);
    } finally {
      await t.close();
    }
    const list = await a.json<unknown[]>(["backlog", "list"]);
    assert.equal(list.length, 1);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

Deno.test("a lost claim (flushed Redis) is taken again by the next command, and says so in history", async () => {
  const a = new Sandbox();
  try {
    const name = await a.init();
    const id = await fileId(a);
    const t = await townOf(name);
    try {
      await t.redis.del(t.keys.owner);
    } finally {
      await t.close();
    }
    await a.ok(["backlog", "list"]);
    assert.equal((await owner(name))?.id, id);
    const hist = await a.ok(["history"]);
    assert.match(hist.stdout, /Claimed the name/);
    // Once claimed, another id is refused again.
    const b = new Sandbox();
    try {
      await Deno.writeTextFile(
        `${b.dir}/tinytown.toml`,
        `name = "${name}"\nid = "${crypto.randomUUID()}"\n`,
      );
      assert.equal((await b.tt(["status"])).code, 1);
    } finally {
      b.cleanup();
    }
  } finally {
    a.cleanup();
  }
});

Deno.test("tt reset --force keeps the name's claim and never touches a town whose name extends it", async () => {
  const a = new Sandbox();
  const b = new Sandbox();
  try {
    const name = await a.init();
    await b.init(`${name}-b`); // tt:{name-b}: shares the text prefix "tt:{name" only
    await a.ok(["backlog", "add", "A's task"]);
    await b.ok(["backlog", "add", "B's task"]);
    const tb = await townOf(`${name}-b`);
    try {
      const before = await snapshotTown(tb);
      const r = await a.ok(["reset", "--force"]);
      assert.match(r.stdout + r.stderr, /reset|deleted/i);
      assert.deepEqual(await snapshotTown(tb), before);
    } finally {
      await tb.close();
    }
    assert.equal((await a.json<unknown[]>(["backlog", "list"])).length, 0);
    const id = await fileId(a);
    assert.match(id ?? "", UUID);
    assert.equal((await owner(name))?.id, id);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

Deno.test("invalid explicit names are refused with a suggestion; '*' and 'ü' no longer become one town", async () => {
  const sb = new Sandbox();
  try {
    for (const [bad, suggestion] of [["*", ""], ["ü", "u"], ["My Town!", "My-Town"], ["", ""]]) {
      const r = await sb.tt(["init", "--name", bad]);
      assert.equal(r.code, 2, `--name '${bad}': ${r.stderr}`);
      oneLine(r.stderr);
      assert.match(r.stderr, /^tt: invalid town name .*--name \S+/);
      if (suggestion) assert.ok(r.stderr.includes(`--name ${suggestion})`), r.stderr);
      await assert.rejects(Deno.stat(`${sb.dir}/tinytown.toml`));
    }
  } finally {
    sb.cleanup();
  }
});

Deno.test("two directories whose names sanitise to one town name collide visibly", async () => {
  const base = Deno.makeTempDirSync({ prefix: "tt-dirs-" });
  const sb = new Sandbox();
  try {
    const stem = uniqueName("dir");
    const one = `${base}/${stem} x`;
    const two = `${base}/${stem}-x`;
    await Deno.mkdir(one);
    await Deno.mkdir(two);
    const first = await sb.json<{ name: string }>(["init"], { cwd: one });
    assert.equal(first.name, `${stem}-x`);
    const r = await sb.tt(["init"], { cwd: two });
    assert.equal(r.code, 1);
    oneLine(r.stderr);
    assert.ok(r.stderr.includes(one), r.stderr);
    await sb.ok(["init", "--name", `${stem}-x2`], { cwd: two });
  } finally {
    sb.cleanup();
    Deno.removeSync(base, { recursive: true });
  }
});

Deno.test("a town made before ids existed gets one on first use, keeping its file; a second such town is refused", async () => {
  const a = new Sandbox();
  const b = new Sandbox();
  try {
    const name = await a.init();
    // Make it look like an old town: no id line, no claim on Redis.
    const file = `${a.dir}/tinytown.toml`;
    const old = (await Deno.readTextFile(file)).replace(/^id = .*\n/m, "");
    await Deno.writeTextFile(file, old);
    const t = await townOf(name);
    try {
      await t.redis.del(t.keys.owner);
    } finally {
      await t.close();
    }
    await Deno.writeTextFile(`${b.dir}/tinytown.toml`, `name = "${name}"\n`);

    const r = await a.ok(["status"]);
    const warn = r.stderr.split("\n").filter(Boolean);
    assert.equal(warn.length, 1, r.stderr);
    assert.match(warn[0], /^tt: warning: gave this town the id/);
    const id = await fileId(a);
    assert.match(id ?? "", UUID);
    assert.equal((await owner(name))?.id, id);
    // Every other line (comments included) is kept.
    assert.equal((await Deno.readTextFile(file)).replace(/^id = .*\n/m, ""), old);
    assert.equal((await a.ok(["status"])).stderr, "", "the id is written once");

    const rb = await b.tt(["status"]);
    assert.equal(rb.code, 1);
    assert.ok(rb.stderr.includes(await Deno.realPath(a.dir)), rb.stderr);
    assert.equal(await Deno.readTextFile(`${b.dir}/tinytown.toml`), `name = "${name}"\n`);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

Deno.test("a tinytown.toml that lost its id line takes back the id its directory claimed", async () => {
  const a = new Sandbox();
  try {
    await a.init();
    const id = await fileId(a);
    assert.match(id ?? "", UUID);
    const file = `${a.dir}/tinytown.toml`;
    await Deno.writeTextFile(file, (await Deno.readTextFile(file)).replace(/^id = .*\n/m, ""));
    await a.ok(["status"]);
    assert.equal(await fileId(a), id);
    // tt init --force keeps the id too.
    await a.ok(["init", "--force", "--name", (await a.json<{ town: string }>(["status"])).town]);
    assert.equal(await fileId(a), id);
  } finally {
    a.cleanup();
  }
});

Deno.test("a claim left by a deleted town on this host: refused with a hint, taken over with --force", async () => {
  const a = new Sandbox();
  const b = new Sandbox();
  try {
    const name = await a.init();
    await Deno.remove(`${a.dir}/tinytown.toml`);
    const r = await b.tt(["init", "--name", name]);
    assert.equal(r.code, 1);
    oneLine(r.stderr);
    assert.match(r.stderr, /no longer holds that town.*tt init --force/);
    await b.ok(["init", "--force", "--name", name]);
    assert.equal((await owner(name))?.id, await fileId(b));
    assert.equal((await owner(name))?.path, await Deno.realPath(b.dir));
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

Deno.test("an owner key that is not an owner record is refused, not overwritten", async () => {
  const a = new Sandbox();
  try {
    const name = await a.init();
    const t = await townOf(name);
    try {
      await t.redis.set(t.keys.owner, "not json");
      const r = await a.tt(["status"]);
      assert.equal(r.code, 1);
      oneLine(r.stderr);
      assert.match(r.stderr, /does not hold a tt owner record/);
      assert.equal(await t.redis.get(t.keys.owner), "not json");
    } finally {
      await t.close();
    }
  } finally {
    a.cleanup();
  }
});

Deno.test("racing tt inits of one name in four directories: exactly one wins", async () => {
  const name = uniqueName("race");
  const boxes = [1, 2, 3, 4].map(() => new Sandbox());
  try {
    const rs = await Promise.all(boxes.map((b) => b.tt(["init", "--name", name])));
    const won = rs.flatMap((r, i) => r.code === 0 ? [i] : []);
    assert.equal(won.length, 1, rs.map((r) => r.stderr).join("\n"));
    for (const r of rs.filter((r) => r.code !== 0)) {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /taken on this Redis by another town/);
    }
    assert.equal((await owner(name))?.path, await Deno.realPath(boxes[won[0]].dir));
  } finally {
    for (const b of boxes) b.cleanup();
  }
});

Deno.test("a copy of a town's directory on the same host is not a second town; a moved town follows", async () => {
  const a = new Sandbox();
  const base = Deno.makeTempDirSync({ prefix: "tt-copies-" });
  try {
    const name = await a.init();
    const id = await fileId(a);
    await a.ok(["backlog", "add", "A's task"]);
    const copy = `${base}/copy`;
    await Deno.mkdir(copy);
    await Deno.copyFile(`${a.dir}/tinytown.toml`, `${copy}/tinytown.toml`);
    const r = await a.tt(["backlog", "list"], { cwd: copy });
    assert.equal(r.code, 1);
    oneLine(r.stderr);
    assert.match(r.stderr, /already lives in .* on this host.*is a copy/);
    assert.ok(r.stderr.includes(await Deno.realPath(a.dir)), r.stderr);
    // Made its own town: a new name and a new id.
    await a.ok(["init", "--force", "--name", `${name}-copy`], { cwd: copy });
    const copyId = /^id = "([^"]+)"/m.exec(await Deno.readTextFile(`${copy}/tinytown.toml`))?.[1];
    assert.match(copyId ?? "", UUID);
    assert.notEqual(copyId, id);
    assert.equal((await a.json<unknown[]>(["backlog", "list"], { cwd: copy })).length, 0);
    assert.equal((await a.json<unknown[]>(["backlog", "list"])).length, 1);

    // Moving the directory keeps the town: the claim follows it.
    const moved = `${base}/moved`;
    await Deno.rename(a.dir, moved);
    try {
      const m = await a.ok(["backlog", "list", "--json"], { cwd: moved });
      assert.equal(JSON.parse(m.stdout).length, 1);
      assert.match(m.stderr, /^tt: warning: town .* moved from /);
      assert.equal((await owner(name))?.path, moved);
    } finally {
      await Deno.rename(moved, a.dir);
    }
  } finally {
    a.cleanup();
    Deno.removeSync(base, { recursive: true });
  }
});
