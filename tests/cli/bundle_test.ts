/**
 * The distributable: `scripts/bundle.ts` builds an entry whose shebang carries the permissions
 * of deno.json, and the chunks it loads on demand; together a working `tt` (run locally, through
 * its shebang, and from a URL). The bundle is built once for this file, into a temp dir (never
 * dist/).
 */
import assert from "node:assert/strict";
import { BundleSandbox, denoRunArgs, ROOT, runTt, shebangFlags, testRedisUrl } from "../helpers.ts";
import { compileArgs, LAZY_IMPORTS, permissionFlags } from "../../scripts/bundle.ts";
import { chunkDirName } from "../../scripts/bundle_link.ts";

const TMP = Deno.makeTempDirSync({ prefix: "tt-bundle-" });
globalThis.addEventListener("unload", () => Deno.removeSync(TMP, { recursive: true }));

let built: Promise<string> | undefined;
/** Builds the bundle on first use; later calls share the same file. */
function bundle(): Promise<string> {
  return built ??= (async () => {
    const out = `${TMP}/tt.js`;
    const r = await run(Deno.execPath(), [...denoRunArgs("scripts/bundle.ts"), "--out", out]);
    if (r.code !== 0) throw new Error(`scripts/bundle.ts failed (${r.code}):\n${r.stderr}`);
    return out;
  })();
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}, cwd = TMP) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("the bundle's shebang grants exactly permissions.default of deno.json, never -A", async () => {
  const path = await bundle();
  const first = (await Deno.readTextFile(path)).split("\n", 1)[0];
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const expected = permissionFlags(config.permissions.default);
  assert.equal(
    first,
    `#!/usr/bin/env -S deno run -q --no-prompt ${LAZY_IMPORTS} ${expected.join(" ")}`,
  );
  assert.doesNotMatch(first, /(^|\s)(-A|--allow-all)(\s|$)/);
  assert.ok(expected.length > 0);
  assert.deepEqual(shebangFlags(path), ["--no-prompt", LAZY_IMPORTS, ...expected]);
  assert.ok(new TextEncoder().encode(first).length <= 255, "Linux cuts shebangs at 255 bytes");
  assert.equal((await Deno.stat(path)).mode! & 0o111, 0o111, "executable");
  // main.ts's own shebang (`-P`: "find deno.json") is gone; nothing refers to this checkout.
  const body = await Deno.readTextFile(path);
  assert.equal(body.split("\n", 2)[1].startsWith("#!"), false);
  assert.equal(body.includes(ROOT), false, "no path of the build machine inside the bundle");
  let chunks = 0;
  for await (const e of Deno.readDir(`${TMP}/${chunkDirName("tt.js")}`)) {
    const text = await Deno.readTextFile(`${TMP}/${chunkDirName("tt.js")}/${e.name}`);
    assert.equal(text.includes(ROOT), false, `${e.name}: a path of the build machine`);
    chunks++;
  }
  assert.ok(chunks > 10, `${chunks} chunks: are dynamic imports still split?`);
});

Deno.test("permission sets map to flags: scopes, deny/ignore, and 'all' is refused", () => {
  assert.deepEqual(
    permissionFlags({
      read: true,
      write: false,
      net: ["127.0.0.1", "unix:/tmp/s"],
      env: { allow: true, deny: ["SECRET"] },
      sys: ["hostname"],
    }),
    [
      "--allow-read",
      "--allow-net=127.0.0.1,unix:/tmp/s",
      "--allow-env",
      "--deny-env=SECRET",
      "--allow-sys=hostname",
    ],
  );
  assert.throws(() => permissionFlags({ all: true }), /-A/);
  assert.throws(() => permissionFlags({ bogus: true }), /unknown permission 'bogus'/);
});

