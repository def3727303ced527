/**
 * Narrowed Deno permissions (issue 10 item 3, src/supervisor/permissions.ts): the supervisor and
 * townhall tt starts run with computed scopes, never -A or deno.json's broad -P set, and a running
 * supervisor is really refused outside them (TT_PERMISSIONS_PROBE makes it try at start and log
 * each outcome), while its agents still do their work.
 */
import assert from "node:assert/strict";
import { AgentTown, fakeCli, waitForEvent, waitUntil } from "../agent_helpers.ts";
import { testRedisUrl } from "../helpers.ts";
import { startHall } from "../townhall/helpers.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { processAlive } from "../../src/redis/server.ts";
import { openTown } from "../../src/core/town.ts";
import {
  permissionFlags,
  redisScopes,
  supervisorScopes,
} from "../../src/supervisor/permissions.ts";
import { channelSocketPaths } from "../../src/supervisor/channel/slots.ts";

/** Every process: pid, parent pid and argv (split on spaces: the test's paths have none). */
async function processes(): Promise<{ pid: number; ppid: number; argv: string[] }[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,ppid=,args="], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => {
    const [pid, ppid, ...argv] = l.trim().split(/\s+/);
    return { pid: Number(pid), ppid: Number(ppid), argv };
  });
}

async function argvOf(pid: number): Promise<string[]> {
  const p = (await processes()).find((p) => p.pid === pid);
  assert.ok(p, `no process ${pid}`);
  return p.argv;
}

/** A permission flag's scope list (`--allow-read=a,b` → [a, b]); undefined: absent; []: unscoped. */
function scope(argv: string[], flag: string): string[] | undefined {
  const hit = argv.find((a) => a === flag || a.startsWith(`${flag}=`));
  if (hit === undefined) return undefined;
  return hit === flag ? [] : hit.slice(flag.length + 1).split(",");
}

function assertNarrowed(argv: string[], what: string) {
  for (const broad of ["-A", "--allow-all", "-P", "--permission-set"]) {
    assert.ok(!argv.some((a) => a === broad || a.startsWith(`${broad}=`)), `${what}: ${broad}`);
  }
  for (const kind of ["read", "write", "run"]) {
    const s = scope(argv, `--allow-${kind}`);
    assert.ok(s && s.length > 0, `${what}: --allow-${kind} is unscoped or missing: ${s}`);
    assert.ok(!s.includes("/"), `${what}: --allow-${kind} includes /`);
  }
}

