/**
 * Many hosts on one machine: two supervisors with TT_HOST=a and TT_HOST=b serve one town (one
 * Redis). Placement (`tt spawn --host`), `tt status` by host, `tt stop` per host and `--all`, and
 * a host lost (its supervisor and its agent's CLI SIGKILLed): after its heartbeat TTL
 * ([agent] host_timeout_secs, 2 s here) another host's supervisor moves its agents' queued and
 * in-flight work to the backlog, where the live host's agent claims it; with
 * on_host_loss = "wait" nothing moves, and the returning host finishes its own work.
 */
import assert from "node:assert/strict";
import {
  AgentTown,
  alive,
  FAKE_AGENT,
  fakeCli,
  waitForEvent,
  waitUntil,
} from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { getTask, listTasks } from "../../src/core/tasks.ts";
import { recentEvents } from "../../src/core/events.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import type { TownStatus } from "../../src/core/status.ts";
import { api, closeHall, startHall } from "../townhall/helpers.ts";
import { report } from "../helpers.ts";

const A = { env: { TT_HOST: "a" } };
const B = { env: { TT_HOST: "b" } };
const FAST = "host_timeout_secs = 2\nkill_grace_secs = 1";

/** Ends the supervisors of hosts a and b (and the process groups left), then the town. */
async function cleanup(at: AgentTown, pgids: number[] = []) {
  for (const pgid of pgids) {
    try {
      Deno.kill(-pgid, "SIGKILL");
    } catch { /* gone */ }
  }
  for (const host of ["a", "b"]) {
    const sup = await supervisorInfo(at.t, host);
    if (!sup) continue;
    try {
      Deno.kill(sup.pid, "SIGTERM");
    } catch { /* gone */ }
    await waitUntil(async () => !(await alive(sup.pid)));
  }
  await at.cleanup();
}

/** Process ids from the CLI's parent up to init, one a line, then the fake agent completes. */
const ancestorsCli = (out: string) =>
  `p=$PPID; while [ "$p" -gt 1 ]; do echo "$p" >> '${out}'; ` +
  `p=$(cut -d' ' -f4 /proc/$p/stat); done; sh '${FAKE_AGENT}' complete`;

const status = (at: AgentTown) => at.sb.json<TownStatus>(["status"], A);

async function waitForTask(at: AgentTown, id: string, state: string) {
  await waitUntil(async () => (await getTask(at.t, id))?.state === state, 60_000);
  return (await getTask(at.t, id))!;
}