Deno.test("the bundle runs --help and --version, also executed directly through its shebang and a symlink", async () => {
  const sb = new BundleSandbox(await bundle());
  try {
    const help = await sb.ok(["--help"]);
    assert.match(help.stdout, /^Usage: tt /m);
    assert.match(help.stdout, /\binit\b/);
    const version = await sb.ok(["--version"]);
    const fromSource = await runTt(["--version"], { cwd: sb.dir, env: sb.env() });
    const VERSION = fromSource.stdout.trim();
    assert.match(VERSION, /^\d+\.\d+\.\d+/);
    assert.equal(version.stdout.trim(), VERSION);
    // As a user runs it: ./tt.js (env finds `deno` on PATH).
    const direct = await run(await bundle(), ["--version"], {}, sb.dir);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(direct.stdout.trim(), VERSION);
    // Through a symlink elsewhere (~/bin/tt): its chunks are found beside the file it names.
    await Deno.mkdir(`${sb.dir}/bin`);
    await Deno.symlink(await bundle(), `${sb.dir}/bin/tt`);
    for (const args of [["--version"], ["towns"]]) {
      const linked = await run(`${sb.dir}/bin/tt`, args, sb.env(), sb.dir);
      assert.equal(linked.code, 0, linked.stderr);
      if (args[0] === "--version") assert.equal(linked.stdout.trim(), VERSION);
    }
  } finally {
    sb.cleanup();
  }
});

Deno.test("the bundle inits, starts and lists a town on an external Redis", async () => {
  const sb = new BundleSandbox(await bundle());
  try {
    await sb.ok(["init", "--name", "bundled"]);
    assert.match(await Deno.readTextFile(`${sb.dir}/tinytown.toml`), /^name = "bundled"$/m);
    const start = await sb.json<{ town: string; managed: boolean }>(["start"]);
    assert.deepEqual([start.town, start.managed], ["bundled", false]);
    const towns = await sb.json<{ name: string; path: string }[]>(["towns"]);
    assert.deepEqual(towns.map((t) => t.name), ["bundled"]);
    const bad = await sb.tt(["frobnicate"]);
    assert.equal(bad.code, 2);
  } finally {
    sb.cleanup();
  }
});

Deno.test("the bundle starts and stops a managed redis-server", async () => {
  const sb = new BundleSandbox(await bundle(), null);
  try {
    await sb.ok(["init", "--name", "bundled-managed"]);
    const start = await sb.json<{ managed: boolean }>(["start"]);
    assert.equal(start.managed, true);
    assert.ok((await Deno.stat(`${sb.dir}/.tt/redis.sock`)).isSocket);
    await sb.ok(["stop"]);
    await assert.rejects(Deno.stat(`${sb.dir}/.tt/redis.pid`));
  } finally {
    await sb.tt(["stop"]);
    sb.cleanup();
  }
});

