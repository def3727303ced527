/**
 * The malicious agent of issue 10 with `[agent] sandbox = "on"`, run by the real (narrowed)
 * supervisor of a town with its own managed Redis and git worktrees: every channel-level attack is
 * refused as with the sandbox off, and every attack only the sandbox can stop finds nothing (the
 * victim's worktree, a fake ~/.ssh key under a temp HOME, `.tt/` and its Redis socket, writes
 * outside the worktree, a TCP host not allowed, other processes' environments, the supervisor's
 * pid). Afterwards the town is intact and history shows each refusal.
 */
import assert from "node:assert/strict";
import { AgentTown, assertTownIntact, fakeCli, waitForEvent } from "../agent_helpers.ts";
import {
  assertChannelOutcomes,
  readAttacks,
  refusalsInHistory,
  runMaliciousRound,
} from "../fixtures/malicious_attacks.ts";
import { ROOT, Sandbox, testRedisUrl } from "../helpers.ts";
import { openTown } from "../../src/core/town.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { probeSandbox } from "../../src/supervisor/sandbox/probe.ts";
import { operatorPaths } from "../../src/supervisor/channel/operator_wire.ts";

const MALICIOUS = `${ROOT}/tests/fixtures/malicious-sandboxed-agent.sh`;
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- the operator's key";
const VICTIM_SECRET = "the victim's uncommitted work";

/** Refused by the channel (malicious-agent.sh; the same list as agent_channel_test.ts). */
/** Stopped by the sandbox: each fails (exit ≠ 0) or finds nothing. */
const SANDBOX = [
  "read_other_worktree",
  "read_ssh_key",
  "read_tt_home",
  "redis_cli",
  "redis_socat",
  "operator_token",
  "operator_socket",
  "write_town",
  "write_etc",
  "write_victim",
  "tcp_direct",
  "tcp_proxy",
  "proc_environ",
  "kill_supervisor",
];
/** Writes into a hidden place (the operator's HOME is an empty scratch tmpfs inside): they may
 * succeed in there, and must leave nothing outside. */
const CONTAINED = ["write_home", "forge_config"];

const probe = await probeSandbox();