Deno.test("hosts: an agent placed on host b is run by b's supervisor; status groups by host; stop per host and --all", async () => {
  const at = await AgentTown.create(FAST);
  const out = `${at.sb.dir}/.tt/ancestors`;
  try {
    await at.sb.ok(["spawn", "wa", "--cli", fakeCli("complete")], A);
    const spawned = await at.sb.json<{ host: string; host_up: boolean }>(
      ["spawn", "wb", "--host", "b", "--no-worktree", "--cli", ancestorsCli(out)],
      A,
    );
    assert.equal(spawned.host, "b");
    assert.equal(spawned.host_up, false);
    const waiting = await status(at);
    assert.deepEqual(
      waiting.hosts?.map((h) => [h.host, h.state, h.agents, h.this_host]),
      [["a", "up", 1, true], ["b", "down", 1, false]],
    );
    assert.equal(waiting.agents.find((x) => x.agent.name === "wb")?.host, "b");

    // Work for wb waits for b's supervisor; b's `tt start` runs it there.
    const task = await at.sb.json<{ id: string }>(["assign", "wb", "on host b"], A);
    assert.equal((await getTask(at.t, task.id))?.state, "assigned");
    await at.sb.ok(["start"], B);
    const supA = (await supervisorInfo(at.t, "a"))!;
    const supB = (await supervisorInfo(at.t, "b"))!;
    assert.notEqual(supA.pid, supB.pid);
    const done = await waitForTask(at, task.id, "completed");
    assert.equal(done.result, "done by wb");
    const chain = (await Deno.readTextFile(out)).trim().split("\n").map(Number);
    assert.ok(chain.includes(supB.pid), `b's supervisor ${supB.pid} runs the CLI: ${chain}`);
    assert.ok(!chain.includes(supA.pid), `a's supervisor ${supA.pid} does not: ${chain}`);

    const s = await status(at);
    assert.deepEqual(
      s.hosts?.map((h) => [h.host, h.state, h.pid, h.agents]),
      [["a", "up", supA.pid, 1], ["b", "up", supB.pid, 1]],
    );
    const text = (await at.sb.ok(["status"], A)).stdout;
    const lines = text.split("\n");
    const at_ = (re: RegExp) => lines.findIndex((l) => re.test(l));
    assert.ok(at_(/^Host a \(this host\): up, supervisor pid \d+/) >= 0, text);
    assert.ok(at_(/^Host b: up, supervisor pid \d+/) >= 0, text);
    assert.ok(at_(/^Host a/) < at_(/^\s+\S+ \[wa\]/), text);
    assert.ok(at_(/^\s+\S+ \[wa\]/) < at_(/^Host b/), text);
    assert.ok(at_(/^Host b/) < at_(/^\s+\S+ \[wb\]/), text);

    // `tt stop` on a stops a's supervisor only; --all stops b's too.
    const stopA = await at.sb.json<{ supervisor: string; hosts_up?: string[] }>(["stop"], A);
    assert.equal(stopA.supervisor, "stopped");
    assert.deepEqual(stopA.hosts_up, ["b"]);
    assert.equal(await alive(supA.pid), false);
    assert.ok(await supervisorInfo(at.t, "b"));
    const all = await at.sb.json<{ hosts: { host: string; result: string }[] }>(
      ["stop", "--all"],
      A,
    );
    assert.deepEqual(all.hosts, [{ host: "b", result: "stopped" }]);
    await waitUntil(async () => !(await alive(supB.pid)));
    // Both ended cleanly: neither is taken for lost.
    const after = await status(at);
    assert.ok(after.hosts?.every((h) => h.state === "down"), JSON.stringify(after.hosts));
    assert.equal(
      (await recentEvents(at.t, { count: 1000 })).filter((e) => e.type === "host_lost").length,
      0,
    );
  } finally {
    await cleanup(at);
  }
});

/** Host b runs wb on a CLI that hangs; one task in flight, one queued; then b dies (kill -9). */
async function loseHostB(at: AgentTown, cliB: string) {
  await at.sb.ok(["spawn", "wa", "--cli", fakeCli("complete"), "--no-worktree"], A);
  await at.sb.ok(["spawn", "wb", "--host", "b", "--no-worktree", "--cli", cliB], A);
  await at.sb.ok(["start"], B);
  const inFlight = await at.sb.json<{ id: string }>(["assign", "wb", "in flight on b"], A);
  await waitForTask(at, inFlight.id, "running");
  const queued = await at.sb.json<{ id: string }>(["assign", "wb", "queued on b"], A);
  let pgid = 0;
  await waitUntil(async () => !!(pgid = (await resolveAgent(at.t, "wb")).round_pgid ?? 0));
  const supB = (await supervisorInfo(at.t, "b"))!;
  const killedAt = Date.now();
  Deno.kill(supB.pid, "SIGKILL");
  Deno.kill(-pgid, "SIGKILL");
  await waitUntil(async () => !(await alive(supB.pid)));
  // a's supervisor notices once b's heartbeat has expired (2 s), and handles it once.
  const handled = await waitForEvent(
    at.t,
    (e) => e.type === "host_loss_handled" && e.host === "b",
  );
  const ms = Date.parse(handled.ts) - killedAt;
  report(`hosts: host b SIGKILLed → loss handled by a in ${ms} ms (host_timeout_secs = 2)`);
  return { inFlight, queued, pgid, handled };
}