/** Serves the bundle's directory (tt.js and its chunks) and records the paths asked for. */
function serveBundle(dir: string) {
  const asked: string[] = [];
  const ac = new AbortController();
  const chunks = chunkDirName("tt.js");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      asked.push(path);
      if (path !== "/tt.js" && !new RegExp(`^/${chunks}/[\\w.$-]+\\.js$`).test(path)) {
        return new Response("not found", { status: 404 });
      }
      const body = await Deno.readFile(`${dir}${path}`).catch(() => undefined);
      if (!body) return new Response("not found", { status: 404 });
      return new Response(body, { headers: { "content-type": "application/javascript" } });
    },
  );
  return {
    host: `127.0.0.1:${server.addr.port}`,
    asked,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test("the bundle runs from a URL with `deno run <flags> <url>` and an empty DENO_DIR", async () => {
  const path = await bundle();
  const server = serveBundle(TMP);
  const denoDir = await Deno.makeTempDir({ dir: TMP, prefix: "deno-dir-" });
  const home = await Deno.makeTempDir({ dir: TMP, prefix: "home-" });
  try {
    const host = server.host;
    const args = [
      "run",
      "-q",
      ...shebangFlags(path),
      `--allow-import=${host}`,
      `http://${host}/tt.js`,
    ];
    const env = { DENO_DIR: denoDir, HOME: home, TT_HOME: `${home}/.tt` };
    const v = await run(Deno.execPath(), [...args, "--version"], env, home);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    // Fetched on demand: --version does not download the Redis client, the server or the MCP SDK.
    let total = 0;
    for await (const _ of Deno.readDir(`${TMP}/${chunkDirName("tt.js")}`)) total++;
    const fetched = new Set(server.asked).size;
    assert.ok(fetched < total / 2, `--version fetched ${fetched} of ${total + 1} files`);
    const towns = await run(Deno.execPath(), [...args, "towns"], env, home);
    assert.equal(towns.code, 0, towns.stderr);
    assert.match(towns.stdout, /No towns registered yet/);
    // init loads the Redis client, i.e. npm code that require()s node: built-ins.
    const init = await run(
      Deno.execPath(),
      [...args, "init", "--name", "from-url"],
      { ...env, REDIS_URL: testRedisUrl() },
      home,
    );
    assert.equal(init.code, 0, init.stderr);
    assert.match(await Deno.readTextFile(`${home}/tinytown.toml`), /^name = "from-url"$/m);
  } finally {
    await server.close();
  }
});

Deno.test("the bundle's short commands never read the chunks of ioredis, hono and the MCP SDK", async () => {
  const path = await bundle();
  const sb = new BundleSandbox(path);
  // A copy of the bundle without every chunk that loads Node's networking when it is loaded.
  const copy = await Deno.makeTempDir({ dir: TMP, prefix: "lean-" });
  const chunks = chunkDirName("tt.js");
  try {
    await Deno.mkdir(`${copy}/${chunks}`);
    await Deno.copyFile(path, `${copy}/tt.js`);
    let removed = 0;
    for await (const e of Deno.readDir(`${TMP}/${chunks}`)) {
      const text = await Deno.readTextFile(`${TMP}/${chunks}/${e.name}`);
      // A static import or a require() of Node's networking; a dynamic import() of it (the TLS
      // file checks load node:tls on first use) is as lazy as the chunk's other imports.
      if (/from\s*"node:(net|tls|http)"|(?<!import)\("node:(net|tls|http)"\)/.test(text)) removed++;
      else await Deno.copyFile(`${TMP}/${chunks}/${e.name}`, `${copy}/${chunks}/${e.name}`);
    }
    assert.ok(removed > 0, "no chunk loads node:net: is ioredis still in the bundle?");
    await sb.ok(["init", "--name", "lean-bundle"]);
    await sb.ok(["spawn", "w1", "--cli", "claude", "--host", "elsewhere"]);
    const lean = (args: string[], env: Record<string, string> = {}) =>
      run(
        Deno.execPath(),
        ["run", "-q", ...shebangFlags(`${copy}/tt.js`), `${copy}/tt.js`, ...args],
        sb.env(env),
        sb.dir,
      );
    for (const args of [["--version"], ["towns"], ["assign", "w1", "a task"], ["status"]]) {
      const r = await lean(args);
      assert.equal(r.code, 0, `tt ${args.join(" ")}: ${r.stderr}`);
    }
    const tasks = await sb.json<{ description: string }[]>(["task", "list"]);
    assert.deepEqual(tasks.map((t) => t.description), ["a task"]);
    // The same command through commander and ioredis needs what was removed.
    const full = await lean(["status"], { TT_LEAN: "0" });
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /Module not found|tt-chunks/);
  } finally {
    sb.cleanup();
  }
});

Deno.test("deno compile embeds the chunks, with the bundle's flags", () => {
  const built = { entry: "/d/tt.js", chunkDir: "/d/tt-chunks", chunks: 3, bytes: 1 };
  const args = compileArgs(built, "/d/tt", ["--allow-read"]);
  assert.deepEqual(args.slice(args.indexOf("--include"), args.indexOf("--include") + 2), [
    "--include",
    "/d/tt-chunks",
  ]);
  assert.deepEqual(args.slice(-3), ["-o", "/d/tt", "/d/tt.js"]);
  assert.ok(args.includes("--allow-read") && args.includes(LAZY_IMPORTS));
  assert.ok(!args.includes("-A"));
});