async function git(home: string, cwd: string, ...args: string[]) {
  const r = await new Deno.Command("git", {
    args,
    cwd,
    env: { HOME: home, GIT_CONFIG_NOSYSTEM: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test({
  name:
    "a malicious agent with the sandbox on: channel attacks refused, sandbox attacks find nothing, the town is intact",
  ignore: !probe.ok,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // A managed town (its own redis-server on .tt/redis.sock) in a git repository.
  const at = new AgentTown();
  at.sb = new Sandbox(null);
  const { dir: root, home } = at.sb;
  await Deno.writeTextFile(
    `${home}/.gitconfig`,
    "[user]\n\tname = tt test\n\temail = test@tt.invalid\n[init]\n\tdefaultBranch = main\n",
  );
  await git(home, root, "init", "-q");
  await Deno.writeTextFile(`${root}/README.md`, "# project\n");
  await git(home, root, "add", "README.md");
  await git(home, root, "commit", "-q", "-m", "start");
  at.name = await at.sb.init();
  const toml = `${root}/tinytown.toml`;
  await Deno.writeTextFile(
    toml,
    (await Deno.readTextFile(toml)).replace(/^sandbox = "off"$/m, 'sandbox = "on"')
      .replace(/^\[agent\]$/m, "[agent]\nkill_grace_secs = 1"),
  );
  await Deno.mkdir(`${home}/.ssh`, { mode: 0o700 });
  await Deno.writeTextFile(`${home}/.ssh/id_ed25519`, SSH_KEY);
  // A TCP service on loopback that no agent may reach: it counts the connections it gets.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const c of listener) {
      connections++;
      c.close();
    }
  })().catch(() => {});
  try {
    at.t = await openTown({ town: root });
    assert.equal(at.t.managed, true);
    assert.equal(at.t.config.agent.sandbox, "on");
    await at.sb.ok(["spawn", "victim", "--cli", fakeCli("complete")]);
    await at.sb.ok(["interrupt", "victim"]); // paused: its task stays in its inbox, untouched
    const victim = await resolveAgent(at.t, "victim");
    const victimWt = victim.workdir!;
    assert.match(victimWt, /\/\.tt\/worktrees\/victim$/);
    await Deno.writeTextFile(`${victimWt}/secret.txt`, VICTIM_SECRET);
    const vt = await at.sb.json<{ id: string }>(["assign", "victim", "the victim's own task"]);
    const sup = (await supervisorInfo(at.t))!;
    // The operator channel the agent goes for is there, outside its sandbox.
    assert.ok(Deno.statSync(operatorPaths(root, sup.host).socket).isSocket);
    const other = new Sandbox();
    await other.init();

    const vars = {
      MAL_VICTIM: "victim",
      MAL_VICTIM_TASK: vt.id,
      MAL_OTHER_TOWN: other.dir,
      MAL_TOWN: root,
      MAL_OPHOME: home,
      MAL_VICTIM_WT: victimWt,
      MAL_TCP_PORT: String((listener.addr as Deno.NetAddr).port),
      MAL_SUPERVISOR_PID: String(sup.pid),
    };
    const cli = Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join(" ") +
      ` sh '${MALICIOUS}'`;
    const { mal, task, before, after } = await runMaliciousRound(at, cli, 180_000);
    const state = `${mal.workdir}/.mal`;

    const roundLog = async () =>
      await Deno.readTextFile(`${root}/.tt/logs/mal_round_1.log`).catch(() => "(no log)");
    const attacks = await readAttacks(state, roundLog);
    const { results, err, out } = attacks;
    // The round really was sandboxed (IS_SANDBOX is set only then) and ran as the agent.
    assert.match(await Deno.readTextFile(`${state}/env.txt`), /^IS_SANDBOX=1$/m);
    assert.equal(results.get("ok_write_worktree"), 0, err("ok_write_worktree"));

    // Channel level: as with the sandbox off.
    assertChannelOutcomes(attacks, [...SANDBOX, ...CONTAINED, "ok_write_worktree"]);

    // Sandbox level: each failed, and nothing secret came out.
    for (const name of SANDBOX) {
      assert.notEqual(results.get(name), 0, `${name} succeeded: ${out(name)}${err(name)}`);
    }
    const everything = [...SANDBOX, ...CONTAINED].map((n) => out(n) + err(n)).join("\n");
    assert.ok(!everything.includes(SSH_KEY), "the ssh key leaked");
    assert.ok(!everything.includes(VICTIM_SECRET), "the victim's worktree leaked");
    assert.ok(!/PONG/.test(everything), "Redis answered");
    // Inside .tt/ only the mount points of its own dirs (worktree, home, tmp, channel) exist.
    assert.doesNotMatch(
      out("list_town_runtime"),
      /redis|aof|logs|supervisor|prompts|operator|\.lock/,
    );
    assert.doesNotMatch(out("list_worktrees"), /victim/);
    assert.match(out("list_worktrees"), /\bmal\b/);
    assert.equal(connections, 0, "the TCP service was reached");
    for (
      const f of [`${root}/planted`, `${home}/planted`, "/etc/tt-planted", `${victimWt}/planted`]
    ) {
      await assert.rejects(Deno.stat(f), Deno.errors.NotFound, `${f} was written`);
    }
    assert.equal(await Deno.readTextFile(`${home}/.ssh/id_ed25519`), SSH_KEY);
    // The config cache outside (tt's commands wrote it) holds no forged entry.
    assert.doesNotMatch(await Deno.readTextFile(`${root}/.tt/config-cache.json`), /forged/);
    assert.ok((await supervisorInfo(at.t))?.pid === sup.pid, "the supervisor was killed");

    // The town is intact: no key but the round's own, nothing of the victim changed.
    await assertTownIntact(
      at.t,
      {
        agentId: mal.id,
        taskId: task.id,
        victimId: victim.id,
        victimTaskId: vt.id,
      },
      before,
      after,
    );

    // The operator sees each refusal in history.
    await refusalsInHistory(at, mal.id);
    other.cleanup();
  } finally {
    listener.close();
    await accepting;
    // The town's own supervisor and redis-server stop with it.
    await at.sb.tt(["stop"]);
    await at.t?.close().catch(() => {});
    at.sb.cleanup();
  }
});

Deno.test({
  name:
    "with the sandbox on, an external Redis on a unix socket outside .tt/ is out of an agent's reach too",
  ignore: !probe.ok,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // The test Redis is a unix socket under /tmp, which a town in /tmp sees read-only: a socket
  // connects even there, so only hiding it keeps the agent off it.
  const at = await AgentTown.create('sandbox = "on"');
  try {
    const sock = testRedisUrl().replace(/^unix:\/\//, "");
    const cli = `redis-cli -s '${sock}' ping; redis-cli -s '${sock}' keys '*'; ` +
      `printf 'PING\\r\\n' | socat -t 2 - UNIX-CONNECT:'${sock}'; echo "IS_SANDBOX=$IS_SANDBOX"`;
    await at.sb.ok(["spawn", "r", "--cli", cli, "--rounds", "1"]);
    const r = await resolveAgent(at.t, "r");
    await at.sb.ok(["assign", "r", "reach Redis"]);
    await waitForEvent(at.t, (e) => e.type === "agent_stopped" && e.agent_id === r.id, 120_000);
    const log = await Deno.readTextFile(`${at.sb.dir}/.tt/logs/r_round_1.log`);
    assert.match(log, /IS_SANDBOX=1/, log);
    assert.doesNotMatch(log, /PONG|tt:\{/, `the agent reached Redis:\n${log}`);
  } finally {
    await at.cleanup();
  }
});