Deno.test("hosts: host b lost → its agent's in-flight and queued tasks go to the backlog and a's agent does them; b back → its agent resumes", async () => {
  const at = await AgentTown.create(FAST);
  const pgids: number[] = [];
  try {
    const { inFlight, queued, pgid, handled } = await loseHostB(at, fakeCli("hang"));
    pgids.push(pgid);
    assert.equal(handled.actor, "a");
    assert.equal(handled.reason, "backlog");
    const s = await status(at);
    const b = s.hosts?.find((h) => h.host === "b");
    assert.equal(b?.state, "lost");
    assert.ok(b?.since && Date.parse(b.since) <= Date.now(), JSON.stringify(b));
    const wb = s.agents.find((x) => x.agent.name === "wb")!;
    assert.equal(wb.agent.state, "lost");
    assert.match(wb.agent.reason ?? "", /host b lost since/);
    assert.match((await at.sb.ok(["status"], A)).stdout, /^Host b: LOST since .* — 1 agent/m);

    // Both tasks: moved once, done once, by a's agent.
    for (const id of [inFlight.id, queued.id]) {
      const t = await waitForTask(at, id, "completed");
      assert.equal(t.result, "done by wa");
    }
    const events = await recentEvents(at.t, { count: 1000 });
    assert.equal(events.filter((e) => e.type === "host_lost" && e.host === "b").length, 1);
    assert.equal(events.filter((e) => e.type === "task_completed").length, 2);
    assert.equal(events.filter((e) => e.type === "agent_lost").length, 1);
    const wbId = (await resolveAgent(at.t, "wb")).id;
    for (const k of [at.t.keys.inbox(wbId), at.t.keys.processing(wbId)]) {
      assert.equal(await at.t.redis.llen(k), 0, k);
    }
    assert.equal(await at.t.redis.llen(at.t.keys.backlog), 0);

    // Work assigned to the lost agent afterwards does not wait for b either.
    const late = await at.sb.json<{ id: string }>(["assign", "wb", "assigned while b is lost"], A);
    assert.equal((await waitForTask(at, late.id, "completed")).result, "done by wa");
    assert.ok(
      (await recentEvents(at.t, { count: 1000 })).some((e) =>
        e.type === "work_reclaimed" && /work that arrived for wb/.test(e.message)
      ),
    );

    // b comes back: its lost agent resumes, and takes work again.
    await at.sb.ok(["start"], B);
    await waitForEvent(at.t, (e) => e.type === "host_back" && e.host === "b");
    await waitUntil(async () => (await resolveAgent(at.t, "wb")).state === "idle");
    assert.equal((await status(at)).hosts?.find((h) => h.host === "b")?.state, "up");
  } finally {
    await cleanup(at, pgids);
  }
});