Deno.test("permissions: a running supervisor is refused outside its scopes (files, secrets, programs, hosts) and its agents still work", async () => {
  const at = await AgentTown.create("kill_grace_secs = 1");
  // Outside every scope: not the town, TT_HOME, the temp dir, this tt, Deno's cache or PATH.
  const outside = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "tt-perms-" });
  try {
    await Deno.writeTextFile(`${outside}/secret`, "operator's secret");
    // A key in the (temp) HOME: /tmp is in scope, the key is refused all the same.
    await Deno.mkdir(`${at.sb.home}/.ssh`, { mode: 0o700 });
    await Deno.writeTextFile(`${at.sb.home}/.ssh/id_ed25519`, "PRIVATE KEY");
    const probes = [
      `read:${outside}/secret`,
      `write:${outside}/planted`,
      `read:${at.sb.home}/.ssh/id_ed25519`,
      "run:/usr/bin/env",
      "net:192.0.2.1:80",
      // Controls: the same probes inside the scopes are allowed.
      `read:${at.sb.dir}/tinytown.toml`,
      `write:${at.sb.dir}/.tt/probe-file`,
      "run:git",
    ].join(",");
    await at.sb.ok(["spawn", "w", "--cli", fakeCli("complete")], {
      env: { TT_PERMISSIONS_PROBE: probes },
    });
    const task = await at.sb.json<{ id: string }>(["assign", "w", "work under narrowed flags"]);
    await waitForEvent(at.t, (e) => e.type === "task_completed" && e.task_id === task.id);

    const sup = (await supervisorInfo(at.t))!;
    const argv = await argvOf(sup.pid);
    assertNarrowed(argv, "supervisor");
    // sandbox = "off" here: net is scoped too, to the test's Redis socket and the channel slots.
    const net = scope(argv, "--allow-net")!;
    assert.ok(net.length > 0, "net is unscoped with the sandbox off");
    assert.ok(net.includes(`unix:${testRedisUrl().replace(/^unix:\/\//, "")}`), net.join(" "));
    assert.ok(net.includes(`unix:${channelSocketPaths(at.sb.dir)[0]}`));

    const log = await Deno.readTextFile(`${at.sb.dir}/.tt/logs/supervisor.log`);
    const outcome = (kind: string, target: string) =>
      new RegExp(
        `permission probe ${kind} ${target.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: (\\w+)`,
      )
        .exec(log)?.[1];
    assert.equal(outcome("read", `${outside}/secret`), "denied", log);
    assert.equal(outcome("write", `${outside}/planted`), "denied", log);
    assert.equal(outcome("read", `${at.sb.home}/.ssh/id_ed25519`), "denied", log);
    assert.equal(outcome("run", "/usr/bin/env"), "denied", log);
    assert.equal(outcome("net", "192.0.2.1:80"), "denied", log);
    assert.equal(outcome("read", `${at.sb.dir}/tinytown.toml`), "allowed", log);
    assert.equal(outcome("write", `${at.sb.dir}/.tt/probe-file`), "allowed", log);
    assert.equal(outcome("run", "git"), "allowed", log);
    await assert.rejects(Deno.stat(`${outside}/planted`), Deno.errors.NotFound);
  } finally {
    await at.cleanup();
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("permissions: with the sandbox possible, net is unscoped (its proxy) but read, write and run stay scoped; secrets stay refused", async () => {
  const at = await AgentTown.create('sandbox = "auto"');
  try {
    await Deno.mkdir(`${at.sb.home}/.ssh`, { mode: 0o700 });
    await Deno.writeTextFile(`${at.sb.home}/.ssh/id_ed25519`, "PRIVATE KEY");
    const env = { HOME: at.sb.home, TT_HOME: `${at.sb.home}/.tt` };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
    for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
    let flags: string[];
    // The test's Redis in tinytown.toml: this process has no REDIS_URL, and without it openTown
    // started a managed redis-server for the town that outlived it (one per full test run).
    await at.pinRedis();
    try {
      const t = await openTown({ town: at.sb.dir });
      try {
        assert.equal(t.config.agent.sandbox, "auto");
        flags = permissionFlags(await supervisorScopes(t, t.redisUrl));
      } finally {
        await t.close();
      }
    } finally {
      for (const [k, v] of Object.entries(saved)) v ? Deno.env.set(k, v) : Deno.env.delete(k);
    }
    assertNarrowed(flags, "sandboxed supervisor");
    assert.deepEqual(scope(flags, "--allow-net"), []);
    // HOME is readable (the sandbox must inspect what it hides), its keys are not.
    assert.ok(scope(flags, "--allow-read")!.includes(at.sb.home));
    assert.ok(scope(flags, "--deny-read")!.includes(`${at.sb.home}/.ssh/id_ed25519`));
    assert.ok(!scope(flags, "--allow-write")!.includes(at.sb.home), "HOME is writable");
  } finally {
    await at.cleanup();
  }
});

Deno.test("permissions: Redis addresses become exact net scopes", () => {
  assert.deepEqual(redisScopes("unix:///tmp/x/.tt/redis.sock"), {
    net: ["unix:/tmp/x/.tt/redis.sock"],
    paths: ["/tmp/x/.tt/redis.sock"],
  });
  assert.deepEqual(redisScopes("redis://:pw@db.example:6380/2").net, ["db.example:6380"]);
  assert.deepEqual(redisScopes("rediss://[::1]").net, ["[::1]:6379"]);
  assert.deepEqual(redisScopes("redis+cluster://a:7000,b").net, ["a:7000", "b:6379"]);
  assert.deepEqual(redisScopes("redis+sentinel://s1,s2:5000/mymaster").net, [
    "s1:26379",
    "s2:5000",
  ]);
});

Deno.test("permissions: townhall re-runs itself narrowed, serves as before, and stops with its parent", async () => {
  const h = await startHall();
  try {
    const health = await fetch(`${h.url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const status = await fetch(`${h.url}/v1/status`, {
      headers: { authorization: `Bearer ${h.createdKey}` },
    });
    assert.equal(status.status, 200, await status.text());
    // The narrowed server: a child whose argv holds computed flags and this town.
    const mine = (await processes()).filter((p) =>
      p.argv.includes("townhall") && p.argv.includes(h.sb.dir) && p.argv.includes("--town")
    );
    assert.equal(mine.length, 1, `narrowed townhall processes: ${JSON.stringify(mine)}`);
    const { pid, ppid: parent, argv } = mine[0];
    assertNarrowed(argv, "townhall");
    const port = new URL(h.url).port;
    assert.ok(scope(argv, "--allow-net")!.some((n) => n.startsWith("127.0.0.1")), argv.join(" "));
    assert.ok(!scope(argv, "--allow-net")!.some((n) => n === `0.0.0.0:${port}`));
    // SIGKILL of the parent (nothing can be forwarded) still ends the narrowed server.
    Deno.kill(parent, "SIGKILL");
    await waitUntil(async () => !(await processAlive(pid)));
  } finally {
    await h.stop();
  }
});

Deno.test("permissions: tt service install writes the supervisor's narrowed flags into the unit", async () => {
  const at = await AgentTown.create();
  try {
    const xdg = `${at.sb.home}/xdg`;
    const r = await at.sb.json<{ path: string }>(["service", "install", "--no-enable"], {
      env: { XDG_CONFIG_HOME: xdg },
    });
    const exec = (await Deno.readTextFile(r.path)).split("\n").find((l) =>
      l.startsWith("ExecStart=")
    )!;
    const argv = [...exec.slice("ExecStart=".length).matchAll(/"((?:[^"\\]|\\.)*)"/g)]
      .map((m) => m[1]);
    assertNarrowed(argv, "the service's supervisor");
    assert.ok(scope(argv, "--allow-read")!.includes(at.sb.dir), exec);
  } finally {
    await at.cleanup();
  }
});
