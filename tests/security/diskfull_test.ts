/**
 * Disk full: a town on a 3 MB tmpfs, filled up. Commands must say that Redis cannot write its
 * AOF (not "lost the connection"), the managed redis-server must not be restarted in a loop,
 * `tt save` must leave no temp file, and once space is freed the town works again. Needs root
 * (mount); skipped with a printed reason where mounting is impossible.
 */
import assert from "node:assert/strict";
import { report, Sandbox, type TtResult } from "../helpers.ts";

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; err: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
    return { ok: out.success, err: new TextDecoder().decode(out.stderr).trim() };
  } catch (e) {
    return { ok: false, err: (e as Error).message };
  }
}

/** Why a tmpfs cannot be mounted here (undefined: it can). */
async function cannotMount(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "tt-tmpfs-probe-" });
  try {
    const m = await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
    if (!m.ok) return `mount -t tmpfs failed: ${m.err || "no reason given"}`;
    await run("umount", [dir]);
    return undefined;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const skip = await cannotMount();
if (skip) report(`diskfull_test: skipped (${skip})`);

/** Fills the file system holding `path` until it refuses another byte. */
async function fill(path: string) {
  const f = await Deno.open(path, { create: true, write: true });
  try {
    for (const size of [65536, 4096, 512, 1]) {
      const chunk = new Uint8Array(size);
      for (;;) {
        try {
          await f.write(chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    f.close();
  }
}

const servers = async (sock: string) =>
  new TextDecoder().decode(
    (await new Deno.Command("pgrep", { args: ["-f", sock], stdout: "piped" }).output()).stdout,
  ).trim().split("\n").filter(Boolean).map(Number);

const DISK_FULL = /^tt: Redis cannot write its AOF in \/.*\/\.tt: disk full/;

function oneLine(r: TtResult, re: RegExp) {
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stdout} ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, re);
}

Deno.test({
  name:
    "disk full (3 MB tmpfs): commands name the full disk, Redis is not restarted in a loop, tt save leaves no temp file, freeing space heals",
  ignore: !!skip,
  fn: async () => {
    const sb = new Sandbox(null);
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", sb.dir]);
    assert.ok(mounted.ok, mounted.err);
    const sock = `${sb.dir}/.tt/redis.sock`;
    try {
      await sb.ok(["init", "--name", "full"]);
      await sb.ok(["backlog", "add", "before the disk filled up"]);
      await fill(`${sb.dir}/filler`);

      // Reads still work.
      assert.equal((await sb.tt(["status"])).code, 0);
      // tt save: the file cannot be written; nothing is left behind.
      oneLine(
        await sb.tt(["save", "s.json"]),
        /cannot write .*s\.json: the disk is full; nothing was saved/,
      );
      oneLine(await sb.tt(["save"]), /the disk is full; nothing was saved/);
      const left = [
        ...[...Deno.readDirSync(sb.dir)].map((e) => e.name),
        ...[...Deno.readDirSync(`${sb.dir}/.tt/snapshots`)].map((e) => e.name),
      ];
      assert.deepEqual(left.filter((n) => /\.tmp|s\.json/.test(n)), []);

      // Writes: the AOF's last page may take a few more; then Redis cannot write, and says so.
      let failed: TtResult | undefined;
      for (let i = 0; i < 50 && !failed; i++) {
        const r = await sb.tt(["backlog", "add", `write ${i}`]);
        if (r.code !== 0) failed = r;
      }
      assert.ok(failed, "50 writes went through on a full disk");
      oneLine(failed, DISK_FULL);
      // The server died of it; commands do not start it again and again, they say why.
      const before = await servers(sock);
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) oneLine(await sb.tt(["backlog", "add", "again"]), DISK_FULL);
      assert.ok(performance.now() - t0 < 20_000);
      assert.deepEqual(await servers(sock), before);
      assert.equal(before.length, 0, "a redis-server runs on the full disk");

      // Space back: the next command starts Redis and works; nothing acknowledged was lost.
      await Deno.remove(`${sb.dir}/filler`);
      await sb.ok(["backlog", "add", "after"]);
      const list = await sb.json<{ description: string }[]>(["backlog", "list"]);
      const descs = list.map((x) => x.description);
      assert.ok(descs.includes("before the disk filled up") && descs.includes("after"), `${descs}`);
    } finally {
      await sb.tt(["stop"]);
      for (const p of await servers(sock)) {
        try {
          Deno.kill(p, "SIGKILL");
        } catch { /* gone */ }
      }
      await run("umount", ["-l", sb.dir]);
      sb.cleanup();
    }
  },
});

Deno.test({
  name:
    "disk full under an external Redis (AOF everysec): its MISCONF refusal is named with the server's directory, not 'internal error'",
  ignore: !!skip,
  fn: async () => {
    const disk = await Deno.makeTempDir({ prefix: "tt-ext-disk-" });
    const logs = await Deno.makeTempDir({ prefix: "tt-ext-log-" });
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", disk]);
    assert.ok(mounted.ok, mounted.err);
    const sock = `${disk}/r.sock`;
    const sb = new Sandbox(`unix://${sock}`);
    try {
      const started = await run("redis-server", [
        "--port",
        "0",
        "--unixsocket",
        sock,
        "--dir",
        disk,
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "yes",
        "--pidfile",
        `${logs}/r.pid`,
        "--logfile",
        `${logs}/r.log`,
      ]);
      assert.ok(started.ok, started.err);
      for (let i = 0; i < 200 && (await run("redis-cli", ["-s", sock, "ping"])).err; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      await sb.init();
      await fill(`${disk}/filler`);
      let failed: TtResult | undefined;
      for (let i = 0; i < 50 && !failed; i++) {
        const r = await sb.tt(["backlog", "add", `write ${i}`]);
        if (r.code !== 0) failed = r;
      }
      assert.ok(failed, "50 writes went through on a full disk");
      oneLine(
        failed,
        new RegExp(
          `^tt: Redis at unix://${sock} cannot write its AOF in ${disk}: disk full \\(Errors writing to the AOF file: No space left on device\\)`,
        ),
      );
      assert.equal((await sb.tt(["status"])).code, 0); // reads still work
      // tt save only reads (its script is declared no-writes); a restore's MULTI is refused whole.
      await sb.ok(["save", "s.json"]);
      oneLine(
        await sb.tt(["restore", "s.json"]),
        new RegExp(`^tt: Redis at unix://${sock} cannot write its AOF in ${disk}: disk full`),
      );
    } finally {
      await run("redis-cli", ["-s", sock, "shutdown", "nosave"]);
      await run("umount", ["-l", disk]);
      await Deno.remove(disk, { recursive: true }).catch(() => {});
      await Deno.remove(logs, { recursive: true }).catch(() => {});
      sb.cleanup();
    }
  },
});