Deno.test('hosts: on_host_loss = "wait" moves nothing; the returning host finishes its own work', async () => {
  const at = await AgentTown.create(`${FAST}\non_host_loss = "wait"`);
  const state = await Deno.makeTempDir({ prefix: "tt-hosts-" });
  const pgids: number[] = [];
  try {
    // Hangs while the gate file exists (host b's first life), completes once it is gone.
    await Deno.writeTextFile(`${state}/hang`, "");
    const gated = `if [ -e '${state}/hang' ]; then sleep 600; fi; sh '${FAKE_AGENT}' complete`;
    const { inFlight, queued, pgid, handled } = await loseHostB(at, gated);
    pgids.push(pgid);
    assert.equal(handled.reason, "wait");
    assert.equal((await status(at)).hosts?.find((h) => h.host === "b")?.state, "lost");
    const wb = await resolveAgent(at.t, "wb");
    assert.equal(wb.state, "working");
    assert.deepEqual(
      [(await getTask(at.t, inFlight.id))?.state, (await getTask(at.t, queued.id))?.state],
      ["running", "assigned"],
    );
    assert.equal(await at.t.redis.llen(at.t.keys.backlog), 0);
    assert.equal((await listTasks(at.t)).filter((x) => x.assigned_to === wb.id).length, 2);

    await Deno.remove(`${state}/hang`);
    await at.sb.ok(["start"], B);
    for (const id of [inFlight.id, queued.id]) {
      const t = await waitForTask(at, id, "completed");
      assert.equal(t.assigned_to, wb.id);
      assert.equal(t.result, "done by wb");
    }
  } finally {
    await cleanup(at, pgids);
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("hosts: bad host names are refused in one line, and nothing is created", async () => {
  const at = await AgentTown.create();
  try {
    const bad = await at.sb.tt(["spawn", "x", "--host", "../etc", "--cli", "true"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr.trim(), /^tt: invalid host name '\.\.\/etc': use up to 64 letters/);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
    const env = await at.sb.tt(["spawn", "y", "--cli", "true"], { env: { TT_HOST: "a b" } });
    assert.equal(env.code, 2, env.stderr);
    assert.match(env.stderr, /invalid TT_HOST 'a b'/);
    assert.equal((await at.sb.json<unknown[]>(["list"])).length, 0);
  } finally {
    await at.cleanup();
  }
});

/** An agent CLI that spawns `child` on host b through its channel, then reports its task. */
const spawnOnB = (child: string, err: string, code: string) =>
  `ids=$(sed -n 's/^ *- Task ID: \\([0-9a-f-]*\\)$/\\1/p'); ` +
  `tt spawn ${child} --host b --cli fake >/dev/null 2>'${err}'; echo "$?" > '${code}'; ` +
  `for id in $ids; do tt task complete "$id" --result spawned; done`;

Deno.test("hosts attack: an agent cannot place an agent on another host without the spawn power", async () => {
  const at = await AgentTown.create();
  const dir = await Deno.makeTempDir({ prefix: "tt-hosts-attack-" });
  try {
    await Deno.writeTextFile(
      `${at.sb.dir}/tinytown.toml`,
      `\n[agent.powers]\nlead = ["spawn"]\n\n[agent_clis.fake]\ncommand = "sh '${FAKE_AGENT}' complete"\n`,
      { append: true },
    );
    const f = (who: string) => [`${dir}/${who}.err`, `${dir}/${who}.code`] as const;
    await at.sb.ok(["spawn", "boss", "--role", "lead", "--cli", spawnOnB("helper", ...f("boss"))]);
    await at.sb.ok(["spawn", "grunt", "--cli", spawnOnB("minion", ...f("grunt"))]);
    await at.sb.ok(["assign", "boss", "place a helper on b"]);
    await at.sb.ok(["assign", "grunt", "try to place one on b"]);
    await waitUntil(
      async () => (await listTasks(at.t)).filter((x) => x.state === "completed").length === 2,
      120_000,
    );
    assert.equal(await Deno.readTextFile(`${dir}/boss.code`), "0\n");
    assert.equal((await resolveAgent(at.t, "helper")).host, "b");
    assert.equal(await Deno.readTextFile(`${dir}/grunt.code`), "1\n");
    assert.match(
      await Deno.readTextFile(`${dir}/grunt.err`),
      /^tt: refused: 'tt spawn' needs the 'spawn' power/,
    );
    await assert.rejects(resolveAgent(at.t, "minion"));
  } finally {
    await at.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hosts over REST: POST /v1/agents places an agent on a host, says whether it is up; a bad host is a 400", async () => {
  const h = await startHall();
  try {
    const sp = await api<{ agent: { host: string; state: string }; host_up: boolean }>(
      h,
      "POST",
      "/v1/agents",
      { body: { name: "rb", cli: "claude", host: "b" } },
    );
    assert.equal(sp.status, 201, JSON.stringify(sp.body));
    assert.equal(sp.body.agent.host, "b");
    assert.equal(sp.body.host_up, false);
    assert.equal((await resolveAgent(h.t, "rb")).host, "b");
    assert.equal(await supervisorInfo(h.t, "b"), undefined); // nothing runs it here
    const bad = await api(h, "POST", "/v1/agents", { body: { name: "rc", host: "../b" } });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    await assert.rejects(resolveAgent(h.t, "rc"));
  } finally {
    await closeHall(h);
  }
});
